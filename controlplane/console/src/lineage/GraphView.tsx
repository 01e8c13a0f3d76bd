import { useEffect, useRef, useState } from 'react';
import { useTheme } from '../app/theme';
import type { Graph } from './api';
import { graphOption } from './layout';

/** The lineage graph in ECharts; clicking a node calls `onSelect` with its id. */
export function GraphView({ graph, center, onSelect, label }: { graph: Graph; center: string; onSelect: (id: string) => void; label: string }) {
  const el = useRef<HTMLDivElement>(null);
  const theme = useTheme();
  const select = useRef(onSelect);
  select.current = onSelect;
  const [failed, setFailed] = useState<string | null>(null);
  useEffect(() => {
    let disposed = false;
    let chart: { dispose(): void; resize(): void } | null = null;
    let observer: ResizeObserver | null = null;
    import('../dashboards/echartsSetup').then(
      ({ echarts }) => {
        if (disposed || !el.current) return;
        const c = echarts.init(el.current, theme === 'dark' ? 'dark' : undefined);
        chart = c;
        c.on('finished', () => {
          if (el.current) el.current.dataset.painted = 'true';
        });
        c.on('click', (p: { dataType?: string; data?: unknown }) => {
          const id = (p.data as { id?: string } | undefined)?.id;
          if (p.dataType === 'node' && id) select.current(id);
        });
        c.setOption(graphOption(graph, center, theme === 'dark'));
        // Not while the element is detached or collapsed (React removes it before the cleanup
        // below runs): ECharts' view transform of a 0×0 box is singular and throws.
        const box = el.current;
        observer = new ResizeObserver(() => {
          if (!c.isDisposed() && box.isConnected && box.clientWidth > 0 && box.clientHeight > 0) c.resize();
        });
        observer.observe(box);
      },
      (e: Error) => setFailed(`the chart library could not be loaded: ${e.message}`),
    );
    return () => {
      disposed = true;
      observer?.disconnect();
      chart?.dispose();
    };
  }, [graph, center, theme]);
  if (failed) return <p role="alert" className="error">{failed}</p>;
  return <div ref={el} className="echart" role="img" aria-label={label} data-testid="lineage-graph" />;
}
