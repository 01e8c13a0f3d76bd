// Sorting and paging of a table widget's rows: pure, unit-tested.
import type { Cell } from '../api/types';

export type SortDir = 'asc' | 'desc';
export interface Sort {
  column: number;
  dir: SortDir;
}

/** Numbers by value, everything else as text (natural order, so "a2" < "a10"); nulls last. */
export function compareCells(a: Cell, b: Cell): number {
  const an = a === null || a === undefined;
  const bn = b === null || b === undefined;
  if (an || bn) return an === bn ? 0 : an ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const as = typeof a === 'object' ? JSON.stringify(a) : String(a);
  const bs = typeof b === 'object' ? JSON.stringify(b) : String(b);
  return as.localeCompare(bs, 'en', { numeric: true });
}

export function sortRows(rows: Cell[][], sort: Sort | null): Cell[][] {
  if (!sort) return rows;
  const sign = sort.dir === 'asc' ? 1 : -1;
  // Nulls stay last in both directions; equal rows keep their order (Array.sort is stable).
  return [...rows].sort((x, y) => {
    const a = x[sort.column];
    const b = y[sort.column];
    if (a === null || b === null) return compareCells(a, b);
    return sign * compareCells(a, b);
  });
}

/** Clicking a header: ascending, then descending, then the query's own order. */
export function nextSort(current: Sort | null, column: number): Sort | null {
  if (!current || current.column !== column) return { column, dir: 'asc' };
  if (current.dir === 'asc') return { column, dir: 'desc' };
  return null;
}

export interface Page<T> {
  items: T[];
  page: number;
  pages: number;
  from: number;
  to: number;
}

export function paginate<T>(rows: T[], page: number, size: number): Page<T> {
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const p = Math.min(Math.max(0, page), pages - 1);
  const items = rows.slice(p * size, p * size + size);
  return { items, page: p, pages, from: rows.length ? p * size + 1 : 0, to: p * size + items.length };
}
