import { useState, type FormEvent } from 'react';
import { ConfirmButton, SecretOnce } from '../app/ConfirmButton';
import { problemFields } from '../app/errors';
import { formatMs, formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import { createWebhook, deleteWebhook, deliveries, listWebhooks, redeliver, setWebhookActive, type Webhook } from './api';
import { checkWebhookUrl, parseEvents } from './logic';

export default function WebhooksPage() {
  const [list, reload] = useAsync((signal) => listWebhooks(signal), [], true);
  const [secret, setSecret] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <section>
      <header className="page-head">
        <h1>Webhooks</h1>
      </header>
      {secret && (
        <SecretOnce
          title="Signing secret"
          secret={secret}
          note="Deliveries carry an HMAC-SHA256 signature made with this secret. Copy it now: it cannot be shown again."
          onDone={() => setSecret(null)}
        />
      )}
      {list.state === 'loading' && <p role="status">Loading webhooks…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && list.value.length === 0 && <p>No webhooks yet.</p>}
      {list.state === 'done' && list.value.length > 0 && (
        <table className="list">
          <caption className="sr-only">Webhooks</caption>
          <thead>
            <tr>
              <th scope="col">Target</th>
              <th scope="col">Events</th>
              <th scope="col">State</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.value.map((w) => (
              <HookRow key={w.id} w={w} open={open === w.id} toggle={() => setOpen(open === w.id ? null : w.id)} onChanged={reload} />
            ))}
          </tbody>
        </table>
      )}
      <CreateHook
        onCreated={(s) => {
          setSecret(s);
          reload();
        }}
      />
    </section>
  );
}

function HookRow({ w, open, toggle, onChanged }: { w: Webhook; open: boolean; toggle: () => void; onChanged: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const act = async (f: () => Promise<unknown>) => {
    setError(null);
    try {
      await f();
      onChanged();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <>
      <tr data-webhook={w.url}>
        <th scope="row" className="wrap">
          <code>{w.url}</code>
          <div className="muted">
            {w.id}, by {w.createdBy}
          </div>
        </th>
        <td>
          {w.events.map((e) => (
            <span key={e} className="tag">
              {e}
            </span>
          ))}
        </td>
        <td>
          {w.active ? <span className="ok">active</span> : <span className="muted">paused</span>}
          {w.consecutiveFailures > 0 && <div className="error">{w.consecutiveFailures} failures in a row</div>}
        </td>
        <td>
          <div className="actions">
            <button type="button" className="ghost" aria-expanded={open} onClick={toggle}>
              Deliveries <span className="sr-only">of {w.url}</span>
            </button>
            <button type="button" className="ghost" onClick={() => act(() => setWebhookActive(w.id, !w.active))}>
              {w.active ? 'Pause' : 'Resume'} <span className="sr-only">{w.url}</span>
            </button>
            <ConfirmButton label={`Delete ${w.id}`} confirm={`Confirm deleting ${w.id}`} onConfirm={() => act(() => deleteWebhook(w.id))} />
            {error && (
              <span className="error" role="alert">
                {error}
              </span>
            )}
          </div>
        </td>
      </tr>
      {open && (
        <tr>
          <td colSpan={4}>
            <Deliveries hook={w.id} />
          </td>
        </tr>
      )}
    </>
  );
}

function Deliveries({ hook }: { hook: string }) {
  const [list, reload] = useAsync((signal) => deliveries(hook, signal), [hook], true);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  if (list.state === 'loading') return <p role="status">Loading deliveries…</p>;
  if (list.state === 'error')
    return (
      <p className="error" role="alert">
        {list.error.message}
      </p>
    );
  return (
    <div className="deliveries">
      <div className="actions">
        <button type="button" className="ghost" onClick={reload}>
          Reload deliveries
        </button>
        {msg && (
          <span role={msg.ok ? 'status' : 'alert'} className={msg.ok ? 'ok' : 'error'}>
            {msg.text}
          </span>
        )}
      </div>
      {list.value.length === 0 ? (
        <p>No deliveries yet.</p>
      ) : (
        <table className="list">
          <caption className="sr-only">Deliveries, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">State</th>
              <th scope="col">Attempts</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.value.map((d) => (
              <tr key={d.id} data-testid="delivery">
                <th scope="row">
                  <code>{d.event}</code>
                  <div className="muted">{d.id}</div>
                </th>
                <td>
                  <span className={d.state === 'delivered' ? 'ok' : d.state === 'failed' ? 'error' : 'muted'}>{d.state}</span>
                </td>
                <td>
                  <ol className="plain">
                    {d.attempts.map((a, i) => (
                      <li key={i}>
                        {formatTime(a.at)}: {a.status ? `HTTP ${a.status}` : a.error ?? 'no answer'} in {formatMs(a.durationMs)}
                      </li>
                    ))}
                  </ol>
                </td>
                <td>
                  <button
                    type="button"
                    className="ghost"
                    onClick={async () => {
                      try {
                        const again = await redeliver(hook, d.id);
                        setMsg({ ok: true, text: `Sent again as ${again.id}.` });
                        reload();
                      } catch (e) {
                        setMsg({ ok: false, text: (e as Error).message });
                      }
                    }}
                  >
                    Redeliver <span className="sr-only">{d.id}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function CreateHook({ onCreated }: { onCreated: (secret: string) => void }) {
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState('approval.*');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMessage(null);
    const local: Record<string, string> = {};
    const u = checkWebhookUrl(url.trim());
    if (u) local.url = u;
    const ev = parseEvents(events);
    if ('error' in ev) local.events = ev.error;
    setErrors(local);
    if (Object.keys(local).length || 'error' in ev) return;
    try {
      const w = await createWebhook({ url: url.trim(), events: ev.events });
      setUrl('');
      onCreated(w.secret);
    } catch (err) {
      const { fields, message } = problemFields(err, ['url', 'events', 'secret']);
      setErrors(fields);
      setMessage(message);
    }
  };
  return (
    <form className="card create-form" onSubmit={submit} aria-labelledby="new-hook">
      <h2 id="new-hook">New webhook</h2>
      <div className="form-grid">
        <label>
          Target URL
          <input value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://hooks.example.com/nexbii" aria-invalid={!!errors.url} aria-describedby={errors.url ? 'hook-err-url' : undefined} />
          {errors.url && (
            <span id="hook-err-url" className="error">
              {errors.url}
            </span>
          )}
        </label>
        <label>
          Events
          <input value={events} onChange={(e) => setEvents(e.target.value)} aria-invalid={!!errors.events} aria-describedby="hook-events-help" />
          <span id="hook-events-help" className={errors.events ? 'error' : 'muted'}>
            {errors.events ?? 'kinds (approval.requested), prefixes (approval.*) or *, comma-separated'}
          </span>
        </label>
      </div>
      <button type="submit">Create webhook</button>
      {message && (
        <p role="alert" className="error">
          {message}
        </p>
      )}
    </form>
  );
}
