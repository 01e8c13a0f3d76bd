// Configuration export and import (`GET /admin/export`, `POST /admin/import`): the import is
// checked first (a dry run reporting per object what would happen), then applied — only the
// text that was checked, and with refused objects only when the admin chose to leave them out.
import { request } from '../api/client';
export { download } from '../api/download';

export type ImportAction = 'created' | 'updated' | 'unchanged' | 'skipped' | 'error';

/** One object of the import (`ImportResult`). */
export interface ImportResult {
  kind: string;
  name: string;
  action: ImportAction;
  /** Why it was refused or skipped. */
  error?: string;
}

/** How the report words an action, in a dry run (would) and once applied (did). */
export function actionLabel(a: ImportAction, dryRun: boolean): string {
  const words: Record<ImportAction, [string, string]> = {
    created: ['will be created', 'created'],
    updated: ['will be updated', 'updated'],
    unchanged: ['unchanged', 'unchanged'],
    skipped: ['skipped', 'skipped'],
    error: ['refused', 'refused'],
  };
  return words[a][dryRun ? 0 : 1];
}

export function tally(report: ImportResult[]): Record<ImportAction, number> {
  const t: Record<ImportAction, number> = { created: 0, updated: 0, unchanged: 0, skipped: 0, error: 0 };
  for (const r of report) t[r.action]++;
  return t;
}

/** One sentence over the report: "3 objects: 1 created, 2 unchanged." */
export function summary(report: ImportResult[], dryRun: boolean): string {
  const t = tally(report);
  const parts = (Object.keys(t) as ImportAction[]).filter((a) => t[a] > 0).map((a) => `${t[a]} ${actionLabel(a, dryRun)}`);
  const n = report.length;
  return `${n} object${n === 1 ? '' : 's'}${parts.length ? `: ${parts.join(', ')}` : ''}.`;
}

/** JSON when the text is a JSON value (a `List`, an array, an object), YAML otherwise. */
export function contentTypeOf(text: string): string {
  return /^\s*[[{]/.test(text) ? 'application/json' : 'application/yaml';
}

export function importPath(dryRun: boolean, atomic: boolean): string {
  return `/admin/import?${new URLSearchParams({ dryRun: String(dryRun), atomic: String(atomic) })}`;
}

export async function importConfig(text: string, dryRun: boolean, atomic: boolean): Promise<ImportResult[]> {
  const { data } = await request<ImportResult[]>(importPath(dryRun, atomic), {
    method: 'POST',
    rawBody: text,
    headers: { 'content-type': contentTypeOf(text) },
  });
  return data ?? [];
}

/** The dry run a text was checked with. */
export interface Checked {
  text: string;
  report: ImportResult[];
}

/** Whether the text may be applied now, or why not. */
export function canApply(checked: Checked | null, text: string, skipRefused: boolean): { ok: true } | { ok: false; why: string } {
  if (!text.trim()) return { ok: false, why: 'Paste or load a configuration first.' };
  if (!checked || checked.text !== text) return { ok: false, why: 'Check this text with a dry run first.' };
  const t = tally(checked.report);
  if (t.error > 0 && !skipRefused) return { ok: false, why: `${t.error} refused: fix them, or choose to apply the others without them.` };
  if (t.created + t.updated === 0) return { ok: false, why: 'Nothing would change.' };
  return { ok: true };
}
