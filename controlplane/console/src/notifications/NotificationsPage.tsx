import { useState } from 'react';
import { Link } from '../app/Link';
import { useAsync } from '../app/useAsync';
import { formatTime } from '../app/format';
import { consoleLink, listNotifications, markAllRead, markRead, noticeTime } from './api';

export default function NotificationsPage() {
  const [onlyUnread, setOnlyUnread] = useState(false);
  const [list, reload] = useAsync((signal) => listNotifications(onlyUnread, signal), [onlyUnread], true);
  const [error, setError] = useState<string | null>(null);
  const act = async (f: () => Promise<void>) => {
    setError(null);
    try {
      await f();
      reload();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const unread = list.state === 'done' ? list.value.filter((n) => !n.read).length : 0;
  return (
    <section>
      <header className="page-head">
        <h1>Notifications</h1>
        <div className="actions">
          <label className="inline">
            <input type="checkbox" checked={onlyUnread} onChange={(e) => setOnlyUnread(e.target.checked)} /> Unread only
          </label>
          <button type="button" onClick={() => act(markAllRead)} disabled={unread === 0}>
            Mark all read
          </button>
        </div>
      </header>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {list.state === 'loading' && <p role="status">Loading notifications…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && list.value.length === 0 && <p>{onlyUnread ? 'No unread notifications.' : 'No notifications.'}</p>}
      {list.state === 'done' && list.value.length > 0 && (
        <ul className="notices" aria-label="Notifications">
          {list.value.map((n) => {
            const href = consoleLink(n.link);
            return (
              <li key={n.id} className={n.read ? 'card read' : 'card unread'} data-testid="notification">
                <div className="notice-head">
                  <strong>{n.title}</strong>
                  {!n.read && <span className="badge warn">unread</span>}
                  <span className="muted">{formatTime(noticeTime(n))}</span>
                </div>
                <p>{n.body}</p>
                <div className="actions">
                  {href && <Link href={href}>Open</Link>}
                  {!n.read && (
                    <button type="button" className="ghost" onClick={() => act(() => markRead(n.id))} aria-label={`Mark "${n.title}" read`}>
                      Mark read
                    </button>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
