import { afterEach, describe, expect, it, vi } from 'vitest';
import { setToken } from '../api/client';
import { loadSession, logout } from './session';

// sessionStorage for the node environment.
const store = new Map<string, string>();
vi.stubGlobal('sessionStorage', {
  getItem: (k: string) => store.get(k) ?? null,
  setItem: (k: string, v: string) => store.set(k, v),
  removeItem: (k: string) => store.delete(k),
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.stubGlobal('sessionStorage', {
    getItem: (k: string) => store.get(k) ?? null,
    setItem: (k: string, v: string) => store.set(k, v),
    removeItem: (k: string) => store.delete(k),
  });
  store.clear();
  setToken(null);
});

const session = { token: 't0k', tenant: 'acme', username: 'admin', role: 'admin', expiresAt: '2999-01-01T00:00:00Z' };

describe('session', () => {
  it('loads a stored session until it expires', () => {
    store.set('nexbii.session', JSON.stringify(session));
    expect(loadSession(Date.parse('2026-01-01'))?.username).toBe('admin');
    expect(loadSession(Date.parse('3000-01-01'))).toBeNull();
  });

  it('forgets the session before the server answers the logout, and sends its token', async () => {
    store.set('nexbii.session', JSON.stringify(session));
    let seenWhileInFlight: string | null | undefined;
    const fetch = vi.fn().mockImplementation(async () => {
      seenWhileInFlight = store.get('nexbii.session') ?? null;
      return new Response(null, { status: 204 });
    });
    vi.stubGlobal('fetch', fetch);
    await logout();
    expect(seenWhileInFlight).toBeNull();
    expect(fetch.mock.calls[0][0]).toBe('/api/v1/auth/logout');
    expect(fetch.mock.calls[0][1].headers.authorization).toBe('Bearer t0k');
  });
});

