// The admin API's shapes (read from the handlers and /api/v1/openapi.json) and calls.
import { listAll, request, type ApiResponse } from '../api/client';
export { download } from '../api/download';
import type { Role } from '../api/types';
import type { LoginSession } from '../sessions/logic';

// --- users ----------------------------------------------------------------------------------

export interface User {
  username: string;
  email?: string | null;
  role: Role;
  disabled: boolean;
  createdAt: string;
  lastLoginAt?: string | null;
  attributes: Record<string, string>;
  revision: number;
}

export const listUsers = (signal?: AbortSignal) => listAll<User>('/users', signal);

export async function createUser(body: { username: string; email?: string; role: Role; password: string }): Promise<User> {
  return (await request<User>('/users', { method: 'POST', body })).data;
}

/** PATCH with the revision the change is based on (409 when someone changed the user since). */
export async function updateUser(u: User, patch: { role?: Role; disabled?: boolean; email?: string; password?: string }): Promise<User> {
  return (
    await request<User>(`/users/${encodeURIComponent(u.username)}`, {
      method: 'PATCH',
      body: patch,
      headers: { 'if-match': `"${u.revision}"` },
    })
  ).data;
}

// --- API keys -------------------------------------------------------------------------------

export type KeyState = 'active' | 'expired' | 'revoked';

export interface ApiKey {
  id: string;
  name: string;
  owner: string;
  prefix: string;
  scopes: string[];
  state: KeyState;
  expiresAt?: string | null;
  createdAt: string;
  rotatedAt?: string | null;
  previousValidUntil?: string | null;
  revokedAt?: string | null;
  revokedBy?: string | null;
  lastUsedAt?: string | null;
  lastUsedAddress?: string | null;
  requestCount: number;
}

export interface ApiKeyWithSecret extends ApiKey {
  secret: string;
}

export const listKeys = (includeRevoked: boolean, signal?: AbortSignal) => listAll<ApiKey>(`/apikeys${includeRevoked ? '?includeRevoked=true' : ''}`, signal);

export async function createKey(body: { name: string; scopes: string[]; expiresAt?: string }): Promise<ApiKeyWithSecret> {
  return (await request<ApiKeyWithSecret>('/apikeys', { method: 'POST', body })).data;
}

export async function rotateKey(id: string, gracePeriodSeconds: number): Promise<ApiKeyWithSecret> {
  return (await request<ApiKeyWithSecret>(`/apikeys/${encodeURIComponent(id)}/rotate`, { method: 'POST', body: { gracePeriodSeconds } })).data;
}

