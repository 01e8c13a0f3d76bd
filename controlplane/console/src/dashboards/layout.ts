// Widget positions on the dashboard grid. The CRD allows 24 columns; dashboards laid out on 12
// (as the quick start's are) fill the width too: the grid is as wide as its widest row, at
// least 12 columns. Widgets that would overlap (several left at the default position, say)
// move down to the first free place, in the order the dashboard lists them.
import type { Widget } from '../api/types';

/** What placing needs of a widget (dashboards and embedded views alike). */
type Placeable = Pick<Widget, 'position'>;

export interface Placed<W extends Placeable = Widget> {
  widget: W;
  x: number;
  y: number;
  w: number;
  h: number;
  column: string;
  row: string;
}

export function gridColumns(widgets: Placeable[]): number {
  const widest = widgets.reduce((m, w) => Math.max(m, (w.position?.x ?? 0) + (w.position?.w ?? 6)), 0);
  return Math.min(24, Math.max(12, widest));
}

export function place<W extends Placeable>(widgets: W[]): Placed<W>[] {
  const cols = gridColumns(widgets);
  const taken: Placed<W>[] = [];
  const free = (x: number, y: number, w: number, h: number) =>
    taken.every((p) => x + w <= p.x || p.x + p.w <= x || y + h <= p.y || p.y + p.h <= y);
  for (const widget of widgets) {
    const p = widget.position ?? {};
    const w = Math.min(p.w ?? 6, cols);
    const h = p.h ?? 4;
    let x = Math.min(p.x ?? 0, cols - w);
    let y = p.y ?? 0;
    if (!free(x, y, w, h)) {
      // Row by row from the requested one, left to right; a free place always exists below.
      search: for (let yy = y; ; yy++) {
        for (let xx = 0; xx + w <= cols; xx++) {
          if (free(xx, yy, w, h)) {
            [x, y] = [xx, yy];
            break search;
          }
        }
      }
    }
    taken.push({ widget, x, y, w, h, column: `${x + 1} / span ${w}`, row: `${y + 1} / span ${h}` });
  }
  return taken;
}
