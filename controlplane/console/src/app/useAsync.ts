import { useEffect, useState } from 'react';

export type Async<T> =
  | { state: 'loading' }
  | { state: 'done'; value: T }
  | { state: 'error'; error: Error };

/** Runs `load` when `deps` change; an answer for outdated deps is dropped (aborted). */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): [Async<T>, () => void] {
  const [result, setResult] = useState<Async<T>>({ state: 'loading' });
  const [round, setRound] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    setResult({ state: 'loading' });
    load(ctl.signal).then(
      (value) => !ctl.signal.aborted && setResult({ state: 'done', value }),
      (error: Error) => !ctl.signal.aborted && setResult({ state: 'error', error }),
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  return [result, () => setRound((r) => r + 1)];
}
