// Charting an ad-hoc result: which columns to start with, and the ECharts option (the
// dashboards' chart builder, so a result looks as it would in a widget).
import type { QueryResult } from '../api/types';
import { buildChartOption, ChartDataError, type ChartOption } from '../dashboards/chartOptions';
import { isNumericColumn } from '../dashboards/columns';

export type ResultChart = 'bar' | 'line' | 'area' | 'pie' | 'scatter';
export const RESULT_CHARTS: ResultChart[] = ['bar', 'line', 'area', 'pie', 'scatter'];

/** The first non-numeric column as categories and the first numeric one as values (for a
 * scatter: the first two numeric columns). */
export function defaultColumns(r: QueryResult, kind: ResultChart): { x: string; y: string } | null {
  const numeric = r.columns.map((c, i) => ({ c: c.name, n: isNumericColumn(r, i) }));
  const nums = numeric.filter((c) => c.n).map((c) => c.c);
  if (kind === 'scatter') return nums.length >= 2 ? { x: nums[0], y: nums[1] } : null;
  const cat = numeric.find((c) => !c.n)?.c ?? r.columns[0]?.name;
  const val = nums.find((n) => n !== cat);
  return cat && val ? { x: cat, y: val } : null;
}

export function resultChartOption(kind: ResultChart, x: string, y: string, r: QueryResult): { option: ChartOption } | { error: string } {
  const options = kind === 'pie' ? { label: x, value: y } : { x, y };
  try {
    return { option: buildChartOption(kind, options, r) };
  } catch (e) {
    if (e instanceof ChartDataError) return { error: e.message };
    throw e;
  }
}
