//! Optimistic concurrency over HTTP: single objects carry `ETag: "<revision>"`; updates and
//! deletes may send `If-Match` with it, and get 409 when the object changed since.
use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderValue},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

use super::ApiError;

/// The revision named by `If-Match`; `None` when absent or `*`.
#[derive(Clone, Copy, Debug, Default)]
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get(header::IF_MATCH) else {
            return Ok(Self(None));
        };
        let bad = || ApiError::BadRequest {
            field: Some("If-Match".into()),
            detail: "If-Match must be the ETag of the object (a quoted revision) or *".into(),
        };
        let text = v.to_str().map_err(|_| bad())?.trim();
        if text == "*" {
            return Ok(Self(None));
        }
        let tag = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
        tag.parse::<u64>().map(|r| Self(Some(r))).map_err(|_| bad())
    }
}

impl IfMatch {
    /// Refuses the change when the caller saw another revision than the stored one.
    pub fn check(&self, what: &str, stored: u64) -> Result<u64, ApiError> {
        match self.0 {
            Some(seen) if seen != stored => Err(ApiError::Conflict(format!(
                "{what} was changed by someone else (now at revision {stored}, you sent {seen}); reload it and apply your change again"
            ))),
            _ => Ok(stored),
        }
    }
}

/// A JSON body with its revision as `ETag`.
pub struct Tagged<T>(pub u64, pub T);

impl<T: Serialize> IntoResponse for Tagged<T> {
    fn into_response(self) -> Response {
        let mut resp = Json(self.1).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", self.0)) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        resp
    }
}
