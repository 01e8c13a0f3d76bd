import { describe, expect, it } from 'vitest';
import type { QueryResult } from '../api/types';
import { defaultColumns, resultChartOption } from './chartResult';
import { addToHistory, historyKey, loadHistory, saveHistory, type HistoryEntry } from './history';

const e = (sql: string, at = '2026-12-03T00:00:00Z'): HistoryEntry => ({ at, dataSource: 'sales', sql, ok: true, rowCount: 1 });

describe('run history', () => {
  it('puts the newest first, moves a repeated statement up and caps the list', () => {
    let l = addToHistory([], e('SELECT 1'));
    l = addToHistory(l, e('SELECT 2'));
    l = addToHistory(l, e('SELECT 1', '2026-12-04T00:00:00Z'));
    expect(l.map((x) => x.sql)).toEqual(['SELECT 1', 'SELECT 2']);
    expect(l[0].at).toBe('2026-12-04T00:00:00Z');
    const many = Array.from({ length: 60 }, (_, i) => e(`SELECT ${i}`)).reduce((acc, x) => addToHistory(acc, x), [] as HistoryEntry[]);
    expect(many).toHaveLength(50);
    expect(many[0].sql).toBe('SELECT 59');
  });
  it('is stored per tenant and user, and survives garbage', () => {
    const m = new Map<string, string>();
    const storage = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
    const key = historyKey('acme', 'admin');
    saveHistory(storage, key, [e('SELECT 1')]);
    expect(loadHistory(storage, key)).toHaveLength(1);
    expect(loadHistory(storage, historyKey('acme', 'erin'))).toEqual([]);
    m.set(key, '{not json');
    expect(loadHistory(storage, key)).toEqual([]);
    m.set(key, '[{"sql":1}]');
    expect(loadHistory(storage, key)).toEqual([]);
  });
});

const r: QueryResult = {
  columns: [
    { name: 'country', type: 'TEXT' },
    { name: 'n', type: 'INTEGER' },
    { name: 'revenue', type: 'REAL' },
  ],
  rows: [
    ['DE', 3, 10.5],
    ['FR', 5, 20],
  ],
  rowCount: 2,
  truncated: false,
  elapsedMs: 1,
  executionMs: 1,
  cached: false,
};

describe('charting a result', () => {
  it('starts with categories and the first numeric column', () => {
    expect(defaultColumns(r, 'bar')).toEqual({ x: 'country', y: 'n' });
    expect(defaultColumns(r, 'scatter')).toEqual({ x: 'n', y: 'revenue' });
    expect(defaultColumns({ ...r, columns: [r.columns[0]], rows: [['DE']] }, 'bar')).toBeNull();
  });
  it('builds the option, or says why it cannot', () => {
    const ok = resultChartOption('bar', 'country', 'revenue', r);
    expect('option' in ok && (ok.option as { series: { data: number[] }[] }).series[0].data).toEqual([10.5, 20]);
    expect('option' in resultChartOption('pie', 'country', 'n', r)).toBe(true);
    expect(resultChartOption('bar', 'country', 'nope', r)).toHaveProperty('error');
  });
});
