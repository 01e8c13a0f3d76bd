//! The tenant's tamper-evident audit log: every mutating request, login, query run, export,
//! share and approval decision is appended by a middleware ([`capture`]) to a hash chain
//! ([`chain`]) with signed checkpoints; admins list, export and verify it here. Entries are
//! never changed or deleted through the API; retention ([`retention`]) prunes the oldest
//! behind a signed anchor.
use axum::{
    body::Body,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;

pub mod capture;
pub mod chain;
pub mod log;
pub mod model;
pub mod retention;

pub use log::{AuditLog, VerifyReport};
pub use model::{AuditEntry, EntryBody, Outcome, QueryNote};

use crate::{
    auth::{Caller, Role},
    http::{paging::PageParams, paging::Paged, ApiError, ApiResult, Problem},
    state::SharedState,
    store::{decode, Collection, ListQuery, Store},
};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/v1/audit", get(list))
        .route("/api/v1/audit/export", get(export))
        .route("/api/v1/audit/verify", get(verify))
}

/// Filters of the audit listing and export (all optional; exact matches).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// The user (for API keys, the key's owner).
    pub actor: Option<String>,
    /// E.g. `dashboards.create`, `auth.login`.
    pub action: Option<String>,
    /// The request path, e.g. `/api/v1/dashboards/sales`.
    pub target: Option<String>,
    /// `success`, `denied` or `failure`.
    pub outcome: Option<String>,
    /// Entries at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Entries strictly before this time (RFC 3339).
    pub to: Option<String>,
    /// Items per page (1 to 1000, default 100; listing only).
    pub limit: Option<String>,
    /// The `X-Next-Cursor` of the previous page (listing only).
    pub cursor: Option<String>,
    /// `jsonl` (default) or `csv` (export only).
    pub format: Option<String>,
}

fn time(field: &str, v: Option<&String>) -> ApiResult<Option<DateTime<Utc>>> {
    v.map(|s| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| ApiError::invalid(field, "an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"))
    })
    .transpose()
}

impl AuditParams {
    /// The store query of the filters (paging added by the caller).
    fn filters(&self) -> ApiResult<ListQuery> {
        let mut q = ListQuery {
            updated_from: time("from", self.from.as_ref())?,
            updated_before: time("to", self.to.as_ref())?,
            ..Default::default()
        };
        for (field, v) in [
            ("actor", &self.actor),
            ("action", &self.action),
            ("target", &self.target),
        ] {
            if let Some(v) = v {
                q = q.filter(field, v.as_str());
            }
        }
        if let Some(o) = &self.outcome {
            if !["success", "denied", "failure"].contains(&o.as_str()) {
                return Err(ApiError::invalid(
                    "outcome",
                    "one of success, denied, failure",
                ));
            }
            q = q.filter("outcome", o.as_str());
        }
        Ok(q)
    }
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses(
        (status = 200, body = Vec<AuditEntry>, description = "entries, newest first",
            headers(("x-next-cursor" = String, description = "cursor of the next page; absent on the last"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<AuditParams>,
) -> ApiResult<Paged<AuditEntry>> {
    caller.require(Role::Admin)?;
    // What this instance answered is in the log before it is read.
    state.audit.flush().await;
    let limit = p
        .limit
        .as_deref()
        .map(|l| {
            l.parse::<u32>()
                .map_err(|_| ApiError::invalid("limit", "a whole number"))
        })
        .transpose()?;
    let page = PageParams {
        limit,
        cursor: p.cursor.clone(),
    }
    .query()?;
    let mut q = p.filters()?;
    q.limit = page.limit;
    q.after = page.after;
    q.descending = true;
    let found = state
        .store
        .list(&caller.scope, Collection::AuditLog, &q)
        .await?;
    let items = found
        .items
        .into_iter()
        .map(decode::<AuditEntry>)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Paged {
        items,
        next: found.next,
    })
}

/// The CSV columns of an export.
const CSV_HEADER: [&str; 13] = [
    "seq",
    "at",
    "actor",
    "via",
    "impersonator",
    "action",
    "target",
    "outcome",
    "status",
    "client",
    "requestId",
    "prevHash",
    "hash",
];

fn csv_row(e: &AuditEntry) -> String {
    use crate::http::csv::field;
    let b = &e.body;
    crate::http::csv::line([
        b.seq.to_string(),
        b.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        field(&b.actor),
        field(&b.via),
        field(b.impersonator.as_deref().unwrap_or("")),
        field(&b.action),
        field(&b.target),
        b.outcome.as_str().to_string(),
        b.status.to_string(),
        field(b.client.as_deref().unwrap_or("")),
        field(&b.request_id),
        e.prev_hash.clone(),
        e.hash.clone(),
    ])
}

#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditParams),
    responses(
        (status = 200, description = "the matching entries, oldest first, streamed: one JSON \
            entry per line (with `prevHash` and `hash`, so the chain can be checked outside) or CSV",
            content((String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<SharedState>,
    caller: Caller,
    crate::http::ApiQuery(p): crate::http::ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    caller.require(Role::Admin)?;
    let csv = match p.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => false,
        "csv" => true,
        _ => return Err(ApiError::invalid("format", "one of jsonl, csv")),
    };
    let q = p.filters()?.limit(log::PAGE);
    let scope = caller.scope.clone();
    // Page by page: an export of millions of entries never sits in memory whole.
    let mut first = true;
    let pages = futures::stream::unfold(Some(q), move |q| {
        let (state, scope) = (state.clone(), scope.clone());
        let flush = std::mem::take(&mut first);
        async move {
            let q = q?;
            // The body is read after the middleware submitted this export's own entry: once
            // flushed, the export holds it too.
            if flush {
                state.audit.flush().await;
            }
            let page = match state.store.list(&scope, Collection::AuditLog, &q).await {
                Ok(p) => p,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
            };
            let mut text = String::new();
            for v in page.items {
                match decode::<AuditEntry>(v) {
                    Ok(e) if csv => text.push_str(&csv_row(&e)),
                    Ok(e) => {
                        text.push_str(&serde_json::to_string(&e).unwrap_or_default());
                        text.push('\n');
                    }
                    Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
                }
            }
            let next = page.next.map(|c| q.after(Some(c)));
            Some((Ok::<_, std::io::Error>(text), next))
        }
    });
    let head = csv.then(|| crate::http::csv::line(CSV_HEADER.iter().map(|s| s.to_string())));
    let body = futures::stream::iter(head.map(Ok)).chain(pages);
    let (ctype, ext) = if csv {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/x-ndjson", "jsonl")
    };
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"audit.{ext}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, body = VerifyReport, description = "the whole chain checked against its \
            signed checkpoints; `valid: false` names the first broken link"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<axum::Json<VerifyReport>> {
    caller.require(Role::Admin)?;
    Ok(axum::Json(log::verify(&state, &caller.scope).await?))
}
