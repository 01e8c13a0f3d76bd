import { describe, expect, it } from 'vitest';
import type { QueryResult } from '../api/types';
import { buildChartOption, ChartDataError, isEChart, niceMax } from './chartOptions';

function result(columns: [string, string][], rows: unknown[][]): QueryResult {
  return {
    columns: columns.map(([name, type]) => ({ name, type })),
    rows: rows as QueryResult['rows'],
    rowCount: rows.length,
    truncated: false,
    elapsedMs: 1,
    executionMs: 1,
    cached: false,
  };
}

const monthly = result(
  [
    ['month', 'TEXT'],
    ['revenue', 'REAL'],
    ['orders', 'INTEGER'],
  ],
  [
    ['2024-01', 100.5, 3],
    ['2024-02', 200, 5],
  ],
);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

describe('line, area and bar', () => {
  it('plots every numeric column over the first column by default', () => {
    const o: Any = buildChartOption('line', {}, monthly);
    expect(o.xAxis).toMatchObject({ type: 'category', data: ['2024-01', '2024-02'] });
    expect(o.series.map((s: Any) => [s.name, s.type, s.data])).toEqual([
      ['revenue', 'line', [100.5, 200]],
      ['orders', 'line', [3, 5]],
    ]);
    expect(o.series[0].areaStyle).toBeUndefined();
  });

  it('takes x and y from the options', () => {
    const o: Any = buildChartOption('line', { x: 'month', y: 'orders' }, monthly);
    expect(o.series).toHaveLength(1);
    expect(o.series[0].data).toEqual([3, 5]);
  });

  it('fills the area and stacks on request', () => {
    const o: Any = buildChartOption('area', { variant: 'stacked' }, monthly);
    expect(o.series.every((s: Any) => s.areaStyle && s.stack === 'total')).toBe(true);
  });

  it('pivots a series column into one series per value (stacked bar)', () => {
    const long = result(
      [
        ['month', 'TEXT'],
        ['status', 'TEXT'],
        ['n', 'INTEGER'],
      ],
      [
        ['2024-01', 'shipped', 2],
        ['2024-01', 'cancelled', 1],
        ['2024-02', 'shipped', 4],
      ],
    );
    const o: Any = buildChartOption('bar', { x: 'month', y: 'n', series: 'status', variant: 'stacked' }, long);
    expect(o.xAxis.data).toEqual(['2024-01', '2024-02']);
    expect(o.series).toEqual([
      expect.objectContaining({ name: 'shipped', type: 'bar', stack: 'total', data: [2, 4] }),
      expect.objectContaining({ name: 'cancelled', type: 'bar', stack: 'total', data: [1, null] }),
    ]);
  });

  it('swaps the axes of a horizontal bar chart', () => {
    const o: Any = buildChartOption('bar', { variant: 'horizontal', y: 'revenue' }, monthly);
    expect(o.xAxis.type).toBe('value');
    expect(o.yAxis).toMatchObject({ type: 'category', data: ['2024-01', '2024-02'] });
  });

  it('reads exact decimals sent as strings', () => {
    const dec = result(
      [
        ['k', 'TEXT'],
        ['amount', 'NUMERIC'],
      ],
      [['a', '12345678901234567.5']],
    );
    const o: Any = buildChartOption('bar', {}, dec);
    expect(o.series[0].data[0]).toBeCloseTo(12345678901234567.5);
  });

  it('names a missing column instead of drawing nothing', () => {
    expect(() => buildChartOption('line', { y: 'profit' }, monthly)).toThrow(/profit/);
    const text = result([['a', 'TEXT']], [['x']]);
    expect(() => buildChartOption('bar', {}, text)).toThrow(ChartDataError);
  });
});

describe('pie, donut and funnel', () => {
  const status = result(
    [
      ['status', 'TEXT'],
      ['orders', 'INTEGER'],
    ],
    [
      ['completed', 10],
      ['shipped', 4],
    ],
  );
  it('labels slices by the text column and sizes them by the number', () => {
    const o: Any = buildChartOption('pie', {}, status);
    expect(o.series[0].type).toBe('pie');
    expect(o.series[0].radius).toBe('70%');
    expect(o.series[0].data).toEqual([
      { name: 'completed', value: 10 },
      { name: 'shipped', value: 4 },
    ]);
  });
  it('has a hole as a donut', () => {
    const o: Any = buildChartOption('pie', { variant: 'donut' }, status);
    expect(o.series[0].radius).toEqual(['45%', '70%']);
  });
  it('becomes a funnel', () => {
    const o: Any = buildChartOption('pie', { variant: 'funnel' }, status);
    expect(o.series[0].type).toBe('funnel');
    expect(o.series[0].data).toHaveLength(2);
  });
});

describe('scatter', () => {
  it('plots two numeric columns against each other', () => {
    const r = result(
      [
        ['price', 'REAL'],
        ['units', 'INTEGER'],
      ],
      [
        [10, 3],
        [20, 1],
      ],
    );
    const o: Any = buildChartOption('scatter', {}, r);
    expect(o.xAxis.type).toBe('value');
    expect(o.series[0].data).toEqual([
      [10, 3],
      [20, 1],
    ]);
  });
  it('spreads one numeric column over a category axis, split by a series column', () => {
    const r = result(
      [
        ['name', 'TEXT'],
        ['category', 'TEXT'],
        ['price', 'REAL'],
      ],
      [
        ['A', 'Phones', 900],
        ['B', 'Audio', 100],
      ],
    );
    const o: Any = buildChartOption('scatter', { series: 'category' }, r);
    expect(o.xAxis.type).toBe('category');
    expect(o.series.map((s: Any) => [s.name, s.data])).toEqual([
      ['Phones', [['A', 900]]],
      ['Audio', [['B', 100]]],
    ]);
  });
});

describe('heatmap and gauge', () => {
  it('maps two category columns and a value onto cells', () => {
    const r = result(
      [
        ['day', 'TEXT'],
        ['hour', 'TEXT'],
        ['n', 'INTEGER'],
      ],
      [
        ['Mon', '9', 1],
        ['Tue', '9', 5],
        ['Mon', '10', 3],
      ],
    );
    const o: Any = buildChartOption('heatmap', {}, r);
    expect(o.xAxis.data).toEqual(['Mon', 'Tue']);
    expect(o.yAxis.data).toEqual(['9', '10']);
    expect(o.series[0].data).toEqual([
      [0, 0, 1],
      [1, 0, 5],
      [0, 1, 3],
    ]);
    expect(o.visualMap).toMatchObject({ min: 1, max: 5 });
  });
  it('draws a KPI as a gauge with room above the value', () => {
    const r = result([['orders', 'INTEGER']], [[742]]);
    expect(isEChart('number', {})).toBe(false);
    expect(isEChart('number', { variant: 'gauge' })).toBe(true);
    const o: Any = buildChartOption('number', { variant: 'gauge' }, r);
    expect(o.series[0]).toMatchObject({ type: 'gauge', min: 0, max: 1000 });
    expect(o.series[0].data[0].value).toBe(742);
    expect(niceMax(0)).toBe(100);
    expect(niceMax(120)).toBe(200);
    expect(niceMax(5000)).toBe(5000);
  });
  it('refuses to draw a table with ECharts', () => {
    expect(isEChart('table')).toBe(false);
    expect(() => buildChartOption('table', {}, monthly)).toThrow(ChartDataError);
  });
});
