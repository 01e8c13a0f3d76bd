import { useEffect, useMemo, useState } from 'react';
import { formatBytes, formatCount, formatDuration, formatMs, formatPercent, formatRatio, formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import { EChart } from '../dashboards/EChart';
import { monitoring, series, WINDOWS, type ByWindow, type MonitoringReport, type WindowName } from './api';
import { formatSeriesValue, unitCaption, SERIES_METRICS, seriesOption, seriesSummary } from './seriesChart';

const REFRESH_MS = 15_000;

export default function MonitoringPage() {
  const [auto, setAuto] = useState(true);
  const [report, reload] = useAsync((signal) => monitoring(signal), []);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!auto) return;
    const t = setInterval(() => {
      reload();
      setTick((n) => n + 1);
    }, REFRESH_MS);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [auto]);
  // Keep the last report on screen while the next one loads.
  const [shown, setShown] = useState<MonitoringReport | null>(null);
  useEffect(() => {
    if (report.state === 'done') setShown(report.value);
  }, [report]);
  return (
    <section>
      <header className="page-head">
        <div>
          <h1>Monitoring</h1>
          {shown && (
            <p className="muted">
              Version {shown.version}, up {formatDuration(shown.uptimeSeconds)}; measured {formatTime(shown.at)}
            </p>
          )}
        </div>
        <div className="actions">
          <label className="inline">
            <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.target.checked)} /> Refresh every 15 s
          </label>
          <button
            type="button"
            className="ghost"
            onClick={() => {
              reload();
              setTick((n) => n + 1);
            }}
          >
            Refresh
          </button>
        </div>
      </header>
      {report.state === 'error' && (
        <p className="error" role="alert">
          {report.error.message}
        </p>
      )}
      {!shown && report.state === 'loading' && <p role="status">Loading figures…</p>}
      {shown && <Report r={shown} />}
      <Charts tick={tick} />
    </section>
  );
}

