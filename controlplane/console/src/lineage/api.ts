// The lineage API (governance/lineage_api.rs in the server).
import { request } from '../api/client';

export interface LineageNode {
  /** `datasource:<name>`, `table:<source>:<table>`, `column:<source>:<table>.<column>`,
   * `query:<id>`, `widget:<dashboard>/<widget>`, `dashboard:<name>`. */
  id: string;
  kind: string;
  label: string;
}

export interface LineageEdge {
  from: string;
  to: string;
  /** `contains`, `value`, `filter` or `shows`. */
  kind: string;
  outputs?: string[];
}

export interface Graph {
  nodes: LineageNode[];
  edges: LineageEdge[];
}

export type Direction = 'upstream' | 'downstream' | 'both';

export interface Impacted {
  id: string;
  kind: string;
  label: string;
  /** `high` (a shown value comes from it) or `medium` (filters, groups or orders by it). */
  severity: string;
  via: string[];
}

export async function lineageGraph(node: string, direction: Direction, depth: number, signal?: AbortSignal): Promise<Graph> {
  const q = new URLSearchParams({ node, direction, depth: String(depth) });
  return (await request<Graph>(`/lineage/graph?${q}`, { signal })).data;
}

export async function impact(dataSource: string, table: string, column: string | null, signal?: AbortSignal): Promise<Impacted[]> {
  const q = new URLSearchParams({ dataSource, table });
  if (column) q.set('column', column);
  return (await request<{ impacted: Impacted[] }>(`/lineage/impact?${q}`, { signal })).data.impacted;
}
