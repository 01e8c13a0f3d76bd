// From a widget's chart type, options and query result to an ECharts option: pure, so every
// chart type is unit-tested without a browser.
//
// Widget options understood (all optional; the first suitable columns are used otherwise):
//   x, y (a column or a list of columns), series (a column whose values become series),
//   label and value (pie, funnel, gauge, heatmap), variant: "stacked" (bar, area, line),
//   "horizontal" (bar), "donut" or "funnel" (pie), "gauge" (number), min and max (gauge).
import type { ChartType, QueryResult } from '../api/types';
import { cellText, columnIndex, isNumericColumn, toNumber } from './columns';

export type ChartOption = Record<string, unknown>;
type Options = Record<string, unknown>;

export class ChartDataError extends Error {}

function numericColumns(r: QueryResult): number[] {
  return r.columns.map((_, i) => i).filter((i) => isNumericColumn(r, i));
}

function pick(r: QueryResult, name: unknown, fallback: number): number {
  if (name === undefined) return fallback;
  const i = columnIndex(r, name);
  if (i < 0) throw new ChartDataError(`option names column "${String(name)}", which the result does not have`);
  return i;
}

function yColumns(r: QueryResult, o: Options, x: number): number[] {
  if (o.y !== undefined) {
    const names = Array.isArray(o.y) ? o.y : [o.y];
    return names.map((n) => pick(r, n, -1));
  }
  const ys = numericColumns(r).filter((i) => i !== x);
  if (ys.length === 0) throw new ChartDataError('the result has no numeric column to plot');
  return ys;
}

/** Category axis + one series per y column, or per value of the `series` column. */
function cartesian(r: QueryResult, o: Options, type: 'line' | 'bar', area: boolean): ChartOption {
  const x = pick(r, o.x, 0);
  const stacked = o.variant === 'stacked';
  const horizontal = o.variant === 'horizontal';
  const categories: string[] = [];
  const seen = new Map<string, number>();
  for (const row of r.rows) {
    const c = cellText(row[x]);
    if (!seen.has(c)) {
      seen.set(c, categories.length);
      categories.push(c);
    }
  }
  let series: { name: string; data: (number | null)[] }[];
  if (o.series !== undefined) {
    const s = pick(r, o.series, -1);
    const [y] = yColumns(r, o, x);
    const byName = new Map<string, (number | null)[]>();
    for (const row of r.rows) {
      const name = cellText(row[s]);
      if (!byName.has(name)) byName.set(name, categories.map(() => null));
      byName.get(name)![seen.get(cellText(row[x]))!] = toNumber(row[y]);
    }
    series = [...byName].map(([name, data]) => ({ name, data }));
  } else {
    series = yColumns(r, o, x).map((y) => {
      const data: (number | null)[] = categories.map(() => null);
      for (const row of r.rows) data[seen.get(cellText(row[x]))!] = toNumber(row[y]);
      return { name: r.columns[y].name, data };
    });
  }
  const categoryAxis = { type: 'category', data: categories, name: r.columns[x].name };
  const valueAxis = { type: 'value' };
  return {
    tooltip: { trigger: 'axis' },
    legend: series.length > 1 ? { top: 0 } : undefined,
    grid: { left: 8, right: 16, top: series.length > 1 ? 32 : 16, bottom: 8, containLabel: true },
    xAxis: horizontal ? valueAxis : categoryAxis,
    yAxis: horizontal ? categoryAxis : valueAxis,
    series: series.map((s) => ({
      name: s.name,
      type,
      data: s.data,
      ...(stacked ? { stack: 'total' } : {}),
      ...(area ? { areaStyle: {} } : {}),
      ...(type === 'line' ? { showSymbol: categories.length <= 60 } : {}),
    })),
  };
}

function labelled(r: QueryResult, o: Options): { name: string; value: number | null }[] {
  const nums = numericColumns(r);
  const value = pick(r, o.value ?? o.y, nums[0] ?? -1);
  if (value < 0) throw new ChartDataError('the result has no numeric column to plot');
  const label = pick(r, o.label ?? o.x, r.columns.findIndex((_, i) => i !== value));
  return r.rows.map((row) => ({
    name: label < 0 ? '' : cellText(row[label]),
    value: toNumber(row[value]),
  }));
}

function pie(r: QueryResult, o: Options): ChartOption {
  const data = labelled(r, o);
  if (o.variant === 'funnel') {
    return {
      tooltip: { trigger: 'item' },
      series: [{ type: 'funnel', sort: 'descending', left: '10%', width: '80%', label: { show: true }, data }],
    };
  }
  return {
    tooltip: { trigger: 'item' },
    legend: { type: 'scroll', bottom: 0 },
    series: [
      {
        type: 'pie',
        radius: o.variant === 'donut' ? ['45%', '70%'] : '70%',
        center: ['50%', '45%'],
        data,
      },
    ],
  };
}

