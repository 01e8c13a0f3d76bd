import { describe, expect, it } from 'vitest';
import { compareCells, nextSort, paginate, sortRows } from './tableModel';

describe('table sorting', () => {
  const rows = [
    ['b10', 3, null],
    ['b2', null, 'x'],
    ['a', 20, 'y'],
  ];
  it('sorts numbers by value and text naturally', () => {
    expect(sortRows(rows, { column: 1, dir: 'asc' }).map((r) => r[1])).toEqual([3, 20, null]);
    expect(sortRows(rows, { column: 0, dir: 'asc' }).map((r) => r[0])).toEqual(['a', 'b2', 'b10']);
    expect(sortRows(rows, { column: 0, dir: 'desc' }).map((r) => r[0])).toEqual(['b10', 'b2', 'a']);
  });
  it('keeps nulls last in both directions', () => {
    expect(sortRows(rows, { column: 1, dir: 'desc' }).map((r) => r[1])).toEqual([20, 3, null]);
    expect(sortRows(rows, { column: 2, dir: 'desc' }).map((r) => r[2])).toEqual(['y', 'x', null]);
  });
  it('leaves the input alone and keeps the query order without a sort', () => {
    const copy = JSON.stringify(rows);
    sortRows(rows, { column: 0, dir: 'asc' });
    expect(JSON.stringify(rows)).toBe(copy);
    expect(sortRows(rows, null)).toBe(rows);
  });
  it('cycles ascending, descending, unsorted', () => {
    const a = nextSort(null, 2);
    expect(a).toEqual({ column: 2, dir: 'asc' });
    const d = nextSort(a, 2);
    expect(d).toEqual({ column: 2, dir: 'desc' });
    expect(nextSort(d, 2)).toBeNull();
    expect(nextSort(d, 0)).toEqual({ column: 0, dir: 'asc' });
  });
  it('compares booleans and objects', () => {
    expect(compareCells(false, true)).toBeLessThan(0);
    expect(compareCells({ a: 1 }, { a: 2 })).toBeLessThan(0);
  });
});

describe('table paging', () => {
  const items = Array.from({ length: 23 }, (_, i) => i);
  it('cuts pages and says where they are', () => {
    expect(paginate(items, 0, 10)).toMatchObject({ items: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], page: 0, pages: 3, from: 1, to: 10 });
    expect(paginate(items, 2, 10)).toMatchObject({ items: [20, 21, 22], from: 21, to: 23 });
  });
  it('clamps pages out of range', () => {
    expect(paginate(items, 9, 10).page).toBe(2);
    expect(paginate(items, -1, 10).page).toBe(0);
    expect(paginate([], 0, 10)).toMatchObject({ items: [], pages: 1, from: 0, to: 0 });
  });
});