export async function revokeKey(id: string): Promise<void> {
  await request(`/apikeys/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

// --- audit ----------------------------------------------------------------------------------

export type Outcome = 'success' | 'denied' | 'failure';

export interface QueryNote {
  datasource: string;
  fingerprint: string;
  rows?: number | null;
  masked?: string[];
  outcome: string;
}

export interface AuditEntry {
  id: string;
  seq: number;
  at: string;
  actor: string;
  via: string;
  impersonator?: string | null;
  action: string;
  target: string;
  outcome: Outcome;
  status: number;
  client?: string | null;
  requestId: string;
  queries?: QueryNote[];
  prevHash: string;
  hash: string;
}

export interface AuditVerifyReport {
  valid: boolean;
  entries: number;
  firstSeq?: number | null;
  checkpoints: number;
  keyId: string;
  firstBroken?: { seq: number; reason: string } | null;
}

/** One page of the audit log (newest first) and the cursor of the next. */
export async function auditPage(query: string, signal?: AbortSignal): Promise<{ entries: AuditEntry[]; next: string | null }> {
  const r: ApiResponse<AuditEntry[]> = await request<AuditEntry[]>(`/audit${query ? `?${query}` : ''}`, { signal });
  return { entries: r.data ?? [], next: r.headers.get('x-next-cursor') };
}

export async function auditVerify(): Promise<AuditVerifyReport> {
  return (await request<AuditVerifyReport>('/audit/verify')).data;
}

// --- monitoring -----------------------------------------------------------------------------

export interface Figures {
  count: number;
  errors: number;
  clientErrors: number;
  cached: number;
  ratePerSecond: number;
  errorRate: number;
  clientErrorRate: number;
  cacheHitRate: number;
  meanMs?: number | null;
  p50Ms?: number | null;
  p95Ms?: number | null;
  p99Ms?: number | null;
  maxMs?: number | null;
}

export type WindowName = '1m' | '5m' | '1h' | '24h';
export const WINDOWS: WindowName[] = ['1m', '5m', '1h', '24h'];
export type ByWindow = Record<WindowName, Figures>;

export interface SourceHealth {
  name: string;
  type: string;
  connected?: boolean | null;
  checkedAt?: string | null;
  latencyMs?: number | null;
  lastError?: string | null;
  poolOpen: boolean;
  queriesRunning: number;
  maxConcurrentQueries: number;
}

export interface MonitoringReport {
  tenant: string;
  at: string;
  version: string;
  uptimeSeconds: number;
  health: {
    status: string;
    store: { ok: boolean; latencyMs: number; error?: string | null };
    dataSources: SourceHealth[];
    cache: { entries: number; cells: number; maxCells: number; hitRate1h?: number | null };
    jobs: { name: string; pending: number }[];
  };
  resources: {
    processCpuPercent?: number | null;
    rssBytes?: number | null;
    openFiles?: number | null;
    hostCpuPercent?: number | null;
    hostCpus?: number | null;
    hostMemoryTotalBytes?: number | null;
    hostMemoryAvailableBytes?: number | null;
    diskFreeBytes?: number | null;
    diskTotalBytes?: number | null;
    storeBytes?: number | null;
  };
  activity: { activeUsers: { '5m': number; '1h': number; '24h': number }; activeSessions: number };
  requests: ByWindow;
  routes: { route: string; windows: ByWindow }[];
  queries: ByWindow;
}

export interface Series {
  metric: string;
  window: string;
  unit: string;
  points: { at: string; value: number | null }[];
}

export async function monitoring(signal?: AbortSignal): Promise<MonitoringReport> {
  return (await request<MonitoringReport>('/admin/monitoring', { signal })).data;
}

export async function series(metric: string, window: WindowName, signal?: AbortSignal): Promise<Series> {
  return (await request<Series>(`/admin/monitoring/series?metric=${encodeURIComponent(metric)}&window=${window}`, { signal })).data;
}

// --- performance ----------------------------------------------------------------------------

export interface RunStats {
  count: number;
  executions: number;
  errors: number;
  cacheHits: number;
  cacheMisses: number;
  cacheHitRate?: number | null;
  rows: number;
  bytes: number;
  totalMs: number;
  meanMs?: number | null;
  p50Ms?: number | null;
  p95Ms?: number | null;
  p99Ms?: number | null;
  maxMs?: number | null;
  lastSeen?: string | null;
}

export interface Fingerprint extends RunStats {
  id: string;
  dataSource: string;
  sourceType: string;
  fingerprint: string;
  users: (RunStats & { user: string })[];
}

export interface QueryPerformance {
  sort: string;
  overall: RunStats;
  fingerprintsTracked: number;
  fingerprints: Fingerprint[];
  bySource: (RunStats & { dataSource: string })[];
  byUser: (RunStats & { user: string })[];
}

export interface SlowRun {
  at: string;
  dataSource: string;
  user: string;
  fingerprintId: string;
  statement: string;
  durationMs: number;
  rows: number;
  failed: boolean;
  plan: { rewritten: boolean; maskedColumns: string[]; cachePartition: string };
}

export type SuggestionKind = 'index' | 'unboundedResult' | 'selectStar' | 'sharedWidgetQuery' | 'cacheTtl';

export interface Suggestion {
  kind: SuggestionKind;
  dataSource: string;
  title: string;
  table?: string;
  columns?: string[];
  sql?: string;
  suggestedTtlSeconds?: number;
  evidence: {
    fingerprintId?: string;
    fingerprint?: string;
    statement?: string;
    runs?: number;
    p95Ms?: number | null;
    planNode?: string;
    filter?: string;
    estimatedRows?: number;
    selectivityFrom?: 'planner' | 'runs';
    tableRows?: number;
    rowsPerRun?: number;
    tableColumns?: number;
    widgets?: { dashboard: string; widget: string }[];
    cacheTtlSeconds?: number;
    reruns?: number;
    unchanged?: number;
    stableSeconds?: number;
  };
}

export interface Suggestions {
  explained: number;
  suggestions: Suggestion[];
  unexplained: { fingerprintId: string; dataSource: string; reason: string }[];
}

export type PerfSort = 'p95' | 'total' | 'count';

export async function queryPerformance(sort: PerfSort, signal?: AbortSignal): Promise<QueryPerformance> {
  return (await request<QueryPerformance>(`/admin/performance/queries?sort=${sort}&limit=100`, { signal })).data;
}

export async function slowestRuns(signal?: AbortSignal): Promise<SlowRun[]> {
  return (await request<{ runs: SlowRun[] }>('/admin/performance/queries/slowest', { signal })).data.runs;
}

export async function suggestions(signal?: AbortSignal): Promise<Suggestions> {
  return (await request<Suggestions>('/admin/performance/suggestions', { signal })).data;
}

// --- backups --------------------------------------------------------------------------------

export type BackupState = 'Pending' | 'Running' | 'Completed' | 'Failed';

export interface Backup {
  id: string;
  state: BackupState;
  trigger: string;
  pinned: boolean;
  note?: string | null;
  requestedBy: string;
  requestedAt: string;
  startedAt?: string | null;
  finishedAt?: string | null;
  sizeBytes?: number | null;
  checksum?: string | null;
  location?: string | null;
  error?: string | null;
  lastVerification?: { at: string; ok: boolean; error?: string | null } | null;
}

export interface BackupVerifyReport {
  id: string;
  ok: boolean;
  checkedAt: string;
  sizeBytes: number;
  checksum: string;
}

export interface CollectionReport {
  collection: string;
  inBackup: number;
  current: number;
  added: number;
  removed: number;
  modified: number;
  unchanged: number;
  addedIds: string[];
  removedIds: string[];
  modifiedIds: string[];
}

export interface RestoreReport {
  backup: string;
  dryRun: boolean;
  restored: boolean;
  startedAt: string;
  finishedAt: string;
  collections: CollectionReport[];
  totals: { inBackup: number; current: number; added: number; removed: number; modified: number; unchanged: number };
  untouched: { collection: string; reason: string }[];
}

export const listBackups = (signal?: AbortSignal) => listAll<Backup>('/admin/backups', signal);

export async function triggerBackup(body: { pinned: boolean; note?: string }): Promise<Backup> {
  return (await request<Backup>('/admin/backups', { method: 'POST', body })).data;
}

export async function verifyBackup(id: string): Promise<BackupVerifyReport> {
  return (await request<BackupVerifyReport>(`/admin/backups/${encodeURIComponent(id)}/verify`, { method: 'POST' })).data;
}

export async function deleteBackup(id: string, force: boolean): Promise<void> {
  await request(`/admin/backups/${encodeURIComponent(id)}${force ? '?force=true' : ''}`, { method: 'DELETE' });
}

export async function restore(backup: string, dryRun: boolean): Promise<RestoreReport> {
  return (await request<RestoreReport>('/admin/restores', { method: 'POST', body: { backup, dryRun } })).data;
}

// --- webhooks -------------------------------------------------------------------------------

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  active: boolean;
  consecutiveFailures: number;
  createdBy: string;
  createdAt?: string;
}

export interface Delivery {
  id: string;
  webhook: string;
  event: string;
  payload: unknown;
  state: string;
  attempts: { at: string; status?: number | null; error?: string | null; durationMs: number }[];
  createdAt?: string;
}

export async function listWebhooks(signal?: AbortSignal): Promise<Webhook[]> {
  return (await request<Webhook[]>('/webhooks', { signal })).data;
}

export async function createWebhook(body: { url: string; events: string[]; secret?: string }): Promise<Webhook & { secret: string }> {
  return (await request<Webhook & { secret: string }>('/webhooks', { method: 'POST', body })).data;
}

export async function setWebhookActive(id: string, active: boolean): Promise<Webhook> {
  return (await request<Webhook>(`/webhooks/${encodeURIComponent(id)}`, { method: 'PATCH', body: { active } })).data;
}

export async function deleteWebhook(id: string): Promise<void> {
  await request(`/webhooks/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

export async function deliveries(id: string, signal?: AbortSignal): Promise<Delivery[]> {
  return (await request<Delivery[]>(`/webhooks/${encodeURIComponent(id)}/deliveries`, { signal })).data;
}

export async function redeliver(id: string, delivery: string): Promise<Delivery> {
  return (await request<Delivery>(`/webhooks/${encodeURIComponent(id)}/deliveries/${encodeURIComponent(delivery)}/redeliver`, { method: 'POST' })).data;
}

// --- sessions -------------------------------------------------------------------------------

export const listSessions = (signal?: AbortSignal) => listAll<LoginSession>('/auth/sessions?all=true', signal);

export async function revokeSession(id: string): Promise<void> {
  await request(`/auth/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

// --- backup schedules and more performance figures ------------------------------------------

export interface Schedule {
  name: string;
  origin: string;
  spec: {
    schedule: string;
    suspend?: boolean;
    retention?: { keepLast?: number; maxAgeDays?: number | null; keepDaily?: number | null; keepWeekly?: number | null; keepMonthly?: number | null };
    destination?: { kind: string; volume?: { path?: string } | null; s3?: { bucket?: string; prefix?: string } | null };
  };
}

export const listSchedules = (signal?: AbortSignal) => listAll<Schedule>('/backup/schedules', signal);

export interface DashboardPerf {
  name: string;
  loads: RunStats;
  slowestWidget?: string | null;
  widgets: (RunStats & { id: string })[];
}

export async function dashboardPerformance(signal?: AbortSignal): Promise<DashboardPerf[]> {
  return (await request<{ dashboards: DashboardPerf[] }>('/admin/performance/dashboards', { signal })).data.dashboards;
}

export async function cachePerformance(signal?: AbortSignal): Promise<{ usage: { entries: number; cells: number; maxCells: number }; overall: RunStats; bySource: (RunStats & { dataSource: string })[] }> {
  return (await request<{ usage: { entries: number; cells: number; maxCells: number }; overall: RunStats; bySource: (RunStats & { dataSource: string })[] }>('/admin/performance/cache', { signal })).data;
}

export async function endpointPerformance(window: WindowName, signal?: AbortSignal): Promise<(Figures & { route: string })[]> {
  return (await request<{ window: string; endpoints: (Figures & { route: string })[] }>(`/admin/performance/endpoints?window=${window}`, { signal })).data.endpoints;
}

// --- feature flags --------------------------------------------------------------------------

export interface Flag {
  name: string;
  description?: string | null;
  /** `default` (nothing sets it), `api` (stored here) or `tenant` (the Tenant declares it: read-only). */
  source: 'default' | 'api' | 'tenant';
  declaredBy?: string | null;
  enabled: boolean;
  roles: Role[];
  users: string[];
  rolloutPercent: number;
  default: boolean;
  gates: string[];
  revision: number;
}

export interface FlagInput {
  description?: string;
  enabled: boolean;
  roles: Role[];
  users: string[];
  rolloutPercent: number;
}

export async function listFlags(signal?: AbortSignal): Promise<Flag[]> {
  return (await request<Flag[]>('/admin/features', { signal })).data;
}

export async function putFlag(f: Flag, input: FlagInput): Promise<Flag> {
  return (
    await request<Flag>(`/admin/features/${encodeURIComponent(f.name)}`, {
      method: 'PUT',
      body: input,
      headers: f.revision ? { 'if-match': `"${f.revision}"` } : {},
    })
  ).data;
}

export async function resetFlag(f: Flag): Promise<void> {
  await request(`/admin/features/${encodeURIComponent(f.name)}`, { method: 'DELETE', headers: f.revision ? { 'if-match': `"${f.revision}"` } : {} });
}

// --- configuration history ------------------------------------------------------------------

export const HISTORY_KINDS = ['settings', 'features', 'datasources', 'dashboards', 'queries', 'policies'];

export interface ConfigVersion {
  kind: string;
  name: string;
  version: number;
  action: string;
  at: string;
  author: string;
  source: string;
  changes: string[];
  rolledBackFrom?: number | null;
}

export interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

export async function historyPage(kind: string, name: string, cursor: string | null, signal?: AbortSignal): Promise<{ versions: ConfigVersion[]; next: string | null }> {
  const q = new URLSearchParams({ limit: '50' });
  if (kind) q.set('kind', kind);
  if (kind && name) q.set('name', name);
  if (cursor) q.set('cursor', cursor);
  const r: ApiResponse<ConfigVersion[]> = await request<ConfigVersion[]>(`/admin/history?${q}`, { signal });
  return { versions: r.data ?? [], next: r.headers.get('x-next-cursor') };
}

const objectPath = (kind: string, name: string) => `/admin/history/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`;

export async function versionDiff(v: ConfigVersion): Promise<{ patch: PatchOp[]; changes: string[]; from: number; to: number }> {
  return (await request<{ patch: PatchOp[]; changes: string[]; from: number; to: number }>(`${objectPath(v.kind, v.name)}/diff?from=${v.version - 1}&to=${v.version}`)).data;
}

export async function rollback(v: ConfigVersion): Promise<ConfigVersion> {
  return (await request<ConfigVersion>(`${objectPath(v.kind, v.name)}/versions/${v.version}/rollback`, { method: 'POST' })).data;
}

// --- settings, health alerts, runtime configuration -----------------------------------------

export type SettingSource = 'default' | 'api' | 'tenant';

/** `GET /admin/settings`: the settings in force (section → field → value), the part set here,
 * and where each leaf (`section.field`) comes from. */
export interface SettingsView {
  settings: Record<string, Record<string, unknown>>;
  stored: Record<string, Record<string, unknown>>;
  sources: Record<string, SettingSource>;
  declaredBy: string;
  limits: { queryTimeoutSeconds: number; rowLimit: number; cacheTtlSeconds: number };
  revision: number;
  updatedAt?: string;
  updatedBy?: string;
}

export async function getSettings(signal?: AbortSignal): Promise<SettingsView> {
  return (await request<SettingsView>('/admin/settings', { signal })).data;
}

/** Replaces the part set here, based on `revision` (409 when someone changed it since). */
export async function putSettings(body: Record<string, Record<string, unknown>>, revision: number): Promise<SettingsView> {
  return (await request<SettingsView>('/admin/settings', { method: 'PUT', body, headers: { 'if-match': `"${revision}"` } })).data;
}

export type AlertKind = 'errorRate' | 'latency' | 'dataSourceDown' | 'diskFree';

export interface ActiveAlert {
  kind: AlertKind;
  subject?: string;
  since: string;
  value: number;
  threshold: number;
  message: string;
}

export interface AlertEvent {
  key: string;
  kind: AlertKind;
  subject?: string;
  transition: 'fired' | 'cleared';
  at: string;
  value: number;
  threshold: number;
  message: string;
}

export interface AlertsRecord {
  active: Record<string, ActiveAlert>;
  recent: AlertEvent[];
  evaluatedAt?: string | null;
}

export async function getAlerts(signal?: AbortSignal): Promise<AlertsRecord> {
  return (await request<AlertsRecord>('/admin/alerts', { signal })).data;
}

export interface RuntimeFlag {
  flag: string;
  env?: string;
  value?: string;
  source: 'commandLine' | 'environment' | 'default' | 'unset';
}

export interface RuntimeConfig {
  version: string;
  build: string;
  os: string;
  arch: string;
  startedAt: string;
  uptimeSeconds: number;
  store: string;
  flags: RuntimeFlag[];
  environment: { name: string; value: string }[];
}

export async function getRuntimeConfig(signal?: AbortSignal): Promise<RuntimeConfig> {
  return (await request<RuntimeConfig>('/admin/config', { signal })).data;
}
