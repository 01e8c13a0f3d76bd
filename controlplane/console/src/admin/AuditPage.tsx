import { useState, type FormEvent } from 'react';
import { formatTime } from '../app/format';
import { useLocation } from '../app/router';
import { useAsync } from '../app/useAsync';
import { auditPage, auditVerify, download, type AuditEntry, type AuditVerifyReport } from './api';
import { auditQuery, filtersFromUrl, NO_FILTERS, type AuditFilters } from './logic';

const PAGE = 50;

export default function AuditPage() {
  // A link may set the first filters (a user's activity: `?actor=erin`).
  const { search } = useLocation();
  const [draft, setDraft] = useState<AuditFilters>(() => filtersFromUrl(search));
  const [filters, setFilters] = useState<AuditFilters>(() => filtersFromUrl(search));
  const [filterError, setFilterError] = useState<{ field: string; error: string } | null>(null);
  // Cursors of the pages before the one shown (paging back), and of the one shown.
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const [page] = useAsync(
    (signal) => {
      const q = auditQuery(filters, { limit: String(PAGE), ...(cursor ? { cursor } : {}) });
      return 'query' in q ? auditPage(q.query, signal) : Promise.reject(new Error(q.error));
    },
    [filters, cursor],
  );
  const apply = (e: FormEvent) => {
    e.preventDefault();
    const q = auditQuery(draft);
    if ('error' in q) return setFilterError(q);
    setFilterError(null);
    setCursors([]);
    setFilters(draft);
  };
  const set = (k: keyof AuditFilters) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  const err = (k: string) => (filterError?.field === k ? filterError.error : null);
  return (
    <section>
      <header className="page-head">
        <h1>Audit log</h1>
        <div className="actions">
          <Verify />
          <Export filters={filters} />
        </div>
      </header>
      <form className="filters" onSubmit={apply} aria-label="Audit filters">
        <label>
          Actor
          <input value={draft.actor} onChange={set('actor')} placeholder="user name" />
        </label>
        <label>
          Action
          <input value={draft.action} onChange={set('action')} placeholder="e.g. auth.login" />
        </label>
        <label>
          Outcome
          <select value={draft.outcome} onChange={set('outcome')}>
            <option value="">any</option>
            <option value="success">success</option>
            <option value="denied">denied</option>
            <option value="failure">failure</option>
          </select>
        </label>
        <label>
          From
          <input type="datetime-local" value={draft.from} onChange={set('from')} aria-invalid={!!err('from')} />
          {err('from') && <span className="error">{err('from')}</span>}
        </label>
        <label>
          To
          <input type="datetime-local" value={draft.to} onChange={set('to')} aria-invalid={!!err('to')} />
          {err('to') && <span className="error">{err('to')}</span>}
        </label>
        <button type="submit">Apply filters</button>
        <button
          type="button"
          className="ghost"
          onClick={() => {
            setDraft(NO_FILTERS);
            setFilters(NO_FILTERS);
            setCursors([]);
            setFilterError(null);
          }}
        >
          Clear
        </button>
      </form>
      {page.state === 'loading' && <p role="status">Loading entries…</p>}
      {page.state === 'error' && (
        <p className="error" role="alert">
          {page.error.message}
        </p>
      )}
      {page.state === 'done' && (
        <>
          {page.value.entries.length === 0 ? (
            <p>No entries match.</p>
          ) : (
            <table className="list audit">
              <caption className="sr-only">Audit entries, newest first</caption>
              <thead>
                <tr>
                  <th scope="col" className="num">
                    #
                  </th>
                  <th scope="col">Time</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                {page.value.entries.map((e) => (
                  <EntryRow key={e.id} e={e} />
                ))}
              </tbody>
            </table>
          )}
          <div className="pager">
            <button type="button" className="ghost" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
              Newer entries
            </button>
            <span>Page {cursors.length + 1}</span>
            <button type="button" className="ghost" disabled={!page.value.next} onClick={() => setCursors([...cursors, page.value.next!])}>
              Older entries
            </button>
          </div>
        </>
      )}
    </section>
  );
}

