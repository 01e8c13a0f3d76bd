// The dashboard editor's pure logic: widget ids, placing, moving and resizing on the 12-column
// grid, and the form → the API's `DashboardInput`.
import type { ChartType, DashboardRecord, DashboardSpec, Widget } from '../api/types';

export const COLS = 12;
export const ROW_PX = 56;
export const GAP_PX = 12;

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export function boxOf(w: Widget): Box {
  const p = w.position ?? {};
  return { x: p.x ?? 0, y: p.y ?? 0, w: p.w ?? 6, h: p.h ?? 4 };
}

const overlaps = (a: Box, b: Box) => !(a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y);

/** `w1`, `w2`, … : the first not taken. */
export function newWidgetId(widgets: Widget[]): string {
  const taken = new Set(widgets.map((w) => w.id));
  for (let i = 1; ; i++) if (!taken.has(`w${i}`)) return `w${i}`;
}

/** The first free place for a `w`×`h` box, row by row, left to right. */
export function freePlace(widgets: Widget[], w = 6, h = 4): Box {
  const boxes = widgets.map(boxOf);
  for (let y = 0; ; y++) for (let x = 0; x + w <= COLS; x++) if (boxes.every((b) => !overlaps(b, { x, y, w, h }))) return { x, y, w, h };
}

/** The box kept inside the grid: at least 2 columns by 2 rows, never left of 0 or past 12. */
export function clamp(b: Box): Box {
  const w = Math.max(2, Math.min(COLS, Math.round(b.w)));
  const h = Math.max(2, Math.min(24, Math.round(b.h)));
  return { w, h, x: Math.max(0, Math.min(COLS - w, Math.round(b.x))), y: Math.max(0, Math.round(b.y)) };
}

/** The widgets with one of them moved or resized to `box` (clamped). */
export function setBox(widgets: Widget[], id: string, box: Box): Widget[] {
  return widgets.map((w) => (w.id === id ? { ...w, position: clamp(box) } : w));
}

/** Grid cells for a pointer movement of `dx`×`dy` pixels on a grid `width` pixels wide. */
export function cellsFor(dx: number, dy: number, width: number): { dx: number; dy: number } {
  const col = (width - GAP_PX * (COLS - 1)) / COLS + GAP_PX;
  return { dx: Math.round(dx / col) || 0, dy: Math.round(dy / (ROW_PX + GAP_PX)) || 0 };
}

/** Arrow keys move a box one cell; with Shift they resize it. */
export function keyed(box: Box, key: string, shift: boolean): Box | null {
  const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[key];
  if (!d) return null;
  return clamp(shift ? { ...box, w: box.w + d[0], h: box.h + d[1] } : { ...box, x: box.x + d[0], y: box.y + d[1] });
}

export interface EditorForm {
  name: string;
  title: string;
  folder: string;
  tags: string;
  description: string;
  refresh: string;
  widgets: Widget[];
}

export function emptyForm(): EditorForm {
  return { name: '', title: '', folder: '', tags: '', description: '', refresh: '', widgets: [] };
}

export function formOf(d: DashboardRecord): EditorForm {
  const s = d.spec;
  return {
    name: d.name,
    title: s.title,
    folder: s.folder ?? '',
    tags: (s.tags ?? []).join(', '),
    description: s.description ?? '',
    refresh: s.refreshIntervalSeconds ? String(s.refreshIntervalSeconds) : '',
    widgets: (s.widgets ?? []).map((w) => ({ ...w, position: boxOf(w) })),
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The form as the API's body, keeping what the form does not edit (variables, publication),
 * or the errors by field (`widgets.<id>.sql`, …). */
export function toInput(f: EditorForm, isNew: boolean, base?: DashboardSpec): { input: { name?: string; spec: Partial<DashboardSpec> } } | { errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  if (isNew && !DNS_LABEL.test(f.name.trim())) errors.name = 'lower-case letters, digits and dashes, at most 63';
  if (!f.title.trim()) errors.title = 'required';
  let refresh: number | undefined;
  if (f.refresh.trim()) {
    refresh = Number(f.refresh);
    if (!Number.isInteger(refresh) || refresh < 5) errors.refresh = 'whole seconds, at least 5';
  }
  for (const w of f.widgets) {
    if (!w.query.dataSource) errors[`widgets.${w.id}.dataSource`] = 'choose a data source';
    if (!w.query.sql.trim()) errors[`widgets.${w.id}.sql`] = 'a statement';
  }
  if (Object.keys(errors).length) return { errors };
  const spec: Partial<DashboardSpec> = {
    ...(base ?? {}),
    title: f.title.trim(),
    folder: f.folder.trim() || undefined,
    description: f.description.trim() || undefined,
    tags: [...new Set(f.tags.split(/[\s,]+/).filter(Boolean))],
    refreshIntervalSeconds: refresh,
    widgets: f.widgets.map((w) => ({ ...w, title: w.title?.trim() || undefined, query: { ...w.query, sql: w.query.sql.trim() } })),
  };
  return { input: isNew ? { name: f.name.trim(), spec } : { spec } };
}

export function newWidget(widgets: Widget[], dataSource: string, chart: ChartType = 'bar'): Widget {
  return { id: newWidgetId(widgets), title: '', chart, query: { dataSource, sql: '' }, options: {}, position: freePlace(widgets) };
}
