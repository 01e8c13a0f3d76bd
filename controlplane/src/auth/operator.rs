//! The `Operator` extractor: a request made with the instance's operator token
//! (`NEXBII_OPERATOR_TOKEN`, from the Secret the operator generated).
use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use sha2::{Digest, Sha256};

use crate::{http::ApiError, state::SharedState};

pub const OPERATOR_TOKEN_ENV: &str = "NEXBII_OPERATOR_TOKEN";

pub struct Operator;

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

impl FromRequestParts<SharedState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        // A missing credential is a 401 whether or not provisioning is on (as documented).
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::Unauthorized("operator token required".into()))?;
        let expected = state.settings.operator_token.as_deref().ok_or_else(|| {
            ApiError::Forbidden("provisioning is disabled on this instance".into())
        })?;
        // Compare digests so the comparison time does not depend on where the tokens differ.
        let (a, b) = (digest(expected), digest(given));
        if a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            != 0
        {
            return Err(ApiError::Unauthorized("invalid operator token".into()));
        }
        Ok(Operator)
    }
}
