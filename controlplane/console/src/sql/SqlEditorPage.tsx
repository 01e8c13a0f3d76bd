import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { listAll } from '../api/client';
import type { DataSourceView } from '../api/types';
import { useFeature, useFeatureState } from '../app/features';
import { useAsync, type Async } from '../app/useAsync';
import { ShareButton } from '../sharing/ShareButton';
import type { Session } from '../auth/session';
import type { SchemaInfo } from '../api/types';
import { formatTime } from '../app/format';
import { exportResult, getSchema, runQuery, saveQuery, type ExportFormat, type RunOutcome } from './api';
import { completionSchema, dialectOf } from './completion';
import { addToHistory, historyKey, loadHistory, saveHistory, type HistoryEntry } from './history';
import { ResultView } from './ResultView';
import { SqlEditor, type SqlEditorApi } from './SqlEditor';
import { insightsOf, type Insights } from '../insights/api';
import { InsightsPanel } from '../insights/InsightsPanel';
import { SavedQueries } from '../insights/SavedQueries';

const STARTER = 'SELECT 1 AS one';

export function SqlEditorPage({ session }: { session: Session }) {
  const [sources] = useAsync((signal) => listAll<DataSourceView>('/datasources', signal), []);
  const [source, setSource] = useState<string>('');
  const editor = useRef<SqlEditorApi>(null);
  const [text, setText] = useState(STARTER);
  const [outcome, setOutcome] = useState<RunOutcome | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const insightsOn = useFeatureState('insights', session.token);
  const [insights, setInsights] = useState<Async<Insights> | null>(null);
  const key = historyKey(session.tenant, session.username);
  const exports = useFeature('exports', session.token);
  const sharing = useFeature('sharing', session.token);
  const [history, setHistory] = useState<HistoryEntry[]>(() => loadHistory(localStorage, key));
  const remember = useCallback(
    (e: HistoryEntry) =>
      setHistory((h) => {
        const next = addToHistory(h, e);
        saveHistory(localStorage, key, next);
        return next;
      }),
    [key],
  );

  useEffect(() => {
    if (sources.state === 'done' && !source && sources.value.length > 0) setSource(sources.value[0].name);
  }, [sources, source]);
  const type = sources.state === 'done' ? sources.value.find((s) => s.name === source)?.spec.type : undefined;
  // Viewers get no editor, so no schema to complete from (reading it needs the editor role).
  const editing = session.role !== 'viewer';
  const [schema] = useAsync((signal) => (source && editing ? getSchema(source, signal) : Promise.resolve({ tables: [] })), [source, editing]);
  const completion = useMemo(() => (schema.state === 'done' ? completionSchema(schema.value) : {}), [schema]);

  const run = useCallback(async () => {
    const sql = editor.current?.statement() ?? '';
    if (!source || !sql) return;
    setRunning(true);
    setError(null);
    const at = new Date().toISOString();
    try {
      const o = await runQuery(source, sql);
      setOutcome(o);
      remember(o.kind === 'result' ? { at, dataSource: source, sql, ok: true, rowCount: o.result.rowCount, elapsedMs: o.result.elapsedMs } : { at, dataSource: source, sql, ok: false, error: `held for approval (${o.approval.id})` });
    } catch (e) {
      setOutcome(null);
      setError((e as Error).message);
      remember({ at, dataSource: source, sql, ok: false, error: (e as Error).message });
    } finally {
      setRunning(false);
    }
  }, [source, remember]);

  // Insights of the statement as it would run now (the same selection rule as Run).
  const lookInto = useCallback(async () => {
    const sql = editor.current?.statement() ?? '';
    if (!source || !sql) return;
    setInsights({ state: 'loading' });
    try {
      setInsights({ state: 'done', value: await insightsOf(source, sql) });
    } catch (e) {
      setInsights({ state: 'error', error: e as Error });
    }
  }, [source]);

  if (session.role === 'viewer')
    return (
      <section>
        <h1>SQL editor</h1>
        <p>Running ad-hoc SQL needs the editor role; ask an admin of your tenant.</p>
        <SavedQueries insightsOn={insightsOn} />
      </section>
    );

  return (
    <section className="sql-page">
      <header className="page-head">
        <h1>SQL editor</h1>
        <label>
          Data source
          <select value={source} onChange={(e) => setSource(e.target.value)} disabled={sources.state !== 'done'}>
            {sources.state === 'done' && sources.value.length === 0 && <option value="">No data sources</option>}
            {sources.state === 'done' &&
              sources.value.map((s) => (
                <option key={s.name} value={s.name}>
                  {s.spec.displayName ? `${s.spec.displayName} (${s.name})` : s.name}
                </option>
              ))}
          </select>
        </label>
      </header>
      {sources.state === 'error' && (
        <p className="error" role="alert">
          {sources.error.message}
        </p>
      )}
      {schema.state === 'error' && (
        <p className="note" role="status">
          No completion for this source: {schema.error.message}
        </p>
      )}
      <div className="sql-layout">
        <SchemaBrowser schema={schema.state === 'done' ? schema.value : null} insert={(t) => editor.current?.insert(t)} />
        <div className="sql-main">
          <SqlEditor ref={editor} initial={STARTER} dialect={dialectOf(type)} schema={completion} onRun={run} onChange={setText} />
          <div className="toolbar">
            <button type="button" onClick={run} disabled={running || !source} aria-keyshortcuts="Control+Enter Meta+Enter">
              {running ? 'Running…' : 'Run'} <kbd>Ctrl/⌘+Enter</kbd>
            </button>
            {insightsOn && (
              <button type="button" className="ghost" onClick={lookInto} disabled={insights?.state === 'loading' || !source}>
                Insights
              </button>
            )}
            <span className="muted">Runs the selection, or everything when nothing is selected.</span>
            <SaveQuery dataSource={source} sql={text} sharing={sharing} />
          </div>
          {exports && <ExportButtons dataSource={source} statement={() => editor.current?.statement() ?? ''} />}
          {error && (
            <p className="error" role="alert">
              {error}
            </p>
          )}
          {outcome?.kind === 'approval' && (
            <p className="note" role="status">
              This statement touches data your tenant's policy holds for approval: request {outcome.approval.id} is {outcome.approval.status.toLowerCase()}. Run
              it again once it is approved.
            </p>
          )}
          {insightsOn && insights && <InsightsPanel state={insights} />}
          {outcome?.kind === 'result' && <ResultView result={outcome.result} />}
          <History
            entries={history}
            load={(h) => {
              if (sources.state === 'done' && sources.value.some((s) => s.name === h.dataSource)) setSource(h.dataSource);
              editor.current?.setText(h.sql);
            }}
            clear={() => {
              setHistory([]);
              saveHistory(localStorage, key, []);
            }}
          />
          <SavedQueries insightsOn={insightsOn} />
        </div>
      </div>
    </section>
  );
}

