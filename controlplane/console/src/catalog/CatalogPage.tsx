import { useState, type FormEvent } from 'react';
import { download } from '../api/download';
import { listDataSources } from '../datasources/api';
import { Link } from '../app/Link';
import { navigate, useLocation } from '../app/router';
import { useAsync } from '../app/useAsync';
import { listTables, search, tablePage, type SearchFilters } from './api';
import { facetEntries } from './logic';

/** Search (kept in the address: `/catalog?q=…&tag=…`) with facets; without a query, the
 * tables of every data source. */
export default function CatalogPage() {
  const { search: params } = useLocation();
  const filters: SearchFilters = {
    q: params.get('q') ?? '',
    dataSource: params.get('dataSource') ?? undefined,
    tag: params.get('tag') ?? undefined,
    sensitivity: params.get('sensitivity') ?? undefined,
  };
  const [draft, setDraft] = useState(filters.q);
  const go = (f: SearchFilters) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
    navigate(`/catalog${q.toString() ? `?${q}` : ''}`);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    go({ q: draft });
  };
  return (
    <section>
      <header className="page-head">
        <h1>Catalog</h1>
        <Dictionary />
      </header>
      <form className="toolbar" role="search" onSubmit={submit}>
        <label className="search">
          <span className="sr-only">Search the catalog</span>
          <input type="search" value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="Tables, columns, tags, descriptions, classifications" />
        </label>
        <button type="submit">Search</button>
      </form>
      {filters.q ? <Results filters={filters} go={go} /> : <Browse />}
    </section>
  );
}

function Results({ filters, go }: { filters: SearchFilters; go: (f: SearchFilters) => void }) {
  const [r] = useAsync((signal) => search(filters, signal), [filters.q, filters.dataSource, filters.tag, filters.sensitivity]);
  if (r.state === 'loading') return <p role="status">Searching…</p>;
  if (r.state === 'error')
    return (
      <p className="error" role="alert">
        {r.error.message}
      </p>
    );
  const res = r.value;
  const facet = (key: 'dataSource' | 'tag' | 'sensitivity', label: string) => (
    <fieldset className="facet">
      <legend>{label}</legend>
      {facetEntries(res.facets[key]).map(([v, n]) => {
        const on = filters[key] === v;
        return (
          <button key={v} type="button" className={on ? '' : 'ghost'} aria-pressed={on} onClick={() => go({ ...filters, [key]: on ? undefined : v })}>
            {v} <span className="muted">{n}</span>
          </button>
        );
      })}
      {facetEntries(res.facets[key]).length === 0 && <span className="muted">none</span>}
    </fieldset>
  );
  return (
    <div className="catalog-results">
      <aside aria-label="Facets">
        {facet('dataSource', 'Data source')}
        {facet('sensitivity', 'Sensitivity')}
        {facet('tag', 'Tag')}
      </aside>
      <div>
        <p role="status" data-testid="search-summary">
          {res.hits.length} of {res.total} matches for “{res.query}”
        </p>
        <ul className="hits">
          {res.hits.map((h, i) => (
            <li key={i} className="card" data-testid="hit">
              <Link href={tablePage(h.dataSource, h.table)}>
                {h.dataSource}.{h.table}
                {h.column ? `.${h.column}` : ''}
              </Link>{' '}
              <span className="muted">{h.kind}</span>
              {h.sensitivity && <span className={`badge level-${h.sensitivity}`}>{h.sensitivity}</span>}
              {h.classification && <span className="badge">{h.classification}</span>}
              {h.tags.map((t) => (
                <span key={t} className="tag">
                  {t}
                </span>
              ))}
              {h.description && <p>{h.description}</p>}
            </li>
          ))}
        </ul>
      </div>
    </div>
  );
}

function Browse() {
  const [sources] = useAsync((signal) => listDataSources(signal), []);
  if (sources.state === 'loading') return <p role="status">Loading data sources…</p>;
  if (sources.state === 'error')
    return (
      <p className="error" role="alert">
        {sources.error.message}
      </p>
    );
  return (
    <>
      {sources.value.map((s) => (
        <SourceTables key={s.name} source={s.name} />
      ))}
      {sources.value.length === 0 && <p>No data sources yet.</p>}
    </>
  );
}

function SourceTables({ source }: { source: string }) {
  const [tables] = useAsync((signal) => listTables(source, signal), [source]);
  return (
    <section aria-labelledby={`src-${source}`}>
      <h2 id={`src-${source}`}>{source}</h2>
      {tables.state === 'loading' && <p role="status">Loading tables…</p>}
      {tables.state === 'error' && (
        <p className="error" role="alert">
          {tables.error.message}
        </p>
      )}
      {tables.state === 'done' && tables.value.length === 0 && <p>Not crawled yet.</p>}
      {tables.state === 'done' && tables.value.length > 0 && (
        <table className="list">
          <caption className="sr-only">Tables of {source}</caption>
          <thead>
            <tr>
              <th scope="col">Table</th>
              <th scope="col" className="num">Rows (est.)</th>
              <th scope="col" className="num">Columns</th>
              <th scope="col" className="num">Sensitive</th>
              <th scope="col">Tags</th>
              <th scope="col">Description</th>
            </tr>
          </thead>
          <tbody>
            {tables.value.map((t) => (
              <tr key={t.id}>
                <th scope="row">
                  <Link href={tablePage(source, t.schema ? `${t.schema}.${t.name}` : t.name)}>{t.schema ? `${t.schema}.${t.name}` : t.name}</Link>
                  {t.dropped && <span className="badge warn">dropped</span>}
                </th>
                <td className="num">{t.rowEstimate?.toLocaleString('en-US') ?? '–'}</td>
                <td className="num">{t.columns}</td>
                <td className="num">{t.sensitiveColumns}</td>
                <td>
                  {t.tags.map((x) => (
                    <span key={x} className="tag">
                      {x}
                    </span>
                  ))}
                </td>
                <td>{t.description ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Dictionary() {
  const [format, setFormat] = useState<'csv' | 'markdown' | 'json'>('csv');
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const run = async () => {
    try {
      const ext = format === 'markdown' ? 'md' : format;
      const r = await download(`/catalog/dictionary?format=${format}`, `data-dictionary.${ext}`);
      setMsg({ ok: true, text: `Downloaded ${r.name}` });
    } catch (e) {
      setMsg({ ok: false, text: (e as Error).message });
    }
  };
  return (
    <div className="actions">
      <label>
        <span className="sr-only">Dictionary format</span>
        <select value={format} onChange={(e) => setFormat(e.target.value as 'csv' | 'markdown' | 'json')}>
          <option value="csv">CSV</option>
          <option value="markdown">Markdown</option>
          <option value="json">JSON</option>
        </select>
      </label>
      <button type="button" className="ghost" onClick={run}>
        Download data dictionary
      </button>
      {msg && (
        <span role={msg.ok ? 'status' : 'alert'} className={msg.ok ? 'ok' : 'error'}>
          {msg.text}
        </span>
      )}
    </div>
  );
}
