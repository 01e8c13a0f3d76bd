import { describe, expect, it } from 'vitest';
import type { Graph } from './api';
import { graphOption, impactTarget, layers, positions } from './layout';

const g: Graph = {
  nodes: [
    { id: 'table:sales:orders', kind: 'table', label: 'orders' },
    { id: 'column:sales:orders.order_date', kind: 'column', label: 'orders.order_date' },
    { id: 'column:sales:orders.status', kind: 'column', label: 'orders.status' },
    { id: 'widget:d/w', kind: 'widget', label: 'W' },
    { id: 'dashboard:d', kind: 'dashboard', label: 'D' },
    { id: 'query:q1', kind: 'query', label: 'lonely' },
  ],
  edges: [
    { from: 'table:sales:orders', to: 'column:sales:orders.order_date', kind: 'contains' },
    { from: 'table:sales:orders', to: 'column:sales:orders.status', kind: 'contains' },
    { from: 'column:sales:orders.order_date', to: 'widget:d/w', kind: 'value', outputs: ['month'] },
    { from: 'column:sales:orders.status', to: 'widget:d/w', kind: 'filter' },
    { from: 'widget:d/w', to: 'dashboard:d', kind: 'shows' },
  ],
};

describe('lineage layout', () => {
  it('puts upstream left and downstream right of the centre, by distance', () => {
    const l = layers(g, 'widget:d/w');
    expect(l.get('widget:d/w')).toBe(0);
    expect(l.get('column:sales:orders.order_date')).toBe(-1);
    expect(l.get('table:sales:orders')).toBe(-2);
    expect(l.get('dashboard:d')).toBe(1);
    // Not connected: a column of its own past the last.
    expect(l.get('query:q1')).toBe(2);
  });
  it('gives distinct positions within a layer, centred on the axis', () => {
    const p = positions(g, 'widget:d/w');
    const a = p.get('column:sales:orders.order_date')!;
    const b = p.get('column:sales:orders.status')!;
    expect(a.x).toBe(b.x);
    expect(a.y).toBe(-b.y);
    expect(a.y).not.toBe(b.y);
    expect(p.get('widget:d/w')).toEqual({ x: 0, y: 0 });
  });
  it('draws every node and edge, filters dashed, the centre larger', () => {
    const o = graphOption(g, 'widget:d/w', false) as { series: { data: { id: string; symbolSize: number }[]; links: { kind: string; lineStyle: { type: string } }[] }[] };
    // Six nodes and two invisible anchors that keep the drawing's box from being flat.
    expect(o.series[0].data.filter((n) => n.id)).toHaveLength(6);
    expect(o.series[0].data).toHaveLength(8);
    expect(o.series[0].links).toHaveLength(5);
    expect(o.series[0].links.find((e) => e.kind === 'filter')!.lineStyle.type).toBe('dashed');
    expect(o.series[0].data.find((n) => n.id === 'widget:d/w')!.symbolSize).toBeGreaterThan(o.series[0].data[0].symbolSize);
  });
  it('reads impact targets from table and column ids', () => {
    expect(impactTarget('table:sales:public.orders')).toEqual({ dataSource: 'sales', table: 'public.orders', column: null });
    expect(impactTarget('column:sales:public.orders.status')).toEqual({ dataSource: 'sales', table: 'public.orders', column: 'status' });
    expect(impactTarget('dashboard:d')).toBeNull();
  });
});

import { anchors } from './layout';
describe('graph anchors', () => {
  it('give a one-node or one-line graph a box with width and height', () => {
    const one = anchors(new Map([['a', { x: 0, y: 0 }]])) as { x: number; y: number }[];
    expect(one[1].x - one[0].x).toBeGreaterThan(0);
    expect(one[1].y - one[0].y).toBeGreaterThan(0);
    const line = anchors(new Map([['a', { x: -480, y: 0 }], ['b', { x: 0, y: 0 }]])) as { x: number; y: number }[];
    expect(line[0].x).toBeLessThan(-480);
    expect(line[1].y - line[0].y).toBeGreaterThan(0);
  });
});
