//! API errors as RFC 9457 problem+json bodies.
use axum::{
    extract::{FromRequest, Request},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use nexbii_crds::FieldError;
use serde::{de::DeserializeOwned, Serialize};

use crate::store::{write::WriteError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not the expected JSON (400).
    #[error("{detail}")]
    BadRequest {
        field: Option<String>,
        detail: String,
    },
    /// Well-formed but semantically invalid input (422), one entry per field.
    #[error("invalid fields: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The database refused the statement (400, field `sql`), with the 1-based character
    /// position it pointed at when it gave one.
    #[error("{detail}")]
    Sql {
        detail: String,
        position: Option<usize>,
    },
    /// A statement the read-only guard refused before it reached the database (400).
    #[error("query refused: {0}")]
    QueryRefused(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// The query touches data at this level and must be approved before it runs (403).
    #[error("this query reads {0} data and needs an approval first (POST /api/v1/approvals)")]
    ApprovalRequired(String),
    #[error("{0} not found")]
    NotFound(String),
    /// It existed and has ended for good (an expired share link): 410.
    #[error("{0}")]
    Gone(String),
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    /// The field belongs to a resource outside the API (a Tenant, manifests): 409 naming it.
    #[error(
        "{field} is declared by {owner} and cannot be changed through the API; change it there"
    )]
    Owned { field: String, owner: String },
    #[error("{0}")]
    TooManyRequests(String),
    /// The data source did not answer within the timeout (504).
    #[error("{0}")]
    Timeout(String),
    /// The data source could not be reached or refused the connection: unreachable host,
    /// refused credentials, missing database (502). The message is already redacted.
    #[error("data source {name:?}: {detail}")]
    DataSource { name: String, detail: String },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Where problem `type` URIs point unless the request's tenant is branded (then
/// `branding::problems` rewrites them to the tenant's own host).
pub const DEFAULT_PROBLEM_BASE: &str = "https://nexbii.io/problems/";

/// Every problem type the API answers with: slug, status, what it means. Served at
/// `GET /problems/{slug}` so each `type` URI resolves.
pub const PROBLEM_TYPES: &[(&str, u16, &str)] = &[
    ("bad-request", 400, "The body, a query parameter or a header could not be read; `field` names it when it is one."),
    ("query-failed", 400, "The data source refused the statement; `position` is the 1-based character it pointed at, when it gave one."),
    ("validation-failed", 422, "The input was read but is not valid; `errors` lists each field and why."),
    ("query-refused", 400, "The statement was refused before it reached the data source (only reading statements run)."),
    ("unauthorized", 401, "No valid session token, API key or embed token was sent, or it has expired."),
    ("forbidden", 403, "The caller may not do this: role, API-key scope, IP allow-list or a feature turned off."),
    ("approval-required", 403, "The statement reads classified data and must be approved first (`POST /api/v1/approvals`)."),
    ("not-found", 404, "The object or route does not exist in the caller's tenant."),
    ("gone", 410, "It existed and has ended for good, like an expired share link."),
    ("method-not-allowed", 405, "The route does not answer this HTTP method."),
    ("conflict", 409, "The object already exists, or changed since it was read (`If-Match`)."),
    ("declared-elsewhere", 409, "The field is declared outside the API (the Tenant, a manifest) and is changed there."),
    ("too-many-requests", 429, "A rate limit was reached; `Retry-After` says when to try again."),
    ("query-timeout", 504, "The data source did not answer within the timeout."),
    ("data-source-unavailable", 502, "The data source could not be reached or refused the connection."),
    ("unavailable", 503, "The service cannot answer now (the store is unreachable); try again later."),
    ("internal", 500, "An unexpected error; the server log has the details."),
];

#[cfg(test)]
mod query_tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct P {
        q: String,
        #[serde(default)]
        limit: Option<u32>,
    }

    fn field(e: ApiError) -> Option<String> {
        match e {
            ApiError::BadRequest { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn query_problems_name_their_parameter() {
        assert_eq!(parse_query::<P>("q=x&limit=3").unwrap().limit, Some(3));
        assert_eq!(
            field(parse_query::<P>("limit=3").unwrap_err()).as_deref(),
            Some("q")
        );
        assert_eq!(
            field(parse_query::<P>("q=x&limit=many").unwrap_err()).as_deref(),
            Some("limit")
        );
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `https://nexbii.io/problems/<slug>`, or on a branded tenant's own host:
    /// `GET /problems/{slug}` there describes it.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The first offending field, when the problem is about input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// For statement errors: the 1-based character position the database pointed at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } | Self::QueryRefused(_) | Self::Sql { .. } => {
                StatusCode::BAD_REQUEST
            }
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::ApprovalRequired(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Gone(_) => StatusCode::GONE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::Owned { .. } => StatusCode::CONFLICT,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::DataSource { .. } => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn slug(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad-request",
            Self::Sql { .. } => "query-failed",
            Self::Invalid(_) => "validation-failed",
            Self::QueryRefused(_) => "query-refused",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::ApprovalRequired(_) => "approval-required",
            Self::NotFound(_) => "not-found",
            Self::Gone(_) => "gone",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::Conflict(_) => "conflict",
            Self::Owned { .. } => "declared-elsewhere",
            Self::TooManyRequests(_) => "too-many-requests",
            Self::Timeout(_) => "query-timeout",
            Self::DataSource { .. } => "data-source-unavailable",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let (field, errors) = match self {
            Self::BadRequest { field, .. } => (field.clone(), vec![]),
            Self::DataSource { .. } => (Some("dataSource".to_string()), vec![]),
            Self::Sql { .. } => (Some("sql".to_string()), vec![]),
            Self::Owned { field, .. } => (Some(field.clone()), vec![]),
            Self::Invalid(errs) => (
                errs.first().map(|e| e.field.clone()),
                errs.iter()
                    .map(|e| ProblemField {
                        field: e.field.clone(),
                        message: e.message.clone(),
                    })
                    .collect(),
            ),
            _ => (None, vec![]),
        };
        let position = match self {
            Self::Sql { position, .. } => *position,
            _ => None,
        };
        Problem {
            position,
            type_: format!("{DEFAULT_PROBLEM_BASE}{}", self.slug()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.to_string(),
            field,
            errors,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(e) = &self {
            tracing::error!(error = %format!("{e:#}"), "internal error");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(format!("{what} already exists")),
            e @ StoreError::Stale { .. } => {
                Self::Conflict(format!("{e}; reload it and apply your change again"))
            }
            StoreError::Missing(what) => Self::NotFound(what),
            StoreError::BadQuery(m) => Self::BadRequest {
                field: None,
                detail: m,
            },
            StoreError::Unavailable(m) => Self::Unavailable(m),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Invalid(errs) => Self::Invalid(errs),
            WriteError::Store(e) => e.into(),
        }
    }
}

/// JSON body extractor whose errors are problem+json naming the offending field
/// (axum's own `Json` rejection is plain text without the field path).
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.starts_with("application/json") || v.contains("+json"))
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::BadRequest {
                field: None,
                detail: "expected Content-Type: application/json".into(),
            });
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::BadRequest {
                field: None,
                detail: e.body_text(),
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A query string (`?a=1&b=x`) read into `T`; a missing, unknown or malformed parameter is a
/// 400 problem naming it (axum's own `Query` answers plain text).
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// Deserializes a query string, reporting the parameter at fault.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> ApiResult<T> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let detail = e.into_inner().to_string();
        // A missing parameter has no path: serde names it in the message.
        let named = detail
            .split('`')
            .nth(1)
            .filter(|_| detail.starts_with("missing field") || detail.starts_with("unknown field"))
            .map(str::to_string);
        ApiError::BadRequest {
            field: if path == "." { named } else { Some(path) },
            detail: format!("query parameter: {detail}"),
        }
    })
}

/// Whole numbers written with a fraction (`3.0`) as integers: JSON Schema's `integer` (what
/// the document declares) admits them, serde's integer fields do not. `false` when none.
fn integral_floats(v: &mut serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            let whole = f.fract() == 0.0 && f.abs() < 9.0e15;
            if whole {
                *v = if f < 0.0 {
                    serde_json::Value::from(f as i64)
                } else {
                    serde_json::Value::from(f as u64)
                };
            }
            whole
        }
        serde_json::Value::Array(a) => a.iter_mut().fold(false, |c, x| integral_floats(x) | c),
        serde_json::Value::Object(o) => o.values_mut().fold(false, |c, x| integral_floats(x) | c),
        _ => false,
    }
}

/// Deserializes JSON, reporting the path of the first bad field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let first = serde_path_to_error::deserialize(de);
    // Only when the body did not fit: retried with `3.0` read as `3`.
    let first = match first {
        Err(e) => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(mut v) => {
                if integral_floats(&mut v) {
                    serde_path_to_error::deserialize(v).map_err(|_| e)
                } else {
                    Err(e)
                }
            }
            Err(_) => Err(e),
        },
        ok => ok,
    };
    first.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ApiError::BadRequest {
            field: (path != ".").then_some(path),
            detail: inner.to_string(),
        }
    })
}
