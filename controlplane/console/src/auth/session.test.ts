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
