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
  it('moves widgets that would overlap to the first free place', () => {
    const at = (id: string, position?: { x?: number; y?: number; w?: number; h?: number }) => ({
      id,
      chart: 'table' as const,
      query: { dataSource: 's', sql: 'x' },
      position,
    });
    // Two widgets without a position (both 0,0,6,4): the second goes beside the first.
    expect(place([at('a'), at('b')]).map((p) => [p.x, p.y])).toEqual([
      [0, 0],
      [6, 0],
    ]);
    // No room beside: below.
    const placed = place([at('a', { w: 12 }), at('b', { w: 12, h: 2 })]);
    expect(placed.map((p) => [p.x, p.y, p.row])).toEqual([
      [0, 0, '1 / span 4'],
      [0, 4, '5 / span 2'],
    ]);
    // Free places are used as asked.
    expect(place([at('a', { x: 0, y: 0 }), at('b', { x: 6, y: 0 })]).map((p) => p.x)).toEqual([0, 6]);
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
