import { afterEach, describe, expect, it, vi } from 'vitest';
import { setToken } from '../api/client';
import { actionLabel, canApply, contentTypeOf, importConfig, importPath, summary, tally, type ImportResult } from './configTransfer';

afterEach(() => {
  vi.unstubAllGlobals();
  setToken(null);
});

const report: ImportResult[] = [
  { kind: 'Tenant', name: 'acme', action: 'unchanged' },
  { kind: 'SavedQuery', name: 'q1', action: 'created' },
  { kind: 'Dashboard', name: 'sales-overview', action: 'error', error: 'conflict (409): provisioned from YAML' },
  { kind: 'ConfigMap', name: 'x', action: 'skipped', error: 'not imported' },
];

describe('configuration import', () => {
  it('counts and words the report, as would-be in a dry run', () => {
    expect(tally(report)).toEqual({ created: 1, updated: 0, unchanged: 1, skipped: 1, error: 1 });
    expect(summary(report, true)).toBe('4 objects: 1 will be created, 1 unchanged, 1 skipped, 1 refused.');
    expect(summary(report, false)).toBe('4 objects: 1 created, 1 unchanged, 1 skipped, 1 refused.');
    expect(summary([], true)).toBe('0 objects.');
    expect(actionLabel('updated', true)).toBe('will be updated');
  });

  it('sends YAML or JSON by what the text is', () => {
    expect(contentTypeOf('apiVersion: v1\nkind: List')).toBe('application/yaml');
    expect(contentTypeOf('  {"kind":"List","items":[]}')).toBe('application/json');
    expect(contentTypeOf('[{"kind":"Dashboard"}]')).toBe('application/json');
    expect(importPath(true, true)).toBe('/admin/import?dryRun=true&atomic=true');
    expect(importPath(false, false)).toBe('/admin/import?dryRun=false&atomic=false');
  });

  it('applies only the text the dry run checked, refused objects only when left out on purpose', () => {
    const text = 'kind: SavedQuery';
    expect(canApply(null, '  ', false)).toMatchObject({ ok: false, why: 'Paste or load a configuration first.' });
    expect(canApply(null, text, false)).toMatchObject({ ok: false, why: 'Check this text with a dry run first.' });
    expect(canApply({ text, report }, `${text}\n`, true)).toMatchObject({ ok: false, why: 'Check this text with a dry run first.' });
    expect(canApply({ text, report }, text, false)).toMatchObject({ ok: false, why: '1 refused: fix them, or choose to apply the others without them.' });
    expect(canApply({ text, report }, text, true)).toEqual({ ok: true });
    expect(canApply({ text, report: [report[0]] }, text, false)).toMatchObject({ ok: false, why: 'Nothing would change.' });
  });

  it('posts the text as it is, with its content type and the query flags', async () => {
    const fetch = vi.fn().mockResolvedValue(new Response(JSON.stringify(report), { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    setToken('t0k');
    const yaml = 'apiVersion: nexbii.io/v1alpha1\nkind: SavedQuery\n';
    expect(await importConfig(yaml, true, true)).toEqual(report);
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe('/api/v1/admin/import?dryRun=true&atomic=true');
    expect(init.method).toBe('POST');
    expect(init.body).toBe(yaml);
    expect(init.headers['content-type']).toBe('application/yaml');
    expect(init.headers.authorization).toBe('Bearer t0k');
  });
});
