import { useState, type FormEvent } from 'react';
import type { DataSourceView, SchemaInfo } from '../api/types';
import { useAsync } from '../app/useAsync';
import type { Session } from '../auth/session';
import { createDataSource, getSchema, listDataSources, testConnection, updateDataSource } from './api';
import { EMPTY_FORM, formOf, toInput, toUpdate, type DataSourceForm } from './form';

export function DataSourcesPage({ session }: { session: Session }) {
  const [list, reload] = useAsync((signal) => listDataSources(signal), [], true);
  const isEditor = session.role !== 'viewer';
  const isAdmin = session.role === 'admin';
  const [editing, setEditing] = useState<DataSourceView | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  return (
    <section>
      <header className="page-head">
        <h1>Data sources</h1>
      </header>
      {list.state === 'loading' && <p role="status">Loading data sources…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && (
        <table className="list">
          <caption className="sr-only">Data sources</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col">Tables / columns</th>
              <th scope="col">Managed by</th>
              {isEditor && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {list.value.map((s) => (
              <SourceRow key={s.name} source={s} isEditor={isEditor} onEdit={isAdmin && s.origin === 'api' ? () => setEditing(s) : undefined} />
            ))}
          </tbody>
        </table>
      )}
      {list.state === 'done' && list.value.length === 0 && <p>No data sources yet.</p>}
      {isAdmin && (
        <SourceForm
          key={editing?.name ?? '(new)'}
          editing={editing}
          onDone={(msg) => {
            setEditing(null);
            setSaved(msg ?? null);
            reload();
          }}
          onCancel={() => setEditing(null)}
        />
      )}
      {saved && (
        <p role="status" className="ok">
          {saved}
        </p>
      )}
    </section>
  );
}

function SourceRow({ source: s, isEditor, onEdit }: { source: DataSourceView; isEditor: boolean; onEdit?: () => void }) {
  const [test, setTest] = useState<{ ok: boolean; text: string } | null>(null);
  const [schema, setSchema] = useState<SchemaInfo | string | null>(null);
  const runTest = async () => {
    setTest({ ok: true, text: 'Testing…' });
    try {
      const t = await testConnection(s.name);
      setTest({ ok: t.ok, text: `Connected: ${t.serverVersion}, ${t.latencyMs.toFixed(1)} ms` });
    } catch (e) {
      setTest({ ok: false, text: (e as Error).message });
    }
  };
  const toggleSchema = async () => {
    if (schema) return setSchema(null);
    try {
      setSchema(await getSchema(s.name));
    } catch (e) {
      setSchema((e as Error).message);
    }
  };
  const st = s.status;
  return (
    <>
      <tr>
        <th scope="row">
          {s.name}
          {s.spec.displayName && <div className="muted">{s.spec.displayName}</div>}
        </th>
        <td>{s.spec.type}</td>
        <td>
          {!st ? (
            <span className="muted">not checked yet</span>
          ) : st.connected ? (
            <span className="ok">connected</span>
          ) : (
            <span className="error" title={st.lastError}>
              unreachable{st.lastError ? `: ${st.lastError}` : ''}
            </span>
          )}
        </td>
        <td>{st ? `${st.tables} / ${st.columns}` : ''}</td>
        <td>{s.origin === 'api' ? 'API' : s.origin === 'operator' ? 'Kubernetes' : 'manifest file'}</td>
        {isEditor && (
          <td>
            <div className="actions">
              <button type="button" onClick={runTest}>
                Test connection
              </button>
              <button type="button" onClick={toggleSchema} aria-expanded={!!schema}>
                Schema
              </button>
              {onEdit && (
                <button type="button" className="ghost" onClick={onEdit} aria-controls="create-ds">
                  Edit <span className="sr-only">{s.name}</span>
                </button>
              )}
              {test && (
                <span role={test.ok ? 'status' : 'alert'} className={test.ok ? 'ok' : 'error'}>
                  {test.text}
                </span>
              )}
            </div>
          </td>
        )}
      </tr>
      {schema && (
        <tr>
          <td colSpan={6}>
            {typeof schema === 'string' ? (
              <p className="error" role="alert">
                {schema}
              </p>
            ) : (
              <ul className="schema">
                {schema.tables.map((t) => (
                  <li key={`${t.schema ?? ''}.${t.name}`}>
                    <strong>{t.schema ? `${t.schema}.${t.name}` : t.name}</strong>: {t.columns.map((c) => `${c.name} ${c.type}`).join(', ')}
                  </li>
                ))}
              </ul>
            )}
          </td>
        </tr>
      )}
    </>
  );
}

/** Creates a source, or edits one made through the API (`editing`). */
function SourceForm({ editing, onDone, onCancel }: { editing: DataSourceView | null; onDone: (message?: string) => void; onCancel: () => void }) {
  const [form, setForm] = useState<DataSourceForm>(() => (editing ? formOf(editing) : EMPTY_FORM));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const set = (k: keyof DataSourceForm) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const checked = editing ? toUpdate(form, editing) : toInput(form);
    if ('errors' in checked) return setErrors(checked.errors);
    setErrors({});
    if (editing) {
      try {
        const v = await updateDataSource(checked.input, editing.revision);
        onDone(`Saved ${v.name}.`);
      } catch (err) {
        setMessage({ ok: false, text: (err as Error).message });
      }
      return;
    }
    try {
      const r = await createDataSource(checked.input);
      if ('approval' in r) setMessage({ ok: true, text: `Creating this source needs approval: request ${r.approval.id}.` });
      else {
        setMessage({ ok: true, text: `Created ${r.created.name}.` });
        setForm(EMPTY_FORM);
        onDone();
      }
    } catch (err) {
      setMessage({ ok: false, text: (err as Error).message });
    }
  };
  const field = (k: keyof DataSourceForm, label: string, type = 'text') => (
    <label>
      {label}
      <input name={k} type={type} value={form[k]} onChange={set(k)} aria-invalid={!!errors[k]} aria-describedby={errors[k] ? `err-${k}` : undefined} />
      {errors[k] && (
        <span id={`err-${k}`} className="error">
          {errors[k]}
        </span>
      )}
    </label>
  );
  return (
    <form className="card create-form" onSubmit={submit} aria-labelledby="create-ds">
      <h2 id="create-ds">{editing ? `Edit ${editing.name}` : 'New data source'}</h2>
      <div className="form-grid">
        {!editing && field('name', 'Name')}
        <label>
          Type
          <select name="type" value={form.type} onChange={set('type')}>
            <option value="postgresql">PostgreSQL</option>
            <option value="mysql">MySQL / MariaDB</option>
            <option value="sqlite">SQLite</option>
            <option value="mongodb">MongoDB</option>
          </select>
        </label>
        {field('displayName', 'Display name')}
        {form.type === 'sqlite' ? (
          field('path', 'Database file (under the server’s SQLite root)')
        ) : (
          <>
            {field('host', 'Host')}
            {field('port', 'Port')}
            {field('database', 'Database')}
            {field('username', 'Username')}
            {field('password', editing?.hasPassword ? 'Password (empty: unchanged)' : 'Password', 'password')}
          </>
        )}
      </div>
      <div className="actions">
        <button type="submit">{editing ? 'Save changes' : 'Create'}</button>
        {editing && (
          <button type="button" className="ghost" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
      {message && (
        <p role={message.ok ? 'status' : 'alert'} className={message.ok ? 'ok' : 'error'}>
          {message.text}
        </p>
      )}
    </form>
  );
}
