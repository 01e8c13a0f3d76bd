import { describe, expect, it } from 'vitest';
import type { Backup, Fingerprint, RestoreReport, Suggestion } from './api';
import { auditQuery, checkNewUser, checkWebhookUrl, NO_FILTERS, newestFirst, parseEvents, parseScopes, restoreSummary, running, sortFingerprints, evidenceLines, SUGGESTION_KINDS } from './logic';

describe('users', () => {
  it('checks a new user before sending it', () => {
    expect(checkNewUser({ username: 'ana', email: '', role: 'viewer', password: 'long-enough-pw' })).toEqual({});
    const e = checkNewUser({ username: '-bad', email: 'nope', role: 'viewer', password: 'short' });
    expect(Object.keys(e).sort()).toEqual(['email', 'password', 'username']);
    expect(checkNewUser({ username: 'a', email: '', role: 'admin', password: '12345678' }, 8)).toEqual({});
  });
});

describe('API key scopes', () => {
  it('parses a list of area:access and refuses unknown areas or access', () => {
    expect(parseScopes('dashboards:read, queries:write dashboards:read')).toEqual({ scopes: ['dashboards:read', 'queries:write'] });
    expect(parseScopes('*')).toEqual({ scopes: ['*'] });
    expect(parseScopes('')).toHaveProperty('error');
    expect(parseScopes('reports:read')).toHaveProperty('error');
    expect(parseScopes('dashboards:delete')).toHaveProperty('error');
    expect(parseScopes('dashboards')).toHaveProperty('error');
  });
});

describe('audit filters', () => {
  it('sends only the filters that are set, times in UTC', () => {
    expect(auditQuery(NO_FILTERS)).toEqual({ query: '' });
    const r = auditQuery({ actor: ' admin ', action: 'auth.login', outcome: 'denied', from: '2026-12-01T00:00', to: '' }, { limit: '50' });
    expect('query' in r).toBe(true);
    const q = new URLSearchParams((r as { query: string }).query);
    expect(q.get('actor')).toBe('admin');
    expect(q.get('action')).toBe('auth.login');
    expect(q.get('outcome')).toBe('denied');
    expect(q.get('from')).toBe(new Date('2026-12-01T00:00').toISOString());
    expect(q.get('to')).toBeNull();
    expect(q.get('limit')).toBe('50');
  });
  it('refuses a range that ends before it starts', () => {
    expect(auditQuery({ ...NO_FILTERS, from: '2026-12-02T00:00', to: '2026-12-01T00:00' })).toMatchObject({ field: 'to' });
  });
});

const stats = { count: 0, executions: 0, errors: 0, cacheHits: 0, cacheMisses: 0, rows: 0, bytes: 0, totalMs: 0 };
const fp = (id: string, p95: number | null, total: number): Fingerprint => ({
  ...stats,
  id,
  dataSource: 'sales',
  sourceType: 'sqlite',
  fingerprint: `SELECT ${id}`,
  users: [],
  p95Ms: p95,
  totalMs: total,
});

describe('performance', () => {
  it('sorts fingerprints by a figure, unmeasured ones last', () => {
    const list = [fp('a', 5, 100), fp('b', null, 0), fp('c', 50, 10)];
    expect(sortFingerprints(list, 'p95Ms', true).map((f) => f.id)).toEqual(['c', 'a', 'b']);
    expect(sortFingerprints(list, 'p95Ms', false).map((f) => f.id)).toEqual(['a', 'c', 'b']);
    expect(sortFingerprints(list, 'totalMs', true).map((f) => f.id)).toEqual(['a', 'c', 'b']);
    expect(list.map((f) => f.id)).toEqual(['a', 'b', 'c']);
  });
});

const backup = (id: string, state: Backup['state']): Backup => ({ id, state, trigger: 'manual', pinned: false, requestedBy: 'admin', requestedAt: '' });

