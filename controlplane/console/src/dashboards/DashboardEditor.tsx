import { useMemo, useRef, useState, type FormEvent, type KeyboardEvent, type PointerEvent } from 'react';
import type { ChartType, DashboardRecord, DataSourceView, Widget, WidgetData } from '../api/types';
import { problemFields } from '../app/errors';
import { Link } from '../app/Link';
import { navigate } from '../app/router';
import { useAsync } from '../app/useAsync';
import type { Session } from '../auth/session';
import { listDataSources } from '../datasources/api';
import { getSchema, runQuery } from '../sql/api';
import { completionSchema, dialectOf } from '../sql/completion';
import { SqlEditor } from '../sql/SqlEditor';
import { getDashboard, saveDashboard } from './api';
import { boxOf, cellsFor, COLS, emptyForm, formOf, keyed, newWidget, setBox, toInput, type Box, type EditorForm } from './editor';
import { WidgetCard } from './WidgetCard';

const CHARTS: ChartType[] = ['bar', 'line', 'area', 'pie', 'scatter', 'table', 'number', 'heatmap'];
const VARIANTS = ['', 'stacked', 'horizontal', 'donut', 'funnel', 'gauge'];

/** `/dashboards/new` and `/dashboards/:name/edit`. */
export default function DashboardEditor({ name, session }: { name: string | null; session: Session }) {
  const [loaded] = useAsync(async (signal) => (name ? getDashboard(name, signal) : null), [name]);
  const [sources] = useAsync((signal) => listDataSources(signal), []);
  if (session.role === 'viewer')
    return (
      <section>
        <h1>Dashboard editor</h1>
        <p role="alert">Editing dashboards needs the editor role.</p>
      </section>
    );
  if (loaded.state === 'loading' || sources.state === 'loading') return <p role="status">Loading the editor…</p>;
  if (loaded.state === 'error' || sources.state === 'error')
    return (
      <p className="error" role="alert">
        {loaded.state === 'error' ? loaded.error.message : sources.state === 'error' ? sources.error.message : ''}
      </p>
    );
  const rec = loaded.value;
  if (rec && rec.origin !== 'api')
    return (
      <section>
        <h1>{rec.spec.title}</h1>
        <p className="note" role="alert">
          Provisioned from {rec.origin === 'operator' ? 'a Kubernetes Dashboard resource' : 'a manifest file'}: read-only here, change it where it is declared.
        </p>
        <Link href={`/dashboards/${encodeURIComponent(rec.name)}`}>Back to the dashboard</Link>
      </section>
    );
  return <Editor record={rec} sources={sources.value} />;
}

