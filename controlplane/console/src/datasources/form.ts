// The create form of a data source → the API's `{name, spec, password}` body, with the
// checks the form can make before the server does (the server's answer names the field too).
import type { DataSourceType, DataSourceView } from '../api/types';

export interface DataSourceForm {
  name: string;
  type: DataSourceType;
  displayName: string;
  host: string;
  port: string;
  database: string;
  username: string;
  password: string;
  path: string;
}

export const EMPTY_FORM: DataSourceForm = {
  name: '',
  type: 'postgresql',
  displayName: '',
  host: '',
  port: '',
  database: '',
  username: '',
  password: '',
  path: '',
};

export interface DataSourceInput {
  name: string;
  spec: Record<string, unknown>;
  password?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function toInput(f: DataSourceForm): { input: DataSourceInput } | { errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const name = f.name.trim();
  if (!DNS_LABEL.test(name)) errors.name = 'lower-case letters, digits and dashes, at most 63';
  const spec: Record<string, unknown> = { type: f.type };
  if (f.displayName.trim()) spec.displayName = f.displayName.trim();
  if (f.type === 'sqlite') {
    if (!f.path.trim()) errors.path = 'required for SQLite';
    else spec.path = f.path.trim();
  } else {
    if (!f.host.trim()) errors.host = 'required';
    else spec.host = f.host.trim();
    if (f.port.trim()) {
      const port = Number(f.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) errors.port = 'a number from 1 to 65535';
      else spec.port = port;
    }
    if (!f.database.trim()) errors.database = 'required';
    else spec.database = f.database.trim();
    if (f.username.trim()) spec.username = f.username.trim();
  }
  if (Object.keys(errors).length) return { errors };
  const input: DataSourceInput = { name, spec };
  if (f.type !== 'sqlite' && f.password) input.password = f.password;
  return { input };
}

/** The fields the form edits. */
const FORM_FIELDS = ['type', 'displayName', 'host', 'port', 'database', 'username', 'path'];

/** A source as the form shows it for editing (the password stays empty: unchanged). */
export function formOf(v: DataSourceView): DataSourceForm {
  const s = v.spec;
  return {
    name: v.name,
    type: s.type,
    displayName: s.displayName ?? '',
    host: s.host ?? '',
    port: s.port ? String(s.port) : '',
    database: s.database ?? '',
    username: s.username ?? '',
    password: '',
    path: s.path ?? '',
  };
}

/** The PUT body of an edit: what the form does not edit (pool, TLS, timeouts…) kept as it
 * was; no password unless a new one was typed. */
export function toUpdate(f: DataSourceForm, existing: DataSourceView): { input: DataSourceInput } | { errors: Record<string, string> } {
  const checked = toInput({ ...f, name: existing.name });
  if ('errors' in checked) return checked;
  const kept = Object.fromEntries(Object.entries(existing.spec as Record<string, unknown>).filter(([k]) => !FORM_FIELDS.includes(k)));
  return { input: { ...checked.input, spec: { ...kept, ...checked.input.spec } } };
}
