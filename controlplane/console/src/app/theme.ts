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

export function setTheme(t: Theme): void {
  current = t;
  localStorage.setItem(KEY, t);
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
