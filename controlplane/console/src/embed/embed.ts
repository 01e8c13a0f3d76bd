// The embed page's logic: where its tenant and token come from, the variables it sends, and
// the two requests it makes with the embed token (never the session token).
import { ApiError, describeProblem, type Problem } from '../api/client';
import type { ChartType, WidgetData } from '../api/types';
import type { Theme } from '../app/theme';

export interface EmbedVariable {
  name: string;
  default?: string;
  options: string[];
  /** Fixed by the token: shown, not changeable. */
  locked: boolean;
}

export interface EmbedWidget {
  id: string;
  title?: string;
  chart: ChartType;
  options: Record<string, unknown>;
  position: { x?: number; y?: number; w?: number; h?: number };
}

export interface EmbedView {
  kind: 'dashboard';
  title: string;
  description?: string;
  variables: EmbedVariable[];
  widgets: EmbedWidget[];
  expiresAt?: string;
}

export interface EmbedData {
  widgets: WidgetData[];
}

/** The tenant of an embed path (`/embed/<tenant>`), or null for any other path. */
export function embedTenant(path: string): string | null {
  const m = /^\/embed\/([^/]+)\/?$/.exec(path);
  return m ? decodeURIComponent(m[1]) : null;
}

/** The theme a host application asks for (`?theme=light|dark`, to match its own page); null:
 * the viewer's own choice. */
export function embedTheme(search: string): Theme | null {
  const t = new URLSearchParams(search).get('theme');
  return t === 'light' || t === 'dark' ? t : null;
}

/** The token in `?token=`, and the address without it (so it does not stay in the history). */
export function takeToken(href: string): { token: string | null; rest: string } {
  const url = new URL(href);
  const token = url.searchParams.get('token');
  url.searchParams.delete('token');
  return { token: token || null, rest: url.pathname + url.search + url.hash };
}

/** The values of the variables the viewer may set; locked ones are the token's business. */
export function unlockedValues(vars: EmbedVariable[], chosen: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of vars) {
    if (v.locked) continue;
    const value = chosen[v.name] ?? v.default;
    if (value !== undefined) out[v.name] = value;
  }
  return out;
}

async function get<T>(url: string, token: string, signal: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/json', authorization: `Bearer ${token}` }, signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'the server could not be reached');
  }
  const body = (await res.json().catch(() => null)) as unknown;
  if (!res.ok) {
    const p = body && typeof body === 'object' ? (body as Problem) : null;
    throw new ApiError(res.status, describeProblem(res.status, p), p);
  }
  return body as T;
}

const base = (tenant: string) => `/api/v1/embed/${encodeURIComponent(tenant)}/dashboard`;

export const loadView = (tenant: string, token: string, signal: AbortSignal) => get<EmbedView>(base(tenant), token, signal);

export function loadData(tenant: string, token: string, values: Record<string, string>, signal: AbortSignal) {
  const q = new URLSearchParams(values).toString();
  return get<EmbedData>(`${base(tenant)}/data${q ? `?${q}` : ''}`, token, signal);
}
