import type { Approval, Subject } from './api';

/** What a request asks for, in one line. */
export function subjectText(s: Subject): string {
  switch (s.kind) {
    case 'query':
      return `Run a query reading ${s.level} data on ${s.dataSource}`;
    case 'dashboardPublication':
      return `Publish dashboard ${s.dashboard}`;
    case 'dataSourceCreation':
      return `Add data source ${s.name}`;
    case 'export':
      return `Export a query result from ${s.dataSource} as ${s.format}${s.level ? ` (${s.level} data)` : ''}`;
    case 'externalShare':
      return `Share ${s.resource} by public link`;
    default:
      return 'Unknown request';
  }
}

/** Where a request stands: `level 1 of 2`, or its final status. */
export function progress(a: Approval): string {
  if (a.status !== 'pending') return a.status;
  return `pending, level ${Math.min(a.currentLevel + 1, a.levels.length)} of ${a.levels.length}`;
}

/** Newest first (by creation time, else id). */
export function newestFirst(list: Approval[]): Approval[] {
  return [...list].sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '') || b.id.localeCompare(a.id));
}
