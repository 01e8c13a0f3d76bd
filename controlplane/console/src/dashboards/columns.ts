// Which result columns hold numbers: drivers name types differently, so the values decide,
// with exact decimals (sent as strings when an f64 cannot carry their digits) allowed by type.
import type { Cell, QueryResult } from '../api/types';

const DECIMAL_TYPE = /decimal|numeric|money|number/i;
const NUMERIC_TEXT = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

export function isNumericColumn(result: QueryResult, index: number): boolean {
  const decimalType = DECIMAL_TYPE.test(result.columns[index]?.type ?? '');
  let seen = false;
  for (const row of result.rows) {
    const v = row[index];
    if (v === null || v === undefined) continue;
    if (typeof v === 'number') seen = true;
    else if (typeof v === 'string' && decimalType && NUMERIC_TEXT.test(v)) seen = true;
    else return false;
  }
  return seen;
}

export function toNumber(v: Cell | undefined): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && NUMERIC_TEXT.test(v)) return Number(v);
  return null;
}

export function columnIndex(result: QueryResult, name: unknown): number {
  return typeof name === 'string' ? result.columns.findIndex((c) => c.name === name) : -1;
}

/** The text a cell shows in tables and axis labels. */
export function cellText(v: Cell | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
