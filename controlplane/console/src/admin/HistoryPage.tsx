import { useState, type FormEvent } from 'react';
import { ConfirmButton } from '../app/ConfirmButton';
import { formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import { HISTORY_KINDS, historyPage, rollback, versionDiff, type ConfigVersion } from './api';
import { patchLines } from './logic';

export default function HistoryPage() {
  const [kind, setKind] = useState('');
  const [name, setName] = useState('');
  const [filters, setFilters] = useState({ kind: '', name: '' });
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const [page, reload] = useAsync((signal) => historyPage(filters.kind, filters.name, cursor, signal), [filters, cursor], true);
  const apply = (e: FormEvent) => {
    e.preventDefault();
    setCursors([]);
    setFilters({ kind, name: kind ? name.trim() : '' });
  };
  return (
    <section>
      <header className="page-head">
        <h1>Configuration history</h1>
      </header>
      <form className="filters" onSubmit={apply} aria-label="History filters">
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.target.value)}>
            <option value="">every kind</option>
            {HISTORY_KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        <label>
          Object name
          <input value={name} onChange={(e) => setName(e.target.value)} disabled={!kind} placeholder={kind ? 'e.g. sales-overview' : 'choose a kind first'} />
        </label>
        <button type="submit">Show history</button>
      </form>
      {page.state === 'loading' && <p role="status">Loading versions…</p>}
      {page.state === 'error' && (
        <p className="error" role="alert">
          {page.error.message}
        </p>
      )}
      {page.state === 'done' && page.value.versions.length === 0 && <p>No versions recorded.</p>}
      {page.state === 'done' && page.value.versions.length > 0 && (
        <>
          <table className="list">
            <caption className="sr-only">Versions, newest first within each object</caption>
            <thead>
              <tr>
                <th scope="col">Object</th>
                <th scope="col" className="num">Version</th>
                <th scope="col">Change</th>
                <th scope="col">By</th>
                <th scope="col">Paths</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {page.value.versions.map((v, i, all) => (
                <VersionRow
                  key={`${v.kind}/${v.name}/${v.version}`}
                  v={v}
                  // Newest first within each object: the first row of an object is what is in force.
                  current={i === 0 || all[i - 1].kind !== v.kind || all[i - 1].name !== v.name}
                  onChanged={reload}
                />
              ))}
            </tbody>
          </table>
          <div className="pager">
            <button type="button" className="ghost" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
              Previous page
            </button>
            <span>Page {cursors.length + 1}</span>
            <button type="button" className="ghost" disabled={!page.value.next} onClick={() => setCursors([...cursors, page.value.next!])}>
              Next page
            </button>
          </div>
        </>
      )}
    </section>
  );
}

function VersionRow({ v, current, onChanged }: { v: ConfigVersion; current: boolean; onChanged: () => void }) {
  const [diff, setDiff] = useState<string[] | null>(null);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const label = `${v.kind}/${v.name} v${v.version}`;
  const showDiff = async () => {
    if (diff) return setDiff(null);
    try {
      setDiff(patchLines((await versionDiff(v)).patch));
    } catch (e) {
      setMsg({ ok: false, text: (e as Error).message });
    }
  };
  return (
    <>
      <tr data-version={`${v.kind}/${v.name}/${v.version}`}>
        <th scope="row">
          {v.kind}/{v.name}
        </th>
        <td className="num">{v.version}</td>
        <td>
          {v.action}
          {v.rolledBackFrom != null && <span className="badge">rollback to v{v.rolledBackFrom}</span>}
          <div className="muted">{formatTime(v.at)}</div>
        </td>
        <td>
          {v.author} <span className="muted">({v.source})</span>
        </td>
        <td className="wrap">{v.changes.join(', ')}</td>
        <td>
          <div className="actions">
            {v.version > 1 && (
              <button type="button" className="ghost" aria-expanded={!!diff} onClick={showDiff}>
                Diff <span className="sr-only">of {label}</span>
              </button>
            )}
            {current && <span className="muted">in force</span>}
            {!current && v.action !== 'deleted' && (
              <ConfirmButton
                label={`Roll back to ${label}`}
                confirm={`Confirm rolling back to ${label}`}
                onConfirm={async () => {
                  setMsg(null);
                  try {
                    const r = await rollback(v);
                    setMsg({ ok: true, text: `Restored as version ${r.version}.` });
                    onChanged();
                  } catch (e) {
                    setMsg({ ok: false, text: (e as Error).message });
                  }
                }}
              />
            )}
            {msg && (
              <span role={msg.ok ? 'status' : 'alert'} className={msg.ok ? 'ok' : 'error'}>
                {msg.text}
              </span>
            )}
          </div>
        </td>
      </tr>
      {diff && (
        <tr>
          <td colSpan={6}>
            <pre data-testid="version-diff">
              <code>{diff.length ? diff.join('\n') : 'no difference'}</code>
            </pre>
          </td>
        </tr>
      )}
    </>
  );
}
