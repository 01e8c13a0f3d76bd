import { useEffect, useState } from 'react';
import { useTheme } from '../app/theme';
import { applyBranding, fetchBranding, hostMayBeCustomDomain, type Branding } from './branding';

// One answer per tenant for the life of the page (the server lets it be cached a minute too).
const cache = new Map<string, Promise<Branding | null>>();

function load(tenant: string | null): Promise<Branding | null> {
  const key = tenant ?? '';
  let p = cache.get(key);
  if (!p) {
    p = fetchBranding(tenant).catch(() => null);
    cache.set(key, p);
  }
  return p;
}

/** The branding of `tenant` (null: of this host's custom domain, when it may be one), applied
 * to the document for the current theme; null while unknown or when there is none. */
export function useBranding(tenant: string | null): Branding | null {
  const theme = useTheme();
  const [branding, setBranding] = useState<Branding | null>(null);
  useEffect(() => {
    let live = true;
    const t = tenant?.trim() || null;
    if (!t && !hostMayBeCustomDomain(location.hostname)) {
      setBranding(null);
      return;
    }
    load(t).then((b) => live && setBranding(b));
    return () => {
      live = false;
    };
  }, [tenant]);
  useEffect(() => applyBranding(branding, theme), [branding, theme]);
  return branding;
}

/** `value`, once it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