/** The source's tables and columns; a click types the name into the editor. */
function SchemaBrowser({ schema, insert }: { schema: SchemaInfo | null; insert: (text: string) => void }) {
  return (
    <nav className="schema-browser card" aria-label="Schema">
      <h2>Schema</h2>
      {!schema && <p className="muted">Loading…</p>}
      {schema && schema.tables.length === 0 && <p className="muted">No tables.</p>}
      {schema && (
        <ul className="plain">
          {schema.tables.map((t) => {
            const name = t.schema && !['public', 'main', 'dbo'].includes(t.schema) ? `${t.schema}.${t.name}` : t.name;
            return (
              <li key={`${t.schema ?? ''}.${t.name}`}>
                <details>
                  <summary>
                    <span className="table-name">{name}</span>
                  </summary>
                  <button type="button" className="link" onClick={() => insert(name)}>
                    Insert <span className="sr-only">table</span> {name}
                  </button>
                  <ul className="plain columns">
                    {t.columns.map((c) => (
                      <li key={c.name}>
                        <button type="button" className="link" onClick={() => insert(c.name)} aria-label={`Insert column ${name}.${c.name}`}>
                          {c.name}
                        </button>{' '}
                        <span className="muted">{c.type}</span>
                      </li>
                    ))}
                  </ul>
                </details>
              </li>
            );
          })}
        </ul>
      )}
    </nav>
  );
}

