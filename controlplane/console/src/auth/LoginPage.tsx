import { lazy, Suspense, useEffect, useState, type FormEvent } from 'react';
import { DEFAULT_NAME } from '../branding/branding';
import { BrandMark } from '../branding/Logo';
import { useBranding, useDebounced } from '../branding/useBranding';
import { ThemeToggle } from '../app/ThemeToggle';
import { enrollAtLogin, login, loginMfa, startSession, type Enrollment, type MfaChallenge, type Session } from './session';
import { exchangeGrant, grantFromHash, ssoErrorMessage, ssoLoginUrl } from './sso';

// Only the rare enrolment at login draws a QR code: its encoder is loaded then.
const QrCode = lazy(() => import('../account/QrCode').then((m) => ({ default: m.QrCode })));

/** The tenant to start with: `?tenant=` in the address, else the last one signed in to. */
function initialTenant(): string {
  return new URLSearchParams(location.search).get('tenant') ?? localStorage.getItem('nexbii.lastTenant') ?? '';
}

export function LoginPage({ onLogin }: { onLogin: (s: Session) => void }) {
  const [tenant, setTenant] = useState(initialTenant);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(() => ssoErrorMessage(location.search));
  const [busy, setBusy] = useState(false);
  const [mfa, setMfa] = useState<MfaChallenge | null>(null);
  // The branding follows the tenant field once typing pauses.
  const branding = useBranding(useDebounced(tenant, 300));

  // Back from single sign-on: the fragment's grant opens the session (once; the fragment is
  // dropped from the address first, so a reload or a shared link does not carry it).
  useEffect(() => {
    const grant = grantFromHash(location.hash);
    if (!grant) return;
    history.replaceState(null, '', location.pathname + location.search);
    setBusy(true);
    exchangeGrant(grant)
      .then((data) => {
        if ('mfaRequired' in data && data.mfaRequired) {
          setMfa(data);
          setBusy(false);
        } else {
          const s = startSession(data as Parameters<typeof startSession>[0]);
          localStorage.setItem('nexbii.lastTenant', s.tenant);
          onLogin(s);
        }
      })
      .catch((err) => {
        setError((err as Error).message);
        setBusy(false);
      });
  }, [onLogin]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await login(tenant.trim(), username.trim(), password);
      localStorage.setItem('nexbii.lastTenant', tenant.trim());
      if ('mfa' in s) {
        setMfa(s.mfa);
        setPassword('');
        setBusy(false);
      } else onLogin(s);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };

  return (
    <main className="login" id="main">
      <div className="login-theme">
        <ThemeToggle />
      </div>
      {mfa ? (
        <SecondStep branding={branding?.displayName || DEFAULT_NAME} challenge={mfa} onLogin={onLogin} restart={() => setMfa(null)} />
      ) : (
      <form className="card login-card" onSubmit={submit} aria-labelledby="login-title">
        <BrandMark branding={branding} showName={false} />
        <h1 id="login-title">Sign in to {branding?.displayName || DEFAULT_NAME}</h1>
        <label>
          Tenant
          <input name="tenant" value={tenant} onChange={(e) => setTenant(e.target.value)} required autoComplete="organization" />
        </label>
        <label>
          Username
          <input name="username" value={username} onChange={(e) => setUsername(e.target.value)} required autoComplete="username" />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
            autoComplete="current-password"
          />
        </label>
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {branding?.sso && tenant.trim() && (
          <a className="button-link sso" href={ssoLoginUrl(tenant, location.pathname)} data-testid="sso-login">
            {branding.sso.buttonLabel}
          </a>
        )}
      </form>
      )}
    </main>
  );
}

/** The second factor: a code from the authenticator app (or a recovery code); when the tenant
 * requires MFA and the user has none yet, its setup first. */
function SecondStep({ branding, challenge, onLogin, restart }: { branding: string; challenge: MfaChallenge; onLogin: (s: Session) => void; restart: () => void }) {
  const [code, setCode] = useState('');
  const [enrollment, setEnrollment] = useState<Enrollment | null>(null);
  const [codes, setCodes] = useState<{ session: Session; recoveryCodes: string[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const setUp = async () => {
    setError(null);
    try {
      setEnrollment(await enrollAtLogin(challenge.challenge));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await loginMfa(challenge.challenge, code);
      if (r.recoveryCodes?.length) setCodes({ session: r.session, recoveryCodes: r.recoveryCodes });
      else onLogin(r.session);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  if (codes)
    return (
      <section className="card login-card" aria-labelledby="codes-title">
        <h1 id="codes-title">Recovery codes</h1>
        <p>Each signs you in once if your authenticator is lost. Keep them somewhere safe: they are not shown again.</p>
        <pre data-testid="recovery-codes">
          <code>{codes.recoveryCodes.join('\n')}</code>
        </pre>
        <button type="button" onClick={() => onLogin(codes.session)}>
          I have kept them, continue
        </button>
      </section>
    );
  const needsSetup = challenge.enrollmentRequired && !enrollment;
  return (
    <form className="card login-card" onSubmit={submit} aria-labelledby="mfa-title">
      <h1 id="mfa-title">Verify it is you</h1>
      {needsSetup ? (
        <>
          <p>{branding} asks for a second factor. Set up an authenticator app (TOTP) to continue.</p>
          <button type="button" onClick={setUp}>
            Set up an authenticator
          </button>
        </>
      ) : (
        <>
          {enrollment && (
            <div className="note">
              <p>Scan this code with your authenticator app ({enrollment.issuer}, {enrollment.account}), or type the key, then enter the code it shows:</p>
              <Suspense fallback={<p role="status">Drawing the QR code…</p>}>
                <QrCode value={enrollment.otpauthUri} label={`QR code of the authenticator key for ${enrollment.account}`} />
              </Suspense>
              <p>
                Key: <code data-testid="totp-secret">{enrollment.secret}</code>
              </p>
            </div>
          )}
          <label>
            Verification code
            <input
              value={code}
              onChange={(e) => setCode(e.target.value)}
              autoComplete="one-time-code"
              inputMode="text"
              required
              autoFocus
              aria-describedby="mfa-help"
            />
            <span id="mfa-help" className="muted">
              The six digits of your authenticator app{enrollment ? '' : ', or a recovery code'}.
            </span>
          </label>
          <button type="submit" disabled={busy}>
            {busy ? 'Verifying…' : 'Verify'}
          </button>
        </>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="button" className="ghost" onClick={restart}>
        Start again
      </button>
    </form>
  );
}
