import { useState } from 'react';
import { Link } from '../app/Link';
import { formatTime } from '../app/format';
import { navigate, useLocation } from '../app/router';
import { useAsync } from '../app/useAsync';
import type { Session } from '../auth/session';
import { changed } from '../notifications/api';
import { cancel, decide, listApprovals, type Approval, type Box } from './api';
import { newestFirst, progress, subjectText } from './logic';

const BOXES: { box: Box; label: string }[] = [
  { box: 'inbox', label: 'To decide' },
  { box: 'mine', label: 'My requests' },
  { box: 'all', label: 'All' },
];

/** `/approvals?box=inbox|mine|all&id=…` (a notice links to one request with `id`). */
export default function ApprovalsPage({ session }: { session: Session }) {
  const { search } = useLocation();
  const box = (BOXES.find((b) => b.box === search.get('box'))?.box ?? 'inbox') as Box;
  const focus = search.get('id');
  const [list, reload] = useAsync(async (signal) => newestFirst(await listApprovals(box, signal)), [box], true);
  return (
    <section>
      <header className="page-head">
        <h1>Approvals</h1>
      </header>
      <div role="tablist" aria-label="Which requests" className="tabs">
        {BOXES.map((b) => (
          <button key={b.box} type="button" role="tab" aria-selected={b.box === box} className={b.box === box ? '' : 'ghost'} onClick={() => navigate(`/approvals?box=${b.box}`)}>
            {b.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" aria-label={BOXES.find((b) => b.box === box)!.label}>
        {list.state === 'loading' && <p role="status">Loading requests…</p>}
        {list.state === 'error' && (
          <p className="error" role="alert">
            {list.error.message}
          </p>
        )}
        {list.state === 'done' && list.value.length === 0 && <p>{box === 'inbox' ? 'Nothing waits for your decision.' : 'No requests.'}</p>}
        {list.state === 'done' && (
          <ul className="requests">
            {list.value.map((a) => (
              <Request key={a.id} a={a} box={box} me={session.username} focused={a.id === focus} onChanged={reload} />
            ))}
          </ul>
        )}
      </div>
    </section>
  );
}

function Request({ a, box, me, focused, onChanged }: { a: Approval; box: Box; me: string; focused: boolean; onChanged: () => void }) {
  const [comment, setComment] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
      changed();
      onChanged();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const s = a.subject;
  const title = subjectText(s);
  return (
    <li className={`card request${focused ? ' focused' : ''}`} data-testid="approval" data-approval={a.id} aria-label={title}>
      <div className="notice-head">
        <strong>{title}</strong>
        <span className={a.status === 'approved' ? 'badge ok' : a.status === 'pending' ? 'badge warn' : 'badge'}>{progress(a)}</span>
        <span className="muted">
          {a.id}, by {a.requester}
        </span>
      </div>
      {a.reason && <p>Reason: {a.reason}</p>}
      {(s.kind === 'query' || s.kind === 'export') && (
        <pre>
          <code>{s.sql}</code>
        </pre>
      )}
      {s.kind === 'dashboardPublication' && (
        <p>
          <Link href={`/dashboards/${encodeURIComponent(s.dashboard)}`}>Open the dashboard</Link>
        </p>
      )}
      <ol className="plain levels" aria-label="Levels">
        {a.levels.map((l, i) => (
          <li key={i}>
            Level {i + 1}: {l.required} of {l.approvers.join(', ')}
            {a.decisions
              .filter((d) => d.level === i)
              .map((d, j) => (
                <div key={j} className={d.verdict === 'approve' ? 'ok' : 'error'}>
                  {d.verdict === 'approve' ? 'approved' : 'rejected'} by {d.by}, {formatTime(d.at)}
                  {d.comment && `: “${d.comment}”`}
                </div>
              ))}
          </li>
        ))}
      </ol>
      <p className="muted">
        {a.status === 'pending' ? `Expires ${formatTime(a.expiresAt)}` : a.validUntil ? `Valid until ${formatTime(a.validUntil)}` : ''}
      </p>
      {a.status === 'pending' && box === 'inbox' && (
        <div className="actions">
          <label>
            <span className="sr-only">Comment on {a.id}</span>
            <input value={comment} onChange={(e) => setComment(e.target.value)} placeholder="Comment (optional)" />
          </label>
          <button type="button" disabled={busy} onClick={() => act(() => decide(a.id, 'approve', comment))}>
            Approve <span className="sr-only">{a.id}</span>
          </button>
          <button type="button" className="danger" disabled={busy} onClick={() => act(() => decide(a.id, 'reject', comment))}>
            Reject <span className="sr-only">{a.id}</span>
          </button>
        </div>
      )}
      {a.status === 'pending' && a.requester === me && (
        <button type="button" className="ghost" disabled={busy} onClick={() => act(() => cancel(a.id))}>
          Cancel request <span className="sr-only">{a.id}</span>
        </button>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}
