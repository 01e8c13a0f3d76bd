// Lineage graph → positions and an ECharts `graph` series; pure, so the layering is tested.
import type { ChartOption } from '../dashboards/chartOptions';
import type { Graph, LineageNode } from './api';

/** What an impact query needs, read from a node id; null for nodes without impact. */
export function impactTarget(id: string): { dataSource: string; table: string; column: string | null } | null {
  let m = /^table:([^:]+):(.+)$/.exec(id);
  if (m) return { dataSource: m[1], table: m[2], column: null };
  m = /^column:([^:]+):(.+)\.([^.]+)$/.exec(id);
  if (m) return { dataSource: m[1], table: m[2], column: m[3] };
  return null;
}

/** Layers by signed distance from the centre: upstream nodes left (negative), downstream
 * right (positive); nodes reached both ways keep the shorter distance. */
export function layers(g: Graph, center: string): Map<string, number> {
  const out = new Map<string, number>([[center, 0]]);
  const walk = (next: (id: string) => string[], sign: number) => {
    const dist = new Map<string, number>([[center, 0]]);
    const queue = [center];
    while (queue.length) {
      const id = queue.shift()!;
      for (const n of next(id)) {
        if (dist.has(n)) continue;
        dist.set(n, dist.get(id)! + 1);
        queue.push(n);
      }
    }
    for (const [id, d] of dist) {
      if (id === center) continue;
      const prev = out.get(id);
      if (prev === undefined || Math.abs(prev) > d) out.set(id, sign * d);
    }
  };
  walk((id) => g.edges.filter((e) => e.from === id).map((e) => e.to), 1);
  walk((id) => g.edges.filter((e) => e.to === id).map((e) => e.from), -1);
  // Anything unconnected to the centre sits in a column of its own, far right.
  const max = Math.max(0, ...out.values());
  for (const n of g.nodes) if (!out.has(n.id)) out.set(n.id, max + 1);
  return out;
}

export const KINDS = ['datasource', 'table', 'column', 'query', 'widget', 'dashboard'];
const COLORS = ['#8250df', '#1f6feb', '#1a7f37', '#bf8700', '#cf222e', '#1b7c83'];
const DX = 240;
const DY = 44;

/** Node positions: x by layer, y spread within the layer (sorted by kind, then label). */
export function positions(g: Graph, center: string): Map<string, { x: number; y: number }> {
  const layer = layers(g, center);
  const byLayer = new Map<number, LineageNode[]>();
  for (const n of g.nodes) {
    const l = layer.get(n.id) ?? 0;
    byLayer.set(l, [...(byLayer.get(l) ?? []), n]);
  }
  const pos = new Map<string, { x: number; y: number }>();
  for (const [l, nodes] of byLayer) {
    nodes.sort((a, b) => KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || a.label.localeCompare(b.label));
    nodes.forEach((n, i) => pos.set(n.id, { x: l * DX, y: (i - (nodes.length - 1) / 2) * DY }));
  }
  return pos;
}

/** Two invisible corner points a little outside the nodes: ECharts fits the graph's bounding
 * box into the view, and a box without width or height (one node, or a chain on one line)
 * gives it a singular transform that throws. */
export function anchors(pos: Map<string, { x: number; y: number }>): Record<string, unknown>[] {
  const xs = [...pos.values()].map((p) => p.x);
  const ys = [...pos.values()].map((p) => p.y);
  const [x0, x1] = [Math.min(0, ...xs) - DX / 2, Math.max(0, ...xs) + DX / 2];
  const [y0, y1] = [Math.min(0, ...ys) - DY, Math.max(0, ...ys) + DY];
  const hidden = { symbolSize: 0, label: { show: false }, tooltip: { show: false }, itemStyle: { opacity: 0 } };
  return [
    { name: '\u0000anchor-a', x: x0, y: y0, ...hidden },
    { name: '\u0000anchor-b', x: x1, y: y1, ...hidden },
  ];
}

export function graphOption(g: Graph, center: string, dark: boolean): ChartOption {
  const pos = positions(g, center);
  const text = dark ? '#e6edf3' : '#1f2328';
  return {
    animation: false,
    tooltip: { formatter: (p: { dataType: string; data: { id?: string; kind?: string; source?: string; target?: string; outputs?: string[] } }) => (p.dataType === 'node' ? `${p.data.kind}: ${p.data.id}` : `${p.data.kind}${p.data.outputs?.length ? ` → ${p.data.outputs.join(', ')}` : ''}`) },
    legend: { data: KINDS, textStyle: { color: text }, top: 0 },
    series: [
      {
        type: 'graph',
        layout: 'none',
        roam: true,
        top: 40,
        categories: KINDS.map((k, i) => ({ name: k, itemStyle: { color: COLORS[i] } })),
        label: { show: true, position: 'right', color: text, fontSize: 11 },
        edgeSymbol: ['none', 'arrow'],
        edgeSymbolSize: 6,
        data: [
          ...g.nodes.map((n) => ({
          id: n.id,
          name: n.id,
          kind: n.kind,
          value: n.label,
          category: Math.max(0, KINDS.indexOf(n.kind)),
          x: pos.get(n.id)!.x,
          y: pos.get(n.id)!.y,
          symbolSize: n.id === center ? 18 : 10,
          label: { formatter: n.label, fontWeight: n.id === center ? 'bold' : 'normal' },
          })),
          ...anchors(pos),
        ],
        links: g.edges.map((e) => ({
          source: e.from,
          target: e.to,
          kind: e.kind,
          outputs: e.outputs,
          lineStyle: { type: e.kind === 'filter' ? 'dashed' : 'solid', opacity: e.kind === 'contains' ? 0.35 : 0.8, curveness: 0.1 },
        })),
      },
    ],
  };
}
