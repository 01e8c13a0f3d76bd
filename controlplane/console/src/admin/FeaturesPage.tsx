import { useState, type FormEvent } from 'react';
import type { Role } from '../api/types';
import { ConfirmButton } from '../app/ConfirmButton';
import { useAsync } from '../app/useAsync';
import { listFlags, putFlag, resetFlag, type Flag } from './api';
import { flagAudience, flagInput, type FlagForm } from './logic';

const ROLES: Role[] = ['viewer', 'editor', 'admin'];

export default function FeaturesPage() {
  const [list, reload] = useAsync((signal) => listFlags(signal), [], true);
  const [editing, setEditing] = useState<string | null>(null);
  return (
    <section>
      <header className="page-head">
        <h1>Feature flags</h1>
      </header>
      {list.state === 'loading' && <p role="status">Loading feature flags…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && (
        <table className="list">
          <caption className="sr-only">Feature flags</caption>
          <thead>
            <tr>
              <th scope="col">Flag</th>
              <th scope="col">State</th>
              <th scope="col">Who gets it</th>
              <th scope="col">Set by</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.value.map((f) => (
              <FlagRow key={f.name} f={f} editing={editing === f.name} edit={(on) => setEditing(on ? f.name : null)} onChanged={reload} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function FlagRow({ f, editing, edit, onChanged }: { f: Flag; editing: boolean; edit: (on: boolean) => void; onChanged: () => void }) {
  const [error, setError] = useState<string | null>(null);
  return (
    <>
      <tr data-flag={f.name}>
        <th scope="row">
          {f.name}
          {f.description && <div className="muted">{f.description}</div>}
          {f.gates.length > 0 && (
            <div className="muted">
              gates{' '}
              {f.gates.map((g) => (
                <code key={g} className="tag">
                  {g}
                </code>
              ))}
            </div>
          )}
        </th>
        <td>
          <span className={f.enabled ? 'ok' : 'muted'}>{f.enabled ? 'on' : 'off'}</span>
          <div className="muted">default {f.default ? 'on' : 'off'}</div>
        </td>
        <td>{flagAudience(f)}</td>
        <td>{f.source === 'tenant' ? `the Tenant (${f.declaredBy ?? 'spec.features'}): read-only here` : f.source === 'api' ? 'an admin' : 'default'}</td>
        <td>
          {f.source !== 'tenant' && (
            <div className="actions">
              <button type="button" className="ghost" aria-expanded={editing} onClick={() => edit(!editing)}>
                Change <span className="sr-only">{f.name}</span>
              </button>
              {f.source === 'api' && (
                <ConfirmButton
                  label={`Reset ${f.name}`}
                  confirm={`Confirm resetting ${f.name} to its default`}
                  onConfirm={async () => {
                    setError(null);
                    try {
                      await resetFlag(f);
                      onChanged();
                    } catch (e) {
                      setError((e as Error).message);
                    }
                  }}
                />
              )}
            </div>
          )}
          {error && (
            <span className="error" role="alert">
              {error}
            </span>
          )}
        </td>
      </tr>
      {editing && (
        <tr>
          <td colSpan={5}>
            <FlagEditor
              f={f}
              done={() => {
                edit(false);
                onChanged();
              }}
            />
          </td>
        </tr>
      )}
    </>
  );
}

function FlagEditor({ f, done }: { f: Flag; done: () => void }) {
  const [form, setForm] = useState<FlagForm>({ enabled: f.enabled, roles: f.roles, users: f.users.join(', '), rollout: String(f.rolloutPercent) });
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = flagInput(form, f.description);
    if ('error' in r) return setError(r.error);
    try {
      await putFlag(f, r.input);
      done();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form className="flag-form" onSubmit={submit} aria-label={`Change ${f.name}`}>
      <label className="inline">
        <input type="checkbox" checked={form.enabled} onChange={(e) => setForm({ ...form, enabled: e.target.checked })} /> Enabled
      </label>
      <fieldset className="facet">
        <legend>Only these roles (none: every role)</legend>
        {ROLES.map((r) => (
          <label key={r} className="inline">
            <input
              type="checkbox"
              checked={form.roles.includes(r)}
              onChange={(e) => setForm({ ...form, roles: e.target.checked ? [...form.roles, r] : form.roles.filter((x) => x !== r) })}
            />{' '}
            {r}
          </label>
        ))}
      </fieldset>
      <label>
        Always these users
        <input value={form.users} onChange={(e) => setForm({ ...form, users: e.target.value })} placeholder="comma-separated" />
      </label>
      <label>
        Rollout (% of the others)
        <input value={form.rollout} onChange={(e) => setForm({ ...form, rollout: e.target.value })} inputMode="numeric" aria-invalid={!!error} />
      </label>
      <div className="actions">
        <button type="submit">Save {f.name}</button>
        <button type="button" className="ghost" onClick={done}>
          Cancel
        </button>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
