// The embedded dashboard (`/embed/<tenant>?token=…`): the dashboard alone, no shell, in the
// tenant's branding, read with the embed token the host application minted. The server lets
// only the tenant's allowed origins frame it.
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { WidgetData } from '../api/types';
import { BrandMark } from '../branding/Logo';
import { useBranding } from '../branding/useBranding';
import { gridColumns, place } from '../dashboards/layout';
import { WidgetCard } from '../dashboards/WidgetCard';
import { setTheme } from '../app/theme';
import { embedTheme, loadData, loadView, takeToken, unlockedValues, type EmbedView } from './embed';

// Read once and taken out of the address, so it stays out of the history and of reloads'
// referrers; the page keeps it in memory for its requests.
let taken: string | null | undefined;
function embedToken(): string | null {
  if (taken === undefined) {
    const t = takeToken(location.href);
    taken = t.token;
    if (t.token) history.replaceState(null, '', t.rest);
  }
  return taken;
}

// The host's theme (`?theme=`), applied when this page's code loads, before its first paint.
const requested = embedTheme(location.search);
if (requested) setTheme(requested, false);

/** Like the login page, the embed page wears the tenant's branding: colours, font, favicon and
 * title (`useBranding`), the logo for the theme, the name where there is no logo. */
export function EmbedPage({ tenant }: { tenant: string }) {
  const branding = useBranding(tenant);
  const token = embedToken();
  const [view, setView] = useState<EmbedView | null>(null);
  const [failure, setFailure] = useState<string | null>(token ? null : 'This page needs an embed token (?token=…).');

  useEffect(() => {
    if (!token) return;
    const ctl = new AbortController();
    loadView(tenant, token, ctl.signal).then(setView, (e: Error) => {
      if (!ctl.signal.aborted) setFailure(e.message);
    });
    return () => ctl.abort();
  }, [tenant, token]);

  return (
    <main className="embed" data-testid="embed">
      <header className="page-head">
        <BrandMark branding={branding} showName={false} />
        {view && <h1>{view.title}</h1>}
      </header>
      {failure && (
        <p className="error" role="alert">
          {failure}
        </p>
      )}
      {!failure && !view && <p role="status">Loading dashboard…</p>}
      {view && token && <EmbeddedDashboard tenant={tenant} token={token} view={view} />}
    </main>
  );
}

function EmbeddedDashboard({ tenant, token, view }: { tenant: string; token: string; view: EmbedView }) {
  const [chosen, setChosen] = useState<Record<string, string>>({});
  const values = unlockedValues(view.variables, chosen);
  const key = JSON.stringify(values);
  const [data, setData] = useState<Record<string, WidgetData>>({});
  const [failure, setFailure] = useState<string | null>(null);
  const widgets = useMemo(() => view.widgets, [view.widgets]);

  useEffect(() => {
    const ctl = new AbortController();
    setData({});
    setFailure(null);
    loadData(tenant, token, JSON.parse(key) as Record<string, string>, ctl.signal).then(
      (d) => setData(Object.fromEntries(d.widgets.map((w) => [w.id, w]))),
      (e: Error) => {
        if (!ctl.signal.aborted) setFailure(e.message);
      },
    );
    return () => ctl.abort();
  }, [tenant, token, key]);
  const onPainted = useCallback(() => {}, []);

  return (
    <section className="dashboard">
      {view.description && <p className="muted">{view.description}</p>}
      {view.variables.length > 0 && (
        <form className="variables" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
          {view.variables.map((v) => {
            const id = `var-${v.name}`;
            const value = v.locked ? (v.default ?? '') : (values[v.name] ?? '');
            return (
              <div className="field" key={v.name}>
                <label htmlFor={id}>{v.name}</label>
                {v.locked || v.options.length === 0 ? (
                  <input id={id} value={value} readOnly={v.locked} onChange={(e) => setChosen((c) => ({ ...c, [v.name]: e.target.value }))} />
                ) : (
                  <select id={id} value={value} onChange={(e) => setChosen((c) => ({ ...c, [v.name]: e.target.value }))}>
                    {v.options.map((o) => (
                      <option key={o} value={o}>
                        {o}
                      </option>
                    ))}
                  </select>
                )}
              </div>
            );
          })}
        </form>
      )}
      {failure && (
        <p className="error" role="alert">
          {failure}
        </p>
      )}
      <div className="grid" data-testid="dashboard-grid" style={{ gridTemplateColumns: `repeat(${gridColumns(widgets)}, minmax(0, 1fr))` }}>
        {place(widgets).map((p) => (
          <div key={p.widget.id} className="cell" style={{ gridColumn: p.column, gridRow: p.row }}>
            <WidgetCard widget={p.widget} data={data[p.widget.id]} onPainted={onPainted} />
          </div>
        ))}
      </div>
    </section>
  );
}
