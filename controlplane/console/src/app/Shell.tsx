import { useState, type ReactNode } from 'react';
import type { Session } from '../auth/session';
import { BrandMark } from '../branding/Logo';
import { useBranding } from '../branding/useBranding';
import { NotificationsBell } from '../notifications/NotificationsBell';
import { useFeature } from './features';
import { formatTime } from './format';
import { Link } from './Link';
import { useLocation } from './router';
import { ThemeToggle } from './ThemeToggle';

interface NavItem {
  href: string;
  label: string;
  admin?: boolean;
  /** Shown only when this feature is on for the caller. */
  feature?: string;
}

export const NAV: NavItem[] = [
  { href: '/dashboards', label: 'Dashboards' },
  { href: '/sql', label: 'SQL editor' },
  { href: '/datasources', label: 'Data sources' },
  { href: '/catalog', label: 'Catalog' },
  { href: '/lineage', label: 'Lineage' },
  { href: '/approvals', label: 'Approvals' },
  { href: '/shares', label: 'Shares', feature: 'sharing' },
  { href: '/admin', label: 'Admin', admin: true },
];

/** The navigation a role sees: admin pages only for admins, a feature's pages only when it
 * is on for the caller. */
export function navFor(role: Session['role'], featureOn: (name: string) => boolean = () => true): NavItem[] {
  return NAV.filter((n) => (!n.admin || role === 'admin') && (!n.feature || featureOn(n.feature)));
}

export function Shell({
  session,
  onLogout,
  onStopActing,
  children,
}: {
  session: Session;
  onLogout: () => void;
  onStopActing: () => void;
  children: ReactNode;
}) {
  const { path } = useLocation();
  const branding = useBranding(session.tenant);
  // Share links are made by editors and admins (viewers cannot create one).
  const sharing = useFeature('sharing', session.token);
  return (
    <div className="shell">
      <header className="topbar">
        <a className="skip" href="#main">
          Skip to content
        </a>
        <BrandMark branding={branding} />
        <nav aria-label="Main">
          <ul>
            {navFor(session.role, (f) => f === 'sharing' && sharing && session.role !== 'viewer').map((n) => (
              <li key={n.href}>
                <Link href={n.href} aria-current={path === n.href || path.startsWith(`${n.href}/`) ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar-end">
          <NotificationsBell />
          <ThemeToggle />
          <Link href="/account" className="who" title={`My account (tenant ${session.tenant})`} aria-current={path === '/account' ? 'page' : undefined}>
            <span className="sr-only">My account: </span>
            {session.username} <small>({session.role})</small>
          </Link>
          <button type="button" className="ghost" onClick={onLogout}>
            Log out
          </button>
        </div>
      </header>
      {session.impersonation && <ActingBanner session={session} by={session.impersonation.by} onStop={onStopActing} />}
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}

/** On every page while an admin acts as someone: who, until when, and the way back. */
function ActingBanner({ session, by, onStop }: { session: Session; by: string; onStop: () => void }) {
  const [busy, setBusy] = useState(false);
  return (
    <div className="acting" role="region" aria-label="Impersonation" data-testid="acting-banner">
      <p>
        Acting as <strong>{session.username}</strong> ({session.role}) — you are {by}; this ends at {formatTime(session.expiresAt)}.
      </p>
      <button
        type="button"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          onStop();
        }}
      >
        Stop<span className="sr-only"> acting as {session.username}</span>
      </button>
    </div>
  );
}
