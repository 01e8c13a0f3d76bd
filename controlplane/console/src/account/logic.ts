// Pure rules of the account page: the QR code's drawing, the session a token belongs to, and
// a password change's answer as field errors.
import { ApiError } from '../api/client';

/** An SVG path of the dark modules of a QR matrix: one rectangle per horizontal run, so the
 * drawing needs no style (the CSP allows none inline) and stays small. */
export function qrPath(data: boolean[][]): string {
  const parts: string[] = [];
  data.forEach((row, y) => {
    let x = 0;
    while (x < row.length) {
      if (!row[x]) {
        x++;
        continue;
      }
      let end = x;
      while (end < row.length && row[end]) end++;
      parts.push(`M${x} ${y}h${end - x}v1h-${end - x}z`);
      x = end;
    }
  });
  return parts.join('');
}

/** The session id (`sid`) a login token carries, to mark "this session" in the list. */
export function sessionIdOf(token: string): string | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const sid = (JSON.parse(json) as { sid?: unknown }).sid;
    return typeof sid === 'string' ? sid : null;
  } catch {
    return null;
  }
}

export interface PasswordErrors {
  currentPassword?: string;
  /** Every rule of the tenant's policy the new password breaks. */
  newPassword?: string[];
  other?: string;
}

/** A failed password change as errors at its fields: the server names the current password
 * `currentPassword` and the new one `password` (one entry a broken rule). */
export function passwordErrors(e: unknown): PasswordErrors {
  if (!(e instanceof ApiError)) return { other: e instanceof Error ? e.message : String(e) };
  const out: PasswordErrors = {};
  const entries = e.problem?.errors?.length ? e.problem.errors : e.problem?.field ? [{ field: e.problem.field, message: e.problem.detail }] : [];
  for (const f of entries) {
    if (f.field === 'currentPassword') out.currentPassword = f.message ?? 'invalid';
    else if (f.field === 'password' || f.field === 'newPassword') (out.newPassword ??= []).push(f.message ?? 'invalid');
  }
  if (!out.currentPassword && !out.newPassword) out.other = e.message;
  return out;
}
