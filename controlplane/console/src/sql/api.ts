import { request, send } from '../api/client';
import { saveResponse } from '../api/download';
import type { ApprovalRecord, QueryResult, SavedQuery, SchemaInfo } from '../api/types';

export type RunOutcome = { kind: 'result'; result: QueryResult } | { kind: 'approval'; approval: ApprovalRecord };

/** Runs one statement; a policy may hold it for approval (202 with the request). */
export async function runQuery(dataSource: string, sql: string, signal?: AbortSignal): Promise<RunOutcome> {
  const res = await request<QueryResult | ApprovalRecord>('/queries/run', { method: 'POST', body: { dataSource, sql }, signal });
  return res.status === 202
    ? { kind: 'approval', approval: res.data as ApprovalRecord }
    : { kind: 'result', result: res.data as QueryResult };
}

export const saveQuery = async (name: string, dataSource: string, sql: string) =>
  (await request<SavedQuery>('/queries', { method: 'POST', body: { name, dataSource, sql } })).data;

export const getSchema = async (dataSource: string, signal?: AbortSignal) =>
  (await request<SchemaInfo>(`/datasources/${encodeURIComponent(dataSource)}/schema`, { signal })).data;

export type ExportFormat = 'csv' | 'jsonl';

/** Downloads a statement's result as CSV or JSON lines; a policy may hold the export for
 * approval (202 with the request). */
export async function exportResult(
  dataSource: string,
  sql: string,
  format: ExportFormat,
): Promise<{ kind: 'file'; name: string; bytes: number; truncated: boolean } | { kind: 'approval'; approval: ApprovalRecord }> {
  const res = await send('/queries/export', { method: 'POST', body: { dataSource, sql, format }, headers: { accept: '*/*' } });
  if (res.status === 202) return { kind: 'approval', approval: (await res.json()) as ApprovalRecord };
  const truncated = res.headers.get('x-truncated') === 'true';
  const saved = await saveResponse(res, `export.${format}`);
  return { kind: 'file', ...saved, truncated };
}
