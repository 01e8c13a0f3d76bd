import { describe, expect, it } from 'vitest';
import { revokeLabels, sessionState, visibleSessions, type LoginSession } from './logic';

const now = Date.parse('2026-12-03T12:00:00Z');
const s = (id: string, o: Partial<LoginSession> = {}): LoginSession => ({
  id,
  username: 'pat',
  expiresAt: '2026-12-03T13:00:00Z',
  createdAt: `2026-12-03T0${id.length}:00:00Z`,
  ...o,
});

describe('login sessions', () => {
  it('tells active, expired and revoked sessions apart', () => {
    expect(sessionState({ expiresAt: '2026-12-03T13:00:00Z' }, now)).toBe('active');
    expect(sessionState({ expiresAt: '2026-12-03T11:00:00Z' }, now)).toBe('expired');
    expect(sessionState({ expiresAt: '2026-12-03T12:00:00Z' }, now)).toBe('expired');
    expect(sessionState({ expiresAt: '2026-12-03T13:00:00Z', revoked: true }, now)).toBe('revoked');
  });

  it('lists the active sessions newest first, the ended ones only when asked', () => {
    const list = [s('a'), s('bbb', { revoked: true }), s('cc'), s('dddd', { expiresAt: '2026-12-03T11:00:00Z' })];
    expect(visibleSessions(list, false, now).map((x) => x.id)).toEqual(['cc', 'a']);
    expect(visibleSessions(list, true, now).map((x) => x.id)).toEqual(['dddd', 'bbb', 'cc', 'a']);
    // The input is left as it was.
    expect(list.map((x) => x.id)).toEqual(['a', 'bbb', 'cc', 'dddd']);
  });

  it('words the revoke button by user for admins, by id for the caller, and offers none for the current or an ended session', () => {
    expect(revokeLabels(s('a'), { kind: 'all' }, now)).toEqual({ label: 'Revoke session of pat', confirm: 'Confirm revoking this session of pat' });
    expect(revokeLabels(s('a'), { kind: 'own', current: 'b' }, now)).toEqual({ label: 'Revoke session a', confirm: 'Confirm revoking session a' });
    expect(revokeLabels(s('a'), { kind: 'own', current: 'a' }, now)).toBeNull();
    expect(revokeLabels(s('a', { revoked: true }), { kind: 'all' }, now)).toBeNull();
    expect(revokeLabels(s('a', { expiresAt: '2026-12-03T11:00:00Z' }), { kind: 'own', current: null }, now)).toBeNull();
  });
});
