import { useState, type FormEvent } from 'react';
import { DEFAULT_NAME } from '../branding/branding';
import { BrandMark } from '../branding/Logo';
import { useBranding, useDebounced } from '../branding/useBranding';
import { ThemeToggle } from '../app/ThemeToggle';
import { login, type Session } from './session';

/** The tenant to start with: `?tenant=` in the address, else the last one signed in to. */
function initialTenant(): string {
  return new URLSearchParams(location.search).get('tenant') ?? localStorage.getItem('nexbii.lastTenant') ?? '';
}

export function LoginPage({ onLogin }: { onLogin: (s: Session) => void }) {
  const [tenant, setTenant] = useState(initialTenant);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The branding follows the tenant field once typing pauses.
  const branding = useBranding(useDebounced(tenant, 300));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await login(tenant.trim(), username.trim(), password);
      localStorage.setItem('nexbii.lastTenant', s.tenant);
      onLogin(s);
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
      </form>
    </main>
  );
}
