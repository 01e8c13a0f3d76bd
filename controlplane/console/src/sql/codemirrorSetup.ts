// CodeMirror with SQL highlighting and completion, loaded on demand (its own chunk).
import { MySQL, PostgreSQL, SQLite, StandardSQL, sql } from '@codemirror/lang-sql';
import { Compartment, EditorState, Prec } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { basicSetup } from 'codemirror';
import type { Dialect } from './completion';

const DIALECTS = { postgresql: PostgreSQL, mysql: MySQL, sqlite: SQLite, standard: StandardSQL };

export interface EditorHandle {
  view: EditorView;
  setLanguage(dialect: Dialect, schema: Record<string, string[]>): void;
  setDark(dark: boolean): void;
}

/** The editor lives in a shadow root: CodeMirror then styles it with constructed style sheets,
 * which the console's CSP allows (in the document it would add <style> elements, which
 * `style-src 'self'` refuses). */
export function createEditor(
  host: HTMLElement,
  doc: string,
  label: string,
  onRun: () => void,
  onChange: (text: string) => void,
  dark: boolean,
): EditorHandle {
  const language = new Compartment();
  const theme = new Compartment();
  const themeOf = (d: boolean) =>
    EditorView.theme(
      {
        '&': { minHeight: '180px', maxHeight: '45vh', fontSize: '13px' },
        '&.cm-focused': { outline: '2px solid var(--focus)' },
        '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, monospace', minHeight: '180px' },
        '.cm-gutters': d ? { backgroundColor: '#161b22', color: '#9198a1', border: 'none' } : {},
        '.cm-activeLine': d ? { backgroundColor: '#1f2630' } : {},
        '.cm-activeLineGutter': d ? { backgroundColor: '#1f2630' } : {},
      },
      { dark: d },
    );
  const root = host.shadowRoot ?? host.attachShadow({ mode: 'open' });
  const parent = document.createElement('div');
  root.replaceChildren(parent);
  const view = new EditorView({
    root,
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        basicSetup,
        language.of(sql({ dialect: StandardSQL })),
        theme.of(themeOf(dark)),
        // Ctrl/Cmd+Enter runs, ahead of the default "insert blank line".
        Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => (onRun(), true) }])),
        EditorView.contentAttributes.of({ 'aria-label': label }),
        EditorView.updateListener.of((u) => u.docChanged && onChange(u.state.doc.toString())),
      ],
    }),
  });
  return {
    view,
    setLanguage: (dialect, schema) =>
      view.dispatch({ effects: language.reconfigure(sql({ dialect: DIALECTS[dialect], schema, upperCaseKeywords: true })) }),
    setDark: (d) => view.dispatch({ effects: theme.reconfigure(themeOf(d)) }),
  };
}
