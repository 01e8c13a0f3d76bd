import { describe, expect, it } from 'vitest';
import { encode } from 'uqr';
import { ApiError } from '../api/client';
import { passwordErrors, qrPath, sessionIdOf } from './logic';

describe('account', () => {
  it('draws each run of dark modules once', () => {
    expect(qrPath([[true, true, false, true], [false, false, false, false], [false, true, true, true]])).toBe('M0 0h2v1h-2zM3 0h1v1h-1zM1 2h3v1h-3z');
    expect(qrPath([[false]])).toBe('');
  });

  it('draws a real otpauth QR code with as many dark modules as the encoder gives', () => {
    const qr = encode('otpauth://totp/NexBII:ann?secret=JBSWY3DPEHPK3PXP&issuer=NexBII', { ecc: 'M', border: 2 });
    const dark = qr.data.flat().filter(Boolean).length;
    const drawn = [...qrPath(qr.data).matchAll(/h(\d+)v1/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(drawn).toBe(dark);
    expect(qr.size).toBeGreaterThanOrEqual(25);
  });

  it('reads the session id of a login token', () => {
    const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    expect(sessionIdOf(`${b64({ alg: 'HS256' })}.${b64({ sub: 'ann', sid: 'ses-123?>' })}.sig`)).toBe('ses-123?>');
    expect(sessionIdOf('not-a-token')).toBeNull();
    expect(sessionIdOf('a.%%%.c')).toBeNull();
  });

  it('puts every broken password rule at the new password and a wrong current one at its field', () => {
    const rules = new ApiError(422, 'invalid', {
      status: 422,
      errors: [
        { field: 'password', message: 'must be at least 12 characters' },
        { field: 'password', message: 'must contain a digit' },
      ],
    });
    expect(passwordErrors(rules)).toEqual({ newPassword: ['must be at least 12 characters', 'must contain a digit'] });
    const current = new ApiError(422, 'is not the current password', { status: 422, field: 'currentPassword', detail: 'is not the current password' });
    expect(passwordErrors(current)).toEqual({ currentPassword: 'is not the current password' });
    expect(passwordErrors(new ApiError(429, 'the account is locked', { status: 429 }))).toEqual({ other: 'the account is locked' });
  });
});