describe('backups', () => {
  it('lists newest first and knows when some are under way', () => {
    const l = [backup('20261201-000000-aa', 'Completed'), backup('20261203-000000-bb', 'Running')];
    expect(newestFirst(l).map((b) => b.id)).toEqual(['20261203-000000-bb', '20261201-000000-aa']);
    expect(running(l)).toBe(true);
    expect(running([l[0]])).toBe(false);
  });
  it('sums a restore report up in one sentence', () => {
    const col = { inBackup: 3, current: 3, addedIds: [], removedIds: [], modifiedIds: [] };
    const r: RestoreReport = {
      backup: 'b',
      dryRun: true,
      restored: false,
      startedAt: '',
      finishedAt: '',
      collections: [
        { ...col, collection: 'dashboards', added: 1, removed: 0, modified: 2, unchanged: 1 },
        { ...col, collection: 'users', added: 0, removed: 0, modified: 0, unchanged: 4 },
      ],
      totals: { inBackup: 6, current: 6, added: 1, removed: 0, modified: 2, unchanged: 5 },
      untouched: [],
    };
    expect(restoreSummary(r)).toBe('A restore would add 1, remove 0 and modify 2 records in 1 collection; 5 unchanged.');
    const same = { ...r, totals: { ...r.totals, added: 0, modified: 0 }, collections: [] };
    expect(restoreSummary(same)).toBe('A restore would change nothing: 5 records as in the backup.');
    expect(restoreSummary({ ...r, dryRun: false, restored: true })).toMatch(/^The restore added 1, removed 0 and modified 2/);
  });
});

describe('webhooks', () => {
  it('parses event patterns', () => {
    expect(parseEvents('approval.*, lineage.broken')).toEqual({ events: ['approval.*', 'lineage.broken'] });
    expect(parseEvents('*')).toEqual({ events: ['*'] });
    expect(parseEvents('')).toHaveProperty('error');
    expect(parseEvents('Approval Requested!')).toHaveProperty('error');
  });
  it('checks the target URL scheme', () => {
    expect(checkWebhookUrl('https://hooks.example/x')).toBeNull();
    expect(checkWebhookUrl('ftp://x')).toBe('only http and https targets');
    expect(checkWebhookUrl('nope')).toBe('not a URL');
  });
});

import { bulkPatches, filtersFromUrl } from './logic';

describe('bulk user changes', () => {
  const users = [
    { username: 'admin', role: 'admin' as const, disabled: false },
    { username: 'erin', role: 'editor' as const, disabled: false },
    { username: 'vic', role: 'viewer' as const, disabled: true },
  ];
  it('patches only the selected users it changes, never the caller', () => {
    const all = new Set(['admin', 'erin', 'vic']);
    expect(bulkPatches(users, all, { disabled: true }, 'admin').map((p) => p.user.username)).toEqual(['erin']);
    expect(bulkPatches(users, all, { role: 'viewer' }, 'admin').map((p) => p.user.username)).toEqual(['erin']);
    expect(bulkPatches(users, new Set(['vic']), { disabled: false }, 'admin').map((p) => p.user.username)).toEqual(['vic']);
  });
});

describe('audit links', () => {
  it('reads audit filters from a link, ignoring unknown outcomes', () => {
    expect(filtersFromUrl(new URLSearchParams('actor=erin&outcome=nope'))).toMatchObject({ actor: 'erin', outcome: '' });
    expect(filtersFromUrl(new URLSearchParams('outcome=denied')).outcome).toBe('denied');
  });
});

import { retentionText } from './logic';
describe('backup schedules', () => {
  it('say their retention in words', () => {
    expect(retentionText({ keepLast: 7, maxAgeDays: 30 })).toBe('last 7, 30 days at most');
    expect(retentionText({ keepDaily: 7, keepWeekly: 4 })).toBe('7 daily, 4 weekly');
    expect(retentionText(undefined)).toBe('the instance’s retention');
  });
});

