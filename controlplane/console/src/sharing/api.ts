// Share links (`/shares`, with the session) and what a link opens (`/shared/<token>`, without
// one: the public page sends no session token, only the link's password).
import { ApiError, describeProblem, listAll, request, type Problem } from '../api/client';
import type { ApprovalRecord, QueryResult, WidgetData } from '../api/types';

export interface ShareView {
  id: string;
  resource: string;
  owner: string;
  tokenPrefix: string;
  expiresAt?: string;
  hasPassword: boolean;
  lockedVariables: Record<string, string>;
  createdAt: string;
}

export interface CreatedShare extends ShareView {
  token: string;
  url: string;
}

export interface ShareInput {
  resource: string;
  expiresInHours?: number;
  password?: string;
  lockedVariables?: Record<string, string>;
}

export const listShares = (signal?: AbortSignal) => listAll<ShareView>('/shares', signal);

/** A new link, or the approval request when the policy holds sharing outside the tenant. */
export async function createShare(input: ShareInput): Promise<{ kind: 'link'; share: CreatedShare } | { kind: 'approval'; approval: ApprovalRecord }> {
  const r = await request<CreatedShare | ApprovalRecord>('/shares', { method: 'POST', body: input });
  return r.status === 202 ? { kind: 'approval', approval: r.data as ApprovalRecord } : { kind: 'link', share: r.data as CreatedShare };
}

export async function revokeShare(id: string): Promise<void> {
  await request(`/shares/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

export interface SharedVariable {
  name: string;
  default?: string;
  options: string[];
  locked: boolean;
}

export interface SharedWidget {
  id: string;
  title?: string;
  chart: string;
  options: Record<string, unknown>;
  position: { x?: number; y?: number; w?: number; h?: number };
}

export type SharedView =
  | { kind: 'dashboard'; title: string; description?: string; variables: SharedVariable[]; widgets: SharedWidget[]; expiresAt?: string }
  | { kind: 'query'; name: string; description?: string; expiresAt?: string };

async function publicGet<T>(path: string, password: string | null, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (password) headers['x-share-password'] = password;
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { headers, signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'the server could not be reached');
  }
  if (!res.ok) {
    let p: Problem | null = null;
    try {
      p = (await res.json()) as Problem;
    } catch {
      p = null;
    }
    throw new ApiError(res.status, describeProblem(res.status, p), p);
  }
  return (await res.json()) as T;
}

const sharedPath = (token: string) => `/shared/${encodeURIComponent(token)}`;

export const openShared = (token: string, password: string | null, signal?: AbortSignal) => publicGet<SharedView>(sharedPath(token), password, signal);

export const sharedDashboardData = (token: string, password: string | null, variables: Record<string, string>, signal?: AbortSignal) =>
  publicGet<{ widgets: WidgetData[] }>(`${sharedPath(token)}/data?${new URLSearchParams(variables)}`, password, signal);

export const sharedQueryResult = (token: string, password: string | null, signal?: AbortSignal) => publicGet<QueryResult>(`${sharedPath(token)}/data`, password, signal);
