import { describe, expect, it } from 'vitest';
import type { Finding } from './api';
import { coverage, figureRows, strength } from './format';

const finding = (kind: Finding['kind'], figures: Record<string, unknown>): Finding => ({ kind, title: 't', summary: 's', columns: [], score: 0.873, figures });

describe('insight figures', () => {
  it('reads a trend with its signed change, slope unit and span', () => {
    const rows = figureRows(finding('trend', { direction: 'up', changePercent: 43.2, slope: 1.428571, slopeUnit: 'per day', r2: 0.98, from: '2025-01', to: '2025-12', points: 12 }));
    expect(rows).toEqual([
      ['Direction', 'up'],
      ['Change over the span', '+43.2 %'],
      ['Slope', '1.429 per day'],
      ['R²', '0.98'],
      ['Span', '2025-01 → 2025-12 (12 points)'],
    ]);
  });

  it('names each outlier row and the top categories', () => {
    const o = figureRows(finding('outlier', { median: 11, mad: 1, threshold: 3.5, outliers: [{ row: 'store 8', value: 9500, z: 56.66 }] }));
    expect(o.at(-1)).toEqual(['store 8', '9,500 (z 56.66)']);
    const c = figureRows(finding('concentration', { k: 3, categories: 12, sharePercent: 72.7, evenSharePercent: 25, top: [{ label: 'north', value: 100, sharePercent: 30.3 }] }));
    expect(c[0]).toEqual(['Share of the top', '72.7 % (top 3 of 12)']);
    expect(c.at(-1)).toEqual(['north', '100 (30.3 %)']);
  });

  it('signs a fall and keeps a missing figure visible', () => {
    expect(figureRows(finding('change', { changePercent: -30, previous: 100, previousPeriod: 'Feb', last: 70, lastPeriod: 'Mar' }))[0]).toEqual(['Change', '-30 %']);
    expect(figureRows(finding('trend', { changePercent: null }))[1]).toEqual(['Change over the span', '—']);
    expect(figureRows(finding('correlation', { r: -0.91, n: 10, direction: 'negative' }))).toEqual([
      ['Pearson r', '-0.91'],
      ['Rows', '10'],
      ['Direction', 'negative'],
    ]);
  });

  it('says what was analysed and what was left out', () => {
    expect(strength(finding('trend', {}))).toBe('87 %');
    expect(coverage({ findings: [], rowsAnalysed: 1, truncated: false, skippedColumns: [] })).toBe('1 row analysed.');
    expect(coverage({ findings: [], rowsAnalysed: 1000, truncated: true, skippedColumns: [{ column: 'email', reason: 'masked' }] })).toBe(
      '1,000 rows analysed (the result was cut short: more rows exist); not analysed: email (masked).',
    );
  });
});
