// Approvals (governance/approvals in the server): requests, their levels and decisions.
import { listAll, request } from '../api/client';

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'cancelled' | 'expired';

export type Subject =
  | { kind: 'query'; dataSource: string; sql: string; level: string; fingerprint: string; params: unknown[] }
  | { kind: 'dashboardPublication'; dashboard: string; specDigest: string }
  | { kind: 'dataSourceCreation'; name: string; spec: Record<string, unknown>; fingerprint: string }
  | { kind: 'export'; dataSource: string; sql: string; format: string; level?: string | null; fingerprint: string; params: unknown[] }
  | { kind: 'externalShare'; resource: string; options: Record<string, unknown>; fingerprint: string };

export interface Approval {
  id: string;
  subject: Subject;
  requester: string;
  reason?: string | null;
  status: ApprovalStatus;
  levels: { approvers: string[]; required: number }[];
  currentLevel: number;
  decisions: { level: number; by: string; verdict: string; comment: string; at: string }[];
  expiresAt: string;
  validUntil?: string | null;
  createdAt?: string;
}

export type Box = 'inbox' | 'mine' | 'all';

export const listApprovals = (box: Box, signal?: AbortSignal) =>
  listAll<Approval>(`/approvals${box === 'inbox' ? '?assigned=true' : box === 'mine' ? '?mine=true' : ''}`, signal);

export async function decide(id: string, verdict: 'approve' | 'reject', comment: string): Promise<Approval> {
  return (await request<Approval>(`/approvals/${encodeURIComponent(id)}/${verdict}`, { method: 'POST', body: { comment } })).data;
}

export async function cancel(id: string): Promise<Approval> {
  return (await request<Approval>(`/approvals/${encodeURIComponent(id)}/cancel`, { method: 'POST' })).data;
}
