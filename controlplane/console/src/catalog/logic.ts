// The catalog pages' pure logic.
import type { Cell } from '../api/types';
import { cellText } from '../dashboards/columns';
import type { CatalogColumn, Sensitivity } from './api';

/** Facet values, most frequent first, then by name. */
export function facetEntries(m: Record<string, number>): [string, number][] {
  return Object.entries(m).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** `pii, finance  pii` → `['pii', 'finance']`; at most 50, each at most 100 characters. */
export function parseTags(text: string): { tags: string[] } | { error: string } {
  const tags = [...new Set(text.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean))];
  if (tags.length > 50) return { error: 'at most 50 tags' };
  const long = tags.find((t) => t.length > 100);
  if (long) return { error: `"${long.slice(0, 20)}…" is longer than 100 characters` };
  return { tags };
}

/** The level that governs a column: a manual override, else what detection found. */
export function effectiveLevel(c: CatalogColumn): { level: Sensitivity | null; manual: boolean } {
  if (c.override) return { level: c.override.level ?? null, manual: true };
  return { level: c.classification?.level ?? null, manual: false };
}

/** One line of profile: distinct values, nulls, range and the most frequent values (or that
 * they are withheld from the caller). */
export function profileText(c: CatalogColumn): string {
  const p = c.profile;
  if (!p) return 'not profiled';
  const parts = [`${p.distinct.toLocaleString('en-US')} distinct`, `${(p.nullFraction * 100).toFixed(1)} % null`];
  if (p.min !== undefined && p.min !== null) parts.push(`${cellText(p.min as Cell)} – ${cellText(p.max as Cell)}`);
  if (p.valuesWithheld) parts.push('values withheld (sensitive)');
  else if (p.topValues?.length) parts.push(`top: ${p.topValues.slice(0, 3).map((t) => `${cellText(t.value as Cell)} (${t.count})`).join(', ')}`);
  parts.push(`of ${p.sampledRows.toLocaleString('en-US')} sampled rows`);
  return parts.join('; ');
}

/** The override select's value for a column, and the patch for a chosen value: `auto` lets
 * detection decide, `none` declares the column not sensitive. */
export function overrideValue(c: CatalogColumn): string {
  if (!c.override) return 'auto';
  return c.override.level ?? 'none';
}

export function overridePatch(value: string, reason: string): { override: { level: Sensitivity | null; reason?: string } | null } {
  if (value === 'auto') return { override: null };
  const r = reason.trim() || undefined;
  return { override: { level: value === 'none' ? null : (value as Sensitivity), ...(r ? { reason: r } : {}) } };
}
