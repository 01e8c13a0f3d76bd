import { listAll, request } from '../api/client';
import type { SavedQuery } from '../api/types';

export type FindingKind = 'trend' | 'change' | 'outlier' | 'concentration' | 'correlation';

export interface Finding {
  kind: FindingKind;
  title: string;
  summary: string;
  columns: string[];
  score: number;
  figures: Record<string, unknown>;
}

export interface Insights {
  findings: Finding[];
  rowsAnalysed: number;
  truncated: boolean;
  skippedColumns: { column: string; reason: string }[];
}

/** Insights of one statement (editors and admins). */
export const insightsOf = async (dataSource: string, sql: string, signal?: AbortSignal) =>
  (await request<Insights>('/insights', { method: 'POST', body: { dataSource, sql }, signal })).data;

/** Insights of a saved query (anyone who may run it). */
export const savedInsights = async (id: string, signal?: AbortSignal) =>
  (await request<Insights>(`/queries/${encodeURIComponent(id)}/insights`, { method: 'POST', signal })).data;

export const listSavedQueries = (signal?: AbortSignal) => listAll<SavedQuery>('/queries', signal);

