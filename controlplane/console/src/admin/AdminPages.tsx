import { lazy, Suspense, useEffect } from 'react';
import type { Session } from '../auth/session';
import { Link } from '../app/Link';
import { navigate } from '../app/router';

const PAGES = [
  { path: '/admin/monitoring', label: 'Monitoring', page: lazy(() => import('./MonitoringPage')) },
  { path: '/admin/performance', label: 'Performance', page: lazy(() => import('./PerformancePage')) },
  { path: '/admin/users', label: 'Users', page: lazy(() => import('./UsersPage')) },
  { path: '/admin/sessions', label: 'Sessions', page: lazy(() => import('./SessionsPage')) },
  { path: '/admin/apikeys', label: 'API keys', page: lazy(() => import('./ApiKeysPage')) },
  { path: '/admin/features', label: 'Feature flags', page: lazy(() => import('./FeaturesPage')) },
  { path: '/admin/history', label: 'Config history', page: lazy(() => import('./HistoryPage')) },
  { path: '/admin/config', label: 'Export / import', page: lazy(() => import('./ConfigPage')) },
  { path: '/admin/audit', label: 'Audit log', page: lazy(() => import('./AuditPage')) },
  { path: '/admin/backups', label: 'Backups', page: lazy(() => import('./BackupsPage')) },
  { path: '/admin/webhooks', label: 'Webhooks', page: lazy(() => import('./WebhooksPage')) },
  { path: '/admin/settings', label: 'Settings', page: lazy(() => import('./SettingsPage')) },
  { path: '/admin/alerts', label: 'Alerts', page: lazy(() => import('./AlertsPage')) },
  { path: '/admin/runtime', label: 'Runtime configuration', page: lazy(() => import('./RuntimePage')) },
];

/** The admin area: its own navigation, each page loaded when first opened. */
export default function AdminPages({ path, session }: { path: string; session: Session }) {
  useEffect(() => {
    if (path === '/admin' || path === '/admin/') navigate('/admin/monitoring', true);
  }, [path]);
  const current = PAGES.find((p) => path === p.path);
  const Page = current?.page;
  return (
    <div className="admin">
      <nav aria-label="Admin" className="subnav">
        <ul>
          {PAGES.map((p) => (
            <li key={p.path}>
              <Link href={p.path} aria-current={p === current ? 'page' : undefined}>
                {p.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <div className="admin-page">
        <Suspense fallback={<p role="status">Loading page…</p>}>
          {Page ? (
            <Page session={session} />
          ) : path === '/admin' || path === '/admin/' ? null : (
            <section>
              <h1>Page not found</h1>
              <p>
                There is no admin page at <code>{path}</code>.
              </p>
            </section>
          )}
        </Suspense>
      </div>
    </div>
  );
}