/** Statements run in this browser, newest first. */
function History({ entries, load, clear }: { entries: HistoryEntry[]; load: (h: HistoryEntry) => void; clear: () => void }) {
  return (
    <details className="history card">
      <summary>History ({entries.length})</summary>
      {entries.length === 0 ? (
        <p className="muted">Statements you run are listed here (kept in this browser only).</p>
      ) : (
        <>
          <ol className="plain">
            {entries.map((h, i) => (
              <li key={`${h.at}-${i}`} data-testid="history-entry">
                <button type="button" className="ghost" onClick={() => load(h)} aria-label={`Load ${h.sql}`}>
                  Load
                </button>{' '}
                <code>{h.sql.length > 160 ? `${h.sql.slice(0, 160)}…` : h.sql}</code>{' '}
                <span className="muted">
                  {h.dataSource}, {formatTime(h.at)}: {h.ok ? `${h.rowCount} ${h.rowCount === 1 ? 'row' : 'rows'}, ${h.elapsedMs?.toFixed(1)} ms` : h.error}
                </span>
              </li>
            ))}
          </ol>
          <button type="button" className="ghost" onClick={clear}>
            Clear history
          </button>
        </>
      )}
    </details>
  );
}

/** The statement's whole result (up to the row limit) as a file, run again on the server. */
function ExportButtons({ dataSource, statement }: { dataSource: string; statement: () => string }) {
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (format: ExportFormat) => {
    const sql = statement();
    if (!dataSource || !sql) return;
    setBusy(true);
    setMessage(null);
    try {
      const r = await exportResult(dataSource, sql, format);
      setMessage(
        r.kind === 'approval'
          ? { ok: true, text: `This export waits for approval (request ${r.approval.id}); export again once it is approved.` }
          : { ok: true, text: `Downloaded ${r.name} (${r.bytes.toLocaleString('en-US')} bytes${r.truncated ? ', cut at the row limit' : ''}).` },
      );
    } catch (e) {
      setMessage({ ok: false, text: (e as Error).message });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="toolbar" role="group" aria-label="Export the result">
      <button type="button" className="ghost" disabled={busy || !dataSource} onClick={() => run('csv')}>
        Export CSV
      </button>
      <button type="button" className="ghost" disabled={busy || !dataSource} onClick={() => run('jsonl')}>
        Export JSON lines
      </button>
      {message && (
        <span role={message.ok ? 'status' : 'alert'} className={message.ok ? 'ok' : 'error'} data-testid="export-message">
          {message.text}
        </span>
      )}
    </div>
  );
}

function SaveQuery({ dataSource, sql, sharing }: { dataSource: string; sql: string; sharing: boolean }) {
  const [name, setName] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [saved, setSaved] = useState<{ id: string; name: string } | null>(null);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const q = await saveQuery(name.trim(), dataSource, sql.trim());
      setMessage({ ok: true, text: `Saved as "${q.name}" (id ${q.id}).` });
      setSaved({ id: q.id, name: q.name });
      setName('');
    } catch (err) {
      setMessage({ ok: false, text: (err as Error).message });
      setSaved(null);
    }
  };
  return (
    <>
    <form className="save-query" onSubmit={save} aria-label="Save as query">
      <label>
        <span className="sr-only">Query name</span>
        <input placeholder="Query name" value={name} onChange={(e) => setName(e.target.value)} required />
      </label>
      <button type="submit" disabled={!dataSource || !sql.trim()}>
        Save as query
      </button>
      {message && (
        <span role={message.ok ? 'status' : 'alert'} className={message.ok ? 'ok' : 'error'}>
          {message.text}
        </span>
      )}
    </form>
    {sharing && saved && (
      <div className="share-bar">
        <ShareButton key={saved.id} resource={`query/${saved.id}`} title={`the saved query ${saved.name}`} />
      </div>
    )}
    </>
  );
}
