// Single sign-on in the console: the link that starts it, the grant the server's callback puts
// in the address fragment (`#grant=`), and the refusals it reports (`?ssoError=`).
import { request } from '../api/client';
import type { LoginResponse } from '../api/types';
import type { MfaChallenge } from './session';

/** The grant in a fragment such as `#grant=abc`; null when there is none. */
export function grantFromHash(hash: string): string | null {
  const g = new URLSearchParams(hash.replace(/^#/, '')).get('grant');
  return g && /^[A-Za-z0-9_-]{16,200}$/.test(g) ? g : null;
}

/** Where the SSO button goes: the server's login redirect, back to this page afterwards. */
export function ssoLoginUrl(tenant: string, returnTo: string): string {
  const q = new URLSearchParams({ tenant: tenant.trim(), returnTo: returnTo.startsWith('/') ? returnTo : '/' });
  return `/api/v1/auth/oidc/login?${q}`;
}

const MESSAGES: Record<string, string> = {
  state: 'The single sign-on took too long or was already used. Please try again.',
  provider: 'The identity provider did not confirm who you are.',
  username: 'The identity provider did not give a usable username.',
  no_role: 'Your groups give no access to this tenant. Ask an administrator.',
  disabled: 'This account is disabled.',
  quota: 'This tenant has reached its number of users.',
  network: 'Sign-in is not allowed from this network.',
  unavailable: 'Single sign-on is not available right now.',
};

/** The message for a `?ssoError=` code (null: none in the address). */
export function ssoErrorMessage(search: string): string | null {
  const code = new URLSearchParams(search).get('ssoError');
  if (!code) return null;
  return MESSAGES[code] ?? 'Single sign-on failed.';
}

/** Exchanges a grant: a session, or the second factor's challenge, as a password login. */
export async function exchangeGrant(grant: string): Promise<LoginResponse | MfaChallenge> {
  return (await request<LoginResponse | MfaChallenge>('/auth/oidc/exchange', { method: 'POST', body: { grant } })).data;
}
