import { describe, expect, it } from 'vitest';
import { toInput, EMPTY_FORM } from '../datasources/form';
import { matchesSearch } from '../dashboards/DashboardsPage';
import { completionSchema, dialectOf, statementToRun } from './completion';

describe('SQL completion schema', () => {
  it('lists tables with their columns, qualified outside the default schema', () => {
    const s = completionSchema({
      tables: [
        { schema: 'public', name: 'orders', columns: [{ name: 'id', type: 'int4' }, { name: 'total', type: 'numeric' }] },
        { schema: 'sales', name: 'targets', columns: [{ name: 'month', type: 'text' }] },
        { name: 'customers', columns: [{ name: 'name', type: 'TEXT' }] },
      ],
    });
    expect(s).toEqual({ orders: ['id', 'total'], targets: ['month'], 'sales.targets': ['month'], customers: ['name'] });
  });
  it('picks the dialect of the source', () => {
    expect(dialectOf('postgresql')).toBe('postgresql');
    expect(dialectOf('mongodb')).toBe('standard');
  });
  it('runs the selection, else everything', () => {
    const doc = 'SELECT 1;\nSELECT 2';
    expect(statementToRun(doc, 10, 18)).toBe('SELECT 2');
    expect(statementToRun(doc, 18, 10)).toBe('SELECT 2');
    expect(statementToRun(doc, 3, 3)).toBe(doc);
  });
});

describe('data source form', () => {
  it('builds the API body for a server source, password apart', () => {
    const r = toInput({ ...EMPTY_FORM, name: 'warehouse', host: 'db', port: '5432', database: 'dw', username: 'bi', password: 's3cret' });
    expect(r).toEqual({
      input: { name: 'warehouse', spec: { type: 'postgresql', host: 'db', port: 5432, database: 'dw', username: 'bi' }, password: 's3cret' },
    });
  });
  it('names every field that is wrong', () => {
    const r = toInput({ ...EMPTY_FORM, name: 'Bad Name', port: '99999' });
    expect('errors' in r && Object.keys(r.errors).sort()).toEqual(['database', 'host', 'name', 'port']);
    const s = toInput({ ...EMPTY_FORM, name: 'files', type: 'sqlite' });
    expect('errors' in s && s.errors.path).toBeTruthy();
  });
});

describe('dashboard search', () => {
  const d = { name: 'sales-overview', origin: 'manifests', owner: 'x', spec: { title: 'Sales overview', folder: 'Sales', tags: ['revenue'] } };
  it('matches every word in title, name, folder or tags', () => {
    expect(matchesSearch(d, 'sales REVENUE')).toBe(true);
    expect(matchesSearch(d, '')).toBe(true);
    expect(matchesSearch(d, 'sales customers')).toBe(false);
  });
});
