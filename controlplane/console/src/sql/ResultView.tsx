import { useMemo, useState } from 'react';
import type { QueryResult } from '../api/types';
import { EChart } from '../dashboards/EChart';
import { TableWidget } from '../dashboards/TableWidget';
import { defaultColumns, RESULT_CHARTS, resultChartOption, type ResultChart } from './chartResult';

export function ResultView({ result }: { result: QueryResult }) {
  const [view, setView] = useState<'table' | 'chart'>('table');
  return (
    <div className="result">
      <div className="result-meta" data-testid="result-meta">
        <span>
          {result.rowCount} {result.rowCount === 1 ? 'row' : 'rows'}
        </span>
        {result.truncated && <span className="badge warn">truncated at the row limit</span>}
        <span>{result.elapsedMs.toFixed(1)} ms</span>
        {result.cached && <span className="badge">cached{result.cachedAt ? ` at ${new Date(result.cachedAt).toLocaleTimeString()}` : ''}</span>}
        {(result.masked?.length ?? 0) > 0 && (
          <span className="badge warn" title={result.masked!.map((m) => `${m.column}: ${m.action} (${m.level}) — ${m.reason}`).join('\n')}>
            masked: {result.masked!.map((m) => `${m.column} (${m.action})`).join(', ')}
          </span>
        )}
        <span className="view-switch" role="group" aria-label="Show the result as">
          <button type="button" className={view === 'table' ? '' : 'ghost'} aria-pressed={view === 'table'} onClick={() => setView('table')}>
            Table
          </button>
          <button type="button" className={view === 'chart' ? '' : 'ghost'} aria-pressed={view === 'chart'} onClick={() => setView('chart')}>
            Chart
          </button>
        </span>
      </div>
      {view === 'table' ? <TableWidget result={result} caption="Query result" pageSize={50} /> : <ResultChartView key={result.columns.map((c) => c.name).join('\u0000')} result={result} />}
    </div>
  );
}

function ResultChartView({ result }: { result: QueryResult }) {
  const [kind, setKind] = useState<ResultChart>('bar');
  const start = defaultColumns(result, kind) ?? defaultColumns(result, 'bar');
  const [x, setX] = useState(start?.x ?? result.columns[0]?.name ?? '');
  const [y, setY] = useState(start?.y ?? result.columns[1]?.name ?? '');
  const built = useMemo(() => resultChartOption(kind, x, y, result), [kind, x, y, result]);
  const names = result.columns.map((c) => c.name);
  const pick = (label: string, value: string, set: (v: string) => void) => (
    <label className="inline">
      {label}
      <select value={value} onChange={(e) => set(e.target.value)}>
        {names.map((n) => (
          <option key={n}>{n}</option>
        ))}
      </select>
    </label>
  );
  return (
    <div className="result-chart">
      <div className="toolbar">
        <label className="inline">
          Chart type
          <select value={kind} onChange={(e) => setKind(e.target.value as ResultChart)}>
            {RESULT_CHARTS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        {pick(kind === 'pie' ? 'Labels' : 'X axis', x, setX)}
        {pick(kind === 'pie' ? 'Values' : 'Y axis', y, setY)}
      </div>
      {'error' in built ? (
        <p className="error" role="alert">
          {built.error}
        </p>
      ) : (
        <div className="chart-box tall" data-testid="result-chart">
          <EChart option={built.option} label={`${kind} chart of ${y} by ${x}`} />
        </div>
      )}
    </div>
  );
}
