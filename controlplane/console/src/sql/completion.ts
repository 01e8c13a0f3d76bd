// The data source's schema as CodeMirror's SQL completion wants it: tables (qualified by
// their schema where the source has several) with their columns.
import type { DataSourceType, SchemaInfo } from '../api/types';

const DEFAULT_SCHEMAS = new Set(['public', 'main', 'dbo']);

export function completionSchema(info: SchemaInfo): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const t of info.tables) {
    const cols = t.columns.map((c) => c.name);
    out[t.name] = cols;
    if (t.schema && !DEFAULT_SCHEMAS.has(t.schema)) out[`${t.schema}.${t.name}`] = cols;
  }
  return out;
}

export type Dialect = 'postgresql' | 'mysql' | 'sqlite' | 'standard';

export function dialectOf(t: DataSourceType | undefined): Dialect {
  return t === 'postgresql' || t === 'mysql' || t === 'sqlite' ? t : 'standard';
}

/** The statement to run: the selection when there is one, else the whole text. */
export function statementToRun(doc: string, from: number, to: number): string {
  const selected = doc.slice(Math.min(from, to), Math.max(from, to)).trim();
  return selected || doc.trim();
}
