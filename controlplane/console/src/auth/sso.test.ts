import { describe, expect, it } from 'vitest';
import { grantFromHash, ssoErrorMessage, ssoLoginUrl } from './sso';

describe('single sign-on', () => {
  it('reads the grant from the fragment, and nothing else', () => {
    const g = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
    expect(grantFromHash(`#grant=${g}`)).toBe(g);
    expect(grantFromHash(`#x=1&grant=${g}`)).toBe(g);
    expect(grantFromHash('')).toBeNull();
    expect(grantFromHash('#grant=')).toBeNull();
    expect(grantFromHash('#grant=short')).toBeNull();
    expect(grantFromHash('#grant=<script>alert(1)</script>aaaaaaaaaaaa')).toBeNull();
  });

  it('starts at the server with the tenant and a local return path', () => {
    expect(ssoLoginUrl(' acme ', '/dashboards/sales')).toBe('/api/v1/auth/oidc/login?tenant=acme&returnTo=%2Fdashboards%2Fsales');
    expect(ssoLoginUrl('acme', 'https://evil.example')).toBe('/api/v1/auth/oidc/login?tenant=acme&returnTo=%2F');
  });

  it('explains the callback refusals', () => {
    expect(ssoErrorMessage('?tenant=acme&ssoError=disabled')).toBe('This account is disabled.');
    expect(ssoErrorMessage('?ssoError=no_role')).toMatch(/groups/);
    expect(ssoErrorMessage('?ssoError=other')).toBe('Single sign-on failed.');
    expect(ssoErrorMessage('?tenant=acme')).toBeNull();
  });
});
