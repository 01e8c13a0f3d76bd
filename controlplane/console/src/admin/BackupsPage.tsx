import { useEffect, useState, type FormEvent } from 'react';
import { ConfirmButton } from '../app/ConfirmButton';
import { formatBytes, formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import { deleteBackup, listBackups, listSchedules, restore, triggerBackup, verifyBackup, type Backup, type RestoreReport } from './api';
import { newestFirst, restoreSummary, retentionText, running } from './logic';

export default function BackupsPage() {
  const [list, reload] = useAsync(async (signal) => newestFirst(await listBackups(signal)), [], true);
  const [report, setReport] = useState<RestoreReport | null>(null);
  // While a backup is under way, look again every 2 s.
  const busy = list.state === 'done' && running(list.value);
  useEffect(() => {
    if (!busy) return;
    const t = setTimeout(reload, 2000);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [busy, list]);
  return (
    <section>
      <header className="page-head">
        <h1>Backups</h1>
      </header>
      <Trigger onStarted={reload} />
      {list.state === 'loading' && <p role="status">Loading backups…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && list.value.length === 0 && <p>No backups yet.</p>}
      {list.state === 'done' && list.value.length > 0 && (
        <table className="list">
          <caption className="sr-only">Backups, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Backup</th>
              <th scope="col">State</th>
              <th scope="col">Size</th>
              <th scope="col">Verified</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.value.map((b) => (
              <BackupRow key={b.id} b={b} onChanged={reload} onReport={setReport} />
            ))}
          </tbody>
        </table>
      )}
      {report && <Report r={report} onDone={() => setReport(null)} onRestored={(r) => setReport(r)} />}
      <Schedules />
    </section>
  );
}

/** The BackupSchedules declared for the tenant (the operator runs them). */
function Schedules() {
  const [list] = useAsync((signal) => listSchedules(signal), []);
  return (
    <>
      <h2>Schedules</h2>
      {list.state === 'loading' && <p role="status">Loading schedules…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && list.value.length === 0 && <p>No backup schedule is declared.</p>}
      {list.state === 'done' && list.value.length > 0 && (
        <table className="list">
          <caption className="sr-only">Backup schedules</caption>
          <thead>
            <tr>
              <th scope="col">Schedule</th>
              <th scope="col">When (cron)</th>
              <th scope="col">Keeps</th>
              <th scope="col">Where</th>
              <th scope="col">Managed by</th>
            </tr>
          </thead>
          <tbody>
            {list.value.map((x) => (
              <tr key={x.name} data-schedule={x.name}>
                <th scope="row">
                  {x.name}
                  {x.spec.suspend && <span className="badge warn">suspended</span>}
                </th>
                <td>
                  <code>{x.spec.schedule}</code>
                </td>
                <td>{retentionText(x.spec.retention)}</td>
                <td>
                  {x.spec.destination?.kind === 's3'
                    ? `s3://${x.spec.destination.s3?.bucket ?? ''}/${x.spec.destination.s3?.prefix ?? ''}`
                    : (x.spec.destination?.volume?.path ?? x.spec.destination?.kind ?? '')}
                </td>
                <td>{x.origin === 'api' ? 'API' : x.origin === 'operator' ? 'Kubernetes' : 'manifest file'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function Trigger({ onStarted }: { onStarted: () => void }) {
  const [pinned, setPinned] = useState(false);
  const [note, setNote] = useState('');
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const b = await triggerBackup({ pinned, note: note.trim() || undefined });
      setMsg({ ok: true, text: `Backup ${b.id} started.` });
      setNote('');
      onStarted();
    } catch (err) {
      setMsg({ ok: false, text: (err as Error).message });
    }
  };
  return (
    <form className="toolbar" onSubmit={submit} aria-label="New backup">
      <label className="inline">
        Note <input value={note} onChange={(e) => setNote(e.target.value)} maxLength={500} placeholder="optional" />
      </label>
      <label className="inline">
        <input type="checkbox" checked={pinned} onChange={(e) => setPinned(e.target.checked)} /> Pinned (kept by retention)
      </label>
      <button type="submit">Back up now</button>
      {msg && (
        <span role={msg.ok ? 'status' : 'alert'} className={msg.ok ? 'ok' : 'error'}>
          {msg.text}
        </span>
      )}
    </form>
  );
}

function BackupRow({ b, onChanged, onReport }: { b: Backup; onChanged: () => void; onReport: (r: RestoreReport) => void }) {
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const act = async (f: () => Promise<string | null>) => {
    setMsg(null);
    try {
      const text = await f();
      if (text) setMsg({ ok: true, text });
    } catch (e) {
      setMsg({ ok: false, text: (e as Error).message });
    }
  };
  const done = b.state === 'Completed';
  return (
    <tr data-backup={b.id}>
      <th scope="row">
        <code>{b.id}</code>
        {b.pinned && <span className="badge">pinned</span>}
        {b.note && <div>{b.note}</div>}
        <div className="muted">
          by {b.requestedBy}, {formatTime(b.requestedAt)}
        </div>
      </th>
      <td>
        <span className={b.state === 'Failed' ? 'error' : done ? 'ok' : 'muted'}>{b.state}</span>
        {b.error && <div className="error">{b.error}</div>}
      </td>
      <td>
        {formatBytes(b.sizeBytes)}
        {b.checksum && (
          <div className="muted" title={b.checksum}>
            {b.checksum.slice(0, 19)}…
          </div>
        )}
      </td>
      <td>
        {b.lastVerification ? (
          <span className={b.lastVerification.ok ? 'ok' : 'error'}>
            {b.lastVerification.ok ? 'ok' : `failed: ${b.lastVerification.error ?? ''}`}
            <div className="muted">{formatTime(b.lastVerification.at)}</div>
          </span>
        ) : (
          <span className="muted">never</span>
        )}
      </td>
      <td>
        <div className="actions">
          {done && (
            <>
              <button
                type="button"
                className="ghost"
                onClick={() =>
                  act(async () => {
                    const r = await verifyBackup(b.id);
                    onChanged();
                    return `Verified: ${formatBytes(r.sizeBytes)}, checksum matches.`;
                  })
                }
              >
                Verify <span className="sr-only">{b.id}</span>
              </button>
              <button
                type="button"
                className="ghost"
                onClick={() =>
                  act(async () => {
                    onReport(await restore(b.id, true));
                    return null;
                  })
                }
              >
                Restore… <span className="sr-only">{b.id}</span>
              </button>
            </>
          )}
          {b.state !== 'Running' && b.state !== 'Pending' && (
            <ConfirmButton
              label={`Delete ${b.id}`}
              confirm={b.pinned ? `Confirm deleting pinned ${b.id}` : `Confirm deleting ${b.id}`}
              onConfirm={() =>
                act(async () => {
                  await deleteBackup(b.id, b.pinned);
                  onChanged();
                  return null;
                })
              }
            />
          )}
          {msg && (
            <span role={msg.ok ? 'status' : 'alert'} className={msg.ok ? 'ok' : 'error'}>
              {msg.text}
            </span>
          )}
        </div>
      </td>
    </tr>
  );
}

function Report({ r, onDone, onRestored }: { r: RestoreReport; onDone: () => void; onRestored: (r: RestoreReport) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const changed = r.collections.filter((c) => c.added + c.removed + c.modified > 0);
  return (
    <section className="card restore-report" aria-labelledby="restore-title" data-testid="restore-report">
      <h2 id="restore-title">
        {r.dryRun ? 'Restore dry run' : 'Restored'} from <code>{r.backup}</code>
      </h2>
      <p role="status">{restoreSummary(r)}</p>
      {changed.length > 0 && (
        <table className="list">
          <caption className="sr-only">Changes per collection</caption>
          <thead>
            <tr>
              <th scope="col">Collection</th>
              <th scope="col" className="num">In backup</th>
              <th scope="col" className="num">Now</th>
              <th scope="col" className="num">Added</th>
              <th scope="col" className="num">Removed</th>
              <th scope="col" className="num">Modified</th>
              <th scope="col">Examples</th>
            </tr>
          </thead>
          <tbody>
            {changed.map((c) => (
              <tr key={c.collection}>
                <th scope="row">{c.collection}</th>
                <td className="num">{c.inBackup}</td>
                <td className="num">{c.current}</td>
                <td className="num">{c.added}</td>
                <td className="num">{c.removed}</td>
                <td className="num">{c.modified}</td>
                <td className="wrap">{[...c.addedIds.map((i) => `+${i}`), ...c.removedIds.map((i) => `−${i}`), ...c.modifiedIds.map((i) => `~${i}`)].slice(0, 6).join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r.untouched.length > 0 && (
        <p className="muted">
          Never restored: {r.untouched.map((u) => u.collection).join(', ')}.
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        {r.dryRun && (
          <ConfirmButton
            label="Restore this backup"
            confirm="Confirm restore: replace the tenant's data"
            disabled={busy}
            onConfirm={async () => {
              setBusy(true);
              setError(null);
              try {
                onRestored(await restore(r.backup, false));
              } catch (e) {
                setError((e as Error).message);
              } finally {
                setBusy(false);
              }
            }}
          />
        )}
        <button type="button" className="ghost" onClick={onDone}>
          Close
        </button>
      </div>
    </section>
  );
}
