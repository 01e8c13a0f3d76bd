import { useState, type FormEvent } from 'react';
import { ConfirmButton, SecretOnce } from '../app/ConfirmButton';
import { problemFields } from '../app/errors';
import { formatCount, formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import type { Session } from '../auth/session';
import { createKey, listKeys, revokeKey, rotateKey, type ApiKey } from './api';
import { parseScopes, SCOPE_AREAS } from './logic';

export default function ApiKeysPage({ session }: { session: Session }) {
  const [includeRevoked, setIncludeRevoked] = useState(false);
  const [list, reload] = useAsync((signal) => listKeys(includeRevoked, signal), [includeRevoked], true);
  const [secret, setSecret] = useState<{ title: string; value: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const act = async (f: () => Promise<void>) => {
    setError(null);
    try {
      await f();
      reload();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <section>
      <header className="page-head">
        <h1>API keys</h1>
        <label className="inline">
          <input type="checkbox" checked={includeRevoked} onChange={(e) => setIncludeRevoked(e.target.checked)} /> Show revoked keys
        </label>
      </header>
      {secret && (
        <SecretOnce
          title={secret.title}
          secret={secret.value}
          note="Copy it now: the secret is not stored and cannot be shown again. Send it as Authorization: Bearer <secret> or X-API-Key."
          onDone={() => setSecret(null)}
        />
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {list.state === 'loading' && <p role="status">Loading API keys…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && list.value.length === 0 && <p>No API keys yet.</p>}
      {list.state === 'done' && list.value.length > 0 && (
        <table className="list">
          <caption className="sr-only">API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Key</th>
              <th scope="col">Owner</th>
              <th scope="col">Scopes</th>
              <th scope="col">State</th>
              <th scope="col">Last used</th>
              <th scope="col" className="num">
                Requests
              </th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.value.map((k) => (
              <KeyRow
                key={k.id}
                k={k}
                mine={k.owner === session.username}
                onRotate={(grace) =>
                  act(async () => {
                    const r = await rotateKey(k.id, grace);
                    setSecret({ title: `New secret of "${r.name}"`, value: r.secret });
                  })
                }
                onRevoke={() => act(() => revokeKey(k.id))}
              />
            ))}
          </tbody>
        </table>
      )}
      <CreateKey
        onCreated={(name, value) => {
          setSecret({ title: `Secret of "${name}"`, value });
          reload();
        }}
      />
    </section>
  );
}

function KeyRow({ k, mine, onRotate, onRevoke }: { k: ApiKey; mine: boolean; onRotate: (grace: number) => void; onRevoke: () => void }) {
  const [grace, setGrace] = useState(0);
  return (
    <tr data-key={k.name}>
      <th scope="row">{k.name}</th>
      <td>
        <code>{k.prefix}…</code>
      </td>
      <td>{k.owner}</td>
      <td>
        {k.scopes.map((s) => (
          <span key={s} className="tag">
            {s}
          </span>
        ))}
      </td>
      <td>
        <span className={k.state === 'active' ? 'ok' : 'error'}>{k.state}</span>
        {k.expiresAt && <div className="muted">expires {formatTime(k.expiresAt)}</div>}
        {k.previousValidUntil && <div className="muted">old secret valid until {formatTime(k.previousValidUntil)}</div>}
        {k.revokedAt && <div className="muted">revoked {formatTime(k.revokedAt)} by {k.revokedBy}</div>}
      </td>
      <td>
        {k.lastUsedAt ? formatTime(k.lastUsedAt) : <span className="muted">never</span>}
        {k.lastUsedAddress && <div className="muted">from {k.lastUsedAddress}</div>}
      </td>
      <td className="num">{formatCount(k.requestCount)}</td>
      <td>
        {k.state === 'active' && (
          <div className="actions">
            {mine && (
              <>
                <label>
                  <span className="sr-only">Old secret of {k.name} keeps working</span>
                  <select value={grace} onChange={(e) => setGrace(Number(e.target.value))}>
                    <option value={0}>old secret stops now</option>
                    <option value={3600}>old secret works 1 h</option>
                    <option value={86400}>old secret works 1 day</option>
                    <option value={604800}>old secret works 7 days</option>
                  </select>
                </label>
                <button type="button" onClick={() => onRotate(grace)}>
                  Rotate {k.name}
                </button>
              </>
            )}
            <ConfirmButton label={`Revoke ${k.name}`} confirm={`Confirm revoking ${k.name}`} onConfirm={onRevoke} />
          </div>
        )}
      </td>
    </tr>
  );
}

function CreateKey({ onCreated }: { onCreated: (name: string, secret: string) => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState('dashboards:read');
  const [expires, setExpires] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMessage(null);
    const parsed = parseScopes(scopes);
    const local: Record<string, string> = {};
    if (!name.trim() || name.trim().length > 100) local.name = '1 to 100 characters';
    if ('error' in parsed) local.scopes = parsed.error;
    setErrors(local);
    if (Object.keys(local).length || 'error' in parsed) return;
    try {
      const k = await createKey({ name: name.trim(), scopes: parsed.scopes, expiresAt: expires ? new Date(`${expires}T23:59:59`).toISOString() : undefined });
      setName('');
      onCreated(k.name, k.secret);
    } catch (err) {
      const { fields, message } = problemFields(err, ['name', 'scopes', 'expiresAt']);
      setErrors(fields);
      setMessage(message);
    }
  };
  return (
    <form className="card create-form" onSubmit={submit} aria-labelledby="new-key">
      <h2 id="new-key">New API key</h2>
      <div className="form-grid">
        <label>
          Key name
          <input value={name} onChange={(e) => setName(e.target.value)} aria-invalid={!!errors.name} aria-describedby={errors.name ? 'key-err-name' : undefined} />
          {errors.name && (
            <span id="key-err-name" className="error">
              {errors.name}
            </span>
          )}
        </label>
        <label>
          Scopes
          <input value={scopes} onChange={(e) => setScopes(e.target.value)} aria-invalid={!!errors.scopes} aria-describedby="key-scopes-help" />
          <span id="key-scopes-help" className={errors.scopes ? 'error' : 'muted'}>
            {errors.scopes ?? `<area>:read|write, comma-separated; areas ${SCOPE_AREAS.join(', ')}`}
          </span>
        </label>
        <label>
          Expires (optional)
          <input type="date" value={expires} onChange={(e) => setExpires(e.target.value)} aria-invalid={!!errors.expiresAt} />
          {errors.expiresAt && <span className="error">{errors.expiresAt}</span>}
        </label>
      </div>
      <button type="submit">Create key</button>
      {message && (
        <p role="alert" className="error">
          {message}
        </p>
      )}
    </form>
  );
}
