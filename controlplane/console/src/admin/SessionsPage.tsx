import { useState } from 'react';
import { ConfirmButton } from '../app/ConfirmButton';
import { formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import { listSessions, revokeSession } from './api';
import { sessionState } from './logic';

export default function SessionsPage() {
  const [list, reload] = useAsync(async (signal) => (await listSessions(signal)).sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '')), [], true);
  const [showEnded, setShowEnded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const rows = list.state === 'done' ? list.value.filter((s) => showEnded || sessionState(s) === 'active') : [];
  return (
    <section>
      <header className="page-head">
        <h1>Sessions</h1>
        <label className="inline">
          <input type="checkbox" checked={showEnded} onChange={(e) => setShowEnded(e.target.checked)} /> Show ended sessions
        </label>
      </header>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {list.state === 'loading' && <p role="status">Loading sessions…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && (
        <table className="list">
          <caption className="sr-only">Login sessions, newest first</caption>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Client</th>
              <th scope="col">Signed in</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((s) => {
              const state = sessionState(s);
              return (
                <tr key={s.id} data-session={s.id} data-user={s.username}>
                  <th scope="row">{s.username}</th>
                  <td className="wrap">{s.userAgent ?? <span className="muted">unknown</span>}</td>
                  <td>{formatTime(s.createdAt)}</td>
                  <td>{formatTime(s.expiresAt)}</td>
                  <td>
                    <span className={state === 'active' ? 'ok' : 'muted'}>{state}</span>
                  </td>
                  <td>
                    {state === 'active' && (
                      <ConfirmButton
                        label={`Revoke session of ${s.username}`}
                        confirm={`Confirm revoking this session of ${s.username}`}
                        onConfirm={async () => {
                          setError(null);
                          try {
                            await revokeSession(s.id);
                            reload();
                          } catch (e) {
                            setError((e as Error).message);
                          }
                        }}
                      />
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
