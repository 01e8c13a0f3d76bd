import { request } from '../api/client';
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
