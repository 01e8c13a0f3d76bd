import { describe, expect, it } from 'vitest';
import type { DataSourceView } from '../api/types';
import { EMPTY_FORM, formOf, toInput, toUpdate } from './form';

const view: DataSourceView = {
  name: 'warehouse',
  spec: { type: 'postgresql', host: 'db', port: 5432, database: 'dw', username: 'bi', displayName: 'DW', pool: { maxConnections: 8 }, tls: { mode: 'require' } },
  hasPassword: true,
  origin: 'api',
  revision: 3,
};

describe('data source form', () => {
  it('checks a new source', () => {
    expect(toInput({ ...EMPTY_FORM, name: 'Bad Name' })).toHaveProperty('errors.name');
    const ok = toInput({ ...EMPTY_FORM, name: 'pg', host: 'db', database: 'x', port: '5432', password: 'pw' });
    expect(ok).toEqual({ input: { name: 'pg', spec: { type: 'postgresql', host: 'db', port: 5432, database: 'x' }, password: 'pw' } });
    expect(toInput({ ...EMPTY_FORM, name: 'pg', host: 'db', database: 'x', port: '70000' })).toHaveProperty('errors.port');
  });
  it('edits what the form shows and keeps the rest of the spec; no password means unchanged', () => {
    const f = formOf(view);
    expect(f.password).toBe('');
    expect(f.port).toBe('5432');
    const r = toUpdate({ ...f, host: 'db2', displayName: '' }, view);
    expect(r).toEqual({
      input: { name: 'warehouse', spec: { pool: { maxConnections: 8 }, tls: { mode: 'require' }, type: 'postgresql', host: 'db2', port: 5432, database: 'dw', username: 'bi' } },
    });
    expect(toUpdate({ ...f, password: 'new' }, view)).toHaveProperty('input.password', 'new');
    expect(toUpdate({ ...f, host: '' }, view)).toHaveProperty('errors.host');
  });
});
