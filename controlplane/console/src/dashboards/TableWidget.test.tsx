import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { QueryResult } from '../api/types';
import { TableWidget } from './TableWidget';

const result: QueryResult = {
  columns: [
    { name: 'email', type: 'TEXT' },
    { name: 'revenue', type: 'REAL' },
  ],
  rows: Array.from({ length: 12 }, (_, i) => [`u${i}@x`, i * 10]),
  rowCount: 12,
  truncated: false,
  elapsedMs: 1,
  executionMs: 1,
  cached: false,
  masked: [{ column: 'email', action: 'partial', level: 'confidential', reason: 'customers.email is PII' }],
};

describe('TableWidget', () => {
  const html = renderToStaticMarkup(<TableWidget result={result} caption="Top customers" pageSize={5} />);
  it('shows one page of rows with a pager', () => {
    expect(html.match(/<tr>/g)).toHaveLength(1 + 5);
    expect(html).toContain('1–5 of 12');
    expect(html).toContain('aria-label="Top customers pages"');
  });
  it('marks masked columns with the reason, and right-aligns numbers', () => {
    expect(html).toContain('title="customers.email is PII">masked</span>');
    expect(html).toContain('<td class="num">40</td>');
  });
  it('offers sorting by keyboard-reachable header buttons', () => {
    expect(html.match(/<button type="button" class="sort">/g)).toHaveLength(2);
    expect(html).toContain('aria-sort="none"');
  });
});
