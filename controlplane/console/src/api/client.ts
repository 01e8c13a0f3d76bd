// The one way the console talks to the control plane: JSON over fetch with the session token,
// and every failure turned into an ApiError carrying the problem+json the API answered.

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  field?: string;
  errors?: { field?: string; message?: string }[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | null;
  constructor(status: number, message: string, problem: Problem | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
  get field(): string | undefined {
    return this.problem?.field;
  }
}

/** A readable sentence for a problem: detail first, then title, then the status. */
export function describeProblem(status: number, p: Problem | null): string {
  const main = p?.detail || p?.title || `HTTP ${status}`;
  return p?.field && !main.includes(p.field) ? `${main} (${p.field})` : main;
}

let token: string | null = null;
let unauthorized: () => void = () => {};

export function setToken(t: string | null): void {
  token = t;
}

/** Called when a request with a token is answered 401 (session expired or revoked). */
export function onUnauthorized(f: () => void): void {
  unauthorized = f;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** A body sent as it is (YAML, …), with its `content-type` in `headers`; instead of `body`. */
  rawBody?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  status: number;
  data: T;
  headers: Headers;
}

/** Sends a request under `/api/v1`; resolves for 2xx, rejects with an ApiError otherwise. */
export async function request<T>(path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
  const res = await send(path, opts);
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, `unexpected answer from the server (HTTP ${res.status})`);
    }
  }
  return { status: res.status, data: data as T, headers: res.headers };
}

/** The raw response of a successful request (for streamed bodies). */
export async function send(path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  // The token this request carries: a 401 ends the session only while it is still the
  // console's (an answer for a session switched away from meanwhile, e.g. an impersonation
  // just stopped, says nothing about the current one).
  const sent = token;
  if (sent) headers.authorization = `Bearer ${sent}`;
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, {
      method: opts.method ?? 'GET',
      headers,
      body: opts.rawBody ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
      signal: opts.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'the server could not be reached');
  }
  if (res.ok) return res;
  const problem = await readProblem(res);
  if (res.status === 401 && sent && sent === token) unauthorized();
  throw new ApiError(res.status, describeProblem(res.status, problem), problem);
}

async function readProblem(res: Response): Promise<Problem | null> {
  try {
    const p = (await res.json()) as unknown;
    return p && typeof p === 'object' ? (p as Problem) : null;
  } catch {
    return null;
  }
}

/** Every item of a paged list (`?limit=&cursor=`, next cursor in `X-Next-Cursor`). */
export async function listAll<T>(path: string, signal?: AbortSignal): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  const sep = path.includes('?') ? '&' : '?';
  do {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const res: ApiResponse<T[]> = await request<T[]>(`${path}${sep}limit=1000${q}`, { signal });
    items.push(...(res.data ?? []));
    cursor = res.headers.get('x-next-cursor');
  } while (cursor);
  return items;
}
