//! Lineage over HTTP: analysis of any statement, the tenant's lineage graph (data source →
//! table → column → saved query / widget → dashboard) with upstream/downstream walks as JSON
//! or Graphviz DOT, and the impact of dropping or renaming a table or column.
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use nexbii_crds::DataSourceType;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    enforce::SourceView,
    lineage::{self, ColumnRef, Lineage},
};
use crate::{
    auth::{Caller, Role},
    bi::{
        dashboards::DashboardRecord,
        datasources::{domain as sources, DataSourceRecord},
        queries::model::SavedQuery,
    },
    http::{ApiError, ApiJson, ApiResult, Problem},
    state::{AppState, SharedState},
    store::{StoreExt, TenantScope},
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/lineage/analyze", post(analyze))
        .route("/api/v1/lineage/graph", get(graph))
        .route("/api/v1/lineage/impact", get(impact))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalyzeRequest {
    pub data_source: String,
    /// One statement (for MongoDB sources the `{"collection", "pipeline"}` JSON).
    pub sql: String,
}

#[utoipa::path(post, path = "/api/v1/lineage/analyze", tag = "lineage", request_body = AnalyzeRequest,
    responses((status = 200, body = Lineage, description = "output columns with their source columns and transformation, filter columns, tables read, unresolved references"),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn analyze(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<AnalyzeRequest>,
) -> ApiResult<Json<Lineage>> {
    caller.require(Role::Editor)?;
    let rec = sources::load(&state, &caller.scope, &req.data_source)
        .await
        .map_err(|_| {
            ApiError::invalid(
                "dataSource",
                format!("no data source named {:?}", req.data_source),
            )
        })?;
    let t = rec.spec.source_type;
    let native = crate::engine::placeholders::to_native(&req.sql, t)
        .map_err(|r| ApiError::invalid("sql", r.0))?;
    let view = state
        .governance
        .source_view(&state.store, &caller.scope, &rec.name, t)
        .await?;
    lineage::analyze(t, &native.sql, view.as_ref())
        .map(Json)
        .map_err(|e| ApiError::invalid("sql", e.to_string()))
}

/// A node of the lineage graph.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// `datasource:<name>`, `table:<source>:<table>`, `column:<source>:<table>.<column>`,
    /// `query:<id>`, `widget:<dashboard>/<widget>`, `dashboard:<name>`.
    pub id: String,
    /// `datasource`, `table`, `column`, `query`, `widget` or `dashboard`.
    pub kind: String,
    pub label: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// `contains`, `value` (the value flows into an output: named in `outputs`), `filter`
    /// (used in a condition, grouping or ordering) or `shows`.
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

fn table_id(source: &str, c: &lineage::TableRef) -> String {
    match &c.schema {
        Some(s) => format!("table:{source}:{s}.{}", c.name),
        None => format!("table:{source}:{}", c.name),
    }
}

fn column_id(source: &str, c: &ColumnRef) -> String {
    format!(
        "column:{}.{}",
        &table_id(source, &c.table)["table:".len()..],
        c.column
    )
}

/// Graph under construction: nodes by id, edges merged by (from, to, kind).
#[derive(Default)]
struct Builder {
    nodes: BTreeMap<String, Node>,
    edges: BTreeMap<(String, String, String), BTreeSet<String>>,
}

impl Builder {
    fn node(&mut self, id: String, kind: &str, label: String) -> String {
        self.nodes.entry(id.clone()).or_insert(Node {
            id: id.clone(),
            kind: kind.into(),
            label,
        });
        id
    }

    fn edge(&mut self, from: &str, to: &str, kind: &str, output: Option<&str>) {
        let e = self
            .edges
            .entry((from.into(), to.into(), kind.into()))
            .or_default();
        if let Some(o) = output {
            e.insert(o.to_string());
        }
    }

    /// Column and table nodes of one referenced column, with their containment edges.
    fn column(&mut self, source: &str, c: &ColumnRef) -> String {
        let ds = self.node(format!("datasource:{source}"), "datasource", source.into());
        let tlabel = match &c.table.schema {
            Some(s) => format!("{s}.{}", c.table.name),
            None => c.table.name.clone(),
        };
        let t = self.node(table_id(source, &c.table), "table", tlabel.clone());
        self.edge(&ds, &t, "contains", None);
        let col = self.node(
            column_id(source, c),
            "column",
            format!("{tlabel}.{}", c.column),
        );
        self.edge(&t, &col, "contains", None);
        col
    }

    /// Edges from the columns a statement reads to the node that runs it.
    fn consumer(&mut self, source: &str, lin: &Lineage, to: &str) {
        for out in &lin.outputs {
            for c in out.sources.iter().chain(&out.counted) {
                let col = self.column(source, c);
                self.edge(&col, to, "value", Some(&out.name));
            }
        }
        for c in &lin.filters {
            let col = self.column(source, c);
            self.edge(&col, to, "filter", None);
        }
    }

    fn build(self) -> Graph {
        Graph {
            nodes: self.nodes.into_values().collect(),
            edges: self
                .edges
                .into_iter()
                .map(|((from, to, kind), outs)| Edge {
                    from,
                    to,
                    kind,
                    outputs: outs.into_iter().collect(),
                })
                .collect(),
        }
    }
}

/// The tenant's whole lineage graph, from its saved queries and dashboards.
pub async fn tenant_graph(state: &AppState, scope: &TenantScope) -> ApiResult<Graph> {
    let sources: HashMap<String, DataSourceRecord> = state
        .store
        .list_as::<DataSourceRecord>(scope)
        .await?
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let mut views: HashMap<String, std::sync::Arc<SourceView>> = HashMap::new();
    let mut b = Builder::default();
    let mut analyze =
        async |source: &str, sql: &str| -> ApiResult<Option<(DataSourceType, Lineage)>> {
            let Some(rec) = sources.get(source) else {
                return Ok(None);
            };
            let t = rec.spec.source_type;
            if !views.contains_key(source) {
                let v = state
                    .governance
                    .source_view(&state.store, scope, source, t)
                    .await?;
                views.insert(source.to_string(), v);
            }
            let Ok(native) = crate::engine::placeholders::to_native(sql, t) else {
                return Ok(None);
            };
            Ok(lineage::analyze(t, &native.sql, views[source].as_ref())
                .ok()
                .map(|l| (t, l)))
        };
    for q in state.store.list_as::<SavedQuery>(scope).await? {
        if let Some((_, lin)) = analyze(&q.data_source, &q.sql).await? {
            let id = b.node(format!("query:{}", q.id), "query", q.name.clone());
            b.consumer(&q.data_source, &lin, &id);
        }
    }
    for d in state.store.list_as::<DashboardRecord>(scope).await? {
        let dash = b.node(
            format!("dashboard:{}", d.name),
            "dashboard",
            d.spec.title.clone(),
        );
        for w in &d.spec.widgets {
            let wid = b.node(
                format!("widget:{}/{}", d.name, w.id),
                "widget",
                w.title.clone().unwrap_or_else(|| w.id.clone()),
            );
            b.edge(&wid, &dash, "shows", None);
            if let Some((_, lin)) = analyze(&w.query.data_source, &w.query.sql).await? {
                b.consumer(&w.query.data_source, &lin, &wid);
            }
        }
    }
    Ok(b.build())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct GraphParams {
    /// Start node id (see `Node.id`); without it, the whole graph.
    #[serde(default)]
    pub node: Option<String>,
    /// `upstream`, `downstream` (default) or `both`.
    #[serde(default)]
    pub direction: Option<String>,
    /// Edges to follow from the node (1 to 20, default 5).
    #[serde(default)]
    pub depth: Option<usize>,
    /// `json` (default) or `dot` (Graphviz).
    #[serde(default)]
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/lineage/graph", tag = "lineage", params(GraphParams),
    responses((status = 200, description = "nodes and edges reachable from the node", content(
            (Graph = "application/json"), (String = "text/vnd.graphviz"))),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn graph(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<GraphParams>,
) -> ApiResult<Response> {
    caller.require(Role::Editor)?;
    let direction = p.direction.as_deref().unwrap_or("downstream");
    if !["upstream", "downstream", "both"].contains(&direction) {
        return Err(ApiError::invalid(
            "direction",
            "upstream, downstream or both",
        ));
    }
    let depth = p.depth.unwrap_or(5);
    if !(1..=20).contains(&depth) {
        return Err(ApiError::invalid("depth", "between 1 and 20"));
    }
    let format = p.format.as_deref().unwrap_or("json");
    if !["json", "dot"].contains(&format) {
        return Err(ApiError::invalid("format", "json or dot"));
    }
    let mut g = tenant_graph(&state, &caller.scope).await?;
    if let Some(node) = &p.node {
        if !g.nodes.iter().any(|n| n.id == *node) {
            return Err(ApiError::NotFound(format!("lineage node {node}")));
        }
        g = walk(&g, node, direction, depth);
    }
    Ok(match format {
        "dot" => (
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            to_dot(&g),
        )
            .into_response(),
        _ => Json(g).into_response(),
    })
}

/// The part of the graph within `depth` edges of `start`, following edges one way or both.
pub fn walk(g: &Graph, start: &str, direction: &str, depth: usize) -> Graph {
    let mut seen: BTreeSet<String> = BTreeSet::from([start.to_string()]);
    let mut queue = VecDeque::from([(start.to_string(), 0)]);
    let mut edges = Vec::new();
    while let Some((id, d)) = queue.pop_front() {
        if d == depth {
            continue;
        }
        for e in &g.edges {
            let next = match direction {
                "downstream" if e.from == id => &e.to,
                "upstream" if e.to == id => &e.from,
                "both" if e.from == id => &e.to,
                "both" if e.to == id => &e.from,
                _ => continue,
            };
            edges.push(e.clone());
            if seen.insert(next.clone()) {
                queue.push_back((next.clone(), d + 1));
            }
        }
    }
    edges.sort_by(|a, b| (&a.from, &a.to, &a.kind).cmp(&(&b.from, &b.to, &b.kind)));
    edges.dedup_by(|a, b| (&a.from, &a.to, &a.kind) == (&b.from, &b.to, &b.kind));
    Graph {
        nodes: g
            .nodes
            .iter()
            .filter(|n| seen.contains(&n.id))
            .cloned()
            .collect(),
        edges,
    }
}

/// Graphviz: identifiers quoted, quotes and backslashes escaped.
pub fn to_dot(g: &Graph) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out = String::from("digraph lineage {\n  rankdir=LR;\n");
    for n in &g.nodes {
        let shape = match n.kind.as_str() {
            "datasource" => "cylinder",
            "table" => "box3d",
            "column" => "ellipse",
            "dashboard" => "tab",
            _ => "box",
        };
        out.push_str(&format!(
            "  {} [label={}, shape={shape}];\n",
            q(&n.id),
            q(&n.label)
        ));
    }
    for e in &g.edges {
        let style = if e.kind == "filter" {
            ", style=dashed"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {} -> {} [label={}{style}];\n",
            q(&e.from),
            q(&e.to),
            q(&e.kind)
        ));
    }
    out.push_str("}\n");
    out
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ImpactParams {
    pub data_source: String,
    /// `schema.table` or `table`.
    pub table: String,
    #[serde(default)]
    pub column: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Impacted {
    /// The node id (`query:…`, `widget:…`, `dashboard:…`).
    pub id: String,
    pub kind: String,
    pub label: String,
    /// `high`: a shown value comes from it (dropping or renaming it breaks the query);
    /// `medium`: used only to filter, group or order (results change or the query fails).
    pub severity: String,
    /// The referenced columns.
    pub via: Vec<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Impact {
    pub impacted: Vec<Impacted>,
}

#[utoipa::path(get, path = "/api/v1/lineage/impact", tag = "lineage", params(ImpactParams),
    responses((status = 200, body = Impact), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn impact(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<ImpactParams>,
) -> ApiResult<Json<Impact>> {
    caller.require(Role::Editor)?;
    sources::load(&state, &caller.scope, &p.data_source).await?;
    let g = tenant_graph(&state, &caller.scope).await?;
    Ok(Json(impact_of(
        &g,
        &p.data_source,
        &p.table,
        p.column.as_deref(),
    )))
}

/// Consumers of a table (or one column) and the dashboards showing them.
pub fn impact_of(g: &Graph, source: &str, table: &str, column: Option<&str>) -> Impact {
    let prefix = format!("column:{source}:{table}.");
    let matches = |id: &str| match column {
        Some(c) => id.strip_prefix(&prefix) == Some(c),
        None => id.starts_with(&prefix),
    };
    let mut found: BTreeMap<String, (bool, BTreeSet<String>)> = BTreeMap::new();
    for e in g
        .edges
        .iter()
        .filter(|e| matches(&e.from) && e.kind != "contains")
    {
        let entry = found.entry(e.to.clone()).or_default();
        entry.0 |= e.kind == "value";
        entry.1.insert(e.from[prefix.len()..].to_string());
    }
    // Dashboards inherit the worst of their widgets.
    let widgets: Vec<(String, bool, BTreeSet<String>)> = found
        .iter()
        .filter(|(id, _)| id.starts_with("widget:"))
        .map(|(id, (v, via))| (id.clone(), *v, via.clone()))
        .collect();
    for (wid, value, via) in widgets {
        for e in g
            .edges
            .iter()
            .filter(|e| e.from == wid && e.kind == "shows")
        {
            let entry = found.entry(e.to.clone()).or_default();
            entry.0 |= value;
            entry.1.extend(via.iter().cloned());
        }
    }
    let impacted = found
        .into_iter()
        .filter_map(|(id, (value, via))| {
            let n = g.nodes.iter().find(|n| n.id == id)?;
            Some(Impacted {
                id,
                kind: n.kind.clone(),
                label: n.label.clone(),
                severity: if value { "high" } else { "medium" }.into(),
                via: via.into_iter().collect(),
            })
        })
        .collect();
    Impact { impacted }
}
