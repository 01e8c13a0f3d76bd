//! Request bodies that carry CRD spec types, optional JSON bodies, and object names.
use axum::http::{header, HeaderMap};
use serde_json::Value;

use super::{parse_json, ApiError, ApiResult};
use crate::store::TenantScope;

/// Parses a body whose `spec.tenantRef` defaults to the caller's tenant, and refuses a foreign one.
pub fn parse_scoped_body<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    scope: &TenantScope,
) -> ApiResult<T> {
    let mut v: Value = parse_json(bytes)?;
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        match spec
            .get("tenantRef")
            .and_then(|t| t.get("name"))
            .and_then(Value::as_str)
        {
            None => {
                spec.insert(
                    "tenantRef".into(),
                    serde_json::json!({"name": scope.tenant()}),
                );
            }
            Some(t) if t != scope.tenant() => {
                return Err(ApiError::invalid(
                    "spec.tenantRef.name",
                    "must be your own tenant",
                ));
            }
            Some(_) => {}
        }
    }
    parse_json(v.to_string().as_bytes())
}

/// Object names are DNS labels, as in Kubernetes.
pub fn check_name(name: &str, field: &str) -> ApiResult<()> {
    if nexbii_crds::validate::is_dns_label(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            "must be a DNS label: lowercase letters, digits and '-', at most 63",
        ))
    }
}

/// An optional JSON body: absent or blank is `T::default()`; anything else must say it is
/// JSON (400 otherwise) and parse as `T`.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
    if !json {
        return Err(ApiError::BadRequest {
            field: None,
            detail: "expected Content-Type: application/json".into(),
        });
    }
    // The document calls these bodies optional (nullable): `null` is no body too.
    if body.trim_ascii() == b"null" {
        return Ok(T::default());
    }
    parse_json(body)
}
