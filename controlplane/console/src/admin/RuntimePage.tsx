import { useState } from 'react';
import { formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import { getRuntimeConfig } from './api';
import { flagSourceText, isRedacted } from './runtime';

export default function RuntimePage() {
  const [config] = useAsync((signal) => getRuntimeConfig(signal), []);
  const [onlySet, setOnlySet] = useState(false);
  if (config.state === 'loading') return <p role="status">Loading the runtime configuration…</p>;
  if (config.state === 'error')
    return (
      <section>
        <h1>Runtime configuration</h1>
        <p className="error" role="alert">
          {config.error.message}
        </p>
      </section>
    );
  const c = config.value;
  const flags = c.flags.filter((f) => !onlySet || f.source === 'commandLine' || f.source === 'environment');
  return (
    <section>
      <header className="page-head">
        <h1>Runtime configuration</h1>
      </header>
      <dl className="details" data-testid="runtime-versions">
        <div>
          <dt>Version</dt>
          <dd>
            {c.version} ({c.build} build)
          </dd>
        </div>
        <div>
          <dt>Platform</dt>
          <dd>
            {c.os}/{c.arch}
          </dd>
        </div>
        <div>
          <dt>Store</dt>
          <dd>{c.store}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatTime(c.startedAt)}</dd>
        </div>
      </dl>
      <h2>Server flags</h2>
      <label className="inline">
        <input type="checkbox" checked={onlySet} onChange={(e) => setOnlySet(e.target.checked)} /> Only flags set on the command line or in the environment
      </label>
      <table className="list">
        <caption className="sr-only">Server flags, their values and where they come from</caption>
        <thead>
          <tr>
            <th scope="col">Flag</th>
            <th scope="col">Environment variable</th>
            <th scope="col">Value</th>
            <th scope="col">Source</th>
          </tr>
        </thead>
        <tbody>
          {flags.map((f) => (
            <tr key={f.flag} data-flag={f.flag}>
              <th scope="row">
                <code>{f.flag}</code>
              </th>
              <td>{f.env ? <code>{f.env}</code> : <span className="muted">none</span>}</td>
              <td className="wrap">{f.value === undefined ? <span className="muted">unset</span> : isRedacted(f.value) ? <span className="badge">redacted</span> : <code>{f.value}</code>}</td>
              <td>{flagSourceText(f.source)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Environment</h2>
      {c.environment.length === 0 ? (
        <p className="muted">No NEXBII_* variable is set.</p>
      ) : (
        <table className="list">
          <caption className="sr-only">NEXBII_* environment variables, secrets redacted</caption>
          <thead>
            <tr>
              <th scope="col">Variable</th>
              <th scope="col">Value</th>
            </tr>
          </thead>
          <tbody>
            {c.environment.map((v) => (
              <tr key={v.name} data-env={v.name}>
                <th scope="row">
                  <code>{v.name}</code>
                </th>
                <td className="wrap">{isRedacted(v.value) ? <span className="badge">redacted</span> : <code>{v.value}</code>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
