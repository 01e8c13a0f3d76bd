import { useMemo, useState, type FormEvent } from 'react';
import { Link } from '../app/Link';
import { navigate, useLocation } from '../app/router';
import { useAsync } from '../app/useAsync';
import { getTable, listTables, qualified, tablePage } from '../catalog/api';
import { listDashboards } from '../dashboards/api';
import { listDataSources } from '../datasources/api';
import { impact, lineageGraph, type Direction, type Graph } from './api';
import { GraphView } from './GraphView';
import { impactTarget, KINDS, layers } from './layout';

/** `/lineage?node=<id>&direction=…&depth=…`: the graph around a dashboard, table or column. */
export default function LineagePage() {
  const { search } = useLocation();
  const node = search.get('node') ?? '';
  const direction = (['upstream', 'downstream', 'both'].includes(search.get('direction') ?? '') ? search.get('direction') : 'both') as Direction;
  const depth = Math.min(20, Math.max(1, Number(search.get('depth')) || 5));
  const go = (n: string, d: Direction = direction, dep: number = depth) => navigate(`/lineage?${new URLSearchParams({ node: n, direction: d, depth: String(dep) })}`);
  return (
    <section>
      <header className="page-head">
        <h1>Lineage</h1>
      </header>
      <Picker node={node} direction={direction} depth={depth} go={go} />
      {node ? <View key={`${node}|${direction}|${depth}`} node={node} direction={direction} depth={depth} go={go} /> : <p>Choose a dashboard, a table or a column to see where its data comes from and where it goes.</p>}
    </section>
  );
}

/** Dashboards and catalogued tables to start from, and a table's columns. */
function Picker({ node, direction, depth, go }: { node: string; direction: Direction; depth: number; go: (n: string, d: Direction, dep: number) => void }) {
  const [options] = useAsync(async (signal) => {
    const [dashboards, sources] = await Promise.all([listDashboards(signal), listDataSources(signal)]);
    const tables = (await Promise.all(sources.map((s) => listTables(s.name, signal).catch(() => [])))).flat();
    return { dashboards, tables };
  }, []);
  const target = impactTarget(node);
  const [start, setStart] = useState(target ? `table:${target.dataSource}:${target.table}` : node);
  const [column, setColumn] = useState(target?.column ?? '');
  const [dir, setDir] = useState<Direction>(direction);
  const [dep, setDep] = useState(depth);
  const table = impactTarget(start);
  const [columns] = useAsync(async (signal) => (table ? (await getTable(table.dataSource, table.table, signal)).columns.map((c) => c.name) : []), [start]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!start) return;
    go(table && column ? `column:${table.dataSource}:${table.table}.${column}` : start, dir, dep);
  };
  return (
    <form className="filters" onSubmit={submit} aria-label="Lineage start">
      <label>
        Start from
        <select
          value={start}
          onChange={(e) => {
            setStart(e.target.value);
            setColumn('');
          }}
        >
          <option value="">choose…</option>
          {options.state === 'done' && (
            <>
              <optgroup label="Dashboards">
                {options.value.dashboards.map((d) => (
                  <option key={d.name} value={`dashboard:${d.name}`}>
                    {d.spec.title}
                  </option>
                ))}
              </optgroup>
              <optgroup label="Tables">
                {options.value.tables.map((t) => (
                  <option key={t.id} value={`table:${t.dataSource}:${qualified(t)}`}>
                    {t.dataSource}.{qualified(t)}
                  </option>
                ))}
              </optgroup>
            </>
          )}
          {/* A start that is in neither list (a widget, a query) stays selectable. */}
          {start && options.state === 'done' && !start.startsWith('dashboard:') && !start.startsWith('table:') && <option value={start}>{start}</option>}
        </select>
      </label>
      {table && (
        <label>
          Column
          <select value={column} onChange={(e) => setColumn(e.target.value)}>
            <option value="">the whole table</option>
            {columns.state === 'done' &&
              columns.value.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
          </select>
        </label>
      )}
      <label>
        Direction
        <select value={dir} onChange={(e) => setDir(e.target.value as Direction)}>
          <option value="both">upstream and downstream</option>
          <option value="upstream">upstream (where it comes from)</option>
          <option value="downstream">downstream (what uses it)</option>
        </select>
      </label>
      <label>
        Depth
        <input type="number" min={1} max={20} value={dep} onChange={(e) => setDep(Number(e.target.value))} />
      </label>
      <button type="submit" disabled={!start}>
        Show lineage
      </button>
      {options.state === 'error' && (
        <span className="error" role="alert">
          {options.error.message}
        </span>
      )}
    </form>
  );
}

