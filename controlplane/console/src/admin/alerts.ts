// How alerts read: their name and their figure in the unit of their kind.
import type { AlertKind } from './api';

const NAMES: Record<AlertKind, string> = {
  errorRate: 'Error rate',
  latency: 'p95 latency',
  dataSourceDown: 'Data source down',
  diskFree: 'Free disk',
};

export function alertName(kind: AlertKind, subject?: string): string {
  return subject ? `${NAMES[kind] ?? kind}: ${subject}` : (NAMES[kind] ?? kind);
}

/** `12.3%`, `2,140 ms`; a data source is up or down (its figure is 0 when down). */
export function alertFigure(kind: AlertKind, value: number): string {
  if (kind === 'dataSourceDown') return value >= 1 ? 'up' : 'down';
  if (kind === 'latency') return `${Math.round(value).toLocaleString('en-US')} ms`;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: 1 })}%`;
}
