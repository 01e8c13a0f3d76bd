import { describe, expect, it } from 'vitest';
import type { DashboardRecord, Widget } from '../api/types';
import { cellsFor, clamp, formOf, freePlace, keyed, newWidget, newWidgetId, setBox, toInput } from './editor';

const w = (id: string, x: number, y: number, ww = 6, h = 4): Widget => ({ id, chart: 'bar', query: { dataSource: 'sales', sql: 'SELECT 1' }, position: { x, y, w: ww, h } });

describe('dashboard editor', () => {
  it('names new widgets and places them in the first free spot', () => {
    expect(newWidgetId([w('w1', 0, 0), w('w3', 6, 0)])).toBe('w2');
    expect(freePlace([])).toEqual({ x: 0, y: 0, w: 6, h: 4 });
    expect(freePlace([w('a', 0, 0)])).toEqual({ x: 6, y: 0, w: 6, h: 4 });
    expect(freePlace([w('a', 0, 0), w('b', 6, 0)])).toEqual({ x: 0, y: 4, w: 6, h: 4 });
    expect(newWidget([w('w1', 0, 0)], 'sales').position).toEqual({ x: 6, y: 0, w: 6, h: 4 });
  });
  it('keeps boxes inside the grid', () => {
    expect(clamp({ x: 10, y: -3, w: 6, h: 1 })).toEqual({ x: 6, y: 0, w: 6, h: 2 });
    expect(clamp({ x: -2, y: 0, w: 20, h: 4 })).toEqual({ x: 0, y: 0, w: 12, h: 4 });
    expect(setBox([w('a', 0, 0)], 'a', { x: 3, y: 2, w: 4, h: 3 })[0].position).toEqual({ x: 3, y: 2, w: 4, h: 3 });
  });
  it('turns pointer pixels into cells and arrow keys into moves and resizes', () => {
    // 12 columns on 1200 px with 12 px gaps: a column step of 100 px.
    expect(cellsFor(230, 140, 1200)).toEqual({ dx: 2, dy: 2 });
    expect(cellsFor(-40, 10, 1200)).toEqual({ dx: 0, dy: 0 });
    const b = { x: 0, y: 0, w: 6, h: 4 };
    expect(keyed(b, 'ArrowRight', false)).toEqual({ x: 1, y: 0, w: 6, h: 4 });
    expect(keyed(b, 'ArrowLeft', false)).toEqual(b);
    expect(keyed(b, 'ArrowDown', true)).toEqual({ x: 0, y: 0, w: 6, h: 5 });
    expect(keyed(b, 'Enter', false)).toBeNull();
  });
  it('builds the API body, keeping what it does not edit, or names the bad fields', () => {
    const rec = {
      name: 'sales',
      origin: 'api',
      owner: 'admin',
      spec: { title: 'Sales', variables: [{ name: 'segment' }], publication: 'draft', widgets: [w('a', 0, 0)] },
    } as DashboardRecord;
    const f = formOf(rec);
    const r = toInput({ ...f, tags: 'a, b a' }, false, rec.spec);
    expect('input' in r && r.input.spec.variables).toEqual([{ name: 'segment' }]);
    expect('input' in r && r.input.spec.tags).toEqual(['a', 'b']);
    expect('input' in r && r.input.name).toBeUndefined();
    const bad = toInput({ ...f, name: 'Bad Name', title: '', refresh: '2', widgets: [{ ...w('a', 0, 0), query: { dataSource: '', sql: ' ' } }] }, true);
    expect('errors' in bad && Object.keys(bad.errors).sort()).toEqual(['name', 'refresh', 'title', 'widgets.a.dataSource', 'widgets.a.sql']);
  });
});
