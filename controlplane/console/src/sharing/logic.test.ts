import { describe, expect, it } from 'vitest';
import { resourceLabel, sharedValues, shareInput, shareState, shareUrl, tenantOfToken } from './logic';

describe('share links', () => {
  it('finds the tenant of a token for its branding', () => {
    expect(tenantOfToken(`nxs_acme_${'a'.repeat(64)}`)).toBe('acme');
    expect(tenantOfToken(`nxs_acme-eu_${'b'.repeat(64)}`)).toBe('acme-eu');
    expect(tenantOfToken('nxs_nounderscore')).toBeNull();
    expect(tenantOfToken('other_acme_x')).toBeNull();
  });

  it('builds the console address of a link', () => {
    expect(shareUrl('http://127.0.0.1:8080', 'nxs_acme_ab')).toBe('http://127.0.0.1:8080/shared/nxs_acme_ab');
  });

  it('reads resources and expiry', () => {
    expect(resourceLabel('dashboard/customers')).toBe('Dashboard customers');
    expect(resourceLabel('query/q-1')).toBe('Saved query q-1');
    expect(shareState({ expiresAt: '2020-01-01T00:00:00Z' }, Date.parse('2021-01-01T00:00:00Z'))).toBe('expired');
    expect(shareState({}, Date.now())).toBe('active');
  });

  it('turns the form into the request, or errors at their fields', () => {
    expect(shareInput('dashboard/customers', { expiresInHours: '24', password: 'long-enough', locked: { segment: 'consumer', region: '' } })).toEqual({
      input: { resource: 'dashboard/customers', expiresInHours: 24, password: 'long-enough', lockedVariables: { segment: 'consumer' } },
    });
    expect(shareInput('query/q-1', { expiresInHours: '', password: '', locked: {} })).toEqual({ input: { resource: 'query/q-1' } });
    const bad = shareInput('query/q-1', { expiresInHours: '0.5', password: 'short', locked: {} });
    expect('errors' in bad && Object.keys(bad.errors).sort()).toEqual(['expiresInHours', 'password']);
    expect('errors' in shareInput('q', { expiresInHours: '9000', password: '', locked: {} })).toBe(true);
  });

  it('keeps locked variables at the link’s value whatever the viewer chose', () => {
    const vars = [
      { name: 'segment', default: 'consumer', options: ['consumer', 'corporate'], locked: true },
      { name: 'country', default: 'DE', options: [], locked: false },
      { name: 'empty', options: [], locked: false },
    ];
    expect(sharedValues(vars, { segment: 'corporate', country: 'FR' })).toEqual({ segment: 'consumer', country: 'FR' });
    expect(sharedValues(vars, {})).toEqual({ segment: 'consumer', country: 'DE' });
  });
});
