import type { QueryResult } from '../api/types';
import { kpiOf } from './kpi';

export function KpiWidget({ result, options }: { result: QueryResult; options: Record<string, unknown> }) {
  const k = kpiOf(result, options);
  const up = k.changePct !== null && k.changePct >= 0;
  return (
    <div className="kpi">
      <span className="kpi-value" data-testid="kpi-value">{k.value}</span>
      <span className="kpi-label">{k.label}</span>
      {k.changePct !== null && (
        <span className={up ? 'kpi-change up' : 'kpi-change down'}>
          <span aria-hidden="true">{up ? '▲' : '▼'}</span> {up ? 'up' : 'down'} {Math.abs(k.changePct).toFixed(1)}%
        </span>
      )}
    </div>
  );
}
