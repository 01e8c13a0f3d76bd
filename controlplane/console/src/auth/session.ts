// The signed-in session: kept in sessionStorage (gone with the tab, never in a cookie the
// browser would send by itself) and handed to the API client.
import { request, setToken } from '../api/client';
import type { LoginResponse, Role } from '../api/types';

export interface Session {
  token: string;
  tenant: string;
  username: string;
  role: Role;
  expiresAt: string;
}

const KEY = 'nexbii.session';

export function loadSession(now = Date.now()): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (!s.token || Date.parse(s.expiresAt) <= now) return null;
    setToken(s.token);
    return s;
  } catch {
    return null;
  }
}

/** What the password step answers when a second factor must follow (`MfaChallenge`). */
export interface MfaChallenge {
  mfaRequired: true;
  /** MFA must be set up first (`POST /auth/login/mfa/enroll`). */
  enrollmentRequired: boolean;
  challenge: string;
  expiresAt: string;
}

export interface Enrollment {
  secret: string;
  otpauthUri: string;
  issuer: string;
  account: string;
}

/** Keeps the session a login answered and hands its token to the API client. */
export function startSession(data: LoginResponse): Session {
  const s: Session = {
    token: data.token,
    tenant: data.tenant,
    username: data.user.username,
    role: data.user.role,
    expiresAt: data.expiresAt,
  };
  sessionStorage.setItem(KEY, JSON.stringify(s));
  setToken(s.token);
  return s;
}

/** The password step: a session, or the challenge of a second step. */
export async function login(tenant: string, username: string, password: string): Promise<Session | { mfa: MfaChallenge }> {
  const { data } = await request<LoginResponse | MfaChallenge>('/auth/login', {
    method: 'POST',
    body: { tenant, username, password },
  });
  if ('mfaRequired' in data && data.mfaRequired) return { mfa: data };
  return startSession(data as LoginResponse);
}

/** The second step: a TOTP code (or a recovery code) for the challenge. A login that completed
 * an enrolment also answers the recovery codes, shown once. */
export async function loginMfa(challenge: string, code: string): Promise<{ session: Session; recoveryCodes?: string[] }> {
  const { data } = await request<LoginResponse & { recoveryCodes?: string[] }>('/auth/login/mfa', { method: 'POST', body: { challenge, code: code.trim() } });
  return { session: startSession(data), recoveryCodes: data.recoveryCodes };
}

/** Sets up a second factor during login (the tenant requires one): the secret to type into an
 * authenticator app; the first code then goes to `loginMfa`. */
export async function enrollAtLogin(challenge: string): Promise<Enrollment> {
  return (await request<Enrollment>('/auth/login/mfa/enroll', { method: 'POST', body: { challenge } })).data;
}

/** Forgets the session here first (a reload during the call must not bring it back), then
 * ends it on the server, whatever the server says. */
export async function logout(): Promise<void> {
  const raw = sessionStorage.getItem(KEY);
  forget();
  const token = raw ? (JSON.parse(raw) as Session).token : null;
  if (!token) return;
  try {
    await request('/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  } catch {
    // An expired or revoked session is already over.
  }
}

export function forget(): void {
  sessionStorage.removeItem(KEY);
  setToken(null);
}