function Report({ r }: { r: MonitoringReport }) {
  const [win, setWin] = useState<WindowName>('1h');
  const h = r.health;
  const res = r.resources;
  return (
    <>
      <div className="figures" aria-label="Health and resources" role="group">
        <Figure label="Health" value={h.status} tone={h.status === 'ok' ? 'ok' : 'error'} testid="health-status" />
        <Figure label="Store" value={h.store.ok ? `ok, ${formatMs(h.store.latencyMs)}` : `down: ${h.store.error ?? ''}`} tone={h.store.ok ? 'ok' : 'error'} />
        <Figure label="Process CPU" value={formatPercent(res.processCpuPercent)} />
        <Figure label="Memory (RSS)" value={formatBytes(res.rssBytes)} />
        <Figure label="Host CPU" value={`${formatPercent(res.hostCpuPercent)}${res.hostCpus ? ` of ${res.hostCpus} cores` : ''}`} />
        <Figure label="Host memory free" value={`${formatBytes(res.hostMemoryAvailableBytes)} of ${formatBytes(res.hostMemoryTotalBytes)}`} />
        <Figure label="Disk free" value={`${formatBytes(res.diskFreeBytes)} of ${formatBytes(res.diskTotalBytes)}`} />
        <Figure label="Store size" value={formatBytes(res.storeBytes)} />
        <Figure label="Open files" value={formatCount(res.openFiles)} />
        <Figure label="Active users (5 min / 1 h / 24 h)" value={`${r.activity.activeUsers['5m']} / ${r.activity.activeUsers['1h']} / ${r.activity.activeUsers['24h']}`} />
        <Figure label="Active sessions" value={formatCount(r.activity.activeSessions)} />
        <Figure label="Result cache" value={`${formatCount(h.cache.entries)} entries, ${formatRatio(h.cache.hitRate1h)} hits (1 h)`} />
      </div>

      <h2>Requests and queries</h2>
      <WindowTable rows={[
        ['Requests', r.requests],
        ['Query runs', r.queries],
      ]} />

      <h2>Data sources</h2>
      <table className="list">
        <caption className="sr-only">Data source health</caption>
        <thead>
          <tr>
            <th scope="col">Source</th>
            <th scope="col">Connection</th>
            <th scope="col">Checked</th>
            <th scope="col">Pool</th>
            <th scope="col" className="num">
              Running / max
            </th>
          </tr>
        </thead>
        <tbody>
          {h.dataSources.map((s) => (
            <tr key={s.name}>
              <th scope="row">
                {s.name} <span className="muted">{s.type}</span>
              </th>
              <td>
                {s.connected == null ? (
                  <span className="muted">not checked</span>
                ) : s.connected ? (
                  <span className="ok">connected{s.latencyMs != null && `, ${formatMs(s.latencyMs)}`}</span>
                ) : (
                  <span className="error">unreachable{s.lastError ? `: ${s.lastError}` : ''}</span>
                )}
              </td>
              <td>{formatTime(s.checkedAt)}</td>
              <td>{s.poolOpen ? 'open' : 'closed'}</td>
              <td className="num">
                {s.queriesRunning} / {s.maxConcurrentQueries}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {h.jobs.length > 0 && (
        <p>
          Background jobs:{' '}
          {h.jobs.map((j) => (
            <span key={j.name} className="tag">
              {j.name}: {j.pending} pending
            </span>
          ))}
        </p>
      )}

      <div className="page-head">
        <h2>Busiest routes</h2>
        <label className="inline">
          Window{' '}
          <select value={win} onChange={(e) => setWin(e.target.value as WindowName)}>
            {WINDOWS.map((w) => (
              <option key={w}>{w}</option>
            ))}
          </select>
        </label>
      </div>
      <table className="list">
        <caption className="sr-only">Requests per route over {win}</caption>
        <thead>
          <tr>
            <th scope="col">Route</th>
            <th scope="col" className="num">Requests</th>
            <th scope="col" className="num">4xx / 5xx</th>
            <th scope="col" className="num">p50</th>
            <th scope="col" className="num">p95</th>
            <th scope="col" className="num">p99</th>
          </tr>
        </thead>
        <tbody>
          {r.routes
            .filter((x) => x.windows[win].count > 0)
            .slice(0, 15)
            .map((x) => (
              <tr key={x.route}>
                <th scope="row">
                  <code>{x.route}</code>
                </th>
                <td className="num">{formatCount(x.windows[win].count)}</td>
                <td className="num">
                  {formatCount(x.windows[win].clientErrors)} / {formatCount(x.windows[win].errors)}
                </td>
                <td className="num">{formatMs(x.windows[win].p50Ms)}</td>
                <td className="num">{formatMs(x.windows[win].p95Ms)}</td>
                <td className="num">{formatMs(x.windows[win].p99Ms)}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </>
  );
}

function Figure({ label, value, tone, testid }: { label: string; value: string; tone?: 'ok' | 'error'; testid?: string }) {
  return (
    <div className="card figure">
      <div className="muted">{label}</div>
      <div className={`figure-value ${tone ?? ''}`} data-testid={testid}>
        {value}
      </div>
    </div>
  );
}

function WindowTable({ rows }: { rows: [string, ByWindow][] }) {
  return (
    <table className="list">
      <caption className="sr-only">Figures over 1 minute, 5 minutes, 1 hour and 24 hours</caption>
      <thead>
        <tr>
          <th scope="col">What</th>
          <th scope="col">Window</th>
          <th scope="col" className="num">Count</th>
          <th scope="col" className="num">Per second</th>
          <th scope="col" className="num">Errors</th>
          <th scope="col" className="num">Error rate</th>
          <th scope="col" className="num">p50</th>
          <th scope="col" className="num">p95</th>
          <th scope="col" className="num">p99</th>
        </tr>
      </thead>
      <tbody>
        {rows.flatMap(([what, w]) =>
          WINDOWS.map((win) => (
            <tr key={`${what}-${win}`} data-testid={`window-${what}-${win}`}>
              <th scope="row">{win === '1m' ? what : ''}</th>
              <td>{win}</td>
              <td className="num">{formatCount(w[win].count)}</td>
              <td className="num">{w[win].ratePerSecond.toFixed(2)}</td>
              <td className="num">{formatCount(w[win].errors)}</td>
              <td className="num">{formatRatio(w[win].errorRate)}</td>
              <td className="num">{formatMs(w[win].p50Ms)}</td>
              <td className="num">{formatMs(w[win].p95Ms)}</td>
              <td className="num">{formatMs(w[win].p99Ms)}</td>
            </tr>
          )),
        )}
      </tbody>
    </table>
  );
}

const DEFAULT_CHARTS = ['requests', 'latency_p95', 'error_rate', 'process_cpu'];

function Charts({ tick }: { tick: number }) {
  const [win, setWin] = useState<WindowName>('1h');
  return (
    <>
      <div className="page-head">
        <h2>Over time</h2>
        <label className="inline">
          Chart window{' '}
          <select value={win} onChange={(e) => setWin(e.target.value as WindowName)}>
            <option value="5m">5 minutes</option>
            <option value="1h">1 hour</option>
            <option value="24h">24 hours</option>
          </select>
        </label>
      </div>
      <div className="chart-grid">
        {DEFAULT_CHARTS.map((m, i) => (
          <SeriesChart key={i} initial={m} win={win} tick={tick} index={i} />
        ))}
      </div>
    </>
  );
}

function SeriesChart({ initial, win, tick, index }: { initial: string; win: WindowName; tick: number; index: number }) {
  const [metric, setMetric] = useState(initial);
  const [s] = useAsync((signal) => series(metric, win, signal), [metric, win, tick]);
  const label = SERIES_METRICS.find((x) => x.metric === metric)?.label ?? metric;
  const option = useMemo(() => (s.state === 'done' ? seriesOption(s.value) : null), [s]);
  const summary = s.state === 'done' ? seriesSummary(s.value) : null;
  return (
    <div className="card chart-card" data-testid="series-chart" data-metric={metric}>
      <label>
        <span className="sr-only">Metric of chart {index + 1}</span>
        <select value={metric} onChange={(e) => setMetric(e.target.value)}>
          {SERIES_METRICS.map((x) => (
            <option key={x.metric} value={x.metric}>
              {x.label}
            </option>
          ))}
        </select>
      </label>
      <div className="chart-box">
        {s.state === 'error' && (
          <p className="error" role="alert">
            {s.error.message}
          </p>
        )}
        {option && s.state === 'done' && <EChart option={option} label={`${label} over ${win}, one point per minute`} />}
      </div>
      {summary && s.state === 'done' && (
        <div className="muted">
          {summary.measured === 0
            ? // A fresh instance has no sample of some figures yet (host CPU needs two readings).
              `nothing measured yet (${unitCaption(s.value.unit)})`
            : `now ${formatSeriesValue(summary.last, s.value.unit)}, max ${formatSeriesValue(summary.max, s.value.unit)}`}
        </div>
      )}
    </div>
  );
}
