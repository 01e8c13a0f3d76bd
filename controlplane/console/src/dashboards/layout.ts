// Widget positions on the dashboard grid. The CRD allows 24 columns; dashboards laid out on 12
// (as the quick start's are) fill the width too: the grid is as wide as its widest row, at
// least 12 columns.
import type { Widget } from '../api/types';

export interface Placed {
  widget: Widget;
  column: string;
  row: string;
}

export function gridColumns(widgets: Widget[]): number {
  const widest = widgets.reduce((m, w) => Math.max(m, (w.position?.x ?? 0) + (w.position?.w ?? 6)), 0);
  return Math.min(24, Math.max(12, widest));
}

export function place(widgets: Widget[]): Placed[] {
  const cols = gridColumns(widgets);
  return widgets.map((widget) => {
    const p = widget.position ?? {};
    const w = Math.min(p.w ?? 6, cols);
    const x = Math.min(p.x ?? 0, cols - w);
    return { widget, column: `${x + 1} / span ${w}`, row: `${(p.y ?? 0) + 1} / span ${p.h ?? 4}` };
  });
}
