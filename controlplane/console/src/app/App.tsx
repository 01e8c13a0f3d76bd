import { lazy, Suspense, useEffect, useState } from 'react';
import { embedTenant } from '../embed/embed';
import { onUnauthorized } from '../api/client';
import { LoginPage } from '../auth/LoginPage';
import { afterUnauthorized, loadSession, logout, recheckImpersonation, stopImpersonation, type Session } from '../auth/session';
import { SessionSwitch } from '../auth/SessionSwitch';
import { DashboardsPage } from '../dashboards/DashboardsPage';
import { DashboardView } from '../dashboards/DashboardView';
import { DataSourcesPage } from '../datasources/DataSourcesPage';
import { SqlEditorPage } from '../sql/SqlEditorPage';
import { match, navigate, useLocation } from './router';
import { Shell } from './Shell';

// Pages few people open are their own chunks, loaded on first visit.
const AdminPages = lazy(() => import('../admin/AdminPages'));
const NotificationsPage = lazy(() => import('../notifications/NotificationsPage'));
const CatalogPage = lazy(() => import('../catalog/CatalogPage'));
const TablePage = lazy(() => import('../catalog/TablePage'));
const LineagePage = lazy(() => import('../lineage/LineagePage'));
const ApprovalsPage = lazy(() => import('../approvals/ApprovalsPage'));
const DashboardEditor = lazy(() => import('../dashboards/DashboardEditor'));
const AccountPage = lazy(() => import('../account/AccountPage'));
const SharesPage = lazy(() => import('../sharing/SharesPage'));
const SharedPage = lazy(() => import('../sharing/SharedPage'));
const EmbedPage = lazy(() => import('../embed/EmbedPage').then((m) => ({ default: m.EmbedPage })));

export function App() {
  const { path } = useLocation();
  // A share link's page is public: no login, no shell, whether or not someone is signed in.
  // An embed page is opened with its own token inside a host application's frame: no login.
  const embedded = embedTenant(path);
  if (embedded)
    return (
      <Suspense fallback={<p role="status">Loading dashboard…</p>}>
        <EmbedPage tenant={embedded} />
      </Suspense>
    );
  const shared = match('/shared/:token', path);
  if (shared)
    return (
      <Suspense fallback={<p role="status">Loading page…</p>}>
        <SharedPage token={shared.token} />
      </Suspense>
    );
  return <SignedIn />;
}

function SignedIn() {
  const [session, setSession] = useState<Session | null>(() => loadSession());
  useEffect(() => {
    // An impersonation the server ended returns to the admin; any other session is over.
    onUnauthorized(() => setSession(afterUnauthorized()));
    // A page loaded while acting as someone checks that the impersonation is still on.
    void recheckImpersonation(loadSession());
  }, []);
  if (!session) return <LoginPage onLogin={setSession} />;
  const signOut = async () => {
    await logout();
    setSession(null);
    navigate('/', true);
  };
  const stopActing = async () => {
    const admin = await stopImpersonation(session);
    setSession(admin);
    navigate(admin ? '/admin/users' : '/', true);
  };
  // Keyed by the token: a switch of user (acting as someone, or back) starts every page afresh.
  return (
    <SessionSwitch.Provider value={setSession}>
      <Shell key={session.token} session={session} onLogout={signOut} onStopActing={stopActing}>
        <Suspense fallback={<p role="status">Loading page…</p>}>
          <Routes session={session} />
        </Suspense>
      </Shell>
    </SessionSwitch.Provider>
  );
}

function Routes({ session }: { session: Session }) {
  const { path } = useLocation();
  useEffect(() => {
    if (path === '/') navigate('/dashboards', true);
  }, [path]);
  if (path === '/' || path === '/dashboards') return <DashboardsPage canEdit={session.role !== 'viewer'} />;
  if (path === '/dashboards/new') return <DashboardEditor key="new" name={null} session={session} />;
  const e = match('/dashboards/:name/edit', path);
  if (e) return <DashboardEditor key={e.name} name={e.name} session={session} />;
  const d = match('/dashboards/:name', path);
  if (d) return <DashboardView name={d.name} canEdit={session.role !== 'viewer'} session={session} />;
  if (path === '/sql') return <SqlEditorPage session={session} />;
  if (path === '/datasources') return <DataSourcesPage session={session} />;
  if (path === '/notifications') return <NotificationsPage />;
  if (path === '/catalog') return <CatalogPage />;
  if (path === '/lineage') return <LineagePage />;
  if (path === '/approvals') return <ApprovalsPage session={session} />;
  if (path === '/account') return <AccountPage session={session} />;
  if (path === '/shares') return <SharesPage session={session} />;
  const t = match('/catalog/:source/:table', path);
  if (t) return <TablePage key={path} source={t.source} table={t.table} session={session} />;
  if (path === '/admin' || path.startsWith('/admin/')) {
    if (session.role !== 'admin')
      return (
        <section>
          <h1>Admin</h1>
          <p role="alert">These pages are for the tenant’s admins; you are signed in as {session.role}.</p>
        </section>
      );
    return <AdminPages path={path} session={session} />;
  }
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is no page at <code>{path}</code>.
      </p>
    </section>
  );
}
