// Findings as people read them: the kind's name and each figure as a labelled value. Pure, so
// the wording is tested without a browser.
import type { Finding, FindingKind, Insights } from './api';

export const KIND_LABEL: Record<FindingKind, string> = {
  trend: 'Trend',
  change: 'Change',
  outlier: 'Outlier',
  concentration: 'Concentration',
  correlation: 'Correlation',
};

const num = (v: unknown): string => {
  if (typeof v !== 'number') return String(v ?? '—');
  return Number.isInteger(v) ? v.toLocaleString('en') : v.toLocaleString('en', { maximumFractionDigits: 3 });
};
const pct = (v: unknown): string => (typeof v === 'number' ? `${v > 0 ? '+' : ''}${num(v)} %` : '—');

/** The figures of a finding, by kind, as `[label, value]` pairs in reading order. */
export function figureRows(f: Finding): [string, string][] {
  const g = f.figures;
  switch (f.kind) {
    case 'trend':
      return [
        ['Direction', String(g.direction)],
        ['Change over the span', pct(g.changePercent)],
        ['Slope', `${num(g.slope)} ${String(g.slopeUnit ?? '')}`.trim()],
        ['R²', num(g.r2)],
        ['Span', `${String(g.from)} → ${String(g.to)} (${num(g.points)} points)`],
      ];
    case 'change':
      return [
        ['Change', pct(g.changePercent)],
        ['Previous', `${num(g.previous)} (${String(g.previousPeriod)})`],
        ['Last', `${num(g.last)} (${String(g.lastPeriod)})`],
      ];
    case 'outlier': {
      const named = Array.isArray(g.outliers) ? (g.outliers as { row: string; value: number; z: number }[]) : [];
      return [
        ['Median', num(g.median)],
        ['MAD', num(g.mad)],
        ['Threshold', `|z| ≥ ${num(g.threshold)}`],
        ...named.map((o): [string, string] => [o.row, `${num(o.value)} (z ${num(o.z)})`]),
      ];
    }
    case 'concentration': {
      const top = Array.isArray(g.top) ? (g.top as { label: string; value: number; sharePercent: number }[]) : [];
      return [
        ['Share of the top', `${num(g.sharePercent)} % (top ${num(g.k)} of ${num(g.categories)})`],
        ['Even share', `${num(g.evenSharePercent)} %`],
        ...top.map((t): [string, string] => [t.label, `${num(t.value)} (${num(t.sharePercent)} %)`]),
      ];
    }
    case 'correlation':
      return [
        ['Pearson r', num(g.r)],
        ['Rows', num(g.n)],
        ['Direction', String(g.direction)],
      ];
  }
}

/** Strength as a whole percentage. */
export const strength = (f: Finding): string => `${Math.round(f.score * 100)} %`;

/** One line about what was looked at, and what was left out. */
export function coverage(i: Insights): string {
  const rows = `${i.rowsAnalysed.toLocaleString('en')} ${i.rowsAnalysed === 1 ? 'row' : 'rows'} analysed${i.truncated ? ' (the result was cut short: more rows exist)' : ''}`;
  if (i.skippedColumns.length === 0) return `${rows}.`;
  const skipped = i.skippedColumns.map((s) => `${s.column} (${s.reason})`).join(', ');
  return `${rows}; not analysed: ${skipped}.`;
}
