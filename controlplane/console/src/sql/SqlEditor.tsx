import { forwardRef, useEffect, useImperativeHandle, useRef, useState } from 'react';
import { useTheme } from '../app/theme';
import type { EditorHandle } from './codemirrorSetup';
import { statementToRun, type Dialect } from './completion';

export interface SqlEditorApi {
  /** The selection when there is one, else the whole text. */
  statement(): string;
  all(): string;
  /** Types `text` at the cursor (replacing the selection) and focuses the editor. */
  insert(text: string): void;
  /** Replaces the whole text. */
  setText(text: string): void;
}

interface Props {
  initial: string;
  dialect: Dialect;
  schema: Record<string, string[]>;
  onRun: () => void;
  onChange: (text: string) => void;
}

/** The CodeMirror editor, loaded on first use. */
export const SqlEditor = forwardRef<SqlEditorApi, Props>(function SqlEditor({ initial, dialect, schema, onRun, onChange }, ref) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<EditorHandle | null>(null);
  const [ready, setReady] = useState(false);
  const [failed, setFailed] = useState<string | null>(null);
  const theme = useTheme();
  // The latest callbacks, so the editor created once always calls the current ones.
  const run = useRef(onRun);
  const change = useRef(onChange);
  run.current = onRun;
  change.current = onChange;

  useEffect(() => {
    let cancelled = false;
    import('./codemirrorSetup').then(
      ({ createEditor }) => {
        if (cancelled || !host.current) return;
        editor.current = createEditor(host.current, initial, 'SQL statement', () => run.current(), (t) => change.current(t), theme === 'dark');
        setReady(true);
      },
      (e: Error) => setFailed(`the editor could not be loaded: ${e.message}`),
    );
    return () => {
      cancelled = true;
      editor.current?.view.destroy();
      editor.current = null;
    };
    // Created once; language and theme are reconfigured below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  useEffect(() => {
    if (ready) editor.current?.setLanguage(dialect, schema);
  }, [ready, dialect, schema]);
  useEffect(() => {
    if (ready) editor.current?.setDark(theme === 'dark');
  }, [ready, theme]);

  useImperativeHandle(ref, () => ({
    statement: () => {
      const v = editor.current?.view;
      if (!v) return initial;
      const sel = v.state.selection.main;
      return statementToRun(v.state.doc.toString(), sel.from, sel.to);
    },
    all: () => editor.current?.view.state.doc.toString() ?? initial,
    insert: (text) => {
      const v = editor.current?.view;
      if (!v) return;
      v.dispatch(v.state.replaceSelection(text));
      v.focus();
    },
    setText: (text) => {
      const v = editor.current?.view;
      if (!v) return;
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: text } });
      v.focus();
    },
  }));

  if (failed) return <p role="alert" className="error">{failed}</p>;
  return (
    <div className="sql-editor" data-ready={ready}>
      {!ready && <p role="status">Loading editor…</p>}
      <div ref={host} />
    </div>
  );
});
