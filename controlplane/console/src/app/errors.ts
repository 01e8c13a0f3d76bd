import { ApiError } from '../api/client';

/** The field errors of a problem+json answer (`errors[]`, else `field` with the detail), keyed
 * by field, so each is shown at its input; `message` is for what no input shows. */
export function problemFields(e: unknown, known: string[]): { fields: Record<string, string>; message: string | null } {
  if (!(e instanceof ApiError)) return { fields: {}, message: e instanceof Error ? e.message : String(e) };
  const fields: Record<string, string> = {};
  const p = e.problem;
  for (const f of p?.errors ?? []) if (f.field && known.includes(f.field)) fields[f.field] = f.message ?? 'invalid';
  if (p?.field && known.includes(p.field) && !fields[p.field]) fields[p.field] = p.detail || p.title || 'invalid';
  const rest = (p?.errors ?? []).filter((f) => !f.field || !known.includes(f.field));
  const message = Object.keys(fields).length && rest.length === 0 ? null : e.message;
  return { fields, message };
}
