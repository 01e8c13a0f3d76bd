import { Fragment, useMemo, useState } from 'react';
import { formatBytes, formatCount, formatMs, formatRatio, formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import { cachePerformance, dashboardPerformance, endpointPerformance, queryPerformance, slowestRuns, suggestions, WINDOWS, type Fingerprint, type PerfSort, type RunStats, type WindowName } from './api';
import { evidenceLines, sortFingerprints, SUGGESTION_KINDS, type FingerprintKey } from './logic';

const COLUMNS: { key: FingerprintKey; label: string; server?: PerfSort; format: (f: RunStats) => string }[] = [
  { key: 'count', label: 'Runs', server: 'count', format: (f) => formatCount(f.count) },
  { key: 'p95Ms', label: 'p95', server: 'p95', format: (f) => formatMs(f.p95Ms) },
  { key: 'meanMs', label: 'Mean', format: (f) => formatMs(f.meanMs) },
  { key: 'totalMs', label: 'Total time', server: 'total', format: (f) => formatMs(f.totalMs) },
  { key: 'errors', label: 'Errors', format: (f) => formatCount(f.errors) },
  { key: 'rows', label: 'Rows', format: (f) => formatCount(f.rows) },
  { key: 'cacheHitRate', label: 'Cache hits', format: (f) => formatRatio(f.cacheHitRate) },
];

export default function PerformancePage() {
  return (
    <section>
      <header className="page-head">
        <h1>Performance</h1>
        <p className="muted">Since the instance started; statements by fingerprint (literals replaced by ?).</p>
      </header>
      <Fingerprints />
      <Slowest />
      <SuggestionsView />
      <Dashboards />
      <Cache />
      <Endpoints />
    </section>
  );
}

function Fingerprints() {
  const [sort, setSort] = useState<{ key: FingerprintKey; desc: boolean }>({ key: 'p95Ms', desc: true });
  // The server picks the top 100 by p95, total time or count: ask it again for those.
  const server: PerfSort = COLUMNS.find((c) => c.key === sort.key)?.server ?? 'p95';
  const [perf] = useAsync((signal) => queryPerformance(server, signal), [server]);
  const [open, setOpen] = useState<string | null>(null);
  const rows = useMemo(() => (perf.state === 'done' ? sortFingerprints(perf.value.fingerprints, sort.key, sort.desc) : []), [perf, sort]);
  const by = (key: FingerprintKey) => setSort((s) => ({ key, desc: s.key === key ? !s.desc : true }));
  if (perf.state === 'loading') return <p role="status">Loading query figures…</p>;
  if (perf.state === 'error')
    return (
      <p className="error" role="alert">
        {perf.error.message}
      </p>
    );
  const o = perf.value.overall;
  return (
    <>
      <p data-testid="perf-overall">
        {formatCount(o.count)} runs ({formatCount(o.executions)} reached a database, {formatCount(o.cacheHits)} from the cache, {formatCount(o.errors)} failed);
        p95 {formatMs(o.p95Ms)}, {formatBytes(o.bytes)} read. {formatCount(perf.value.fingerprintsTracked)} fingerprints tracked.
      </p>
      <h2>Queries by fingerprint</h2>
      {rows.length === 0 ? (
        <p>No query has run since the instance started.</p>
      ) : (
        <table className="list">
          <caption className="sr-only">Queries by fingerprint</caption>
          <thead>
            <tr>
              <th scope="col">Statement</th>
              <th scope="col">Source</th>
              {COLUMNS.map((c) => (
                <th key={c.key} scope="col" className="num" aria-sort={sort.key === c.key ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
                  <button type="button" className="sort" onClick={() => by(c.key)}>
                    {c.label}
                    {sort.key === c.key ? (sort.desc ? ' ▼' : ' ▲') : ''}
                  </button>
                </th>
              ))}
              <th scope="col">Users</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((f) => (
              <FingerprintRow key={f.id} f={f} open={open === f.id} toggle={() => setOpen(open === f.id ? null : f.id)} />
            ))}
          </tbody>
        </table>
      )}
      {perf.value.bySource.length > 0 && (
        <>
          <h2>By data source</h2>
          <table className="list">
            <caption className="sr-only">Query runs by data source</caption>
            <thead>
              <tr>
                <th scope="col">Source</th>
                {COLUMNS.map((c) => (
                  <th key={c.key} scope="col" className="num">
                    {c.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {perf.value.bySource.map((s) => (
                <tr key={s.dataSource}>
                  <th scope="row">{s.dataSource}</th>
                  {COLUMNS.map((c) => (
                    <td key={c.key} className="num">
                      {c.format(s)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

function FingerprintRow({ f, open, toggle }: { f: Fingerprint; open: boolean; toggle: () => void }) {
  return (
    <>
      <tr data-testid="fingerprint">
        <td className="wrap">
          <code>{f.fingerprint}</code>
        </td>
        <td>{f.dataSource}</td>
        {COLUMNS.map((c) => (
          <td key={c.key} className="num">
            {c.format(f)}
          </td>
        ))}
        <td>
          <button type="button" className="ghost" aria-expanded={open} onClick={toggle}>
            {f.users.length} <span className="sr-only">users of fingerprint {f.id}</span>
          </button>
        </td>
      </tr>
      {open && (
        <tr>
          <td colSpan={COLUMNS.length + 3}>
            <ul className="plain">
              {f.users.map((u) => (
                <li key={u.user}>
                  {u.user}: {formatCount(u.count)} runs, p95 {formatMs(u.p95Ms)}, last {formatTime(u.lastSeen)}
                </li>
              ))}
            </ul>
          </td>
        </tr>
      )}
    </>
  );
}

function Slowest() {
  const [runs] = useAsync((signal) => slowestRuns(signal), []);
  return (
    <>
      <h2>Slowest runs</h2>
      {runs.state === 'loading' && <p role="status">Loading slowest runs…</p>}
      {runs.state === 'error' && (
        <p className="error" role="alert">
          {runs.error.message}
        </p>
      )}
      {runs.state === 'done' && runs.value.length === 0 && <p>No run has reached a database yet.</p>}
      {runs.state === 'done' && runs.value.length > 0 && (
        <table className="list">
          <caption className="sr-only">Slowest runs, slowest first</caption>
          <thead>
            <tr>
              <th scope="col">Statement as run</th>
              <th scope="col" className="num">Duration</th>
              <th scope="col" className="num">Rows</th>
              <th scope="col">Who, where, when</th>
              <th scope="col">Policy</th>
            </tr>
          </thead>
          <tbody>
            {runs.value.map((r, i) => (
              <tr key={i} data-testid="slow-run">
                <td className="wrap">
                  <code>{r.statement}</code>
                  {r.failed && <span className="badge warn">failed</span>}
                </td>
                <td className="num">{formatMs(r.durationMs)}</td>
                <td className="num">{formatCount(r.rows)}</td>
                <td>
                  {r.user} on {r.dataSource}
                  <div className="muted">{formatTime(r.at)}</div>
                </td>
                <td>
                  {r.plan.rewritten && <span className="tag">row filter</span>}
                  {r.plan.maskedColumns.length > 0 && <span className="tag">masked: {r.plan.maskedColumns.join(', ')}</span>}
                  {!r.plan.rewritten && r.plan.maskedColumns.length === 0 && <span className="muted">none</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function SuggestionsView() {
  const [s] = useAsync((signal) => suggestions(signal), []);
  return (
    <>
      <h2>Optimization suggestions</h2>
      {s.state === 'loading' && <p role="status">Reading query plans…</p>}
      {s.state === 'error' && (
        <p className="error" role="alert">
          {s.error.message}
        </p>
      )}
      {s.state === 'done' && (
        <>
          <p className="muted" data-testid="suggestions-summary">
            {s.value.explained} fingerprints explained, {s.value.suggestions.length} suggestions
            {s.value.unexplained.length > 0 && `, ${s.value.unexplained.length} not explained`}. Plans are read with EXPLAIN on PostgreSQL and MySQL/MariaDB, EXPLAIN QUERY PLAN on SQLite.
          </p>
          {s.value.suggestions.map((x, i) => (
            <article key={i} className="card suggestion" data-testid="suggestion" data-kind={x.kind} aria-label={`${SUGGESTION_KINDS[x.kind]}: ${x.title}`}>
              <h3>
                <span className="badge">{SUGGESTION_KINDS[x.kind]}</span> {x.title} <span className="muted">in {x.dataSource}</span>
              </h3>
              {x.sql && (
                <pre>
                  <code>{x.sql}</code>
                </pre>
              )}
              <dl className="details">
                {evidenceLines(x).map(([label, value]) => (
                  <Fragment key={label}>
                    <dt>{label}</dt>
                    <dd>{label === 'Statement' || label === 'Plan' ? <code>{value}</code> : value}</dd>
                  </Fragment>
                ))}
              </dl>
            </article>
          ))}
          {s.value.unexplained.length > 0 && (
            <details>
              <summary>Not explained ({s.value.unexplained.length})</summary>
              <ul className="plain">
                {s.value.unexplained.map((u) => (
                  <li key={u.fingerprintId}>
                    <code>{u.fingerprintId}</code> on {u.dataSource}: {u.reason}
                  </li>
                ))}
              </ul>
            </details>
          )}
        </>
      )}
    </>
  );
}

function Dashboards() {
  const [d] = useAsync((signal) => dashboardPerformance(signal), []);
  return (
    <>
      <h2>Dashboard loads</h2>
      {d.state === 'loading' && <p role="status">Loading dashboard figures…</p>}
      {d.state === 'error' && (
        <p className="error" role="alert">
          {d.error.message}
        </p>
      )}
      {d.state === 'done' && d.value.length === 0 && <p>No dashboard has been loaded since the instance started.</p>}
      {d.state === 'done' && d.value.length > 0 && (
        <table className="list">
          <caption className="sr-only">Dashboard load times</caption>
          <thead>
            <tr>
              <th scope="col">Dashboard</th>
              <th scope="col" className="num">Loads</th>
              <th scope="col" className="num">p50</th>
              <th scope="col" className="num">p95</th>
              <th scope="col" className="num">All from cache</th>
              <th scope="col">Slowest widget</th>
            </tr>
          </thead>
          <tbody>
            {d.value.map((x) => {
              const w = x.widgets.find((y) => y.id === x.slowestWidget);
              return (
                <tr key={x.name} data-testid="dashboard-perf">
                  <th scope="row">{x.name}</th>
                  <td className="num">{formatCount(x.loads.count)}</td>
                  <td className="num">{formatMs(x.loads.p50Ms)}</td>
                  <td className="num">{formatMs(x.loads.p95Ms)}</td>
                  <td className="num">{formatCount(x.loads.cacheHits)}</td>
                  <td>{x.slowestWidget ? `${x.slowestWidget}${w ? ` (p95 ${formatMs(w.p95Ms)})` : ''}` : '–'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </>
  );
}

function Cache() {
  const [c] = useAsync((signal) => cachePerformance(signal), []);
  if (c.state === 'loading') return <p role="status">Loading cache figures…</p>;
  if (c.state === 'error')
    return (
      <p className="error" role="alert">
        {c.error.message}
      </p>
    );
  const v = c.value;
  return (
    <>
      <h2>Result cache</h2>
      <p data-testid="cache-perf">
        {formatCount(v.usage.entries)} entries holding {formatCount(v.usage.cells)} of {formatCount(v.usage.maxCells)} cells; hit rate {formatRatio(v.overall.cacheHitRate)}
        {v.bySource.length > 0 && ` (${v.bySource.map((s) => `${s.dataSource} ${formatRatio(s.cacheHitRate)}`).join(', ')})`}.
      </p>
    </>
  );
}

function Endpoints() {
  const [win, setWin] = useState<WindowName>('1h');
  const [e] = useAsync((signal) => endpointPerformance(win, signal), [win]);
  return (
    <>
      <div className="page-head">
        <h2>Endpoints</h2>
        <label className="inline">
          Endpoint window{' '}
          <select value={win} onChange={(ev) => setWin(ev.target.value as WindowName)}>
            {WINDOWS.map((w) => (
              <option key={w}>{w}</option>
            ))}
          </select>
        </label>
      </div>
      {e.state === 'loading' && <p role="status">Loading endpoint figures…</p>}
      {e.state === 'error' && (
        <p className="error" role="alert">
          {e.error.message}
        </p>
      )}
      {e.state === 'done' && (
        <table className="list">
          <caption className="sr-only">Requests per route over {win}, busiest first</caption>
          <thead>
            <tr>
              <th scope="col">Route</th>
              <th scope="col" className="num">Requests</th>
              <th scope="col" className="num">4xx / 5xx</th>
              <th scope="col" className="num">Mean</th>
              <th scope="col" className="num">p95</th>
              <th scope="col" className="num">Max</th>
            </tr>
          </thead>
          <tbody>
            {e.value.slice(0, 20).map((x) => (
              <tr key={x.route} data-testid="endpoint-perf">
                <th scope="row">
                  <code>{x.route}</code>
                </th>
                <td className="num">{formatCount(x.count)}</td>
                <td className="num">
                  {formatCount(x.clientErrors)} / {formatCount(x.errors)}
                </td>
                <td className="num">{formatMs(x.meanMs)}</td>
                <td className="num">{formatMs(x.p95Ms)}</td>
                <td className="num">{formatMs(x.maxMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
