import { useEffect, useRef, useState } from 'react';

export type Async<T> =
  | { state: 'loading' }
  | { state: 'done'; value: T }
  | { state: 'error'; error: Error };

/** Runs `load` when `deps` change; an answer for outdated deps is dropped (aborted). The
 * returned function loads again; with `keep`, what is on screen stays until the new answer
 * is in (lists whose rows hold their own state — a message, an open detail — keep it). */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], keep = false): [Async<T>, () => void] {
  const [result, setResult] = useState<Async<T>>({ state: 'loading' });
  const [round, setRound] = useState(0);
  const lastRound = useRef(round);
  useEffect(() => {
    const ctl = new AbortController();
    const reload = lastRound.current !== round;
    lastRound.current = round;
    if (!(keep && reload)) setResult({ state: 'loading' });
    load(ctl.signal).then(
      (value) => !ctl.signal.aborted && setResult({ state: 'done', value }),
      (error: Error) => !ctl.signal.aborted && setResult({ state: 'error', error }),
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round]);
  return [result, () => setRound((r) => r + 1)];
}
