import { afterEach, describe, expect, it, vi } from 'vitest';
import { brandParts, brandVariables, contrast, fetchBranding, hostMayBeCustomDomain, logoFor, readableOn, textOn, type Branding } from './branding';

const acme: Branding = {
  tenant: 'acme',
  displayName: 'Acme Insights',
  logoUrl: '/logo.svg',
  darkLogoUrl: '/logo-dark.svg',
  primaryColor: '#1f6feb',
  accentColor: '#f78166',
  fontFamily: 'Georgia, serif',
};

afterEach(() => vi.unstubAllGlobals());

describe('branding', () => {
  it('keeps a readable brand colour as it is and fixes one too faint for the surface', () => {
    expect(readableOn('#1f6feb', '#ffffff')).toBe('#1f6feb');
    // Pale yellow on white: darkened until it reaches 3:1.
    const fixed = readableOn('#ffee88', '#ffffff');
    expect(fixed).not.toBe('#ffee88');
    expect(contrast(fixed, '#ffffff')).toBeGreaterThanOrEqual(3);
    // Navy on the dark surface: lightened.
    const dark = readableOn('#000080', '#161b22');
    expect(contrast(dark, '#161b22')).toBeGreaterThanOrEqual(3);
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
  });

  it('chooses the label colour on the brand colour by contrast', () => {
    expect(textOn('#1f6feb')).toBe('#ffffff');
    expect(textOn('#ffee88')).toBe('#000000');
  });

  it('sets variables per theme, with defaults where the tenant gives nothing', () => {
    const light = brandVariables(acme, 'light');
    expect(light['--brand']).toBe('#1f6feb');
    expect(light['--brand-accent']).toBe('#f78166');
    expect(light['--font']).toBe('Georgia, serif');
    const dark = brandVariables(acme, 'dark');
    expect(contrast(dark['--brand'], '#161b22')).toBeGreaterThanOrEqual(3);
    const none = brandVariables(null, 'light');
    expect(none['--brand']).toBe('#1f6feb');
    expect(none['--font']).toBeUndefined();
    // A colour the API would not pass anyway is ignored, not injected.
    expect(brandVariables({ ...acme, primaryColor: 'red; x: y' }, 'light')['--brand']).toBe('#1f6feb');
  });

  it('picks the dark logo in the dark theme, the light one otherwise or as fallback', () => {
    expect(logoFor(acme, 'light')).toBe('/logo.svg');
    expect(logoFor(acme, 'dark')).toBe('/logo-dark.svg');
    expect(logoFor({ ...acme, darkLogoUrl: null }, 'dark')).toBe('/logo.svg');
    expect(logoFor(null, 'dark')).toBeNull();
  });

  it('shows the name in place of a logo that is missing or failed to load', () => {
    expect(brandParts(acme, 'light', null, false)).toEqual({ logo: '/logo.svg', name: 'Acme Insights', nameShown: false });
    expect(brandParts(acme, 'light', null, true)).toEqual({ logo: '/logo.svg', name: 'Acme Insights', nameShown: true });
    // Refused by the CSP (an external https logo) or broken: the name in its place.
    const external = { ...acme, logoUrl: 'https://cdn.example.com/acme.svg', darkLogoUrl: null };
    expect(brandParts(external, 'light', 'https://cdn.example.com/acme.svg', false)).toEqual({ logo: null, name: 'Acme Insights', nameShown: true });
    // Only the address that failed: the dark theme's logo still loads.
    expect(brandParts(acme, 'dark', '/logo.svg', false)).toEqual({ logo: '/logo-dark.svg', name: 'Acme Insights', nameShown: false });
    expect(brandParts({ ...acme, logoUrl: null, darkLogoUrl: null }, 'light', null, false)).toEqual({ logo: null, name: 'Acme Insights', nameShown: true });
    expect(brandParts(null, 'light', null, false)).toEqual({ logo: null, name: 'NexBII', nameShown: false });
    expect(brandParts(null, 'light', null, true)).toEqual({ logo: null, name: 'NexBII', nameShown: true });
  });

  it('asks for a custom domain only on DNS names', () => {
    expect(hostMayBeCustomDomain('bi.acme.example')).toBe(true);
    expect(hostMayBeCustomDomain('127.0.0.1')).toBe(false);
    expect(hostMayBeCustomDomain('localhost')).toBe(false);
    expect(hostMayBeCustomDomain('::1')).toBe(false);
  });

  it('fetches by tenant and treats an unknown tenant as no branding', async () => {
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(new Response(JSON.stringify(acme), { status: 200 }))
      .mockResolvedValueOnce(new Response(JSON.stringify({ title: 'Not Found', status: 404 }), { status: 404 }));
    vi.stubGlobal('fetch', fetch);
    expect((await fetchBranding('acme'))?.displayName).toBe('Acme Insights');
    expect(fetch.mock.calls[0][0]).toBe('/api/v1/branding?tenant=acme');
    expect(await fetchBranding('nobody')).toBeNull();
  });
});
