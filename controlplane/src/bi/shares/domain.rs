//! Share-link logic as pure functions: tokens, the resource a link names, locked variables.
use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use crate::http::{ApiError, ApiResult};

const PREFIX: &str = "nxs_";

/// What a link names.
#[derive(Debug, PartialEq, Eq)]
pub enum Resource<'a> {
    Dashboard(&'a str),
    Query(&'a str),
}

pub fn parse_resource(s: &str) -> ApiResult<Resource<'_>> {
    match s.split_once('/') {
        Some(("dashboard", name)) if !name.is_empty() => Ok(Resource::Dashboard(name)),
        Some(("query", id)) if !id.is_empty() => Ok(Resource::Query(id)),
        _ => Err(ApiError::invalid(
            "resource",
            "`dashboard/<name>` or `query/<id>`",
        )),
    }
}

/// A new token for a tenant's link: `nxs_<tenant>_<64 hex>`. The tenant in it tells an
/// instance serving several tenants where to look; the random part is the secret.
pub fn new_token(tenant: &str) -> String {
    format!(
        "{PREFIX}{tenant}_{}{}",
        crate::crypto::random_id(),
        crate::crypto::random_id()
    )
}

/// The tenant and the record id a token leads to, and the digest its record must hold.
pub fn locate(token: &str) -> Option<(&str, String, String)> {
    let (tenant, secret) = token.strip_prefix(PREFIX)?.rsplit_once('_')?;
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    Some((tenant, format!("shr-{}", &digest[..24]), digest))
}

/// The first characters of a token, enough to recognise it and useless to open it.
pub fn token_prefix(token: &str) -> String {
    let cut = token.len().saturating_sub(64) + 8;
    token[..cut.min(token.len())].to_string()
}

/// Constant-time comparison of two digests (a timing difference must not reveal how much of
/// a guessed token matched).
pub fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The variables a viewer of the link runs with: the link's locked values win, and a viewer
/// who asks for another value of a locked variable is told so rather than silently ignored.
pub fn apply_locked(
    mut asked: HashMap<String, String>,
    locked: &BTreeMap<String, String>,
) -> ApiResult<HashMap<String, String>> {
    for (name, value) in locked {
        if asked.get(name).is_some_and(|v| v != value) {
            return Err(ApiError::invalid(
                name.clone(),
                "this variable is locked by the share link",
            ));
        }
        asked.insert(name.clone(), value.clone());
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_lead_to_their_record_and_nothing_else() {
        let t = new_token("acme-eu");
        let (tenant, id, digest) = locate(&t).unwrap();
        assert_eq!(tenant, "acme-eu");
        assert!(id.starts_with("shr-") && digest.starts_with(&id[4..]));
        assert!(
            token_prefix(&t).starts_with("nxs_acme-eu_") && token_prefix(&t).len() < t.len() - 40
        );
        let other = new_token("acme-eu");
        assert_ne!(locate(&other).unwrap().1, id);
        assert!(locate("nxs_acme_short").is_none());
        assert!(locate(&t.replace("nxs_", "xxx_")).is_none());
        assert!(
            same_digest(&digest, &digest.clone())
                && !same_digest(&digest, &locate(&other).unwrap().2)
        );
    }

    #[test]
    fn resources_are_dashboards_or_queries() {
        assert_eq!(
            parse_resource("dashboard/sales").unwrap(),
            Resource::Dashboard("sales")
        );
        assert_eq!(parse_resource("query/abc").unwrap(), Resource::Query("abc"));
        assert!(parse_resource("dashboard/").is_err() && parse_resource("user/x").is_err());
    }

    #[test]
    fn locked_variables_win_and_conflicts_are_refused() {
        let locked = BTreeMap::from([("country".to_string(), "DE".to_string())]);
        let v = apply_locked(HashMap::from([("year".into(), "2024".into())]), &locked).unwrap();
        assert_eq!(v["country"], "DE");
        assert_eq!(v["year"], "2024");
        assert!(apply_locked(HashMap::from([("country".into(), "DE".into())]), &locked).is_ok());
        assert!(apply_locked(HashMap::from([("country".into(), "FR".into())]), &locked).is_err());
    }
}
