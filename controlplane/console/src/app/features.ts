// What the caller's feature flags turn on (`GET /features`), asked once per session.
import { useEffect, useState } from 'react';
import { request } from '../api/client';

const cache = new Map<string, Promise<Record<string, boolean>>>();

function load(key: string): Promise<Record<string, boolean>> {
  let p = cache.get(key);
  if (!p) {
    p = request<{ features: Record<string, boolean> }>('/features').then(
      (r) => r.data.features ?? {},
      () => ({}),
    );
    cache.set(key, p);
  }
  return p;
}

/** Whether `name` is on for the caller: false until known, and when it cannot be known (what
 * the server would refuse is not offered). `key` names the session the answer belongs to. */
export function useFeature(name: string, key: string): boolean {
  const [on, setOn] = useState(false);
  useEffect(() => {
    let live = true;
    load(key).then((f) => live && setOn(f[name] === true));
    return () => {
      live = false;
    };
  }, [name, key]);
  return on;
}
