import { useCallback, useEffect, useMemo, useState, type FormEvent } from 'react';
import { ApiError } from '../api/client';
import type { Widget, WidgetData } from '../api/types';
import { ThemeToggle } from '../app/ThemeToggle';
import { BrandMark } from '../branding/Logo';
import { useBranding } from '../branding/useBranding';
import { gridColumns, place } from '../dashboards/layout';
import { TableWidget } from '../dashboards/TableWidget';
import { WidgetCard } from '../dashboards/WidgetCard';
import { openShared, sharedDashboardData, sharedQueryResult, type SharedView } from './api';
import { sharedValues, tenantOfToken } from './logic';

type Opened = { state: 'loading' } | { state: 'password'; wrong: boolean } | { state: 'error'; message: string } | { state: 'done'; view: SharedView };

/** What a share link opens, for people without an account: no login, no shell; the tenant's
 * branding; a password prompt when the link has one. */
export default function SharedPage({ token }: { token: string }) {
  const branding = useBranding(tenantOfToken(token));
  const [password, setPassword] = useState<string | null>(null);
  const [opened, setOpened] = useState<Opened>({ state: 'loading' });
  useEffect(() => {
    const ctl = new AbortController();
    setOpened({ state: 'loading' });
    openShared(token, password, ctl.signal).then(
      (view) => setOpened({ state: 'done', view }),
      (e: Error) => {
        if (ctl.signal.aborted) return;
        if (e instanceof ApiError && e.status === 401) setOpened({ state: 'password', wrong: password !== null });
        else setOpened({ state: 'error', message: failure(e) });
      },
    );
    return () => ctl.abort();
  }, [token, password]);
  return (
    <div className="shared-page">
      <header className="topbar">
        <BrandMark branding={branding} />
        <div className="topbar-end">
          <ThemeToggle />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {opened.state === 'loading' && <p role="status">Opening the shared link…</p>}
        {opened.state === 'error' && (
          <section>
            <h1>This link cannot be opened</h1>
            <p className="error" role="alert" data-testid="shared-error">
              {opened.message}
            </p>
          </section>
        )}
        {opened.state === 'password' && <PasswordPrompt wrong={opened.wrong} onSubmit={setPassword} />}
        {opened.state === 'done' && opened.view.kind === 'dashboard' && <SharedDashboard token={token} password={password} view={opened.view} />}
        {opened.state === 'done' && opened.view.kind === 'query' && <SharedQuery token={token} password={password} view={opened.view} />}
      </main>
    </div>
  );
}

/** Why a link does not open, in words for its viewer. */
function failure(e: Error): string {
  if (!(e instanceof ApiError)) return e.message;
  if (e.status === 404) return 'This link does not exist, or it was revoked.';
  if (e.status === 410) return 'This link has expired.';
  if (e.status === 403) return 'Sharing is turned off for this link.';
  return e.message;
}

function PasswordPrompt({ wrong, onSubmit }: { wrong: boolean; onSubmit: (p: string) => void }) {
  const [text, setText] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSubmit(text);
  };
  return (
    <form className="card login-card" onSubmit={submit} aria-labelledby="shared-password-title">
      <h1 id="shared-password-title">This link is protected</h1>
      <label>
        Link password
        <input type="password" value={text} onChange={(e) => setText(e.target.value)} required autoFocus autoComplete="off" aria-invalid={wrong} aria-describedby="shared-password-err" />
      </label>
      {wrong && (
        <p id="shared-password-err" className="error" role="alert">
          That is not the link’s password.
        </p>
      )}
      <button type="submit">Open</button>
    </form>
  );
}

function SharedDashboard({ token, password, view }: { token: string; password: string | null; view: Extract<SharedView, { kind: 'dashboard' }> }) {
  const [chosen, setChosen] = useState<Record<string, string>>({});
  const values = sharedValues(view.variables, chosen);
  const key = JSON.stringify(values);
  const [data, setData] = useState<Record<string, WidgetData>>({});
  const [error, setError] = useState<string | null>(null);
  // The statements are not shared: the widgets carry only what drawing them needs.
  const widgets = useMemo<Widget[]>(() => view.widgets.map((w) => ({ ...w, chart: w.chart as Widget['chart'], query: { dataSource: '', sql: '' } })), [view.widgets]);
  useEffect(() => {
    const ctl = new AbortController();
    setData({});
    setError(null);
    sharedDashboardData(token, password, JSON.parse(key) as Record<string, string>, ctl.signal).then(
      (d) => setData(Object.fromEntries(d.widgets.map((w) => [w.id, w]))),
      (e: Error) => !ctl.signal.aborted && setError(failure(e)),
    );
    return () => ctl.abort();
  }, [token, password, key]);
  const onPainted = useCallback(() => {}, []);
  return (
    <section className="dashboard">
      <header className="page-head">
        <div>
          <h1>{view.title}</h1>
          {view.description && <p className="muted">{view.description}</p>}
        </div>
        {view.expiresAt && <span className="muted">Link valid until {new Date(view.expiresAt).toLocaleString()}</span>}
      </header>
      {view.variables.length > 0 && (
        <form className="variables" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
          {view.variables.map((v) => {
            const id = `var-${v.name}`;
            const value = values[v.name] ?? '';
            return (
              <div className="field" key={v.name}>
                <label htmlFor={id}>
                  {v.name}
                  {v.locked && <span className="muted"> (locked)</span>}
                </label>
                {v.options.length > 0 ? (
                  <select id={id} value={value} disabled={v.locked} onChange={(e) => setChosen({ ...chosen, [v.name]: e.target.value })}>
                    {v.options.map((o) => (
                      <option key={o} value={o}>
                        {o}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input id={id} value={value} readOnly={v.locked} onChange={(e) => setChosen({ ...chosen, [v.name]: e.target.value })} />
                )}
              </div>
            );
          })}
        </form>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="grid" data-testid="shared-grid" style={{ gridTemplateColumns: `repeat(${gridColumns(widgets)}, minmax(0, 1fr))` }}>
        {place(widgets).map((p) => (
          <div key={p.widget.id} className="cell" style={{ gridColumn: p.column, gridRow: p.row }}>
            <WidgetCard widget={p.widget} data={data[p.widget.id]} onPainted={onPainted} />
          </div>
        ))}
      </div>
    </section>
  );
}

function SharedQuery({ token, password, view }: { token: string; password: string | null; view: Extract<SharedView, { kind: 'query' }> }) {
  const [result, setResult] = useState<Awaited<ReturnType<typeof sharedQueryResult>> | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    sharedQueryResult(token, password, ctl.signal).then(setResult, (e: Error) => !ctl.signal.aborted && setError(failure(e)));
    return () => ctl.abort();
  }, [token, password]);
  return (
    <section>
      <header className="page-head">
        <div>
          <h1>{view.name}</h1>
          {view.description && <p className="muted">{view.description}</p>}
        </div>
      </header>
      {!result && !error && <p role="status">Running the query…</p>}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {result && (
        <>
          <p className="result-meta" data-testid="shared-result-meta">
            {result.rowCount} {result.rowCount === 1 ? 'row' : 'rows'}
            {result.truncated ? ' (truncated)' : ''}
          </p>
          <TableWidget result={result} caption={view.name} pageSize={50} />
        </>
      )}
    </section>
  );
}
