import { useState, type FormEvent } from 'react';
import type { Variable } from '../api/types';
import { SecretOnce } from '../app/ConfirmButton';
import { problemFields } from '../app/errors';
import { createShare } from './api';
import { shareInput, shareUrl, type ShareForm } from './logic';

const FIELDS = ['expiresInHours', 'password'];

/** "Share" for a dashboard or a saved query: the link's options in place (expiry, password,
 * variables it fixes), then the link itself, shown once. */
export function ShareButton({
  resource,
  title,
  variables = [],
  values = {},
  onCreated,
}: {
  resource: string;
  title: string;
  variables?: Variable[];
  values?: Record<string, string>;
  onCreated?: () => void;
}) {
  const [open, setOpen] = useState(false);
  const [link, setLink] = useState<string | null>(null);
  return (
    <>
      <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
        Share
      </button>
      {link && <SecretOnce title="Share link" secret={link} note={`Whoever has this link sees ${title} with your access, view-only. It is shown only now; revoke it under My share links.`} onDone={() => setLink(null)} />}
      {open && (
        <ShareFormPanel
          resource={resource}
          title={title}
          variables={variables}
          values={values}
          onCreated={(url) => {
            setOpen(false);
            setLink(url);
            onCreated?.();
          }}
          onCancel={() => setOpen(false)}
        />
      )}
    </>
  );
}

function ShareFormPanel({
  resource,
  title,
  variables,
  values,
  onCreated,
  onCancel,
}: {
  resource: string;
  title: string;
  variables: Variable[];
  values: Record<string, string>;
  onCreated: (url: string) => void;
  onCancel: () => void;
}) {
  const [form, setForm] = useState<ShareForm>({ expiresInHours: '168', password: '', locked: {} });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMessage(null);
    const r = shareInput(resource, form);
    if ('errors' in r) return setErrors(r.errors);
    setErrors({});
    setBusy(true);
    try {
      const out = await createShare(r.input);
      if (out.kind === 'approval') setMessage({ ok: true, text: `Sharing outside the tenant waits for approval (request ${out.approval.id}); create the link again once it is approved.` });
      else onCreated(shareUrl(location.origin, out.share.token));
    } catch (err) {
      const known = [...FIELDS, ...variables.map((v) => `lockedVariables.${v.name}`)];
      const p = problemFields(err, known);
      setErrors(p.fields);
      setMessage(p.message ? { ok: false, text: p.message } : null);
    } finally {
      setBusy(false);
    }
  };
  const lock = (name: string, on: boolean) => {
    const locked = { ...form.locked };
    if (on) locked[name] = values[name] ?? variables.find((v) => v.name === name)?.default ?? '';
    else delete locked[name];
    setForm({ ...form, locked });
  };
  return (
    <form className="card share-form" onSubmit={submit} aria-label={`Share ${title}`} noValidate>
      <h2>Share {title}</h2>
      <p className="muted">People with the link see it view-only, with your access (your row filters and masking), without signing in.</p>
      <div className="form-grid">
        <label>
          Expires after (hours)
          <input value={form.expiresInHours} onChange={(e) => setForm({ ...form, expiresInHours: e.target.value })} inputMode="numeric" aria-invalid={!!errors.expiresInHours} aria-describedby="share-err-expiresInHours" />
          <span className="muted">Empty: until you revoke it.</span>
          {errors.expiresInHours && (
            <span id="share-err-expiresInHours" className="error" role="alert">
              {errors.expiresInHours}
            </span>
          )}
        </label>
        <label>
          Password (optional)
          <input type="password" autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} aria-invalid={!!errors.password} aria-describedby="share-err-password" />
          {errors.password && (
            <span id="share-err-password" className="error" role="alert">
              {errors.password}
            </span>
          )}
        </label>
      </div>
      {variables.length > 0 && (
        <fieldset className="facet">
          <legend>Lock variables (viewers cannot change these)</legend>
          {variables.map((v) => {
            const label = v.label ?? v.name;
            const on = v.name in form.locked;
            return (
              <div key={v.name} className="lock-variable">
                <label className="inline">
                  <input type="checkbox" checked={on} onChange={(e) => lock(v.name, e.target.checked)} /> Lock {label}
                </label>
                {on &&
                  (v.options?.length ? (
                    <select aria-label={`Locked value of ${label}`} value={form.locked[v.name]} onChange={(e) => setForm({ ...form, locked: { ...form.locked, [v.name]: e.target.value } })}>
                      {v.options.map((o) => (
                        <option key={o} value={o}>
                          {o}
                        </option>
                      ))}
                    </select>
                  ) : (
                    <input aria-label={`Locked value of ${label}`} value={form.locked[v.name]} onChange={(e) => setForm({ ...form, locked: { ...form.locked, [v.name]: e.target.value } })} />
                  ))}
                {errors[`lockedVariables.${v.name}`] && (
                  <span className="error" role="alert">
                    {errors[`lockedVariables.${v.name}`]}
                  </span>
                )}
              </div>
            );
          })}
        </fieldset>
      )}
      <div className="actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create link'}
        </button>
        <button type="button" className="ghost" onClick={onCancel}>
          Cancel
        </button>
      </div>
      {message && (
        <p className={message.ok ? 'note' : 'error'} role={message.ok ? 'status' : 'alert'}>
          {message.text}
        </p>
      )}
    </form>
  );
}
