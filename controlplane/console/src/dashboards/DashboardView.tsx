import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import type { DashboardRecord, Variable, WidgetData } from '../api/types';
import { Link } from '../app/Link';
import { navigate, useLocation } from '../app/router';
import { useFeature } from '../app/features';
import { useAsync } from '../app/useAsync';
import type { Session } from '../auth/session';
import { ShareButton } from '../sharing/ShareButton';
import { getDashboard, streamDashboardData } from './api';
import { gridColumns, place } from './layout';
import { WidgetCard } from './WidgetCard';

export function DashboardView({ name, canEdit = false, session }: { name: string; canEdit?: boolean; session?: Session }) {
  const [loaded] = useAsync((signal) => getDashboard(name, signal), [name]);
  if (loaded.state === 'loading') return <p role="status">Loading dashboard…</p>;
  if (loaded.state === 'error')
    return (
      <section>
        <h1>Dashboard {name}</h1>
        <p className="error" role="alert">
          {loaded.error.message}
        </p>
        <Link href="/dashboards">All dashboards</Link>
      </section>
    );
  return <Loaded dashboard={loaded.value} canEdit={canEdit} session={session} />;
}

/** Variable values: from the URL, else the default (the server applies the same rule). */
function valuesOf(vars: Variable[], search: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of vars) {
    const val = search.get(v.name) ?? v.default;
    if (val !== undefined && val !== null) out[v.name] = val;
  }
  return out;
}

function Loaded({ dashboard, canEdit, session }: { dashboard: DashboardRecord; canEdit: boolean; session?: Session }) {
  // Share links need the editor role and the sharing feature.
  const sharing = useFeature('sharing', session?.token ?? '') && canEdit && !!session;
  const spec = dashboard.spec;
  const widgets = useMemo(() => spec.widgets ?? [], [spec.widgets]);
  const variables = useMemo(() => spec.variables ?? [], [spec.variables]);
  const { search } = useLocation();
  const values = valuesOf(variables, search);
  const key = JSON.stringify(values);
  const [data, setData] = useState<Record<string, WidgetData>>({});
  const [failure, setFailure] = useState<string | null>(null);
  const [round, setRound] = useState({ n: 0, refresh: false });
  const painted = useRef(new Set<string>());
  const grid = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const ctl = new AbortController();
    setData({});
    setFailure(null);
    painted.current = new Set();
    performance.mark('nexbii:dashboard-load');
    streamDashboardData(
      dashboard.name,
      JSON.parse(key) as Record<string, string>,
      (w) => setData((d) => ({ ...d, [w.id]: w })),
      ctl.signal,
      round.refresh,
    ).catch((e: Error) => {
      if (!ctl.signal.aborted) setFailure(e.message);
    });
    return () => ctl.abort();
  }, [dashboard.name, key, round]);

  // Auto-refresh for viewers, as the dashboard asks.
  useEffect(() => {
    const s = spec.refreshIntervalSeconds;
    if (!s) return;
    const t = setInterval(() => setRound((r) => ({ n: r.n + 1, refresh: false })), s * 1000);
    return () => clearInterval(t);
  }, [spec.refreshIntervalSeconds]);

  const onPainted = useCallback(
    (id: string) => {
      painted.current.add(id);
      if (painted.current.size === widgets.length && grid.current?.dataset.painted !== 'true') {
        performance.mark('nexbii:dashboard-painted');
        if (grid.current) grid.current.dataset.painted = 'true';
      }
    },
    [widgets.length],
  );
  useEffect(() => {
    if (grid.current) grid.current.dataset.painted = 'false';
  }, [key, round]);

  const setVariable = (name: string, value: string) => {
    const q = new URLSearchParams(search);
    q.set(name, value);
    navigate(`/dashboards/${encodeURIComponent(dashboard.name)}?${q}`, true);
  };

  return (
    <section className="dashboard">
      <header className="page-head">
        <div>
          <h1>{spec.title}</h1>
          {spec.description && <p className="muted">{spec.description}</p>}
          {dashboard.origin !== 'api' && (
            <p className="note">
              Provisioned from {dashboard.origin === 'operator' ? 'a Kubernetes Dashboard resource' : 'a manifest file'}: read-only here,
              change it where it is declared.
            </p>
          )}
          {dashboard.approval?.state === 'Pending' && (
            <p className="note" role="status">
              Publishing this dashboard waits for approval (request {dashboard.approval.id}).
            </p>
          )}
        </div>
        <div className="actions">
          {canEdit && dashboard.origin === 'api' && (
            <Link href={`/dashboards/${encodeURIComponent(dashboard.name)}/edit`} className="button-link">
              Edit
            </Link>
          )}
          <button type="button" onClick={() => setRound((r) => ({ n: r.n + 1, refresh: true }))}>
            Refresh
          </button>
          <button type="button" onClick={() => grid.current?.requestFullscreen?.()}>
            Full screen
          </button>
        </div>
      </header>
      {sharing && (
        <div className="share-bar">
          <ShareButton resource={`dashboard/${dashboard.name}`} title={`the dashboard ${spec.title}`} variables={variables} values={values} />
        </div>
      )}
      {variables.length > 0 && (
        <form className="variables" aria-label="Filters" onSubmit={(e) => e.preventDefault()}>
          {variables.map((v) => (
            <VariableControl key={v.name} variable={v} value={values[v.name] ?? ''} onChange={(val) => setVariable(v.name, val)} />
          ))}
        </form>
      )}
      {failure && (
        <p className="error" role="alert">
          {failure}
        </p>
      )}
      {widgets.length === 0 && <p>This dashboard has no widgets.</p>}
      <div
        ref={grid}
        className="grid"
        data-testid="dashboard-grid"
        style={{ gridTemplateColumns: `repeat(${gridColumns(widgets)}, minmax(0, 1fr))` }}
      >
        {place(widgets).map((p) => (
          <div key={p.widget.id} className="cell" style={{ gridColumn: p.column, gridRow: p.row }}>
            <WidgetCard widget={p.widget} data={data[p.widget.id]} onPainted={onPainted} />
          </div>
        ))}
      </div>
    </section>
  );
}

function VariableControl({ variable, value, onChange }: { variable: Variable; value: string; onChange: (v: string) => void }) {
  const id = `var-${variable.name}`;
  const label = variable.label ?? variable.name;
  if (variable.options && variable.options.length > 0) {
    return (
      <div className="field">
        <label htmlFor={id}>{label}</label>
        <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
          {variable.options.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      </div>
    );
  }
  return <FreeVariable id={id} label={label} value={value} onChange={onChange} />;
}

/** A free-text variable applies on Enter or when leaving the field, not on every keystroke. */
function FreeVariable({ id, label, value, onChange }: { id: string; label: string; value: string; onChange: (v: string) => void }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  const apply = (e?: FormEvent) => {
    e?.preventDefault();
    if (text !== value) onChange(text);
  };
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} value={text} onChange={(e) => setText(e.target.value)} onBlur={() => apply()} onKeyDown={(e) => e.key === 'Enter' && apply(e)} />
    </div>
  );
}
