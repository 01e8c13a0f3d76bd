// The catalog API's shapes (governance/catalog in the server, /api/v1/openapi.json) and calls.
import { listAll, request } from '../api/client';

export type Sensitivity = 'public' | 'internal' | 'confidential' | 'restricted';
export const LEVELS: Sensitivity[] = ['public', 'internal', 'confidential', 'restricted'];

export interface SearchHit {
  kind: string;
  dataSource: string;
  table: string;
  column?: string | null;
  description?: string | null;
  tags: string[];
  sensitivity?: string | null;
  classification?: string | null;
  score: number;
}

export interface SearchResult {
  query: string;
  /** Matches before facet filters and the limit. */
  total: number;
  hits: SearchHit[];
  facets: { dataSource: Record<string, number>; tag: Record<string, number>; sensitivity: Record<string, number> };
}

export interface TableSummary {
  id: string;
  dataSource: string;
  schema?: string | null;
  name: string;
  kind: string;
  rowEstimate?: number | null;
  columns: number;
  sensitiveColumns: number;
  description?: string | null;
  tags: string[];
  dropped: boolean;
}

export interface Curation {
  description?: string | null;
  owner?: string | null;
  tags?: string[];
  glossaryTerms?: string[];
  annotations?: Record<string, string>;
}

export interface ColumnProfile {
  sampledRows: number;
  nullFraction: number;
  distinct: number;
  min?: unknown;
  max?: unknown;
  topValues?: { value: unknown; count: number }[];
  valuesWithheld?: boolean;
}

export interface CatalogColumn {
  name: string;
  type: string;
  nullable: boolean;
  primaryKey?: boolean;
  profile?: ColumnProfile | null;
  classification?: { detector: string; level: Sensitivity; confidence: number; tags?: string[]; evidence?: string; classifiedAt: string } | null;
  override?: { level?: Sensitivity | null; label?: string | null; reason?: string | null; by: string; at: string } | null;
  curation?: Curation;
}

export interface CatalogTable {
  id: string;
  dataSource: string;
  schema?: string | null;
  name: string;
  kind: string;
  rowEstimate?: number | null;
  primaryKey?: string[];
  foreignKeys?: { columns: string[]; references: { table: { schema?: string | null; name: string }; columns: string[] } }[];
  columns: CatalogColumn[];
  curation?: Curation;
  crawledAt: string;
  dropped?: boolean;
  revision?: number;
}

export interface SearchFilters {
  q: string;
  dataSource?: string;
  tag?: string;
  sensitivity?: string;
}

/** The query string of a search (empty filters left out). */
export function searchQuery(f: SearchFilters): string {
  const q = new URLSearchParams({ q: f.q.trim() });
  if (f.dataSource) q.set('dataSource', f.dataSource);
  if (f.tag) q.set('tag', f.tag);
  if (f.sensitivity) q.set('sensitivity', f.sensitivity);
  q.set('limit', '100');
  return q.toString();
}

export async function search(f: SearchFilters, signal?: AbortSignal): Promise<SearchResult> {
  return (await request<SearchResult>(`/catalog/search?${searchQuery(f)}`, { signal })).data;
}

export const listTables = (source: string, signal?: AbortSignal) => listAll<TableSummary>(`/catalog/datasources/${encodeURIComponent(source)}/tables`, signal);

const tableUrl = (source: string, table: string) => `/catalog/datasources/${encodeURIComponent(source)}/tables/${encodeURIComponent(table)}`;

export async function getTable(source: string, table: string, signal?: AbortSignal): Promise<CatalogTable> {
  return (await request<CatalogTable>(tableUrl(source, table), { signal })).data;
}

export interface CurationPatch {
  description?: string | null;
  owner?: string | null;
  tags?: string[] | null;
}

/** PATCH with the revision the edit is based on: 409 when someone changed the table since. */
export async function patchTable(t: CatalogTable, patch: CurationPatch): Promise<CatalogTable> {
  return (await request<CatalogTable>(tableUrl(t.dataSource, qualified(t)), { method: 'PATCH', body: patch, headers: ifMatch(t) })).data;
}

/** A column's patch: curation, and (admins) a manual classification: `{level: null}` declares
 * it not sensitive, `override: null` lets detection decide again. */
export interface ColumnPatch extends CurationPatch {
  override?: { level: Sensitivity | null; reason?: string } | null;
}

export async function patchColumn(t: CatalogTable, column: string, patch: ColumnPatch): Promise<CatalogTable> {
  return (
    await request<CatalogTable>(`${tableUrl(t.dataSource, qualified(t))}/columns/${encodeURIComponent(column)}`, { method: 'PATCH', body: patch, headers: ifMatch(t) })
  ).data;
}

function ifMatch(t: CatalogTable): Record<string, string> {
  return t.revision ? { 'if-match': `"${t.revision}"` } : {};
}

/** `schema.table`, or the name alone. */
export function qualified(t: { schema?: string | null; name: string }): string {
  return t.schema ? `${t.schema}.${t.name}` : t.name;
}

/** The console's page of a table. */
export function tablePage(source: string, table: string): string {
  return `/catalog/${encodeURIComponent(source)}/${encodeURIComponent(table)}`;
}
