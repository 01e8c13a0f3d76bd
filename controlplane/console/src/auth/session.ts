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
  /** While an admin acts as this user: the admin, and the admin's own session to return to. */
  impersonation?: { by: string; admin: Session };
}

const KEY = 'nexbii.session';

const live = (s: Session | null | undefined, now: number): s is Session => !!s?.token && Date.parse(s.expiresAt) > now;

/** The session to go on with: this one while it lasts; once an impersonation is over, the
 * admin's own session (when it still lasts); else none. */
export function currentSession(s: Session | null, now = Date.now()): Session | null {
  const admin = s?.impersonation?.admin ?? null;
  if (live(s, now)) return s;
  return live(admin, now) ? admin : null;
}

function keep(s: Session | null): Session | null {
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
  setToken(s?.token ?? null);
  return s;
}

export function loadSession(now = Date.now()): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const stored = JSON.parse(raw) as Session;
    const s = currentSession(stored, now);
    // An impersonation that ran out while the tab was closed gives the admin's session back.
    return s === stored ? (setToken(s.token), s) : keep(s);
  } catch {
    return null;
  }
}

/** What `POST /admin/impersonations` answers (`ImpersonationStarted`). */
export interface ImpersonationStarted {
  token: string;
  expiresAt: string;
  sessionId: string;
  impersonator: string;
  user: { username: string; role: Role };
}

/** The session of the user an admin now acts as, holding the admin's own to return to. */
export function impersonationSession(admin: Session, started: ImpersonationStarted): Session {
  return {
    token: started.token,
    tenant: admin.tenant,
    username: started.user.username,
    role: started.user.role,
    expiresAt: started.expiresAt,
    impersonation: { by: started.impersonator, admin },
  };
}

/** The admin starts acting as `username` for `minutes` (the tenant's maximum when absent; the
 * server refuses admins, disabled users, oneself, more minutes than the maximum and tenants
 * that turned impersonation off: its problem is the rejection). */
export async function startImpersonation(admin: Session, username: string, minutes?: number): Promise<Session> {
  const body = minutes === undefined ? { username } : { username, minutes };
  const { data } = await request<ImpersonationStarted>('/admin/impersonations', { method: 'POST', body });
  return keep(impersonationSession(admin, data))!;
}

/** Ends the impersonation on the server (already over there when it expired or was revoked:
 * fine) and returns to the admin's own session; null when that one is over too. */
export async function stopImpersonation(s: Session, now = Date.now()): Promise<Session | null> {
  try {
    await request('/auth/impersonation', { method: 'DELETE', headers: { authorization: `Bearer ${s.token}` } });
  } catch {
    // Expired or revoked: nothing left to end.
  }
  const admin = s.impersonation?.admin ?? null;
  return keep(live(admin, now) ? admin : null);
}

/** Asks the server whether the impersonation a reloaded page holds is still on (it may have
 * been ended or revoked meanwhile, or impersonation turned off for the tenant): a 401 to it
 * goes through the client's unauthorized handler, which returns to the admin's session. */
export async function recheckImpersonation(s: Session | null): Promise<void> {
  if (!s?.impersonation) return;
  try {
    await request('/auth/me');
  } catch {
    // A 401 was handled by `onUnauthorized`; anything else is for the page's own requests.
  }
}

/** After a 401: an impersonation that ended on the server (expired, revoked, turned off)
 * returns to the admin's session; any other session is over. */
export function afterUnauthorized(now = Date.now()): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    const s = raw ? (JSON.parse(raw) as Session) : null;
    const admin = s?.impersonation?.admin ?? null;
    return keep(live(admin, now) ? admin : null);
  } catch {
    return keep(null);
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
  return keep(s)!;
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
  const s = raw ? (JSON.parse(raw) as Session) : null;
  // Logging out while acting as someone ends the admin's own session too.
  for (const token of [s?.token, s?.impersonation?.admin.token]) {
    if (!token) continue;
    try {
      await request('/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    } catch {
      // An expired or revoked session is already over.
    }
  }
}

export function forget(): void {
  sessionStorage.removeItem(KEY);
  setToken(null);
}
