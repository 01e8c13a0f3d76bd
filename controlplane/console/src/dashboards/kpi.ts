// The single value of a KPI widget and its comparison.
//   options.value: the column shown (default: the first numeric one);
//   options.compare: a column of the same row to compare with (e.g. last period's value);
//   without it, a second row's value is the comparison (e.g. this month, then last month).
import type { QueryResult } from '../api/types';
import { cellText, columnIndex, isNumericColumn, toNumber } from './columns';

export interface Kpi {
  label: string;
  value: string;
  /** Change against the comparison, in percent; null without one (or when it is 0). */
  changePct: number | null;
}

export function kpiOf(r: QueryResult, o: Record<string, unknown>): Kpi {
  if (r.rows.length === 0) return { label: r.columns[0]?.name ?? '', value: '—', changePct: null };
  let v = columnIndex(r, o.value);
  if (v < 0) v = r.columns.findIndex((_, i) => isNumericColumn(r, i));
  if (v < 0) v = 0;
  const value = r.rows[0][v];
  const c = columnIndex(r, o.compare);
  const other = c >= 0 ? r.rows[0][c] : r.rows.length > 1 ? r.rows[1][v] : undefined;
  const now = toNumber(value);
  const before = toNumber(other ?? null);
  const changePct = now !== null && before !== null && before !== 0 ? ((now - before) / Math.abs(before)) * 100 : null;
  return { label: r.columns[v].name, value: formatValue(value), changePct };
}

export function formatValue(v: unknown): string {
  const n = typeof v === 'number' ? v : null;
  if (n === null) return cellText(v as never) || '—';
  return n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}
