import { useMemo, useState } from 'react';
import type { DashboardRecord } from '../api/types';
import { Link } from '../app/Link';
import { useAsync } from '../app/useAsync';
import { listDashboards } from './api';

/** Matches every word of the query against title, name, folder and tags. */
export function matchesSearch(d: DashboardRecord, query: string): boolean {
  const hay = [d.spec.title, d.name, d.spec.folder ?? '', ...(d.spec.tags ?? [])].join(' ').toLowerCase();
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((w) => hay.includes(w));
}

export function DashboardsPage({ canEdit = false }: { canEdit?: boolean }) {
  const [list] = useAsync((signal) => listDashboards(signal), []);
  const [query, setQuery] = useState('');
  const shown = useMemo(
    () =>
      list.state === 'done'
        ? list.value
            .filter((d) => matchesSearch(d, query))
            .sort((a, b) => (a.spec.folder ?? '').localeCompare(b.spec.folder ?? '') || a.spec.title.localeCompare(b.spec.title))
        : [],
    [list, query],
  );
  return (
    <section>
      <header className="page-head">
        <h1>Dashboards</h1>
        {canEdit && (
          <Link href="/dashboards/new" className="button-link">
            New dashboard
          </Link>
        )}
        <label className="search">
          <span className="sr-only">Search dashboards</span>
          <input type="search" placeholder="Search by title, folder or tag" value={query} onChange={(e) => setQuery(e.target.value)} />
        </label>
      </header>
      {list.state === 'loading' && <p role="status">Loading dashboards…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && (
        <table className="list">
          <caption className="sr-only">Dashboards</caption>
          <thead>
            <tr>
              <th scope="col">Title</th>
              <th scope="col">Folder</th>
              <th scope="col">Tags</th>
              <th scope="col">Widgets</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((d) => (
              <tr key={d.name}>
                <td>
                  <Link href={`/dashboards/${encodeURIComponent(d.name)}`}>{d.spec.title}</Link>
                </td>
                <td>{d.spec.folder ?? ''}</td>
                <td>
                  {(d.spec.tags ?? []).map((t) => (
                    <span key={t} className="tag">
                      {t}
                    </span>
                  ))}
                </td>
                <td>{d.spec.widgets?.length ?? 0}</td>
                <td>{d.spec.publication === 'published' ? 'Published' : 'Draft'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.state === 'done' && shown.length === 0 && <p>{query ? 'No dashboard matches the search.' : 'No dashboards yet.'}</p>}
    </section>
  );
}
