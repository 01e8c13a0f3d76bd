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

export async function login(tenant: string, username: string, password: string): Promise<Session> {
  const { data } = await request<LoginResponse>('/auth/login', {
    method: 'POST',
    body: { tenant, username, password },
  });
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
