import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, describeProblem, listAll, onUnauthorized, request, setToken } from './client';

function answer(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers });
}

afterEach(() => {
  vi.unstubAllGlobals();
  setToken(null);
});

describe('API client', () => {
  it('sends the token and JSON, and reads JSON', async () => {
    const fetch = vi.fn().mockResolvedValue(answer(200, { ok: 1 }));
    vi.stubGlobal('fetch', fetch);
    setToken('t0k');
    const r = await request<{ ok: number }>('/queries/run', { method: 'POST', body: { a: 1 } });
    expect(r.data).toEqual({ ok: 1 });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe('/api/v1/queries/run');
    expect(init.headers.authorization).toBe('Bearer t0k');
    expect(init.headers['content-type']).toBe('application/json');
    expect(init.body).toBe('{"a":1}');
  });

  it('turns problem+json into an ApiError naming the field', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(answer(422, { title: 'Invalid input', status: 422, detail: 'must be one of [a]', field: 'segment' })));
    const e = await request('/x').catch((e) => e);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(422);
    expect(e.field).toBe('segment');
    expect(e.message).toBe('must be one of [a] (segment)');
  });

  it('says so when the server cannot be reached or answers garbage', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
    await expect(request('/x')).rejects.toMatchObject({ status: 0, message: 'the server could not be reached' });
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(answer(502, '<html>bad gateway</html>')));
    await expect(request('/x')).rejects.toMatchObject({ status: 502, message: 'HTTP 502' });
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(answer(200, 'not json')));
    await expect(request('/x')).rejects.toThrow(/unexpected answer/);
  });

  it('reports an expired session only when one was sent', async () => {
    const expired = vi.fn();
    onUnauthorized(expired);
    vi.stubGlobal('fetch', vi.fn().mockImplementation(async () => answer(401, { title: 'Unauthorized', status: 401 })));
    await expect(request('/auth/login', { method: 'POST' })).rejects.toMatchObject({ status: 401 });
    expect(expired).not.toHaveBeenCalled();
    setToken('old');
    await expect(request('/dashboards')).rejects.toMatchObject({ status: 401 });
    expect(expired).toHaveBeenCalledOnce();
    // An answer for a token the console has switched away from meanwhile ends nothing.
    vi.stubGlobal('fetch', vi.fn().mockImplementation(async () => {
      setToken('switched');
      return answer(401, { title: 'Unauthorized', status: 401 });
    }));
    await expect(request('/dashboards')).rejects.toMatchObject({ status: 401 });
    expect(expired).toHaveBeenCalledOnce();
  });

  it('follows X-Next-Cursor through every page', async () => {
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(answer(200, [1, 2], { 'x-next-cursor': 'c2' }))
      .mockResolvedValueOnce(answer(200, [3]));
    vi.stubGlobal('fetch', fetch);
    expect(await listAll<number>('/dashboards')).toEqual([1, 2, 3]);
    expect(fetch.mock.calls.map((c) => c[0])).toEqual(['/api/v1/dashboards?limit=1000', '/api/v1/dashboards?limit=1000&cursor=c2']);
  });

  it('describes a problem without detail by its title or status', () => {
    expect(describeProblem(404, { title: 'Not found' })).toBe('Not found');
    expect(describeProblem(500, null)).toBe('HTTP 500');
  });
});
