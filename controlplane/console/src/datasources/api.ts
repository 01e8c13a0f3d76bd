import { listAll, request } from '../api/client';
import type { ApprovalRecord, ConnectionTest, DataSourceView, SchemaInfo } from '../api/types';
import type { DataSourceInput } from './form';

export const listDataSources = (signal?: AbortSignal) => listAll<DataSourceView>('/datasources', signal);

/** Creates a source; a policy may hold new sources for approval (202 with the request). */
export async function createDataSource(input: DataSourceInput): Promise<{ created: DataSourceView } | { approval: ApprovalRecord }> {
  const res = await request<DataSourceView | ApprovalRecord>('/datasources', { method: 'POST', body: input });
  return res.status === 202 ? { approval: res.data as ApprovalRecord } : { created: res.data as DataSourceView };
}

export async function updateDataSource(input: DataSourceInput, revision: number | undefined): Promise<DataSourceView> {
  return (
    await request<DataSourceView>(`/datasources/${encodeURIComponent(input.name)}`, {
      method: 'PUT',
      body: input,
      headers: revision ? { 'if-match': `"${revision}"` } : {},
    })
  ).data;
}

export const testConnection = async (name: string) =>
  (await request<ConnectionTest>(`/datasources/${encodeURIComponent(name)}/test`, { method: 'POST' })).data;

export const getSchema = async (name: string) =>
  (await request<SchemaInfo>(`/datasources/${encodeURIComponent(name)}/schema`)).data;
