import { describe, expect, it } from 'vitest';
import type { Series } from './api';
import { seriesOption, seriesSummary } from './seriesChart';

const s: Series = {
  metric: 'latency_p95',
  window: '5m',
  unit: 'ms',
  points: [
    { at: '2026-12-03T23:04:00Z', value: 12 },
    { at: '2026-12-03T23:05:00Z', value: null },
    { at: '2026-12-03T23:06:00Z', value: 30 },
    { at: '2026-12-03T23:07:00Z', value: 4 },
    { at: '2026-12-03T23:08:00Z', value: null },
  ],
};

describe('monitoring series', () => {
  it('plots one point per minute and keeps empty minutes as gaps', () => {
    const o = seriesOption(s) as { xAxis: { data: string[] }; yAxis: { name: string }; series: { data: (number | null)[]; connectNulls: boolean }[] };
    expect(o.xAxis.data).toHaveLength(5);
    expect(o.xAxis.data[0]).toMatch(/^\d\d:04$/);
    expect(o.series[0].data).toEqual([12, null, 30, 4, null]);
    expect(o.series[0].connectNulls).toBe(false);
    expect(o.yAxis.name).toBe('ms');
  });
  it('summarises the last measured value and the maximum', () => {
    expect(seriesSummary(s)).toEqual({ last: 4, max: 30, measured: 3 });
    expect(seriesSummary({ ...s, points: [{ at: s.points[0].at, value: null }] })).toEqual({ last: null, max: null, measured: 0 });
  });
});

import { formatSeriesValue, unitCaption } from './seriesChart';
describe('series values', () => {
  it('are formatted by unit', () => {
    expect(formatSeriesValue(12.345, 'ms')).toBe('12.3 ms');
    expect(formatSeriesValue(1536, 'bytes')).toBe('1.50 KiB');
    expect(formatSeriesValue(0.25, 'ratio')).toBe('25.0 %');
    expect(formatSeriesValue(7, 'requests/min')).toBe('7 requests/min');
    expect(formatSeriesValue(null, 'ms')).toBe('–');
  });
});

describe('unit captions', () => {
  it('name the unit of a chart without a value yet', () => {
    expect(unitCaption('percent')).toBe('in %');
    expect(unitCaption('percent of a core')).toBe('in % of a core');
    expect(unitCaption('bytes')).toBe('in bytes');
  });
});
