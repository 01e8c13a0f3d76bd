// The settings document as a typed form: one field per leaf (`section.field`), its input kind
// read from the value in force, and the body of a `PUT` built back from what was typed.
import type { SettingSource, SettingsView } from './api';

export type FieldKind = 'bool' | 'number' | 'choice' | 'list';

export interface SettingField {
  path: string;
  section: string;
  name: string;
  label: string;
  kind: FieldKind;
  options?: string[];
  source: SettingSource;
}

/** Values of enumerations (an input must offer exactly these). */
const CHOICES: Record<string, string[]> = { 'mfa.required': ['optional', 'admins', 'all'] };

export const SECTION_TITLES: Record<string, string> = {
  sessions: 'Sessions',
  password: 'Password policy',
  lockout: 'Lockout',
  mfa: 'Second factor (MFA)',
  network: 'Network',
  query: 'Queries',
  notifications: 'Notifications',
  alerts: 'Health alerts',
  impersonation: 'Impersonation',
};

/** `idleTimeoutMinutes` → `Idle timeout minutes`; `p95LatencyMs` → `P95 latency ms`. */
export function labelOf(name: string): string {
  const words = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export type FormValues = Record<string, string | boolean>;

/** Every leaf of the settings, in the document's order. */
export function fieldsOf(view: SettingsView, only?: string[]): SettingField[] {
  const out: SettingField[] = [];
  for (const [section, fields] of Object.entries(view.settings)) {
    if (only && !only.includes(section)) continue;
    for (const [name, value] of Object.entries(fields ?? {})) {
      const path = `${section}.${name}`;
      const kind: FieldKind = CHOICES[path] ? 'choice' : typeof value === 'boolean' ? 'bool' : Array.isArray(value) ? 'list' : 'number';
      out.push({ path, section, name, label: labelOf(name), kind, options: CHOICES[path], source: view.sources[path] ?? 'default' });
    }
  }
  return out;
}

function valueAt(doc: Record<string, Record<string, unknown>> | undefined, path: string): unknown {
  const [section, name] = path.split('.');
  return doc?.[section]?.[name];
}

/** The form's starting values: what is in force. */
export function initialValues(view: SettingsView, fields: SettingField[]): FormValues {
  const v: FormValues = {};
  for (const f of fields) {
    const x = valueAt(view.settings, f.path);
    v[f.path] = f.kind === 'bool' ? x === true : f.kind === 'list' ? ((x as string[] | undefined) ?? []).join('\n') : String(x ?? '');
  }
  return v;
}

function parse(f: SettingField, raw: string | boolean): { value: unknown } | { error: string } {
  if (f.kind === 'bool') return { value: raw === true };
  const text = String(raw);
  if (f.kind === 'list')
    return {
      value: text
        .split(/[\n,]/)
        .map((s) => s.trim())
        .filter(Boolean),
    };
  if (f.kind === 'choice') return f.options!.includes(text) ? { value: text } : { error: `must be one of ${f.options!.join(', ')}` };
  const n = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(n)) return { error: 'must be a number' };
  return { value: n };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The `PUT` body: what was set here before plus what changed now, never a field the Tenant
 * declares (the server refuses a change of those). Leaves neither set here nor changed stay
 * out, so they keep following their defaults. Errors are keyed by field. */
export function settingsBody(
  view: SettingsView,
  fields: SettingField[],
  values: FormValues,
): { body: Record<string, Record<string, unknown>> } | { errors: Record<string, string> } {
  const body: Record<string, Record<string, unknown>> = {};
  const errors: Record<string, string> = {};
  // Sections this form does not show are kept as they are stored.
  for (const [section, part] of Object.entries(view.stored ?? {})) body[section] = { ...part };
  for (const f of fields) {
    if (f.source === 'tenant') continue;
    const p = parse(f, values[f.path]);
    if ('error' in p) {
      errors[f.path] = p.error;
      continue;
    }
    const stored = valueAt(view.stored, f.path) !== undefined;
    if (stored || !same(p.value, valueAt(view.settings, f.path))) (body[f.section] ??= {})[f.name] = p.value;
  }
  for (const [section, part] of Object.entries(body)) if (Object.keys(part).length === 0) delete body[section];
  return Object.keys(errors).length ? { errors } : { body };
}

/** Where a value comes from, for people. */
export function sourceText(source: SettingSource, declaredBy: string): string {
  if (source === 'tenant') return `declared by ${declaredBy}: read-only here`;
  return source === 'api' ? 'set here' : 'default';
}
