import { useEffect, useState, type FormEvent } from 'react';
import type { Session } from '../auth/session';
import { Link } from '../app/Link';
import { formatTime } from '../app/format';
import { problemFields } from '../app/errors';
import { useAsync } from '../app/useAsync';
import { getTable, LEVELS, patchColumn, patchTable, qualified, type CatalogColumn, type CatalogTable, type ColumnPatch, type Curation, type CurationPatch } from './api';
import { effectiveLevel, overridePatch, overrideValue, parseTags, profileText } from './logic';

export default function TablePage({ source, table, session }: { source: string; table: string; session: Session }) {
  const [loaded] = useAsync((signal) => getTable(source, table, signal), [source, table]);
  // Edits answer the table as it is now: it replaces the loaded one.
  const [t, setT] = useState<CatalogTable | null>(null);
  useEffect(() => setT(loaded.state === 'done' ? loaded.value : null), [loaded]);
  const canEdit = session.role !== 'viewer';
  if (loaded.state === 'loading') return <p role="status">Loading table…</p>;
  if (loaded.state === 'error')
    return (
      <section>
        <h1>
          {source}.{table}
        </h1>
        <p className="error" role="alert">
          {loaded.error.message}
        </p>
      </section>
    );
  if (!t) return null;
  return (
    <section>
      <p>
        <Link href="/catalog">Catalog</Link> › {t.dataSource}
      </p>
      <header className="page-head">
        <div>
          <h1>
            {qualified(t)} <span className="muted">{t.kind}</span>
            {t.dropped && <span className="badge warn">dropped</span>}
          </h1>
          <p className="muted">
            {t.rowEstimate != null && `about ${t.rowEstimate.toLocaleString('en-US')} rows; `}
            {t.columns.length} columns; crawled {formatTime(t.crawledAt)}
          </p>
        </div>
        <Link href={`/lineage?node=${encodeURIComponent(`table:${t.dataSource}:${qualified(t)}`)}`}>Lineage</Link>
      </header>
      <CurationForm
        title="About this table"
        curation={t.curation}
        canEdit={canEdit}
        idPrefix="table"
        save={async (p) => setT(await patchTable(t, p))}
      />
      {t.foreignKeys && t.foreignKeys.length > 0 && (
        <p>
          References:{' '}
          {t.foreignKeys.map((fk, i) => (
            <span key={i} className="tag">
              {fk.columns.join(', ')} → <Link href={`/catalog/${encodeURIComponent(t.dataSource)}/${encodeURIComponent(qualified(fk.references.table))}`}>{qualified(fk.references.table)}</Link>
            </span>
          ))}
        </p>
      )}
      <h2>Columns</h2>
      <table className="list">
        <caption className="sr-only">Columns of {qualified(t)}</caption>
        <thead>
          <tr>
            <th scope="col">Column</th>
            <th scope="col">Type</th>
            <th scope="col">Classification</th>
            <th scope="col">Profile</th>
            <th scope="col">Description and tags</th>
          </tr>
        </thead>
        <tbody>
          {t.columns.map((c) => (
            <ColumnRow key={c.name} c={c} canEdit={canEdit} isAdmin={session.role === 'admin'} save={async (p) => setT(await patchColumn(t, c.name, p))} />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function ColumnRow({ c, canEdit, isAdmin, save }: { c: CatalogColumn; canEdit: boolean; isAdmin: boolean; save: (p: ColumnPatch) => Promise<void> }) {
  const { level, manual } = effectiveLevel(c);
  const cl = c.classification;
  return (
    <tr data-column={c.name}>
      <th scope="row">
        {c.name}
        {c.primaryKey && <span className="badge">key</span>}
      </th>
      <td>
        <code>{c.type}</code>
        {!c.nullable && <div className="muted">not null</div>}
      </td>
      <td>
        {level ? <span className={`badge level-${level}`}>{level}</span> : <span className="muted">not sensitive</span>}
        {manual && <div className="muted">set by {c.override?.by}{c.override?.reason ? `: ${c.override.reason}` : ''}</div>}
        {!manual && cl && (
          <div className="muted" title={cl.evidence}>
            {cl.detector}, {Math.round(cl.confidence * 100)} %
          </div>
        )}
        {isAdmin && <Override c={c} save={save} />}
      </td>
      <td className="wrap">{profileText(c)}</td>
      <td>
        <CurationForm title={`Column ${c.name}`} curation={c.curation} canEdit={canEdit} idPrefix={`col-${c.name}`} save={save} compact />
      </td>
    </tr>
  );
}

/** Admins set a column's level by hand (or declare it not sensitive), with a reason. */
function Override({ c, save }: { c: CatalogColumn; save: (p: ColumnPatch) => Promise<void> }) {
  const [value, setValue] = useState(overrideValue(c));
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const changed = value !== overrideValue(c);
  return (
    <div className="override">
      <label>
        <span className="sr-only">Sensitivity of {c.name}</span>
        <select value={value} onChange={(e) => setValue(e.target.value)}>
          <option value="auto">as detected</option>
          <option value="none">not sensitive</option>
          {LEVELS.map((l) => (
            <option key={l} value={l}>
              {l}
            </option>
          ))}
        </select>
      </label>
      {changed && (
        <>
          <label>
            <span className="sr-only">Reason for {c.name}</span>
            <input value={reason} onChange={(e) => setReason(e.target.value)} placeholder="reason" />
          </label>
          <button
            type="button"
            onClick={async () => {
              setError(null);
              try {
                await save(overridePatch(value, reason));
                setReason('');
              } catch (e) {
                setError((e as Error).message);
              }
            }}
          >
            Set <span className="sr-only">sensitivity of {c.name}</span>
          </button>
        </>
      )}
      {error && (
        <span className="error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

/** Shows description, owner and tags, and edits them in place. */
function CurationForm({
  title,
  curation,
  canEdit,
  idPrefix,
  save,
  compact,
}: {
  title: string;
  curation?: Curation;
  canEdit: boolean;
  idPrefix: string;
  save: (p: CurationPatch) => Promise<void>;
  compact?: boolean;
}) {
  const [editing, setEditing] = useState(false);
  const [description, setDescription] = useState('');
  const [owner, setOwner] = useState('');
  const [tags, setTags] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const start = () => {
    setDescription(curation?.description ?? '');
    setOwner(curation?.owner ?? '');
    setTags((curation?.tags ?? []).join(', '));
    setErrors({});
    setMessage(null);
    setEditing(true);
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseTags(tags);
    if ('error' in parsed) return setErrors({ tags: parsed.error });
    const patch: CurationPatch = { description: description.trim() || null, tags: parsed.tags };
    if (!compact) patch.owner = owner.trim() || null;
    try {
      await save(patch);
      setEditing(false);
    } catch (err) {
      const { fields, message } = problemFields(err, ['description', 'owner', 'tags']);
      setErrors(fields);
      setMessage(message);
    }
  };
  if (!editing)
    return (
      <div className={compact ? '' : 'card curation'}>
        {!compact && <h2>{title}</h2>}
        {curation?.description ? <p data-testid={`${idPrefix}-description`}>{curation.description}</p> : <p className="muted">No description.</p>}
        {!compact && curation?.owner && <p>Owner: {curation.owner}</p>}
        <div>
          {(curation?.tags ?? []).map((x) => (
            <span key={x} className="tag">
              {x}
            </span>
          ))}
        </div>
        {canEdit && (
          <button type="button" className="ghost" onClick={start}>
            Edit <span className="sr-only">{title}</span>
          </button>
        )}
      </div>
    );
  return (
    <form className={compact ? 'curation-edit' : 'card curation curation-edit'} onSubmit={submit} aria-label={`Edit ${title}`}>
      {!compact && <h2>{title}</h2>}
      <label>
        Description
        <textarea rows={compact ? 2 : 3} value={description} onChange={(e) => setDescription(e.target.value)} aria-invalid={!!errors.description} />
        {errors.description && <span className="error">{errors.description}</span>}
      </label>
      {!compact && (
        <label>
          Owner
          <input value={owner} onChange={(e) => setOwner(e.target.value)} aria-invalid={!!errors.owner} />
          {errors.owner && <span className="error">{errors.owner}</span>}
        </label>
      )}
      <label>
        Tags
        <input value={tags} onChange={(e) => setTags(e.target.value)} aria-invalid={!!errors.tags} placeholder="comma-separated" />
        {errors.tags && <span className="error">{errors.tags}</span>}
      </label>
      {message && (
        <p className="error" role="alert">
          {message}
        </p>
      )}
      <div className="actions">
        <button type="submit">Save</button>
        <button type="button" className="ghost" onClick={() => setEditing(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
