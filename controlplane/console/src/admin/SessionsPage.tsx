import { useState } from 'react';
import { useAsync } from '../app/useAsync';
import { visibleSessions } from '../sessions/logic';
import { SessionsTable } from '../sessions/SessionsTable';
import { listSessions, revokeSession } from './api';

export default function SessionsPage() {
  const [list, reload] = useAsync((signal) => listSessions(signal), [], true);
  const [showEnded, setShowEnded] = useState(false);
  return (
    <section>
      <header className="page-head">
        <h1>Sessions</h1>
        <label className="inline">
          <input type="checkbox" checked={showEnded} onChange={(e) => setShowEnded(e.target.checked)} /> Show ended sessions
        </label>
      </header>
      {list.state === 'loading' && <p role="status">Loading sessions…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && (
        <SessionsTable
          sessions={visibleSessions(list.value, showEnded)}
          view={{ kind: 'all' }}
          caption="Login sessions, newest first"
          onRevoke={async (s) => {
            await revokeSession(s.id);
            reload();
          }}
        />
      )}
    </section>
  );
}
