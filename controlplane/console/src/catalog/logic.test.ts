import { describe, expect, it } from 'vitest';
import { qualified, searchQuery, tablePage, type CatalogColumn } from './api';
import { effectiveLevel, facetEntries, overridePatch, overrideValue, parseTags, profileText } from './logic';

const col = (over: Partial<CatalogColumn>): CatalogColumn => ({ name: 'email', type: 'TEXT', nullable: false, ...over });

describe('catalog', () => {
  it('builds the search query with only the filters set', () => {
    expect(searchQuery({ q: ' email ' })).toBe('q=email&limit=100');
    expect(new URLSearchParams(searchQuery({ q: 'x', tag: 'pii', sensitivity: 'confidential', dataSource: 'sales' })).get('tag')).toBe('pii');
  });
  it('orders facets by count then name', () => {
    expect(facetEntries({ pii: 2, email: 1, business: 1 })).toEqual([
      ['pii', 2],
      ['business', 1],
      ['email', 1],
    ]);
  });
  it('parses tags and refuses too many or too long', () => {
    expect(parseTags('pii, finance pii')).toEqual({ tags: ['pii', 'finance'] });
    expect(parseTags('')).toEqual({ tags: [] });
    expect(parseTags('x'.repeat(101))).toHaveProperty('error');
    expect(parseTags(Array.from({ length: 51 }, (_, i) => `t${i}`).join(','))).toHaveProperty('error');
  });
  it('prefers a manual classification to the detected one', () => {
    const detected = { detector: 'email', level: 'confidential' as const, confidence: 0.99, classifiedAt: '' };
    expect(effectiveLevel(col({ classification: detected }))).toEqual({ level: 'confidential', manual: false });
    expect(effectiveLevel(col({ classification: detected, override: { level: null, by: 'admin', at: '' } }))).toEqual({ level: null, manual: true });
    expect(effectiveLevel(col({}))).toEqual({ level: null, manual: false });
  });
  it('summarises a profile, without values when they are withheld', () => {
    const p = { sampledRows: 400, nullFraction: 0.025, distinct: 10, min: 'DE', max: 'US', topValues: [{ value: 'IT', count: 51 }] };
    expect(profileText(col({ profile: p }))).toBe('10 distinct; 2.5 % null; DE – US; top: IT (51); of 400 sampled rows');
    expect(profileText(col({ profile: { ...p, min: undefined, topValues: [], valuesWithheld: true } }))).toBe('10 distinct; 2.5 % null; values withheld (sensitive); of 400 sampled rows');
    expect(profileText(col({}))).toBe('not profiled');
  });
  it('names tables and their pages', () => {
    expect(qualified({ schema: 'public', name: 'orders' })).toBe('public.orders');
    expect(qualified({ name: 'orders' })).toBe('orders');
    expect(tablePage('sales', 'public.orders')).toBe('/catalog/sales/public.orders');
  });
});

describe('classification override', () => {
  it('maps the select to the patch and back', () => {
    expect(overridePatch('auto', 'x')).toEqual({ override: null });
    expect(overridePatch('none', '')).toEqual({ override: { level: null } });
    expect(overridePatch('restricted', ' legal ')).toEqual({ override: { level: 'restricted', reason: 'legal' } });
    expect(overrideValue(col({}))).toBe('auto');
    expect(overrideValue(col({ override: { level: null, by: 'a', at: '' } }))).toBe('none');
    expect(overrideValue(col({ override: { level: 'internal', by: 'a', at: '' } }))).toBe('internal');
  });
});
