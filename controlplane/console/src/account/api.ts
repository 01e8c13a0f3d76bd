// The caller's own account: password, second factor, sessions, and the export of their data.
import { listAll, request } from '../api/client';
import { download } from '../api/download';
import type { LoginSession } from '../sessions/logic';

export interface MfaStatus {
  enabled: boolean;
  pending: boolean;
  required: boolean;
  confirmedAt?: string | null;
  recoveryCodesLeft: number;
}

export interface Enrollment {
  secret: string;
  otpauthUri: string;
  issuer: string;
  account: string;
}

export async function mfaStatus(signal?: AbortSignal): Promise<MfaStatus> {
  return (await request<MfaStatus>('/auth/mfa', { signal })).data;
}

export async function startEnrolment(): Promise<Enrollment> {
  return (await request<Enrollment>('/auth/mfa/enroll', { method: 'POST' })).data;
}

export async function confirmEnrolment(code: string): Promise<string[]> {
  return (await request<{ recoveryCodes: string[] }>('/auth/mfa/confirm', { method: 'POST', body: { code: code.trim() } })).data.recoveryCodes;
}

export async function disableMfa(code: string): Promise<void> {
  await request('/auth/mfa/disable', { method: 'POST', body: { code: code.trim() } });
}

export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  await request('/auth/password', { method: 'POST', body: { currentPassword, newPassword } });
}

export const mySessions = (signal?: AbortSignal) => listAll<LoginSession>('/auth/sessions', signal);

export async function revokeMySession(id: string): Promise<void> {
  await request(`/auth/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** Everything stored about the caller, as a JSON file. */
export const exportMyData = (username: string) => download(`/users/${encodeURIComponent(username)}/export`, `${username}-data.json`);
