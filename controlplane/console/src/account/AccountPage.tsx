import { useState, type FormEvent } from 'react';
import { formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import type { Session } from '../auth/session';
import { changePassword, confirmEnrolment, disableMfa, exportMyData, mfaStatus, mySessions, revokeMySession, startEnrolment, type Enrollment } from './api';
import { passwordErrors, sessionIdOf, type PasswordErrors } from './logic';
import { QrCode } from './QrCode';
import { visibleSessions } from '../sessions/logic';
import { SessionsTable } from '../sessions/SessionsTable';

/** The signed-in user's own account: password, second factor, sessions, their data. */
export default function AccountPage({ session }: { session: Session }) {
  return (
    <section className="account">
      <header className="page-head">
        <h1>My account</h1>
        <span className="muted">
          {session.username} ({session.role}), tenant {session.tenant}
        </span>
      </header>
      <PasswordCard />
      <MfaCard />
      <SessionsCard session={session} />
      <DataCard session={session} />
    </section>
  );
}

function PasswordCard() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [errors, setErrors] = useState<PasswordErrors & { repeat?: string }>({});
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setDone(false);
    if (next !== repeat) return setErrors({ repeat: 'does not match the new password' });
    setErrors({});
    setBusy(true);
    try {
      await changePassword(current, next);
      setDone(true);
      setCurrent('');
      setNext('');
      setRepeat('');
    } catch (err) {
      setErrors(passwordErrors(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="password-title" noValidate>
      <h2 id="password-title">Password</h2>
      <p className="muted">Changing it signs you out everywhere else.</p>
      <div className="form-grid">
        <label>
          Current password
          <input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required aria-invalid={!!errors.currentPassword} aria-describedby="pw-err-current" />
          {errors.currentPassword && (
            <span id="pw-err-current" className="error" role="alert">
              {errors.currentPassword}
            </span>
          )}
        </label>
        <label>
          New password
          <input type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} required aria-invalid={!!errors.newPassword} aria-describedby="pw-err-new" />
        </label>
        <label>
          Repeat the new password
          <input type="password" autoComplete="new-password" value={repeat} onChange={(e) => setRepeat(e.target.value)} required aria-invalid={!!errors.repeat} aria-describedby="pw-err-repeat" />
          {errors.repeat && (
            <span id="pw-err-repeat" className="error" role="alert">
              {errors.repeat}
            </span>
          )}
        </label>
      </div>
      {errors.newPassword && (
        <div id="pw-err-new" className="error" role="alert" data-testid="password-rules">
          The new password breaks your organisation’s password policy:
          <ul>
            {errors.newPassword.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        </div>
      )}
      {errors.other && (
        <p className="error" role="alert">
          {errors.other}
        </p>
      )}
      {done && (
        <p className="ok" role="status">
          Your password is changed.
        </p>
      )}
      <button type="submit" disabled={busy || !current || !next}>
        Change password
      </button>
    </form>
  );
}

function MfaCard() {
  const [status, reload] = useAsync((signal) => mfaStatus(signal), []);
  const [enrollment, setEnrollment] = useState<Enrollment | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const act = async (f: () => Promise<void>) => {
    setError(null);
    setBusy(true);
    try {
      await f();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const s = status.state === 'done' ? status.value : null;
  return (
    <section className="card" aria-labelledby="mfa-title" data-testid="mfa-card">
      <h2 id="mfa-title">Two-factor authentication</h2>
      {status.state === 'loading' && <p role="status">Loading…</p>}
      {status.state === 'error' && (
        <p className="error" role="alert">
          {status.error.message}
        </p>
      )}
      {codes && (
        <div className="note" role="region" aria-label="Recovery codes">
          <p>Two-factor authentication is on. These recovery codes each sign you in once if your authenticator is lost. Keep them somewhere safe: they are not shown again.</p>
          <pre data-testid="recovery-codes">
            <code>{codes.join('\n')}</code>
          </pre>
          <button type="button" onClick={() => setCodes(null)}>
            I have kept them
          </button>
        </div>
      )}
      {s && !codes && (
        <p data-testid="mfa-state">
          {s.enabled ? `On since ${formatTime(s.confirmedAt ?? undefined)}; ${s.recoveryCodesLeft} recovery codes left.` : 'Off: signing in asks for your password only.'}
          {s.required && ' Your organisation requires it for your role.'}
        </p>
      )}
      {s && !s.enabled && !enrollment && !codes && (
        <button type="button" disabled={busy} onClick={() => act(async () => setEnrollment(await startEnrolment()))}>
          Set up an authenticator
        </button>
      )}
      {enrollment && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void act(async () => {
              const c = await confirmEnrolment(code);
              setEnrollment(null);
              setCode('');
              setCodes(c);
              reload();
            });
          }}
          aria-label="Confirm the authenticator"
        >
          <p>Scan this code with your authenticator app ({enrollment.issuer}, {enrollment.account}), or type the key, then enter the six digits it shows.</p>
          <QrCode value={enrollment.otpauthUri} label={`QR code of the authenticator key for ${enrollment.account}`} />
          <p>
            Key: <code data-testid="totp-secret">{enrollment.secret}</code>
          </p>
          <label>
            Verification code
            <input value={code} onChange={(e) => setCode(e.target.value)} autoComplete="one-time-code" inputMode="numeric" required />
          </label>
          <div className="actions">
            <button type="submit" disabled={busy}>
              Turn on
            </button>
            <button type="button" className="ghost" onClick={() => setEnrollment(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {s && s.enabled && !codes && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void act(async () => {
              await disableMfa(code);
              setCode('');
              reload();
            });
          }}
          aria-label="Turn off two-factor authentication"
        >
          <label>
            Code to turn it off
            <input value={code} onChange={(e) => setCode(e.target.value)} autoComplete="one-time-code" required aria-describedby="mfa-off-help" />
            <span id="mfa-off-help" className="muted">
              A code of your authenticator app, or a recovery code.
            </span>
          </label>
          <button type="submit" className="danger" disabled={busy || s.required}>
            Turn off
          </button>
          {s.required && <p className="muted">Your organisation requires a second factor: it cannot be turned off.</p>}
        </form>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

function SessionsCard({ session }: { session: Session }) {
  const [list, reload] = useAsync((signal) => mySessions(signal), [], true);
  return (
    <section className="card" aria-labelledby="sessions-title">
      <h2 id="sessions-title">My sessions</h2>
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && (
        <SessionsTable
          sessions={visibleSessions(list.value, false)}
          view={{ kind: 'own', current: sessionIdOf(session.token) }}
          caption="Your signed-in sessions"
          onRevoke={async (s) => {
            await revokeMySession(s.id);
            reload();
          }}
        />
      )}
    </section>
  );
}

function DataCard({ session }: { session: Session }) {
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  return (
    <section className="card" aria-labelledby="data-title">
      <h2 id="data-title">My data</h2>
      <p className="muted">A copy of everything stored about you (GDPR), as a JSON file.</p>
      <button
        type="button"
        onClick={async () => {
          setMessage(null);
          try {
            const d = await exportMyData(session.username);
            setMessage({ ok: true, text: `Downloaded ${d.name} (${d.bytes.toLocaleString('en-US')} bytes).` });
          } catch (e) {
            setMessage({ ok: false, text: (e as Error).message });
          }
        }}
      >
        Download my data
      </button>
      {message && (
        <p className={message.ok ? 'ok' : 'error'} role={message.ok ? 'status' : 'alert'}>
          {message.text}
        </p>
      )}
    </section>
  );
}
