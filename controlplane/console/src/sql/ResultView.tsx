import type { QueryResult } from '../api/types';
import { TableWidget } from '../dashboards/TableWidget';

export function ResultView({ result }: { result: QueryResult }) {
  return (
    <div className="result">
      <p className="result-meta" data-testid="result-meta">
        <span>
          {result.rowCount} {result.rowCount === 1 ? 'row' : 'rows'}
        </span>
        {result.truncated && <span className="badge warn">truncated at the row limit</span>}
        <span>{result.elapsedMs.toFixed(1)} ms</span>
        {result.cached && <span className="badge">cached{result.cachedAt ? ` at ${new Date(result.cachedAt).toLocaleTimeString()}` : ''}</span>}
        {(result.masked?.length ?? 0) > 0 && <span className="badge">masked: {result.masked!.map((m) => m.column).join(', ')}</span>}
      </p>
      <TableWidget result={result} caption="Query result" pageSize={50} />
    </div>
  );
}