function scatter(r: QueryResult, o: Options): ChartOption {
  const nums = numericColumns(r);
  // Two numeric columns: a true x/y scatter; one: values spread over a category axis.
  const numericX = o.x !== undefined ? isNumericColumn(r, pick(r, o.x, 0)) : nums.length >= 2;
  const x = pick(r, o.x, numericX ? nums[0] : r.columns.findIndex((_, i) => !nums.includes(i)));
  const y = pick(r, o.y, nums.find((i) => i !== x) ?? -1);
  if (x < 0 || y < 0) throw new ChartDataError('the result has no numeric column to plot');
  const s = o.series !== undefined ? pick(r, o.series, -1) : -1;
  const groups = new Map<string, unknown[][]>();
  for (const row of r.rows) {
    const key = s < 0 ? r.columns[y].name : cellText(row[s]);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push([numericX ? toNumber(row[x]) : cellText(row[x]), toNumber(row[y])]);
  }
  return {
    tooltip: { trigger: 'item' },
    legend: groups.size > 1 ? { top: 0 } : undefined,
    grid: { left: 8, right: 16, top: groups.size > 1 ? 32 : 16, bottom: 8, containLabel: true },
    xAxis: numericX ? { type: 'value', name: r.columns[x].name, scale: true } : { type: 'category', name: r.columns[x].name },
    yAxis: { type: 'value', name: r.columns[y].name, scale: true },
    series: [...groups].map(([name, data]) => ({ name, type: 'scatter', data })),
  };
}

function heatmap(r: QueryResult, o: Options): ChartOption {
  const nums = numericColumns(r);
  const v = pick(r, o.value, nums[nums.length - 1] ?? -1);
  if (v < 0) throw new ChartDataError('the result has no numeric column to plot');
  const others = r.columns.map((_, i) => i).filter((i) => i !== v);
  const x = pick(r, o.x, others[0] ?? -1);
  const y = pick(r, o.y, others[1] ?? -1);
  if (x < 0 || y < 0) throw new ChartDataError('a heatmap needs two category columns and a value');
  const xs: string[] = [];
  const ys: string[] = [];
  const data: [number, number, number | null][] = [];
  let min = Infinity;
  let max = -Infinity;
  for (const row of r.rows) {
    const xv = cellText(row[x]);
    const yv = cellText(row[y]);
    if (!xs.includes(xv)) xs.push(xv);
    if (!ys.includes(yv)) ys.push(yv);
    const n = toNumber(row[v]);
    if (n !== null) {
      min = Math.min(min, n);
      max = Math.max(max, n);
    }
    data.push([xs.indexOf(xv), ys.indexOf(yv), n]);
  }
  return {
    tooltip: { position: 'top' },
    grid: { left: 8, right: 16, top: 16, bottom: 48, containLabel: true },
    xAxis: { type: 'category', data: xs, name: r.columns[x].name },
    yAxis: { type: 'category', data: ys, name: r.columns[y].name },
    visualMap: {
      min: Number.isFinite(min) ? min : 0,
      max: Number.isFinite(max) ? max : 0,
      calculable: true,
      orient: 'horizontal',
      left: 'center',
      bottom: 0,
    },
    series: [{ type: 'heatmap', data, label: { show: xs.length * ys.length <= 100 } }],
  };
}

function gauge(r: QueryResult, o: Options): ChartOption {
  const [first] = labelled(r, o);
  const value = first?.value ?? 0;
  const max = typeof o.max === 'number' ? o.max : niceMax(value);
  return {
    series: [
      {
        type: 'gauge',
        min: typeof o.min === 'number' ? o.min : 0,
        max,
        progress: { show: true },
        detail: { valueAnimation: false, formatter: '{value}' },
        data: [{ value, name: first?.name ?? '' }],
      },
    ],
  };
}

/** The next round number above `v` (1, 2 or 5 times a power of ten), so a gauge has room. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 100;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Whether a widget is drawn by ECharts (tables and plain KPIs are HTML). */
export function isEChart(chart: ChartType, options: Options = {}): boolean {
  if (chart === 'table') return false;
  if (chart === 'number') return options.variant === 'gauge';
  return true;
}

export function buildChartOption(chart: ChartType, options: Options, result: QueryResult): ChartOption {
  const base = { animation: false, backgroundColor: 'transparent' };
  switch (chart) {
    case 'line':
      return { ...base, ...cartesian(result, options, 'line', false) };
    case 'area':
      return { ...base, ...cartesian(result, options, 'line', true) };
    case 'bar':
      return { ...base, ...cartesian(result, options, 'bar', false) };
    case 'pie':
      return { ...base, ...pie(result, options) };
    case 'scatter':
      return { ...base, ...scatter(result, options) };
    case 'heatmap':
      return { ...base, ...heatmap(result, options) };
    case 'number':
      return { ...base, ...gauge(result, options) };
    default:
      throw new ChartDataError(`chart type "${chart}" is not drawn with ECharts`);
  }
}
