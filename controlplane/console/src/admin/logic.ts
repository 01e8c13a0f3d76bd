// The admin pages' pure logic: query strings, input checks, sorting and summaries.
import type { Role } from '../api/types';
import type { Backup, Fingerprint, RestoreReport, RunStats, Suggestion, SuggestionKind } from './api';
import { formatCount, formatMs } from '../app/format';

// --- users ----------------------------------------------------------------------------------

export interface NewUserForm {
  username: string;
  email: string;
  role: Role;
  password: string;
}

/** The checks the server makes too (it names the same fields), made before sending. */
export function checkNewUser(f: NewUserForm, minPassword = 12): Record<string, string> {
  const errors: Record<string, string> = {};
  if (!/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/.test(f.username.trim())) errors.username = 'letters, digits and _.@- only, starting with a letter or digit';
  if (f.email.trim() && !/^[^\s@]+@[^\s@]+$/.test(f.email.trim())) errors.email = 'an e-mail address';
  if ([...f.password].length < minPassword) errors.password = `at least ${minPassword} characters`;
  return errors;
}

// --- API keys -------------------------------------------------------------------------------

export const SCOPE_AREAS = ['datasources', 'queries', 'dashboards', 'catalog', 'lineage', 'approvals', 'admin', 'audit', '*'];

/** `dashboards:read, queries:write` → the list, or the first bad entry. */
export function parseScopes(text: string): { scopes: string[] } | { error: string } {
  const scopes = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (scopes.length === 0) return { error: 'at least one scope, e.g. dashboards:read' };
  for (const s of scopes) {
    if (s === '*') continue;
    const [area, access, ...rest] = s.split(':');
    if (rest.length || !SCOPE_AREAS.includes(area) || !['read', 'write', '*'].includes(access ?? '')) {
      return { error: `"${s}" is not <area>:<read|write|*> (areas: ${SCOPE_AREAS.join(', ')})` };
    }
  }
  return { scopes: [...new Set(scopes)] };
}

// --- audit ----------------------------------------------------------------------------------

export interface AuditFilters {
  actor: string;
  action: string;
  outcome: '' | 'success' | 'denied' | 'failure';
  /** `datetime-local` values (the viewer's zone). */
  from: string;
  to: string;
}

export const NO_FILTERS: AuditFilters = { actor: '', action: '', outcome: '', from: '', to: '' };

