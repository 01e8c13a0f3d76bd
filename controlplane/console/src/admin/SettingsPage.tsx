import { useEffect, useState } from 'react';
import { useAsync } from '../app/useAsync';
import { getSettings, type SettingsView } from './api';
import { SettingsForm } from './SettingsForm';

export default function SettingsPage() {
  const [loaded, reload] = useAsync((signal) => getSettings(signal), []);
  const [view, setView] = useState<SettingsView | null>(null);
  useEffect(() => {
    if (loaded.state === 'done') setView(loaded.value);
  }, [loaded]);
  return (
    <section>
      <header className="page-head">
        <h1>Settings</h1>
        <button type="button" className="ghost" onClick={reload}>
          Reload
        </button>
      </header>
      {loaded.state === 'loading' && <p role="status">Loading settings…</p>}
      {loaded.state === 'error' && (
        <p className="error" role="alert">
          {loaded.error.message}
        </p>
      )}
      {view && (
        <>
          <p className="muted">
            Limits from the Tenant and this instance: query timeout up to {view.limits.queryTimeoutSeconds} s, row limit up to {view.limits.rowLimit}, result cache up to{' '}
            {view.limits.cacheTtlSeconds} s. Fields {view.declaredBy} declares are read-only here.
          </p>
          <SettingsForm view={view} label="Settings" onSaved={setView} />
        </>
      )}
    </section>
  );
}
