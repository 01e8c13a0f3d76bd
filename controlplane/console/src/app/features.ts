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

/** Whether `name` is on for the caller: `null` until the server has said, `false` when it is
 * off or cannot be known (what the server would refuse is not offered). `key` names the
 * session the answer belongs to. */
export function useFeatureState(name: string, key: string): boolean | null {
  const [on, setOn] = useState<boolean | null>(null);
  useEffect(() => {
    let live = true;
    setOn(null);
    load(key).then((f) => live && setOn(f[name] === true));
    return () => {
      live = false;
    };
  }, [name, key]);
  return on;
}

/** Whether `name` is on for the caller: false until known (see `useFeatureState`). */
export function useFeature(name: string, key: string): boolean {
  return useFeatureState(name, key) === true;
}
