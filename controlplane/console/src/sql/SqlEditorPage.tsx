import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { listAll } from '../api/client';
import type { DataSourceView } from '../api/types';
import { useAsync } from '../app/useAsync';
import type { Session } from '../auth/session';
import { getSchema, runQuery, saveQuery, type RunOutcome } from './api';
import { completionSchema, dialectOf } from './completion';
import { ResultView } from './ResultView';
import { SqlEditor, type SqlEditorApi } from './SqlEditor';

const STARTER = 'SELECT 1 AS one';

export function SqlEditorPage({ session }: { session: Session }) {
  const [sources] = useAsync((signal) => listAll<DataSourceView>('/datasources', signal), []);
  const [source, setSource] = useState<string>('');
  const editor = useRef<SqlEditorApi>(null);
  const [text, setText] = useState(STARTER);
  const [outcome, setOutcome] = useState<RunOutcome | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState(false);

  useEffect(() => {
    if (sources.state === 'done' && !source && sources.value.length > 0) setSource(sources.value[0].name);
  }, [sources, source]);
  const type = sources.state === 'done' ? sources.value.find((s) => s.name === source)?.spec.type : undefined;
  const [schema] = useAsync((signal) => (source ? getSchema(source, signal) : Promise.resolve({ tables: [] })), [source]);
  const completion = useMemo(() => (schema.state === 'done' ? completionSchema(schema.value) : {}), [schema]);

  const run = useCallback(async () => {
    const sql = editor.current?.statement() ?? '';
    if (!source || !sql) return;
    setRunning(true);
    setError(null);
    try {
      setOutcome(await runQuery(source, sql));
    } catch (e) {
      setOutcome(null);
      setError((e as Error).message);
    } finally {
      setRunning(false);
    }
  }, [source]);

  if (session.role === 'viewer')
    return (
      <section>
        <h1>SQL editor</h1>
        <p>Running ad-hoc SQL needs the editor role; ask an admin of your tenant.</p>
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
      <SqlEditor ref={editor} initial={STARTER} dialect={dialectOf(type)} schema={completion} onRun={run} onChange={setText} />
      <div className="toolbar">
        <button type="button" onClick={run} disabled={running || !source} aria-keyshortcuts="Control+Enter Meta+Enter">
          {running ? 'Running…' : 'Run'} <kbd>Ctrl/⌘+Enter</kbd>
        </button>
        <span className="muted">Runs the selection, or everything when nothing is selected.</span>
        <SaveQuery dataSource={source} sql={text} />
      </div>
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
      {outcome?.kind === 'result' && <ResultView result={outcome.result} />}
    </section>
  );
}

function SaveQuery({ dataSource, sql }: { dataSource: string; sql: string }) {
  const [name, setName] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const q = await saveQuery(name.trim(), dataSource, sql.trim());
      setMessage({ ok: true, text: `Saved as "${q.name}" (id ${q.id}).` });
      setName('');
    } catch (err) {
      setMessage({ ok: false, text: (err as Error).message });
    }
  };
  return (
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
  );
}
