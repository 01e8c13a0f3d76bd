// Login sessions as both lists show them (the admin's of every user, the account page's of the
// caller): one state rule, one order, one way to word the revoke buttons.

/** What both APIs answer about a session (`GET /auth/sessions`, with `?all=true` for admins). */
export interface LoginSession {
  id: string;
  username: string;
  expiresAt: string;
  revoked?: boolean;
  userAgent?: string | null;
  client?: string | null;
  lastSeenAt?: string | null;
  /** The admin acting as the user in this session. */
  impersonator?: string | null;
  createdAt?: string;
}

export type SessionState = 'active' | 'revoked' | 'expired';

export function sessionState(s: { revoked?: boolean; expiresAt: string }, now = Date.now()): SessionState {
  if (s.revoked) return 'revoked';
  return Date.parse(s.expiresAt) <= now ? 'expired' : 'active';
}

/** The sessions a list shows, newest first: the active ones, or all with `showEnded`. */
export function visibleSessions<S extends LoginSession>(list: S[], showEnded: boolean, now = Date.now()): S[] {
  return list
    .filter((s) => showEnded || sessionState(s, now) === 'active')
    .sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
}

/** Whose sessions a table lists: every user's (the admin page, rows named by user) or the
 * caller's own (rows named by session id; the caller's current session cannot be revoked
 * here, signing out does that). */
export type SessionsView = { kind: 'all' } | { kind: 'own'; current: string | null };

/** The names of a row's revoke button and of its confirmation; null: no button. */
export function revokeLabels(s: LoginSession, view: SessionsView, now = Date.now()): { label: string; confirm: string } | null {
  if (sessionState(s, now) !== 'active') return null;
  if (view.kind === 'all') return { label: `Revoke session of ${s.username}`, confirm: `Confirm revoking this session of ${s.username}` };
  if (s.id === view.current) return null;
  return { label: `Revoke session ${s.id}`, confirm: `Confirm revoking session ${s.id}` };
}
