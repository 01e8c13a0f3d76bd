import { useId, useState, type FormEvent } from 'react';
import type { Session } from '../auth/session';
import { actionLabel, canApply, download, importConfig, summary, type Checked, type ImportResult } from './configTransfer';

/** Configuration export and import: the tenant's data sources, saved queries, dashboards,
 * governance policies and settings as YAML out, and YAML in after a dry run. */
export default function ConfigPage({ session }: { session: Session }) {
  return (
    <section className="config-transfer">
      <header className="page-head">
        <h1>Export and import</h1>
      </header>
      <ExportCard tenant={session.tenant} />
      <ImportCard />
    </section>
  );
}

function ExportCard({ tenant }: { tenant: string }) {
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <section className="card" aria-labelledby="export-title">
      <h2 id="export-title">Export</h2>
      <p className="muted">
        Data sources, saved queries, dashboards, governance policies and settings as Kubernetes resources (the operator and <code>--manifests</code> take them as
        they are). Passwords leave as Secret references, never as values.
      </p>
      <button
        type="button"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setMessage(null);
          try {
            const d = await download('/admin/export', `${tenant}-configuration.yaml`);
            setMessage({ ok: true, text: `Downloaded ${d.name} (${d.bytes.toLocaleString('en-US')} bytes).` });
          } catch (e) {
            setMessage({ ok: false, text: (e as Error).message });
          } finally {
            setBusy(false);
          }
        }}
      >
        Download the configuration (YAML)
      </button>
      {message && (
        <p className={message.ok ? 'ok' : 'error'} role={message.ok ? 'status' : 'alert'}>
          {message.text}
        </p>
      )}
    </section>
  );
}

function ImportCard() {
  const [text, setText] = useState('');
  const [skipRefused, setSkipRefused] = useState(false);
  const [checked, setChecked] = useState<Checked | null>(null);
  const [applied, setApplied] = useState<ImportResult[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const help = useId();
  const verdict = canApply(checked, text, skipRefused);
  const run = async (f: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const dryRun = (e: FormEvent) => {
    e.preventDefault();
    const sent = text;
    void run(async () => {
      setApplied(null);
      setChecked(null);
      setChecked({ text: sent, report: await importConfig(sent, true, true) });
    });
  };
  const apply = () =>
    run(async () => {
      const report = await importConfig(text, false, !skipRefused);
      setApplied(report);
      setChecked(null);
    });
  return (
    <form className="card" onSubmit={dryRun} aria-labelledby="import-title">
      <h2 id="import-title">Import</h2>
      <p className="muted" id={help}>
        Paste resources as the export writes them, with <code>v1</code> Secrets holding the passwords they refer to, or load a file. A dry run first says what
        would happen to each object; objects provisioned from YAML are never overwritten.
      </p>
      <label>
        Configuration (YAML or JSON)
        <textarea
          rows={14}
          className="code"
          value={text}
          spellCheck={false}
          aria-describedby={help}
          onChange={(e) => {
            setText(e.target.value);
            setApplied(null);
          }}
        />
      </label>
      <div className="toolbar">
        <label className="inline">
          Load from a file
          <input
            type="file"
            accept=".yaml,.yml,.json,application/yaml,application/json"
            onChange={async (e) => {
              const f = e.target.files?.[0];
              if (!f) return;
              setText(await f.text());
              setApplied(null);
              e.target.value = '';
            }}
          />
        </label>
        <label className="inline">
          <input type="checkbox" checked={skipRefused} onChange={(e) => setSkipRefused(e.target.checked)} /> Apply the other objects when some are refused
        </label>
      </div>
      <div className="actions">
        <button type="submit" disabled={busy || !text.trim()}>
          Check (dry run)
        </button>
        <button type="button" disabled={busy || !verdict.ok} aria-describedby={verdict.ok ? undefined : 'apply-why'} onClick={apply}>
          Apply
        </button>
        {!verdict.ok && (
          <span id='apply-why' className="muted">
            {verdict.why}
          </span>
        )}
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {checked && checked.text === text && <Report report={checked.report} dryRun />}
      {applied && <Report report={applied} dryRun={false} />}
    </form>
  );
}

function Report({ report, dryRun }: { report: ImportResult[]; dryRun: boolean }) {
  const title = dryRun ? 'Dry run' : 'Imported';
  return (
    <section aria-label={title} data-testid={dryRun ? 'dry-run-report' : 'import-report'}>
      <h3>{title}</h3>
      <p role="status">{summary(report, dryRun)}</p>
      <table className="list">
        <caption className="sr-only">{dryRun ? 'What the import would do with each object' : 'What the import did with each object'}</caption>
        <thead>
          <tr>
            <th scope="col">Kind</th>
            <th scope="col">Name</th>
            <th scope="col">Result</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {report.map((r, i) => (
            <tr key={`${i}-${r.kind}/${r.name}`} data-object={`${r.kind}/${r.name}`} data-action={r.action}>
              <td>{r.kind}</td>
              <th scope="row">{r.name}</th>
              <td>
                <span className={r.action === 'error' ? 'error' : r.action === 'created' || r.action === 'updated' ? 'ok' : 'muted'}>{actionLabel(r.action, dryRun)}</span>
              </td>
              <td className="wrap">{r.error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
