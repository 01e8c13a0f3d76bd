import { useEffect, useState } from 'react';
import { formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import { getAlerts, getSettings, type SettingsView } from './api';
import { alertFigure, alertName } from './alerts';
import { SettingsForm } from './SettingsForm';

const THRESHOLDS = ['alerts'];

export default function AlertsPage() {
  const [alerts, reloadAlerts] = useAsync((signal) => getAlerts(signal), [], true);
  const [loaded] = useAsync((signal) => getSettings(signal), []);
  const [view, setView] = useState<SettingsView | null>(null);
  useEffect(() => {
    if (loaded.state === 'done') setView(loaded.value);
  }, [loaded]);
  // Alerts are checked on the server every interval: follow them while the page is open.
  useEffect(() => {
    const t = setInterval(reloadAlerts, 2000);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const active = alerts.state === 'done' ? Object.entries(alerts.value.active) : [];
  const recent = alerts.state === 'done' ? [...alerts.value.recent].reverse() : [];
  return (
    <section>
      <header className="page-head">
        <h1>Health alerts</h1>
        {alerts.state === 'done' && <span className="muted">Last checked {alerts.value.evaluatedAt ? formatTime(alerts.value.evaluatedAt) : 'not yet'}</span>}
      </header>
      {alerts.state === 'error' && (
        <p className="error" role="alert">
          {alerts.error.message}
        </p>
      )}
      <h2>Firing now</h2>
      {alerts.state === 'done' && active.length === 0 && <p data-testid="no-alerts">No alert is firing.</p>}
      {active.length > 0 && (
        <table className="list">
          <caption className="sr-only">Alerts firing now</caption>
          <thead>
            <tr>
              <th scope="col">Alert</th>
              <th scope="col">Figure</th>
              <th scope="col">Threshold</th>
              <th scope="col">Since</th>
              <th scope="col">What</th>
            </tr>
          </thead>
          <tbody>
            {active.map(([key, a]) => (
              <tr key={key} data-alert={key}>
                <th scope="row">
                  <span className="badge warn">{alertName(a.kind, a.subject)}</span>
                </th>
                <td className="num" data-testid="alert-figure">
                  {alertFigure(a.kind, a.value)}
                </td>
                <td className="num">{alertFigure(a.kind, a.threshold)}</td>
                <td>{formatTime(a.since)}</td>
                <td className="wrap">{a.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Thresholds</h2>
      {loaded.state === 'error' && (
        <p className="error" role="alert">
          {loaded.error.message}
        </p>
      )}
      {view && <SettingsForm view={view} sections={THRESHOLDS} label="Alert thresholds" onSaved={setView} />}
      <h2>History</h2>
      {alerts.state === 'done' && recent.length === 0 && <p className="muted">No alert has fired yet.</p>}
      {recent.length > 0 && (
        <table className="list">
          <caption className="sr-only">Alerts fired and cleared, newest first</caption>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Alert</th>
              <th scope="col">Change</th>
              <th scope="col">Figure</th>
              <th scope="col">What</th>
            </tr>
          </thead>
          <tbody>
            {recent.map((e, i) => (
              <tr key={`${e.at}-${e.key}-${i}`} data-testid="alert-event" data-key={e.key} data-transition={e.transition}>
                <td>{formatTime(e.at)}</td>
                <th scope="row">{alertName(e.kind, e.subject)}</th>
                <td>
                  <span className={e.transition === 'fired' ? 'badge warn' : 'badge ok'}>{e.transition}</span>
                </td>
                <td className="num">{alertFigure(e.kind, e.value)}</td>
                <td className="wrap">{e.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
