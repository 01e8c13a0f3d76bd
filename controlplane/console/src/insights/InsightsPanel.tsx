import type { Async } from '../app/useAsync';
import type { Insights } from './api';
import { coverage, figureRows, KIND_LABEL, strength } from './format';

/** Findings strongest first, each with its figures; an error stays in place. */
export function InsightsPanel({ state, label = 'Insights' }: { state: Async<Insights>; label?: string }) {
  return (
    <section className="insights card" aria-label={label} data-testid="insights">
      <h2>{label}</h2>
      <p className="muted">Statistics computed by NexBII over the result (no external AI service).</p>
      {state.state === 'loading' && <p role="status">Looking for insights…</p>}
      {state.state === 'error' && (
        <p className="error" role="alert">
          {state.error.message}
        </p>
      )}
      {state.state === 'done' && (
        <>
          <p className="muted" data-testid="insights-coverage">
            {coverage(state.value)}
          </p>
          {state.value.findings.length === 0 ? (
            <p>No finding: no trend, change, outlier, concentration or correlation stands out in this result.</p>
          ) : (
            <ol className="plain findings">
              {state.value.findings.map((f, i) => (
                <li key={i} className="finding" data-testid="finding" data-kind={f.kind}>
                  <h3>
                    <span className="badge">{KIND_LABEL[f.kind]}</span> {f.title} <span className="muted">strength {strength(f)}</span>
                  </h3>
                  <p>{f.summary}</p>
                  <dl className="details">
                    {figureRows(f).map(([k, v], j) => (
                      <div key={j}>
                        <dt>{k}</dt>
                        <dd>{v}</dd>
                      </div>
                    ))}
                  </dl>
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}
