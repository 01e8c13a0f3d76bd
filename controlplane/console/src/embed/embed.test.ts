import { describe, expect, it } from 'vitest';
import { embedTenant, embedTheme, takeToken, unlockedValues, type EmbedVariable } from './embed';

describe('embed page', () => {
  it('knows its tenant from the path only', () => {
    expect(embedTenant('/embed/acme')).toBe('acme');
    expect(embedTenant('/embed/acme/')).toBe('acme');
    expect(embedTenant('/embed/')).toBeNull();
    expect(embedTenant('/embed/acme/other')).toBeNull();
    expect(embedTenant('/dashboards/embed')).toBeNull();
  });

  it('takes the theme the host asks for, and nothing else', () => {
    expect(embedTheme('?theme=dark&token=x')).toBe('dark');
    expect(embedTheme('?theme=light')).toBe('light');
    expect(embedTheme('?theme=blue')).toBeNull();
    expect(embedTheme('')).toBeNull();
  });

  it('takes the token out of the address', () => {
    expect(takeToken('http://h/embed/acme?token=abc.def&x=1#top')).toEqual({ token: 'abc.def', rest: '/embed/acme?x=1#top' });
    expect(takeToken('http://h/embed/acme')).toEqual({ token: null, rest: '/embed/acme' });
  });

  it('sends only the variables the token leaves open', () => {
    const vars: EmbedVariable[] = [
      { name: 'country', default: 'FR', options: ['DE', 'FR'], locked: true },
      { name: 'year', default: '2024', options: [], locked: false },
      { name: 'segment', options: [], locked: false },
    ];
    expect(unlockedValues(vars, {})).toEqual({ year: '2024' });
    expect(unlockedValues(vars, { country: 'DE', year: '2023', segment: 'smb' })).toEqual({ year: '2023', segment: 'smb' });
  });
});
