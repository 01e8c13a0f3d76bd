import { useEffect, useMemo } from 'react';
import type { Widget, WidgetData } from '../api/types';
import { buildChartOption, isEChart } from './chartOptions';
import { EChart } from './EChart';
import { KpiWidget } from './KpiWidget';
import { TableWidget } from './TableWidget';

/** One widget: loading state, its error in place, or its chart; reports when it is painted. */
export function WidgetCard({
  widget,
  data,
  onPainted,
}: {
  widget: Pick<Widget, 'id' | 'title' | 'chart' | 'options'>;
  data: WidgetData | undefined;
  onPainted: (id: string) => void;
}) {
  const title = widget.title ?? widget.id;
  const options = useMemo(() => widget.options ?? {}, [widget.options]);
  const drawn = useMemo(() => {
    if (!data?.result || !isEChart(widget.chart, options)) return null;
    try {
      return { option: buildChartOption(widget.chart, options, data.result) };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }, [data, widget.chart, options]);
  const state = !data ? 'loading' : data.error || drawn?.error ? 'error' : 'done';
  // HTML widgets and errors are on screen as soon as React commits them.
  useEffect(() => {
    if (state === 'error' || (state === 'done' && !drawn?.option)) onPainted(widget.id);
  }, [state, drawn, widget.id, onPainted]);
  let body;
  if (!data) {
    body = (
      <div className="widget-loading" role="status">
        Loading…
      </div>
    );
  } else if (data.error || drawn?.error) {
    const e = data.error;
    body = (
      <div className="widget-error" role="alert">
        <strong>{e?.title ?? 'This widget cannot be drawn'}</strong>
        <p>{e ? e.detail ?? '' : drawn!.error}</p>
      </div>
    );
  } else if (drawn?.option) {
    body = <EChart option={drawn.option} label={`${widget.chart} chart: ${title}`} onPainted={() => onPainted(widget.id)} />;
  } else if (widget.chart === 'table') {
    body = <TableWidget result={data.result!} caption={title} pageSize={typeof options.pageSize === 'number' ? options.pageSize : 10} />;
  } else {
    body = <KpiWidget result={data.result!} options={options} />;
  }
  return (
    <section className={`card widget widget-${widget.chart}`} aria-labelledby={`w-${widget.id}`} data-widget={widget.id} data-state={state} aria-busy={state === 'loading'}>
      <h2 id={`w-${widget.id}`}>{title}</h2>
      <div className="widget-body">{body}</div>
    </section>
  );
}