import { flagAudience, flagInput } from './logic';
describe('feature flags', () => {
  it('turn the form into the PUT body and refuse a bad rollout', () => {
    expect(flagInput({ enabled: true, roles: ['editor'], users: 'ana, bo ana', rollout: '25' }, 'x')).toEqual({
      input: { description: 'x', enabled: true, roles: ['editor'], users: ['ana', 'bo'], rolloutPercent: 25 },
    });
    expect(flagInput({ enabled: true, roles: [], users: '', rollout: '101' })).toHaveProperty('error');
    expect(flagInput({ enabled: true, roles: [], users: '', rollout: '2.5' })).toHaveProperty('error');
  });
  it('say who gets a flag', () => {
    expect(flagAudience({ enabled: false, roles: [], users: [], rolloutPercent: 100 })).toBe('nobody');
    expect(flagAudience({ enabled: true, roles: [], users: [], rolloutPercent: 100 })).toBe('everyone');
    expect(flagAudience({ enabled: true, roles: ['admin'], users: ['bo'], rolloutPercent: 10 })).toBe('10 % of admin users, and always bo');
  });
});

import { patchLines } from './logic';
describe('configuration history', () => {
  it('shows a JSON Patch one operation a line', () => {
    expect(
      patchLines([
        { op: 'replace', path: '/title', value: 'Sales' },
        { op: 'remove', path: '/tags/1' },
        { op: 'add', path: '/widgets/0', value: { id: 'w1' } },
        { op: 'move', path: '/a', from: '/b' },
      ]),
    ).toEqual(['replace /title = "Sales"', 'remove /tags/1', 'add /widgets/0 = {"id":"w1"}', 'move /a from /b']);
  });
});

describe('suggestions', () => {
  it('list the evidence of each kind', () => {
    const index: Suggestion = {
      kind: 'index',
      dataSource: 'lite',
      title: 'Index big on (id)',
      table: 'big',
      columns: ['id'],
      sql: 'CREATE INDEX "big_id_idx" ON "big" ("id")',
      evidence: { planNode: 'SCAN big', estimatedRows: 0.7, tableRows: 20000, selectivityFrom: 'runs', runs: 3, statement: 'SELECT name FROM big WHERE id = 42' },
    };
    const lines = evidenceLines(index);
    expect(lines[0]).toEqual(['Plan', 'SCAN big']);
    expect(lines[1][1]).toContain('of 20,000 rows (rows the runs returned)');
    expect(lines.map((l) => l[0])).toEqual(['Plan', 'Selectivity', 'Runs', 'Statement']);
    const ttl: Suggestion = {
      kind: 'cacheTtl',
      dataSource: 'maria',
      title: 'Raise the cache TTL',
      suggestedTtlSeconds: 6,
      evidence: { cacheTtlSeconds: 1, reruns: 5, unchanged: 5, stableSeconds: 6, fingerprint: 'SELECT count(*) FROM t' },
    };
    expect(evidenceLines(ttl)).toEqual([
      ['Unchanged', '5 of 5 reruns, stable for 6 s'],
      ['Cache TTL', '1 s now, 6 s suggested'],
      ['Statement', 'SELECT count(*) FROM t'],
    ]);
    const shared: Suggestion = { kind: 'sharedWidgetQuery', dataSource: 'lite', title: 't', evidence: { widgets: [{ dashboard: 'one', widget: 'w1' }, { dashboard: 'two', widget: 'w2' }] } };
    expect(evidenceLines(shared)).toEqual([['Widgets', 'one / w1, two / w2']]);
    expect(SUGGESTION_KINDS.selectStar).toContain('SELECT *');
  });
});

import { actAsRefusal } from './logic';
describe('acting as a user', () => {
  it('is offered for enabled non-admins other than the caller', () => {
    expect(actAsRefusal({ username: 'pat', role: 'viewer', disabled: false }, 'admin')).toBeNull();
    expect(actAsRefusal({ username: 'erin', role: 'editor', disabled: false }, 'admin')).toBeNull();
    expect(actAsRefusal({ username: 'admin', role: 'admin', disabled: false }, 'admin')).toBe('you cannot act as yourself');
    expect(actAsRefusal({ username: 'root', role: 'admin', disabled: false }, 'admin')).toBe('admins cannot be impersonated');
    expect(actAsRefusal({ username: 'vic', role: 'viewer', disabled: true }, 'admin')).toBe('a disabled user cannot be impersonated');
  });
});
