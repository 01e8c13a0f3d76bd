import { useEffect, useState, type ReactNode } from 'react';
import { request } from '../api/client';
import type { TenantInfo } from '../api/types';
import type { Session } from '../auth/session';
import { Link } from './Link';
import { applyBranding, setTheme, useTheme } from './theme';
import { useLocation } from './router';

const NAV = [
  { href: '/dashboards', label: 'Dashboards' },
  { href: '/sql', label: 'SQL editor' },
  { href: '/datasources', label: 'Data sources' },
];

export function Shell({ session, onLogout, children }: { session: Session; onLogout: () => void; children: ReactNode }) {
  const theme = useTheme();
  const { path } = useLocation();
  const [brand, setBrand] = useState<string>('NexBII');
  useEffect(() => {
    // The tenant's white-label name and colours; the shell works without them.
    request<TenantInfo>('/tenant').then(
      ({ data }) => {
        setBrand(data.branding?.name || data.displayName || 'NexBII');
        applyBranding(data.branding?.primaryColor, data.branding?.accentColor);
      },
      () => {},
    );
  }, []);
  useEffect(() => {
    document.title = brand;
  }, [brand]);
  return (
    <div className="shell">
      <header className="topbar">
        <a className="skip" href="#main">Skip to content</a>
        <span className="brand" data-testid="brand">{brand}</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.href}>
                <Link href={n.href} aria-current={path.startsWith(n.href) ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar-end">
          <button
            type="button"
            className="ghost"
            aria-pressed={theme === 'dark'}
            onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
          >
            {theme === 'dark' ? 'Light theme' : 'Dark theme'}
          </button>
          <span className="who" title={`tenant ${session.tenant}`}>
            {session.username} <small>({session.role})</small>
          </span>
          <button type="button" className="ghost" onClick={onLogout}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
