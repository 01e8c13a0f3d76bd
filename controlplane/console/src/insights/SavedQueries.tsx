import { useState } from 'react';
import { useAsync, type Async } from '../app/useAsync';
import { listSavedQueries, savedInsights, type Insights } from './api';
import { InsightsPanel } from './InsightsPanel';

/** Saved queries of the tenant, each with an Insights action (any role that may run it). */
export function SavedQueries({ insightsOn }: { insightsOn: boolean | null }) {
  const [queries] = useAsync((signal) => listSavedQueries(signal), []);
  const [open, setOpen] = useState<{ id: string; state: Async<Insights> } | null>(null);
  const look = async (id: string) => {
    setOpen({ id, state: { state: 'loading' } });
    try {
      const value = await savedInsights(id);
      setOpen((o) => (o?.id === id ? { id, state: { state: 'done', value } } : o));
    } catch (e) {
      setOpen((o) => (o?.id === id ? { id, state: { state: 'error', error: e as Error } } : o));
    }
  };
  return (
    <section className="saved-queries card" aria-label="Saved queries" data-insights={insightsOn === null ? 'unknown' : insightsOn ? 'on' : 'off'}>
      <h2>Saved queries</h2>
      {queries.state === 'loading' && <p role="status">Loading…</p>}
      {queries.state === 'error' && (
        <p className="error" role="alert">
          {queries.error.message}
        </p>
      )}
      {queries.state === 'done' && queries.value.length === 0 && <p className="muted">No saved queries yet.</p>}
      {queries.state === 'done' && queries.value.length > 0 && (
        <ul className="plain">
          {queries.value.map((q) => (
            <li key={q.id} data-query={q.name}>
              <strong>{q.name}</strong> <span className="muted">on {q.dataSource}</span>{' '}
              {insightsOn && (
                <button type="button" className="ghost" onClick={() => look(q.id)} aria-label={`Insights of ${q.name}`}>
                  Insights
                </button>
              )}
              {open?.id === q.id && <InsightsPanel state={open.state} label={`Insights of ${q.name}`} />}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
