import { describe, expect, it } from 'vitest';
import type { QueryResult } from '../api/types';
import { kpiOf } from './kpi';
import { gridColumns, place } from './layout';
import { NdjsonSplitter } from './ndjson';

const r = (columns: string[], rows: unknown[][]): QueryResult => ({
  columns: columns.map((name) => ({ name, type: '' })),
  rows: rows as QueryResult['rows'],
  rowCount: rows.length,
  truncated: false,
  elapsedMs: 0,
  executionMs: 0,
  cached: false,
});

describe('KPI', () => {
  it('shows the first numeric value', () => {
    expect(kpiOf(r(['label', 'orders'], [['all', 12345.678]]), {})).toEqual({ label: 'orders', value: '12,345.68', changePct: null });
  });
  it('compares with a named column or the next row', () => {
    expect(kpiOf(r(['now', 'before'], [[120, 100]]), { compare: 'before' }).changePct).toBeCloseTo(20);
    expect(kpiOf(r(['revenue'], [[90], [100]]), {}).changePct).toBeCloseTo(-10);
    expect(kpiOf(r(['now', 'before'], [[5, 0]]), { compare: 'before' }).changePct).toBeNull();
  });
  it('shows a dash for no rows', () => {
    expect(kpiOf(r(['n'], []), {}).value).toBe('—');
  });
});

describe('layout', () => {
  it('uses 12 columns for 12-wide layouts and up to 24 for wider ones', () => {
    const w = (x: number, width: number) => ({ id: `w${x}`, chart: 'bar' as const, query: { dataSource: 's', sql: 'x' }, position: { x, w: width } });
    expect(gridColumns([w(0, 12), w(6, 6)])).toBe(12);
    expect(gridColumns([w(12, 12)])).toBe(24);
    expect(place([w(0, 12)])[0]).toMatchObject({ column: '1 / span 12', row: '1 / span 4' });
  });
});

describe('NDJSON', () => {
  it('yields values as their lines complete, across chunk borders', () => {
    const s = new NdjsonSplitter<{ id: string }>();
    expect(s.push('{"id":"a"}\n{"id"')).toEqual([{ id: 'a' }]);
    expect(s.push(':"b"}\n\n')).toEqual([{ id: 'b' }]);
    expect(s.push('{"id":"c"}')).toEqual([]);
    expect(s.end()).toEqual([{ id: 'c' }]);
  });
});
