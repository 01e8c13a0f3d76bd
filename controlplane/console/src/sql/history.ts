// The SQL editor's run history: kept in this browser only (localStorage), per tenant and user,
// newest first, at most 50 entries; running the same statement again moves it to the top.

export interface HistoryEntry {
  at: string;
  dataSource: string;
  sql: string;
  ok: boolean;
  rowCount?: number;
  elapsedMs?: number;
  error?: string;
}

export const HISTORY_MAX = 50;

export function historyKey(tenant: string, user: string): string {
  return `nexbii.sqlHistory.${tenant}.${user}`;
}

export function addToHistory(list: HistoryEntry[], e: HistoryEntry, max = HISTORY_MAX): HistoryEntry[] {
  const rest = list.filter((x) => !(x.sql === e.sql && x.dataSource === e.dataSource));
  return [e, ...rest].slice(0, max);
}

export function loadHistory(storage: Pick<Storage, 'getItem'>, key: string): HistoryEntry[] {
  try {
    const v = JSON.parse(storage.getItem(key) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is HistoryEntry => !!x && typeof x.sql === 'string' && typeof x.dataSource === 'string') : [];
  } catch {
    return [];
  }
}

export function saveHistory(storage: Pick<Storage, 'setItem'>, key: string, list: HistoryEntry[]): void {
  try {
    storage.setItem(key, JSON.stringify(list));
  } catch {
    // A full or disabled storage only loses the history.
  }
}
