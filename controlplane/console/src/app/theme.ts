// Light and dark themes: a `data-theme` attribute on <html> switches the CSS variables; the
// choice is remembered, the system preference is the default.
import { useSyncExternalStore } from 'react';

export type Theme = 'light' | 'dark';
const KEY = 'nexbii.theme';
const listeners = new Set<() => void>();

function initial(): Theme {
  const saved = localStorage.getItem(KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

let current: Theme = initial();
document.documentElement.dataset.theme = current;

/** Switches the theme; `remember: false` for a theme a page is opened with (an embedding host's
 * `?theme=`), which must not become the viewer's choice in the console. */
export function setTheme(t: Theme, remember = true): void {
  current = t;
  if (remember) localStorage.setItem(KEY, t);
  document.documentElement.dataset.theme = t;
  listeners.forEach((f) => f());
}

export function useTheme(): Theme {
  return useSyncExternalStore(
    (f) => {
      listeners.add(f);
      return () => listeners.delete(f);
    },
    () => current,
  );
}
