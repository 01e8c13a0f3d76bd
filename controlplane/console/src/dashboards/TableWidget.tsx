import { useEffect, useMemo, useState } from 'react';
import type { QueryResult } from '../api/types';
import { cellText, isNumericColumn } from './columns';
import { nextSort, paginate, sortRows, type Sort } from './tableModel';

/** A result as an HTML table: sortable headers (buttons, so keyboard works) and pages. */
export function TableWidget({ result, pageSize = 10, caption }: { result: QueryResult; pageSize?: number; caption: string }) {
  const [sort, setSort] = useState<Sort | null>(null);
  const [page, setPage] = useState(0);
  useEffect(() => setPage(0), [result, sort]);
  const sorted = useMemo(() => sortRows(result.rows, sort), [result, sort]);
  const numeric = useMemo(() => result.columns.map((_, i) => isNumericColumn(result, i)), [result]);
  const masked = new Set((result.masked ?? []).map((m) => m.column));
  const p = paginate(sorted, page, pageSize);
  return (
    <div className="table-widget">
      <div className="table-scroll">
        <table>
          <caption className="sr-only">{caption}</caption>
          <thead>
            <tr>
              {result.columns.map((c, i) => {
                const dir = sort?.column === i ? sort.dir : null;
                return (
                  <th key={i} scope="col" aria-sort={dir ? (dir === 'asc' ? 'ascending' : 'descending') : 'none'} className={numeric[i] ? 'num' : undefined}>
                    <button type="button" className="sort" onClick={() => setSort(nextSort(sort, i))}>
                      {c.name}
                      <span aria-hidden="true">{dir === 'asc' ? ' ▲' : dir === 'desc' ? ' ▼' : ''}</span>
                    </button>
                    {masked.has(c.name) && <span className="badge" title={result.masked!.find((m) => m.column === c.name)!.reason}>masked</span>}
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody>
            {p.items.map((row, r) => (
              <tr key={r}>
                {row.map((v, i) => (
                  <td key={i} className={numeric[i] ? 'num' : undefined}>
                    {cellText(v)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {p.pages > 1 && (
        <div className="pager" role="navigation" aria-label={`${caption} pages`}>
          <button type="button" onClick={() => setPage(p.page - 1)} disabled={p.page === 0}>
            Previous
          </button>
          <span>
            {p.from}–{p.to} of {sorted.length}
          </span>
          <button type="button" onClick={() => setPage(p.page + 1)} disabled={p.page >= p.pages - 1}>
            Next
          </button>
        </div>
      )}
    </div>
  );
}
