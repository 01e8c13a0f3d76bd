import { request } from '../api/client';

/** `NotificationRecord` of the API. */
export interface Notification {
  id: string;
  username: string;
  kind: string;
  title: string;
  body: string;
  /** API path of what it is about (`/api/v1/approvals/…`). */
  link?: string | null;
  read: boolean;
  createdAt: string;
}

export async function listNotifications(unread: boolean, signal?: AbortSignal): Promise<Notification[]> {
  return (await request<Notification[]>(`/notifications${unread ? '?unread=true' : ''}`, { signal })).data;
}

export async function markRead(id: string): Promise<void> {
  await request(`/notifications/${encodeURIComponent(id)}/read`, { method: 'POST' });
  changed();
}

export async function markAllRead(): Promise<void> {
  await request('/notifications/read-all', { method: 'POST' });
  changed();
}

/** Tells the shell's badge to count again. */
export function changed(): void {
  window.dispatchEvent(new Event('nexbii:notifications'));
}

/** The console page for an API path a notice links to, when the console has one. */
export function consoleLink(apiPath: string | null | undefined): string | null {
  if (!apiPath) return null;
  const cat = /^\/api\/v1\/catalog\/datasources\/([^/?#]+)\/tables(?:\/([^/?#]+))?$/.exec(apiPath);
  if (cat) return cat[2] ? `/catalog/${cat[1]}/${cat[2]}` : '/catalog';
  const m = /^\/api\/v1\/(approvals|dashboards|datasources)\/([^/?#]+)$/.exec(apiPath);
  if (!m) return null;
  if (m[1] === 'approvals') return `/approvals?box=all&id=${m[2]}`;
  if (m[1] === 'dashboards') return `/dashboards/${m[2]}`;
  return '/datasources';
}

/** When a notice was made. Its `createdAt` is unreliable (the API answers the key twice, the
 * second time with the record's empty metadata, 1970): the id starts with the time
 * (`YYYYMMDDHHMMSS` and microseconds, UTC), which is used first. */
export function noticeTime(n: Pick<Notification, 'id' | 'createdAt'>): string | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})?/.exec(n.id);
  if (m) return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7] ?? '000'}Z`;
  return n.createdAt && !n.createdAt.startsWith('1970-') ? n.createdAt : null;
}

/** The badge text: the count, "99+" past 99, nothing at 0. */
export function badgeText(n: number): string {
  return n <= 0 ? '' : n > 99 ? '99+' : String(n);
}
