import { useEffect, useRef, useState } from 'react';
import { useTheme } from '../app/theme';
import type { ChartOption } from './chartOptions';

/** One ECharts canvas; calls `onPainted` once the chart finished drawing. */
export function EChart({ option, label, onPainted }: { option: ChartOption; label: string; onPainted?: () => void }) {
  const el = useRef<HTMLDivElement>(null);
  const theme = useTheme();
  const [failed, setFailed] = useState<string | null>(null);
  useEffect(() => {
    let disposed = false;
    let chart: { dispose(): void; resize(): void } | null = null;
    let observer: ResizeObserver | null = null;
    import('./echartsSetup').then(
      ({ echarts }) => {
        if (disposed || !el.current) return;
        const c = echarts.init(el.current, theme === 'dark' ? 'dark' : undefined);
        chart = c;
        c.on('finished', () => {
          if (el.current) el.current.dataset.painted = 'true';
          onPainted?.();
        });
        c.setOption(option);
        // Not while the element is detached or collapsed (before the cleanup below runs).
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
    // onPainted is a notification, not an input of the drawing.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [option, theme]);
  if (failed) return <p role="alert" className="error">{failed}</p>;
  return <div ref={el} className="echart" role="img" aria-label={label} />;
}
