import { useState } from 'react';
import { ConfirmButton } from '../app/ConfirmButton';
import { formatTime } from '../app/format';
import { revokeLabels, sessionState, type LoginSession, type SessionsView } from './logic';

/** A table of login sessions with a revoke button (asking once more) on each that may be
 * revoked; the admin's view names the user and the state, the caller's own marks the current
 * session and shows the address. A failed revoke is said above the table. */
export function SessionsTable({
  sessions,
  view,
  caption,
  onRevoke,
}: {
  sessions: LoginSession[];
  view: SessionsView;
  caption: string;
  onRevoke: (s: LoginSession) => Promise<void>;
}) {
  const [error, setError] = useState<string | null>(null);
  const all = view.kind === 'all';
  return (
    <>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <table className="list">
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            {all && <th scope="col">User</th>}
            <th scope="col">Client</th>
            {!all && <th scope="col">Address</th>}
            <th scope="col">Signed in</th>
            <th scope="col">Expires</th>
            {all && <th scope="col">State</th>}
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {sessions.map((s) => {
            const state = sessionState(s);
            const revoke = revokeLabels(s, view);
            const client = s.userAgent ?? <span className="muted">unknown</span>;
            const acting = s.impersonator && <span className="badge warn">impersonated by {s.impersonator}</span>;
            return (
              <tr key={s.id} data-session={s.id} data-user={s.username}>
                {all ? (
                  <>
                    <th scope="row">
                      {s.username}
                      {acting}
                    </th>
                    <td className="wrap">{client}</td>
                  </>
                ) : (
                  <>
                    <th scope="row" className="wrap">
                      {client}
                      {view.kind === 'own' && s.id === view.current && <span className="badge ok"> this session</span>}
                      {acting}
                    </th>
                    <td>{s.client ?? ''}</td>
                  </>
                )}
                <td>{formatTime(s.createdAt)}</td>
                <td>{formatTime(s.expiresAt)}</td>
                {all && (
                  <td>
                    <span className={state === 'active' ? 'ok' : 'muted'}>{state}</span>
                  </td>
                )}
                <td>
                  {revoke && (
                    <ConfirmButton
                      label={revoke.label}
                      confirm={revoke.confirm}
                      onConfirm={async () => {
                        setError(null);
                        try {
                          await onRevoke(s);
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
    </>
  );
}
