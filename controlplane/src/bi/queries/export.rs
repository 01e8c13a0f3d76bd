//! Exports: a query's result as a CSV or JSON-lines download. The same pipeline as a run
//! (row filters and masking for the caller), and the policy may hold exports for approval.
use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::{domain, execute, held, QueryCall};
use crate::{
    auth::{Caller, Role},
    engine::QueryResult,
    governance::approvals::{self, domain::export_fingerprint, ApprovalSubject},
    http::{csv, ApiError, ApiJson, ApiResult, Problem},
    state::{AppState, SharedState},
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// RFC 4180 with a header row; text that a spreadsheet would run as a formula is defused.
    #[default]
    Csv,
    /// One JSON object per row, keyed by column name.
    Jsonl,
}

impl ExportFormat {
    fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }
    fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Jsonl => "application/x-ndjson",
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportQuery {
    pub data_source: String,
    pub sql: String,
    #[serde(default)]
    #[schema(value_type = Vec<super::model::ParamValue>)]
    pub params: Vec<Value>,
    #[serde(default)]
    pub format: ExportFormat,
    /// Lower row limit than the tenant's.
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query string; the handler parses it itself
pub struct FormatParam {
    /// `csv` (default) or `jsonl`.
    format: Option<String>,
}

/// The body of an export, with the masked columns named in a header (a CSV has no room for
/// them).
fn encode(result: &QueryResult, format: ExportFormat, name: &str) -> Response {
    let rows = result.rows.values();
    let mut body = String::new();
    match format {
        ExportFormat::Csv => {
            body.push_str(&csv::line(
                result.columns.iter().map(|c| csv::field(&c.name)),
            ));
            for row in &rows {
                body.push_str(&csv::line(row.iter().map(csv::value)));
            }
        }
        ExportFormat::Jsonl => {
            for row in &rows {
                let obj: Map<String, Value> = result
                    .columns
                    .iter()
                    .map(|c| c.name.clone())
                    .zip(row.iter().cloned())
                    .collect();
                body.push_str(&Value::Object(obj).to_string());
                body.push('\n');
            }
        }
    }
    let masked = result
        .masked
        .iter()
        .map(|m| {
            let action = serde_json::to_value(m.action).unwrap_or_default();
            format!("{}={}", m.column, action.as_str().unwrap_or_default())
        })
        .collect::<Vec<_>>()
        .join(",");
    let file: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut resp = (
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}.{}\"", format.name()),
            ),
        ],
        body,
    )
        .into_response();
    let h = resp.headers_mut();
    if let Ok(v) = masked.parse() {
        h.insert("x-masked-columns", v);
    }
    if let Ok(v) = result.truncated.to_string().parse() {
        h.insert("x-truncated", v);
    }
    resp
}

/// Runs the export through the approval gate, then the query pipeline.
async fn export(
    state: &AppState,
    caller: &Caller,
    call: QueryCall<'_>,
    format: ExportFormat,
    name: &str,
) -> ApiResult<Response> {
    let policies = state
        .governance
        .policies(&state.store, &caller.scope)
        .await?;
    if let Some(rule) = approvals::export_rule(&policies) {
        let touched = approvals::touched(state, &caller.scope, call.data_source, call.sql).await?;
        let held_by_level = match rule.min_level {
            Some(min) => touched.is_some_and(|l| l >= min),
            None => true,
        };
        if held_by_level {
            let subject = ApprovalSubject::Export {
                data_source: call.data_source.to_string(),
                sql: call.sql.to_string(),
                params: call.params.to_vec(),
                format: format.name().to_string(),
                level: touched.map(crate::governance::catalog::crawl::level_name),
                fingerprint: export_fingerprint(
                    call.data_source,
                    call.sql,
                    call.params,
                    format.name(),
                ),
            };
            let gate = approvals::gate(
                state,
                &caller.scope,
                &caller.username,
                subject,
                Some(&rule.rule),
            );
            if let Some(req) = gate.await? {
                return Ok((StatusCode::ACCEPTED, Json(req)).into_response());
            }
        }
    }
    let (source, sql, params) = (call.data_source, call.sql, call.params);
    match execute(state, &caller.scope, &caller.access(), call).await {
        Ok(result) => Ok(encode(&result, format, name)),
        Err(e) => held(state, caller, source, sql, params, e).await,
    }
}

#[utoipa::path(post, path = "/api/v1/queries/export", tag = "queries", request_body = ExportQuery,
    responses(
        (status = 200, description = "the result as a download; `x-masked-columns` names masked columns as `column=action`, `x-truncated` says whether the row limit cut it",
            content((String = "text/csv"), (String = "application/x-ndjson")),
            headers(("x-masked-columns" = String), ("x-truncated" = String), ("content-disposition" = String))),
        (status = 202, body = crate::governance::approvals::ApprovalRecord,
            description = "the policy holds this export (or the query) for approval: the request; export again once approved"),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem),
        (status = 502, body = Problem), (status = 504, body = Problem)),
    security(("bearer" = [])))]
pub async fn adhoc(
    State(state): State<SharedState>,
    caller: Caller,
    ApiJson(req): ApiJson<ExportQuery>,
) -> ApiResult<Response> {
    caller.require(Role::Editor)?;
    super::model::check_params(&req.params).map_err(|e| ApiError::Invalid(vec![e]))?;
    let call = QueryCall {
        data_source: &req.data_source,
        sql: &req.sql,
        params: &req.params,
        limit: req.limit,
        use_cache: true,
    };
    export(&state, &caller, call, req.format, "export").await
}

#[utoipa::path(post, path = "/api/v1/queries/{id}/export", tag = "queries",
    params(("id" = String, Path), FormatParam),
    responses(
        (status = 200, description = "the saved query's result as a download (headers as for an ad-hoc export)",
            content((String = "text/csv"), (String = "application/x-ndjson")),
            headers(("x-masked-columns" = String), ("x-truncated" = String), ("content-disposition" = String))),
        (status = 202, body = crate::governance::approvals::ApprovalRecord,
            description = "the policy holds this export (or the query) for approval: the request; export again once approved"),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "an unknown format"),
        (status = 502, body = Problem), (status = 504, body = Problem)),
    security(("bearer" = [])))]
pub async fn saved(
    State(state): State<SharedState>,
    caller: Caller,
    Path(id): Path<String>,
    crate::http::ApiQuery(p): crate::http::ApiQuery<std::collections::HashMap<String, String>>,
) -> ApiResult<Response> {
    // Parsed here rather than by the extractor, so a bad value is a 422 naming the field.
    let format = match p.get("format").map(String::as_str) {
        None | Some("csv") => ExportFormat::Csv,
        Some("jsonl") => ExportFormat::Jsonl,
        Some(_) => return Err(ApiError::invalid("format", "`csv` or `jsonl`")),
    };
    let q = domain::load(&state, &caller.scope, &id).await?;
    let call = QueryCall {
        data_source: &q.data_source,
        sql: &q.sql,
        params: &q.params,
        limit: None,
        use_cache: true,
    };
    export(&state, &caller, call, format, &q.name).await
}
