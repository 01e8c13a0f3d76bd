// A monitoring series (one point per minute) → an ECharts line option; pure.
import type { ChartOption } from '../dashboards/chartOptions';
import type { Series } from './api';
import { formatBytes, formatMs, formatRatio } from '../app/format';

export const SERIES_METRICS: { metric: string; label: string }[] = [
  { metric: 'requests', label: 'Requests per minute' },
  { metric: 'latency_p95', label: 'Latency p95' },
  { metric: 'error_rate', label: 'Server error rate' },
  { metric: 'client_error_rate', label: 'Client error rate' },
  { metric: 'latency_p50', label: 'Latency p50' },
  { metric: 'latency_p99', label: 'Latency p99' },
  { metric: 'queries', label: 'Query runs per minute' },
  { metric: 'query_p95', label: 'Query p95' },
  { metric: 'query_errors', label: 'Failed queries per minute' },
  { metric: 'cache_hit_rate', label: 'Cache hit rate' },
  { metric: 'process_cpu', label: 'Process CPU' },
  { metric: 'rss', label: 'Process memory (RSS)' },
  { metric: 'host_cpu', label: 'Host CPU' },
  { metric: 'host_memory_available', label: 'Host memory available' },
  { metric: 'disk_free', label: 'Disk free' },
  { metric: 'store_size', label: 'Store size' },
];

/** `HH:MM` of a point's minute (in the viewer's zone). */
export function minuteLabel(iso: string): string {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** Summary of a series for the chart's accessible label and the figure under it. */
export function seriesSummary(s: Series): { last: number | null; max: number | null; measured: number } {
  const values = s.points.map((p) => p.value).filter((v): v is number => v !== null && Number.isFinite(v));
  const lastPoint = [...s.points].reverse().find((p) => p.value !== null);
  return { last: lastPoint?.value ?? null, max: values.length ? Math.max(...values) : null, measured: values.length };
}

export function seriesOption(s: Series): ChartOption {
  return {
    animation: false,
    grid: { left: 56, right: 16, top: 30, bottom: 28 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'category', boundaryGap: false, data: s.points.map((p) => minuteLabel(p.at)) },
    yAxis: { type: 'value', name: s.unit, nameTextStyle: { align: 'left' }, min: 0 },
    series: [
      {
        name: s.metric,
        type: 'line',
        showSymbol: s.points.length <= 5,
        // Minutes without anything to measure stay gaps, not zeros.
        connectNulls: false,
        areaStyle: { opacity: 0.15 },
        data: s.points.map((p) => p.value),
      },
    ],
  };
}

/** The unit a series is measured in, for the line under a chart that has no value yet. */
export function unitCaption(unit: string): string {
  switch (unit) {
    case 'percent':
      return 'in %';
    case 'percent of a core':
      return 'in % of a core';
    case 'ratio':
      return 'in % (ratio)';
    default:
      return `in ${unit}`;
  }
}

/** A series value in its unit, as people read it. */
export function formatSeriesValue(v: number | null, unit: string): string {
  if (v === null || !Number.isFinite(v)) return '–';
  switch (unit) {
    case 'ms':
      return formatMs(v);
    case 'bytes':
      return formatBytes(v);
    case 'ratio':
      return formatRatio(v);
    case 'percent':
    case 'percent of a core':
      return `${v.toFixed(1)} %`;
    default:
      return `${Number.isInteger(v) ? v : v.toFixed(2)} ${unit}`;
  }
}
