import { describe, expect, it } from 'vitest';
import type { Approval } from './api';
import { newestFirst, progress, subjectText } from './logic';

const base: Approval = {
  id: 'apr-1',
  subject: { kind: 'dashboardPublication', dashboard: 'sales', specDigest: 'x' },
  requester: 'erin',
  status: 'pending',
  levels: [
    { approvers: ['role:editor'], required: 1 },
    { approvers: ['role:admin'], required: 1 },
  ],
  currentLevel: 0,
  decisions: [],
  expiresAt: '',
};

describe('approvals', () => {
  it('says what is asked', () => {
    expect(subjectText(base.subject)).toBe('Publish dashboard sales');
    expect(subjectText({ kind: 'query', dataSource: 'sales', sql: 'SELECT 1', level: 'restricted', fingerprint: 'f', params: [] })).toBe('Run a query reading restricted data on sales');
    expect(subjectText({ kind: 'export', dataSource: 'sales', sql: 's', format: 'csv', level: null, fingerprint: 'f', params: [] })).toBe('Export a query result from sales as csv');
  });
  it('says where a request stands', () => {
    expect(progress(base)).toBe('pending, level 1 of 2');
    expect(progress({ ...base, currentLevel: 1 })).toBe('pending, level 2 of 2');
    expect(progress({ ...base, status: 'approved', currentLevel: 2 })).toBe('approved');
  });
  it('lists newest first', () => {
    const a = { ...base, id: 'a', createdAt: '2026-12-01T00:00:00Z' };
    const b = { ...base, id: 'b', createdAt: '2026-12-02T00:00:00Z' };
    expect(newestFirst([a, b]).map((x) => x.id)).toEqual(['b', 'a']);
  });
});
