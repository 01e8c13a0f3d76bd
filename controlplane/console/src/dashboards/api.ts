import { listAll, request, send } from '../api/client';
import type { DashboardRecord, WidgetData } from '../api/types';
import { NdjsonSplitter } from './ndjson';

export const listDashboards = (signal?: AbortSignal) => listAll<DashboardRecord>('/dashboards', signal);

export const getDashboard = async (name: string, signal?: AbortSignal) =>
  (await request<DashboardRecord>(`/dashboards/${encodeURIComponent(name)}`, { signal })).data;

/** Every widget's data, each handed to `onWidget` as soon as the server finished it. */
export async function streamDashboardData(
  name: string,
  variables: Record<string, string>,
  onWidget: (w: WidgetData) => void,
  signal: AbortSignal,
  refresh = false,
): Promise<void> {
  const q = new URLSearchParams(variables);
  if (refresh) q.set('refresh', 'true');
  const res = await send(`/dashboards/${encodeURIComponent(name)}/data?${q}`, {
    headers: { accept: 'application/x-ndjson' },
    signal,
  });
  const split = new NdjsonSplitter<WidgetData>();
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    split.push(value).forEach(onWidget);
  }
  split.end().forEach(onWidget);
}

/** Creates (`name` given) or replaces a dashboard; publication may be held for approval, which
 * the record says in `approval`. */
export async function saveDashboard(
  input: { name?: string; spec: Record<string, unknown> },
  existing?: { name: string; revision?: number },
): Promise<DashboardRecord> {
  if (!existing) return (await request<DashboardRecord>('/dashboards', { method: 'POST', body: input })).data;
  return (
    await request<DashboardRecord>(`/dashboards/${encodeURIComponent(existing.name)}`, {
      method: 'PUT',
      body: input,
      headers: existing.revision ? { 'if-match': `"${existing.revision}"` } : {},
    })
  ).data;
}
