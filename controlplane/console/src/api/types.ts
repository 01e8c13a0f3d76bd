// The shapes of the API answers the console reads (see /api/v1/openapi.json).

export type Role = 'viewer' | 'editor' | 'admin';

export interface UserView {
  username: string;
  email?: string | null;
  role: Role;
}

export interface LoginResponse {
  token: string;
  expiresAt: string;
  tenant: string;
  user: UserView;
}

export interface Branding {
  name?: string;
  logoUrl?: string;
  primaryColor?: string;
  accentColor?: string;
}

export interface TenantInfo {
  name: string;
  displayName: string;
  branding?: Branding | null;
}

export interface ColumnInfo {
  name: string;
  type: string;
}

export interface MaskedColumn {
  column: string;
  action: string;
  level: string;
  reason: string;
}

export type Cell = string | number | boolean | null | object;

export interface QueryResult {
  columns: ColumnInfo[];
  rows: Cell[][];
  rowCount: number;
  truncated: boolean;
  elapsedMs: number;
  executionMs: number;
  cached: boolean;
  cachedAt?: string;
  masked?: MaskedColumn[];
}

export type ChartType = 'table' | 'line' | 'bar' | 'area' | 'pie' | 'scatter' | 'number' | 'heatmap';

export interface Widget {
  id: string;
  title?: string;
  chart: ChartType;
  query: { dataSource: string; sql: string; params?: unknown[] };
  options?: Record<string, unknown>;
  position?: { x?: number; y?: number; w?: number; h?: number };
}

export interface Variable {
  name: string;
  label?: string;
  default?: string;
  options?: string[];
}

export interface DashboardSpec {
  title: string;
  description?: string;
  folder?: string;
  tags?: string[];
  variables?: Variable[];
  widgets?: Widget[];
  refreshIntervalSeconds?: number;
  publication?: 'draft' | 'published';
}

export interface DashboardRecord {
  name: string;
  spec: DashboardSpec;
  origin: string;
  validationErrors?: string[];
  owner: string;
  updatedAt?: string;
  revision?: number;
  /** A publication held for approval. */
  approval?: { id: string; state: string } | null;
}

export interface WidgetData {
  id: string;
  result?: QueryResult;
  error?: { title?: string; detail?: string; status?: number; field?: string };
}

export type DataSourceType = 'postgresql' | 'mysql' | 'sqlite' | 'mongodb';

export interface SourceStatus {
  connected: boolean;
  checkedAt: string;
  latencyMs?: number;
  serverVersion?: string;
  lastError?: string;
  tables: number;
  columns: number;
}

export interface DataSourceView {
  name: string;
  spec: {
    type: DataSourceType;
    displayName?: string;
    host?: string;
    port?: number;
    database?: string;
    username?: string;
    path?: string;
    [key: string]: unknown;
  };
  hasPassword: boolean;
  origin: string;
  status?: SourceStatus;
  revision?: number;
}

export interface ConnectionTest {
  ok: boolean;
  serverVersion: string;
  latencyMs: number;
}

export interface SchemaInfo {
  tables: { schema?: string; name: string; columns: { name: string; type: string }[] }[];
}

export interface SavedQuery {
  id: string;
  name: string;
  dataSource: string;
  sql: string;
}

export interface ApprovalRecord {
  id: string;
  status: string;
}