function EntryRow({ e }: { e: AuditEntry }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <tr data-testid="audit-entry">
        <td className="num">{e.seq}</td>
        <td>{formatTime(e.at)}</td>
        <td>
          {e.actor}
          <div className="muted">via {e.via}</div>
        </td>
        <td>
          <code>{e.action}</code>
        </td>
        <td className="wrap">{e.target}</td>
        <td>
          <span className={e.outcome === 'success' ? 'ok' : 'error'}>{e.outcome}</span> <span className="muted">{e.status}</span>
        </td>
        <td>
          <button type="button" className="ghost" aria-expanded={open} onClick={() => setOpen(!open)}>
            <span className="sr-only">Entry {e.seq} </span>
            {open ? 'Hide' : 'Show'}
          </button>
        </td>
      </tr>
      {open && (
        <tr>
          <td colSpan={7}>
            <dl className="details">
              <dt>Request</dt>
              <dd>
                <code>{e.requestId}</code>
                {e.client && ` from ${e.client}`}
                {e.impersonator && ` (by ${e.impersonator})`}
              </dd>
              <dt>Hash</dt>
              <dd>
                <code>{e.hash}</code>
              </dd>
              <dt>Previous</dt>
              <dd>
                <code>{e.prevHash}</code>
              </dd>
              {(e.queries ?? []).map((q, i) => (
                <div key={i}>
                  <dt>Query on {q.datasource}</dt>
                  <dd>
                    <code>{q.fingerprint}</code> — {q.outcome}
                    {q.rows != null && `, ${q.rows} rows`}
                    {q.masked?.length ? `, masked: ${q.masked.join(', ')}` : ''}
                  </dd>
                </div>
              ))}
            </dl>
          </td>
        </tr>
      )}
    </>
  );
}

function Verify() {
  const [state, setState] = useState<{ busy: boolean; report?: AuditVerifyReport; error?: string }>({ busy: false });
  const run = async () => {
    setState({ busy: true });
    try {
      setState({ busy: false, report: await auditVerify() });
    } catch (e) {
      setState({ busy: false, error: (e as Error).message });
    }
  };
  const r = state.report;
  return (
    <>
      <button type="button" onClick={run} disabled={state.busy}>
        {state.busy ? 'Verifying…' : 'Verify chain'}
      </button>
      {r && (
        <span role="status" className={r.valid ? 'ok' : 'error'} data-testid="audit-verify">
          {r.valid
            ? `Chain intact: ${r.entries} entries, ${r.checkpoints} signed checkpoints`
            : `Chain broken at entry ${r.firstBroken?.seq}: ${r.firstBroken?.reason}`}
        </span>
      )}
      {state.error && (
        <span role="alert" className="error">
          {state.error}
        </span>
      )}
    </>
  );
}

function Export({ filters }: { filters: AuditFilters }) {
  const [format, setFormat] = useState<'csv' | 'jsonl'>('csv');
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const run = async () => {
    const q = auditQuery(filters, { format });
    if ('error' in q) return setMsg({ ok: false, text: q.error });
    try {
      const { name, bytes } = await download(`/audit/export?${q.query}`, `audit.${format}`);
      setMsg({ ok: true, text: `Downloaded ${name} (${bytes} bytes)` });
    } catch (e) {
      setMsg({ ok: false, text: (e as Error).message });
    }
  };
  return (
    <>
      <label>
        <span className="sr-only">Export format</span>
        <select value={format} onChange={(e) => setFormat(e.target.value as 'csv' | 'jsonl')}>
          <option value="csv">CSV</option>
          <option value="jsonl">JSON lines</option>
        </select>
      </label>
      <button type="button" className="ghost" onClick={run}>
        Export
      </button>
      {msg && (
        <span role={msg.ok ? 'status' : 'alert'} className={msg.ok ? 'ok' : 'error'}>
          {msg.text}
        </span>
      )}
    </>
  );
}