import { login, loginMfa } from './session';
describe('login with a second factor', () => {
  it('answers the challenge instead of a session, and the code step starts the session', async () => {
    const challenge = { mfaRequired: true, enrollmentRequired: false, challenge: 'c1', expiresAt: '2999-01-01T00:00:00Z' };
    const answer = { token: 't1', expiresAt: '2999-01-01T00:00:00Z', tenant: 'acme', user: { username: 'mia', role: 'editor' }, recoveryCodes: ['a-b'] };
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(new Response(JSON.stringify(challenge), { status: 200 }))
      .mockResolvedValueOnce(new Response(JSON.stringify(answer), { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    const first = await login('acme', 'mia', 'pw');
    expect(first).toEqual({ mfa: challenge });
    expect(store.get('nexbii.session')).toBeUndefined();
    const second = await loginMfa('c1', ' 123456 ');
    expect(JSON.parse(fetch.mock.calls[1][1].body)).toEqual({ challenge: 'c1', code: '123456' });
    expect(second.session.username).toBe('mia');
    expect(second.recoveryCodes).toEqual(['a-b']);
    expect(JSON.parse(store.get('nexbii.session')!).token).toBe('t1');
  });
});

import { afterUnauthorized, currentSession, impersonationSession, recheckImpersonation, startImpersonation, stopImpersonation, type Session } from './session';
describe('acting as a user', () => {
  const admin = session as Session;
  const started = { token: 'imp', expiresAt: '2026-06-01T10:30:00Z', sessionId: 's9', impersonator: 'admin', user: { username: 'pat', role: 'viewer' as const } };
  const acting = impersonationSession(admin, started);

  it('makes the user’s session with the admin’s own held for the way back', () => {
    expect(acting).toEqual({
      token: 'imp',
      tenant: 'acme',
      username: 'pat',
      role: 'viewer',
      expiresAt: '2026-06-01T10:30:00Z',
      impersonation: { by: 'admin', admin },
    });
  });

  it('goes back to the admin once the impersonation ran out, to nobody once both did', () => {
    expect(currentSession(acting, Date.parse('2026-06-01T10:00:00Z'))).toBe(acting);
    expect(currentSession(acting, Date.parse('2026-06-01T11:00:00Z'))).toBe(admin);
    expect(currentSession({ ...acting, impersonation: { by: 'admin', admin: { ...admin, expiresAt: '2026-06-01T10:45:00Z' } } }, Date.parse('2026-06-01T11:00:00Z'))).toBeNull();
    expect(currentSession(admin, Date.parse('3000-01-01'))).toBeNull();
    // A stored impersonation that ran out is replaced by the admin's session.
    store.set('nexbii.session', JSON.stringify(acting));
    expect(loadSession(Date.parse('2026-06-01T11:00:00Z'))?.username).toBe('admin');
    expect(JSON.parse(store.get('nexbii.session')!).username).toBe('admin');
  });

  it('starts with the admin’s token, keeps the new session, stops with its token and returns', async () => {
    store.set('nexbii.session', JSON.stringify(admin));
    loadSession(Date.parse('2026-06-01T10:00:00Z'));
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(new Response(JSON.stringify(started), { status: 201 }))
      .mockResolvedValueOnce(new Response(null, { status: 204 }));
    vi.stubGlobal('fetch', fetch);
    const s = await startImpersonation(admin, 'pat');
    expect(fetch.mock.calls[0][0]).toBe('/api/v1/admin/impersonations');
    expect(fetch.mock.calls[0][1].headers.authorization).toBe('Bearer t0k');
    expect(JSON.parse(fetch.mock.calls[0][1].body)).toEqual({ username: 'pat' });
    expect(JSON.parse(store.get('nexbii.session')!).impersonation.by).toBe('admin');
    const back = await stopImpersonation(s, Date.parse('2026-06-01T10:00:00Z'));
    expect(fetch.mock.calls[1][0]).toBe('/api/v1/auth/impersonation');
    expect(fetch.mock.calls[1][1]).toMatchObject({ method: 'DELETE', headers: { authorization: 'Bearer imp' } });
    expect(back).toEqual(admin);
    expect(JSON.parse(store.get('nexbii.session')!)).toEqual(admin);
  });

  it('asks for the minutes picked, and for none (the tenant’s maximum) otherwise', async () => {
    const fetch = vi.fn().mockImplementation(async () => new Response(JSON.stringify(started), { status: 201 }));
    vi.stubGlobal('fetch', fetch);
    await startImpersonation(admin, 'pat', 15);
    expect(JSON.parse(fetch.mock.calls[0][1].body)).toEqual({ username: 'pat', minutes: 15 });
    await startImpersonation(admin, 'pat');
    expect(JSON.parse(fetch.mock.calls[1][1].body)).toEqual({ username: 'pat' });
  });

  it('rechecks a reloaded impersonation with its own token, and nothing else', async () => {
    const fetch = vi.fn().mockImplementation(async () => new Response(null, { status: 401 }));
    vi.stubGlobal('fetch', fetch);
    await recheckImpersonation(admin);
    expect(fetch).not.toHaveBeenCalled();
    store.set('nexbii.session', JSON.stringify(acting));
    loadSession(Date.parse('2026-06-01T10:00:00Z'));
    await recheckImpersonation(acting);
    expect(fetch.mock.calls[0][0]).toBe('/api/v1/auth/me');
    expect(fetch.mock.calls[0][1].headers.authorization).toBe('Bearer imp');
  });

  it('after a 401 returns to the admin when acting as someone, signs out otherwise', () => {
    store.set('nexbii.session', JSON.stringify(acting));
    expect(afterUnauthorized(Date.parse('2026-06-01T10:00:00Z'))).toEqual(admin);
    expect(afterUnauthorized(Date.parse('2026-06-01T10:00:00Z'))).toBeNull();
    expect(store.has('nexbii.session')).toBe(false);
  });

  it('logs out both sessions when logging out while acting', async () => {
    store.set('nexbii.session', JSON.stringify(acting));
    const fetch = vi.fn().mockImplementation(async () => new Response(null, { status: 204 }));
    vi.stubGlobal('fetch', fetch);
    await logout();
    expect(fetch.mock.calls.map((c) => c[1].headers.authorization)).toEqual(['Bearer imp', 'Bearer t0k']);
  });
});
