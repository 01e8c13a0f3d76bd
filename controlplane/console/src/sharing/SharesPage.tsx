import { useState } from 'react';
import { listAll } from '../api/client';
import type { SavedQuery } from '../api/types';
import { ConfirmButton } from '../app/ConfirmButton';
import { formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import type { Session } from '../auth/session';
import { listShares, revokeShare } from './api';
import { resourceLabel, shareState } from './logic';
import { ShareButton } from './ShareButton';

/** The caller's share links (an admin sees every link of the tenant), with revoke; and a
 * saved query to share. */
export default function SharesPage({ session }: { session: Session }) {
  const [list, reload] = useAsync((signal) => listShares(signal), [], true);
  const [error, setError] = useState<string | null>(null);
  const [queries] = useAsync((signal) => (session.role === 'viewer' ? Promise.resolve([]) : listAll<SavedQuery>('/queries', signal)), [session.role]);
  const [picked, setPicked] = useState('');
  const query = queries.state === 'done' ? queries.value.find((q) => q.id === picked) : undefined;
  return (
    <section>
      <header className="page-head">
        <h1>My share links</h1>
        <button type="button" className="ghost" onClick={reload}>
          Reload
        </button>
      </header>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {list.state === 'loading' && <p role="status">Loading share links…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && list.value.length === 0 && <p className="muted">No share links. Share a dashboard from its page, or a saved query below.</p>}
      {list.state === 'done' && list.value.length > 0 && (
        <table className="list">
          <caption className="sr-only">Share links, with what each opens</caption>
          <thead>
            <tr>
              <th scope="col">Shares</th>
              <th scope="col">Link</th>
              <th scope="col">Owner</th>
              <th scope="col">Created</th>
              <th scope="col">Expires</th>
              <th scope="col">Protection</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.value.map((s) => {
              const state = shareState(s);
              const locked = Object.entries(s.lockedVariables);
              return (
                <tr key={s.id} data-share={s.id} data-resource={s.resource}>
                  <th scope="row">{resourceLabel(s.resource)}</th>
                  <td>
                    <code>{s.tokenPrefix}…</code>
                  </td>
                  <td>{s.owner}</td>
                  <td>{formatTime(s.createdAt)}</td>
                  <td>{s.expiresAt ? <span className={state === 'expired' ? 'muted' : undefined}>{state === 'expired' ? `expired ${formatTime(s.expiresAt)}` : formatTime(s.expiresAt)}</span> : 'when revoked'}</td>
                  <td>
                    {s.hasPassword ? 'password' : 'no password'}
                    {locked.length > 0 && <div className="muted">locked: {locked.map(([k, v]) => `${k}=${v}`).join(', ')}</div>}
                  </td>
                  <td>
                    <ConfirmButton
                      label={`Revoke ${s.tokenPrefix}`}
                      confirm={`Confirm revoking the link to ${resourceLabel(s.resource)}`}
                      onConfirm={async () => {
                        setError(null);
                        try {
                          await revokeShare(s.id);
                          reload();
                        } catch (e) {
                          setError((e as Error).message);
                        }
                      }}
                    />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {session.role !== 'viewer' && (
        <section className="card">
          <h2>Share a saved query</h2>
          {queries.state === 'done' && queries.value.length === 0 && <p className="muted">No saved queries yet: save one in the SQL editor.</p>}
          {queries.state === 'done' && queries.value.length > 0 && (
            <div className="actions">
              <label>
                Saved query
                <select value={picked} onChange={(e) => setPicked(e.target.value)}>
                  <option value="">Choose…</option>
                  {queries.value.map((q) => (
                    <option key={q.id} value={q.id}>
                      {q.name}
                    </option>
                  ))}
                </select>
              </label>
              {query && <ShareButton key={query.id} resource={`query/${query.id}`} title={`the saved query ${query.name}`} onCreated={reload} />}
            </div>
          )}
        </section>
      )}
    </section>
  );
}
