import { useEffect, useState } from 'react';
import { Link } from '../app/Link';
import { useLocation } from '../app/router';
import { badgeText, listNotifications } from './api';

const POLL_MS = 30_000;

/** The shell's link to the inbox, with the number of unread notices (polled, and recounted
 * whenever the console marks some read). */
export function NotificationsBell() {
  const [unread, setUnread] = useState<number | null>(null);
  const { path } = useLocation();
  useEffect(() => {
    let ctl = new AbortController();
    const count = () => {
      ctl.abort();
      ctl = new AbortController();
      listNotifications(true, ctl.signal).then(
        (l) => setUnread(l.length),
        () => {},
      );
    };
    count();
    const timer = setInterval(count, POLL_MS);
    window.addEventListener('nexbii:notifications', count);
    return () => {
      ctl.abort();
      clearInterval(timer);
      window.removeEventListener('nexbii:notifications', count);
    };
  }, []);
  const text = badgeText(unread ?? 0);
  return (
    <Link
      href="/notifications"
      className="bell"
      aria-current={path === '/notifications' ? 'page' : undefined}
      aria-label={unread ? `Notifications, ${unread} unread` : 'Notifications'}
      data-testid="notifications-link"
    >
      Notifications
      {text && (
        <span className="count" data-testid="unread-badge" aria-hidden="true">
          {text}
        </span>
      )}
    </Link>
  );
}