/** A `datetime-local` value as RFC 3339 (UTC), or null when empty or invalid. */
export function localToRfc3339(v: string): string | null {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** The query string of the audit listing (or export) for the filters; `error` names a
 * filter that cannot be sent. */
export function auditQuery(f: AuditFilters, extra: Record<string, string> = {}): { query: string } | { error: string; field: string } {
  const q = new URLSearchParams();
  if (f.actor.trim()) q.set('actor', f.actor.trim());
  if (f.action.trim()) q.set('action', f.action.trim());
  if (f.outcome) q.set('outcome', f.outcome);
  const from = localToRfc3339(f.from);
  const to = localToRfc3339(f.to);
  if (f.from && !from) return { error: 'not a time', field: 'from' };
  if (f.to && !to) return { error: 'not a time', field: 'to' };
  if (from && to && from >= to) return { error: '"to" must be after "from"', field: 'to' };
  if (from) q.set('from', from);
  if (to) q.set('to', to);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return { query: q.toString() };
}

// --- performance ----------------------------------------------------------------------------

export type FingerprintKey = 'p95Ms' | 'totalMs' | 'count' | 'meanMs' | 'errors' | 'rows' | 'cacheHitRate';

/** Sorted copy; fingerprints without the figure (never executed) last in either direction. */
export function sortFingerprints(list: Fingerprint[], key: FingerprintKey, desc: boolean): Fingerprint[] {
  const v = (f: RunStats) => f[key] as number | null | undefined;
  return [...list].sort((a, b) => {
    const x = v(a);
    const y = v(b);
    if (x == null || y == null) return x == null ? (y == null ? 0 : 1) : -1;
    return desc ? y - x : x - y;
  });
}

// --- backups --------------------------------------------------------------------------------

/** Newest first (ids sort by time). */
export function newestFirst(list: Backup[]): Backup[] {
  return [...list].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** Backups still under way (the page polls while there are some). */
export function running(list: Backup[]): boolean {
  return list.some((b) => b.state === 'Pending' || b.state === 'Running');
}

/** One sentence for a restore report. */
export function restoreSummary(r: RestoreReport): string {
  const t = r.totals;
  const changed = r.collections.filter((c) => c.added + c.removed + c.modified > 0).length;
  const verb = r.dryRun ? 'would add' : 'added';
  const change = t.added + t.removed + t.modified;
  if (change === 0) return `${r.dryRun ? 'A restore would change nothing' : 'Restored: nothing changed'}: ${t.unchanged} records as in the backup.`;
  return `${r.dryRun ? 'A restore' : 'The restore'} ${verb} ${t.added}, ${r.dryRun ? 'remove' : 'removed'} ${t.removed} and ${r.dryRun ? 'modify' : 'modified'} ${t.modified} records in ${changed} collection${changed === 1 ? '' : 's'}; ${t.unchanged} unchanged.`;
}

// --- webhooks -------------------------------------------------------------------------------

/** `approval.*, lineage.broken` → the list of event patterns, or what is wrong. */
export function parseEvents(text: string): { events: string[] } | { error: string } {
  const events = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (events.length === 0) return { error: 'at least one event kind (approval.requested), prefix (approval.*) or *' };
  if (events.length > 50) return { error: 'at most 50 event kinds' };
  const bad = events.find((e) => e.length > 100 || !/^(\*|[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.\*)?)$/.test(e));
  if (bad) return { error: `"${bad}" is not an event kind, a prefix ending in .* or *` };
  return { events: [...new Set(events)] };
}

/** The URL checks the browser can make (the server also refuses internal addresses). */
export function checkWebhookUrl(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? null : 'only http and https targets';
  } catch {
    return 'not a URL';
  }
}

// --- bulk user changes and sessions -------------------------------------------------------

export type BulkChange = { disabled: boolean } | { role: Role };

/** The PATCHes a bulk change needs: only selected users it changes, never the caller. */
export function bulkPatches<U extends { username: string; role: Role; disabled: boolean }>(
  users: U[],
  selected: Set<string>,
  change: BulkChange,
  me: string,
): { user: U; patch: BulkChange }[] {
  return users
    .filter((u) => selected.has(u.username) && u.username !== me)
    .filter((u) => ('disabled' in change ? u.disabled !== change.disabled : u.role !== change.role))
    .map((user) => ({ user, patch: change }));
}

/** Why the admin `me` is offered no "Act as" for a user (null: offered). The server decides
 * (and says why it refuses); these are the cases the list already shows. */
export function actAsRefusal(u: { username: string; role: Role; disabled: boolean }, me: string): string | null {
  if (u.username === me) return 'you cannot act as yourself';
  if (u.role === 'admin') return 'admins cannot be impersonated';
  if (u.disabled) return 'a disabled user cannot be impersonated';
  return null;
}

/** The audit filters a page link carries (`/admin/audit?actor=erin`). */
export function filtersFromUrl(q: URLSearchParams): AuditFilters {
  const outcome = q.get('outcome');
  return {
    ...NO_FILTERS,
    actor: q.get('actor') ?? '',
    action: q.get('action') ?? '',
    outcome: outcome === 'success' || outcome === 'denied' || outcome === 'failure' ? outcome : '',
  };
}

/** A schedule's retention in words: `last 7, 30 days at most`. */
export function retentionText(r: { keepLast?: number; maxAgeDays?: number | null; keepDaily?: number | null; keepWeekly?: number | null; keepMonthly?: number | null } | undefined): string {
  if (!r) return 'the instance’s retention';
  const parts: string[] = [];
  if (r.keepLast != null) parts.push(`last ${r.keepLast}`);
  if (r.keepDaily) parts.push(`${r.keepDaily} daily`);
  if (r.keepWeekly) parts.push(`${r.keepWeekly} weekly`);
  if (r.keepMonthly) parts.push(`${r.keepMonthly} monthly`);
  if (r.maxAgeDays) parts.push(`${r.maxAgeDays} days at most`);
  return parts.join(', ') || 'everything';
}

// --- feature flags --------------------------------------------------------------------------

export interface FlagForm {
  enabled: boolean;
  roles: Role[];
  users: string;
  rollout: string;
}

/** The flag form → the PUT body, or what is wrong with it. */
export function flagInput(f: FlagForm, description?: string | null): { input: { description?: string; enabled: boolean; roles: Role[]; users: string[]; rolloutPercent: number } } | { error: string } {
  const rollout = Number(f.rollout);
  if (!/^\d{1,3}$/.test(f.rollout.trim()) || rollout > 100) return { error: 'rollout: a whole percentage from 0 to 100' };
  const users = [...new Set(f.users.split(/[\s,]+/).filter(Boolean))];
  return { input: { ...(description ? { description } : {}), enabled: f.enabled, roles: f.roles, users, rolloutPercent: rollout } };
}

/** Who gets a flag, in words. */
export function flagAudience(f: { enabled: boolean; roles: Role[]; users: string[]; rolloutPercent: number }): string {
  if (!f.enabled) return 'nobody';
  const who = f.roles.length ? `${f.roles.join(', ')} users` : 'everyone';
  const share = f.rolloutPercent < 100 ? `${f.rolloutPercent} % of ${who}` : who;
  return f.users.length ? `${share}, and always ${f.users.join(', ')}` : share;
}

// --- configuration history ------------------------------------------------------------------

/** One line per JSON Patch operation: `replace /title = "Sales"`, `remove /tags/1`. */
export function patchLines(patch: { op: string; path: string; value?: unknown; from?: string }[]): string[] {
  return patch.map((p) => {
    const v = p.value === undefined ? '' : ` = ${JSON.stringify(p.value).slice(0, 200)}`;
    const from = p.from ? ` from ${p.from}` : '';
    return `${p.op} ${p.path || '/'}${from}${p.op === 'remove' ? '' : v}`;
  });
}

// --- optimization suggestions -----------------------------------------------------------------

export const SUGGESTION_KINDS: Record<SuggestionKind, string> = {
  index: 'Index',
  unboundedResult: 'Unbounded result',
  selectStar: 'SELECT * on a wide table',
  sharedWidgetQuery: 'Shared widget query',
  cacheTtl: 'Cache TTL',
};

/** The evidence a suggestion rests on, as label/value lines, in reading order. */
export function evidenceLines(s: Suggestion): [string, string][] {
  const e = s.evidence;
  const out: [string, string][] = [];
  switch (s.kind) {
    case 'index':
      out.push(['Plan', e.filter ? `${e.planNode} filtering ${e.filter}` : `${e.planNode}`]);
      out.push([
        'Selectivity',
        `keeps about ${formatCount(Math.round(e.estimatedRows ?? 0))} of ${formatCount(Math.round(e.tableRows ?? 0))} rows (${e.selectivityFrom === 'runs' ? 'rows the runs returned' : "planner's estimate"})`,
      ]);
      break;
    case 'unboundedResult':
      out.push(['Rows per run', formatCount(Math.round(e.rowsPerRun ?? 0))]);
      break;
    case 'selectStar':
      out.push(['Table width', `${e.tableColumns} columns in the catalog`]);
      break;
    case 'sharedWidgetQuery':
      out.push(['Widgets', (e.widgets ?? []).map((w) => `${w.dashboard} / ${w.widget}`).join(', ')]);
      break;
    case 'cacheTtl':
      out.push(['Unchanged', `${e.unchanged} of ${e.reruns} reruns, stable for ${e.stableSeconds} s`]);
      out.push(['Cache TTL', `${e.cacheTtlSeconds} s now, ${s.suggestedTtlSeconds} s suggested`]);
      break;
  }
  if (e.runs !== undefined) out.push(['Runs', `${formatCount(e.runs)}, p95 ${formatMs(e.p95Ms)}`]);
  if (e.statement ?? e.fingerprint) out.push(['Statement', (e.statement ?? e.fingerprint) as string]);
  return out;
}