function Editor({ record, sources }: { record: DashboardRecord | null; sources: DataSourceView[] }) {
  const [form, setForm] = useState<EditorForm>(() => (record ? formOf(record) : emptyForm()));
  const [selected, setSelected] = useState<string | null>(form.widgets[0]?.id ?? null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [saving, setSaving] = useState(false);
  const set = (k: keyof EditorForm) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const setWidgets = (f: (ws: Widget[]) => Widget[]) => setForm((fm) => ({ ...fm, widgets: f(fm.widgets) }));
  const widget = form.widgets.find((w) => w.id === selected) ?? null;
  const add = () => {
    const w = newWidget(form.widgets, sources[0]?.name ?? '');
    setWidgets((ws) => [...ws, w]);
    setSelected(w.id);
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMessage(null);
    const r = toInput(form, !record, record?.spec);
    if ('errors' in r) {
      setErrors(r.errors);
      const first = Object.keys(r.errors).find((k) => k.startsWith('widgets.'));
      if (first) setSelected(first.split('.')[1]);
      return setMessage({ ok: false, text: 'Some fields need attention.' });
    }
    setErrors({});
    setSaving(true);
    try {
      const saved = await saveDashboard(r.input as { name?: string; spec: Record<string, unknown> }, record ? { name: record.name, revision: record.revision } : undefined);
      navigate(`/dashboards/${encodeURIComponent(saved.name)}${saved.approval?.state === 'Pending' ? '?held=1' : ''}`);
    } catch (err) {
      const { fields, message } = problemFields(err, ['name', 'spec.title', 'spec.refreshIntervalSeconds']);
      setErrors({ name: fields.name, title: fields['spec.title'], refresh: fields['spec.refreshIntervalSeconds'] });
      setMessage({ ok: false, text: message ?? 'Some fields need attention.' });
      setSaving(false);
    }
  };
  const field = (k: 'name' | 'title' | 'folder' | 'tags' | 'description' | 'refresh', label: string, extra: Record<string, unknown> = {}) => (
    <label>
      {label}
      <input value={form[k]} onChange={set(k)} aria-invalid={!!errors[k]} aria-describedby={errors[k] ? `dash-err-${k}` : undefined} {...extra} />
      {errors[k] && (
        <span id={`dash-err-${k}`} className="error">
          {errors[k]}
        </span>
      )}
    </label>
  );
  return (
    <form className="dashboard-editor" onSubmit={submit} aria-label="Dashboard editor">
      <header className="page-head">
        <h1>{record ? `Edit ${record.spec.title}` : 'New dashboard'}</h1>
        <div className="actions">
          <button type="submit" disabled={saving}>
            {saving ? 'Saving…' : 'Save dashboard'}
          </button>
          <Link href={record ? `/dashboards/${encodeURIComponent(record.name)}` : '/dashboards'}>Cancel</Link>
        </div>
      </header>
      {message && (
        <p role={message.ok ? 'status' : 'alert'} className={message.ok ? 'ok' : 'error'}>
          {message.text}
        </p>
      )}
      <div className="form-grid">
        {!record && field('name', 'Name (in the address)', { placeholder: 'e.g. weekly-sales' })}
        {field('title', 'Title')}
        {field('folder', 'Folder')}
        {field('tags', 'Tags', { placeholder: 'comma-separated' })}
        {field('refresh', 'Auto-refresh (seconds)', { inputMode: 'numeric' })}
        {field('description', 'Description')}
      </div>
      <div className="page-head">
        <h2>Layout</h2>
        <button type="button" onClick={add} disabled={sources.length === 0}>
          Add widget
        </button>
      </div>
      <p className="muted">Drag a widget to move it, its corner to resize it; or select it and use the arrow keys (Shift + arrows resize).</p>
      <LayoutGrid widgets={form.widgets} selected={selected} select={setSelected} setBox={(id, b) => setWidgets((ws) => setBox(ws, id, b))} errors={errors} />
      {widget && (
        <WidgetForm
          key={widget.id}
          widget={widget}
          sources={sources}
          errors={errors}
          change={(w) => setWidgets((ws) => ws.map((x) => (x.id === w.id ? w : x)))}
          remove={() => {
            setWidgets((ws) => ws.filter((x) => x.id !== widget.id));
            setSelected(null);
          }}
        />
      )}
    </form>
  );
}

function LayoutGrid({
  widgets,
  selected,
  select,
  setBox: put,
  errors,
}: {
  widgets: Widget[];
  selected: string | null;
  select: (id: string) => void;
  setBox: (id: string, b: Box) => void;
  errors: Record<string, string>;
}) {
  const grid = useRef<HTMLDivElement>(null);
  const drag = useRef<{ id: string; mode: 'move' | 'resize'; x: number; y: number; start: Box } | null>(null);
  const down = (id: string, mode: 'move' | 'resize') => (e: PointerEvent<HTMLElement>) => {
    e.preventDefault();
    e.stopPropagation();
    (e.currentTarget as HTMLElement).setPointerCapture?.(e.pointerId);
    select(id);
    drag.current = { id, mode, x: e.clientX, y: e.clientY, start: boxOf(widgets.find((w) => w.id === id)!) };
  };
  const move = (e: PointerEvent<HTMLElement>) => {
    const d = drag.current;
    if (!d || !grid.current) return;
    const c = cellsFor(e.clientX - d.x, e.clientY - d.y, grid.current.clientWidth);
    put(d.id, d.mode === 'move' ? { ...d.start, x: d.start.x + c.dx, y: d.start.y + c.dy } : { ...d.start, w: d.start.w + c.dx, h: d.start.h + c.dy });
  };
  const up = () => {
    drag.current = null;
  };
  const key = (w: Widget) => (e: KeyboardEvent<HTMLElement>) => {
    const b = keyed(boxOf(w), e.key, e.shiftKey);
    if (!b) return;
    e.preventDefault();
    put(w.id, b);
  };
  return (
    <div className="layout-grid" ref={grid} data-testid="layout-grid" style={{ gridTemplateColumns: `repeat(${COLS}, minmax(0, 1fr))` }}>
      {widgets.map((w) => {
        const b = boxOf(w);
        const bad = Object.keys(errors).some((k) => k.startsWith(`widgets.${w.id}.`));
        return (
          <div
            key={w.id}
            role="button"
            tabIndex={0}
            aria-pressed={selected === w.id}
            aria-label={`Widget ${w.title || w.id}: ${w.chart}, columns ${b.x + 1}–${b.x + b.w}, rows ${b.y + 1}–${b.y + b.h}`}
            className={`layout-box${selected === w.id ? ' selected' : ''}${bad ? ' invalid' : ''}`}
            data-box={w.id}
            data-pos={`${b.x},${b.y},${b.w},${b.h}`}
            style={{ gridColumn: `${b.x + 1} / span ${b.w}`, gridRow: `${b.y + 1} / span ${b.h}` }}
            onPointerDown={down(w.id, 'move')}
            onPointerMove={move}
            onPointerUp={up}
            onKeyDown={key(w)}
            onClick={() => select(w.id)}
          >
            <strong>{w.title || w.id}</strong> <span className="muted">{w.chart}</span>
            <span className="resize" aria-hidden="true" data-resize={w.id} onPointerDown={down(w.id, 'resize')} onPointerMove={move} onPointerUp={up} />
          </div>
        );
      })}
    </div>
  );
}

function WidgetForm({
  widget: w,
  sources,
  errors,
  change,
  remove,
}: {
  widget: Widget;
  sources: DataSourceView[];
  errors: Record<string, string>;
  change: (w: Widget) => void;
  remove: () => void;
}) {
  const opts = (w.options ?? {}) as Record<string, unknown>;
  const setOpt = (k: string, v: string) => {
    const o = { ...opts };
    if (v) o[k] = v;
    else delete o[k];
    change({ ...w, options: o });
  };
  const type = sources.find((s) => s.name === w.query.dataSource)?.spec.type;
  const [schema] = useAsync((signal) => (w.query.dataSource ? getSchema(w.query.dataSource, signal) : Promise.resolve({ tables: [] })), [w.query.dataSource]);
  const completion = useMemo(() => (schema.state === 'done' ? completionSchema(schema.value) : {}), [schema]);
  const [preview, setPreview] = useState<WidgetData | null>(null);
  const [running, setRunning] = useState(false);
  const err = (k: string) => errors[`widgets.${w.id}.${k}`];
  const run = async () => {
    if (!w.query.dataSource || !w.query.sql.trim()) return;
    setRunning(true);
    try {
      const o = await runQuery(w.query.dataSource, w.query.sql);
      setPreview(o.kind === 'result' ? { id: w.id, result: o.result } : { id: w.id, error: { title: 'Held for approval', detail: `request ${o.approval.id}` } });
    } catch (e) {
      setPreview({ id: w.id, error: { title: 'The query failed', detail: (e as Error).message } });
    } finally {
      setRunning(false);
    }
  };
  return (
    <section className="card widget-form" aria-label={`Widget ${w.title || w.id}`}>
      <div className="page-head">
        <h2>Widget {w.title || w.id}</h2>
        <button type="button" className="danger" onClick={remove}>
          Remove widget
        </button>
      </div>
      <div className="form-grid">
        <label>
          Widget title
          <input value={w.title ?? ''} onChange={(e) => change({ ...w, title: e.target.value })} />
        </label>
        <label>
          Chart
          <select value={w.chart} onChange={(e) => change({ ...w, chart: e.target.value as ChartType })}>
            {CHARTS.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Widget data source
          <select value={w.query.dataSource} onChange={(e) => change({ ...w, query: { ...w.query, dataSource: e.target.value } })} aria-invalid={!!err('dataSource')}>
            <option value="">choose…</option>
            {sources.map((s) => (
              <option key={s.name} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
          {err('dataSource') && <span className="error">{err('dataSource')}</span>}
        </label>
        <label>
          X column (option x)
          <input value={String(opts.x ?? '')} onChange={(e) => setOpt('x', e.target.value)} placeholder="first suitable" />
        </label>
        <label>
          Y column (option y)
          <input value={String(opts.y ?? '')} onChange={(e) => setOpt('y', e.target.value)} placeholder="numeric columns" />
        </label>
        <label>
          Variant
          <select value={String(opts.variant ?? '')} onChange={(e) => setOpt('variant', e.target.value)}>
            {VARIANTS.map((v) => (
              <option key={v} value={v}>
                {v || 'plain'}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div className="field">
        <span id={`sql-${w.id}`}>SQL</span>
        <SqlEditor initial={w.query.sql} dialect={dialectOf(type)} schema={completion} onRun={run} onChange={(sql) => change({ ...w, query: { ...w.query, sql } })} />
        {err('sql') && <span className="error">{err('sql')}</span>}
      </div>
      <div className="toolbar">
        <button type="button" onClick={run} disabled={running || !w.query.sql.trim() || !w.query.dataSource}>
          {running ? 'Running…' : 'Preview'}
        </button>
        <span className="muted">Ctrl/⌘+Enter in the editor previews too.</span>
      </div>
      {preview && (
        <div className="preview" data-testid="widget-preview">
          <WidgetCard widget={w} data={preview} onPainted={() => {}} />
        </div>
      )}
    </section>
  );
}
