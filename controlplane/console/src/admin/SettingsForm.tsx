import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { ApiError } from '../api/client';
import { problemFields } from '../app/errors';
import { formatTime } from '../app/format';
import { putSettings, type SettingsView } from './api';
import { fieldsOf, initialValues, SECTION_TITLES, settingsBody, sourceText, type FormValues, type SettingField } from './settingsForm';

/** The settings (or only the `sections` given) as a form grouped by section. Tenant-declared
 * fields are read-only and name their owner; the server's field errors show at their field. */
export function SettingsForm({ view, sections, onSaved, label }: { view: SettingsView; sections?: string[]; onSaved: (v: SettingsView) => void; label: string }) {
  const fields = useMemo(() => fieldsOf(view, sections), [view, sections]);
  const [values, setValues] = useState<FormValues>(() => initialValues(view, fields));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  // A saved or reloaded document is what the form shows next; a success message stays.
  useEffect(() => {
    setValues(initialValues(view, fields));
    setErrors({});
    setMessage((m) => (m?.ok ? m : null));
  }, [view, fields]);
  const groups = useMemo(() => {
    const g = new Map<string, SettingField[]>();
    for (const f of fields) g.set(f.section, [...(g.get(f.section) ?? []), f]);
    return [...g.entries()];
  }, [fields]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMessage(null);
    const r = settingsBody(view, fields, values);
    if ('errors' in r) {
      setErrors(r.errors);
      return;
    }
    setErrors({});
    setBusy(true);
    try {
      const saved = await putSettings(r.body, view.revision);
      setMessage({ ok: true, text: `Saved (revision ${saved.revision}).` });
      onSaved(saved);
    } catch (err) {
      const { fields: at, message: rest } = problemFields(
        err,
        fields.map((f) => f.path),
      );
      setErrors(at);
      const conflict = err instanceof ApiError && err.status === 409 && !Object.keys(at).length;
      setMessage(rest ? { ok: false, text: conflict ? `${rest} Reload to see the current settings, then change them again.` : rest } : null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="settings-form" onSubmit={submit} aria-label={label} noValidate>
      {groups.map(([section, list]) => (
        <fieldset key={section} className="card settings-section" data-section={section}>
          <legend>{SECTION_TITLES[section] ?? section}</legend>
          {list.map((f) => (
            <SettingInput
              key={f.path}
              f={f}
              value={values[f.path]}
              error={errors[f.path]}
              note={sourceText(f.source, view.declaredBy)}
              onChange={(v) => setValues((s) => ({ ...s, [f.path]: v }))}
            />
          ))}
        </fieldset>
      ))}
      <div className="actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Saving…' : 'Save settings'}
        </button>
        {view.updatedAt && (
          <span className="muted">
            Last changed {formatTime(view.updatedAt)} by {view.updatedBy}
          </span>
        )}
      </div>
      {message && (
        <p className={message.ok ? 'ok' : 'error'} role={message.ok ? 'status' : 'alert'}>
          {message.text}
        </p>
      )}
    </form>
  );
}

function SettingInput({ f, value, error, note, onChange }: { f: SettingField; value: string | boolean; error?: string; note: string; onChange: (v: string | boolean) => void }) {
  const id = `setting-${f.path.replace('.', '-')}`;
  const readOnly = f.source === 'tenant';
  const describedBy = `${id}-note${error ? ` ${id}-err` : ''}`;
  const common = { id, 'aria-invalid': !!error, 'aria-describedby': describedBy, disabled: readOnly, 'data-path': f.path };
  let input;
  if (f.kind === 'bool') input = <input type="checkbox" checked={value === true} onChange={(e) => onChange(e.target.checked)} {...common} />;
  else if (f.kind === 'choice')
    input = (
      <select value={String(value)} onChange={(e) => onChange(e.target.value)} {...common}>
        {f.options!.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  else if (f.kind === 'list') input = <textarea rows={3} value={String(value)} onChange={(e) => onChange(e.target.value)} placeholder="one address or CIDR range a line; none: every address" {...common} />;
  else input = <input inputMode="decimal" value={String(value)} onChange={(e) => onChange(e.target.value)} {...common} />;
  return (
    <div className={`setting${f.kind === 'bool' ? ' setting-bool' : ''}`} data-setting={f.path}>
      <label htmlFor={id}>{f.label}</label>
      {input}
      <span id={`${id}-note`} className={readOnly ? 'note-inline' : 'muted'}>
        {note}
      </span>
      {error && (
        <span id={`${id}-err`} className="error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