function View({ node, direction, depth, go }: { node: string; direction: Direction; depth: number; go: (n: string) => void }) {
  const [graph] = useAsync((signal) => lineageGraph(node, direction, depth, signal), [node, direction, depth]);
  if (graph.state === 'loading') return <p role="status">Loading the lineage graph…</p>;
  if (graph.state === 'error')
    return (
      <p className="error" role="alert">
        {graph.error.message}
      </p>
    );
  return (
    <>
      <div className="card lineage-card">
        <GraphView graph={graph.value} center={node} onSelect={go} label={`Lineage of ${node}: ${graph.value.nodes.length} nodes, ${graph.value.edges.length} edges; the list below has them all`} />
      </div>
      <NodeList graph={graph.value} center={node} go={go} />
      {impactTarget(node) && <ImpactView node={node} />}
    </>
  );
}

/** Every node of the graph, by distance: what the picture shows, for keyboards and readers. */
function NodeList({ graph, center, go }: { graph: Graph; center: string; go: (n: string) => void }) {
  const rows = useMemo(() => {
    const l = layers(graph, center);
    return [...graph.nodes].sort((a, b) => (l.get(a.id) ?? 0) - (l.get(b.id) ?? 0) || KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || a.label.localeCompare(b.label)).map((n) => ({ n, d: l.get(n.id) ?? 0 }));
  }, [graph, center]);
  return (
    <>
      <h2>Nodes</h2>
      <table className="list">
        <caption className="sr-only">Nodes of the lineage graph, upstream first</caption>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Kind</th>
            <th scope="col">Where</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ n, d }) => {
            const t = impactTarget(n.id);
            return (
              <tr key={n.id} data-node={n.id}>
                <th scope="row">{n.label}</th>
                <td>{n.kind}</td>
                <td>{d === 0 ? 'centre' : d < 0 ? `${-d} upstream` : `${d} downstream`}</td>
                <td>
                  <div className="actions">
                    {n.id !== center && (
                      <button type="button" className="ghost" onClick={() => go(n.id)}>
                        Centre on <span className="sr-only">{n.label}</span>
                      </button>
                    )}
                    {t && <Link href={tablePage(t.dataSource, t.table)}>Catalog</Link>}
                    {n.kind === 'dashboard' && <Link href={`/dashboards/${encodeURIComponent(n.id.slice('dashboard:'.length))}`}>Open</Link>}
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}

function ImpactView({ node }: { node: string }) {
  const t = impactTarget(node)!;
  const [r] = useAsync((signal) => impact(t.dataSource, t.table, t.column, signal), [node]);
  return (
    <section aria-labelledby="impact-title">
      <h2 id="impact-title">
        Impact of dropping or renaming {t.table}
        {t.column ? `.${t.column}` : ''}
      </h2>
      {r.state === 'loading' && <p role="status">Working out the impact…</p>}
      {r.state === 'error' && (
        <p className="error" role="alert">
          {r.error.message}
        </p>
      )}
      {r.state === 'done' && r.value.length === 0 && <p>Nothing uses it.</p>}
      {r.state === 'done' && r.value.length > 0 && (
        <table className="list">
          <caption className="sr-only">What would break or change</caption>
          <thead>
            <tr>
              <th scope="col">What</th>
              <th scope="col">Kind</th>
              <th scope="col">Severity</th>
              <th scope="col">Through</th>
            </tr>
          </thead>
          <tbody>
            {r.value.map((i) => (
              <tr key={i.id} data-testid="impacted">
                <th scope="row">{i.kind === 'dashboard' ? <Link href={`/dashboards/${encodeURIComponent(i.id.slice('dashboard:'.length))}`}>{i.label}</Link> : i.label}</th>
                <td>{i.kind}</td>
                <td>
                  <span className={i.severity === 'high' ? 'error' : 'muted'}>{i.severity === 'high' ? 'high: breaks a shown value' : 'medium: filters, groups or orders by it'}</span>
                </td>
                <td>{i.via.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
