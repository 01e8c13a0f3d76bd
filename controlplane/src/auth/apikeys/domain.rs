//! API-key logic: the secret's format, input checks, and authenticating a presented key.
//!
//! A key is `nxk_<tenant>_<id>_<secret>`: `nxk_` says what it is (secret scanners and people
//! recognise it), the tenant tells the instance where to look without a session, the id (16
//! hex digits) leads to the record directly, and the secret is 256 random bits (64 hex
//! digits). Only the SHA-256 of the whole key is stored. A fast hash is right here, unlike for
//! passwords: the secret is random with 256 bits of entropy, so there is nothing to guess
//! and no dictionary to slow down, and a key is checked on every request, where argon2's
//! deliberate ~50 ms would be the whole latency budget.
use axum::http::Method;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::{
    model::{ApiKeyInput, ApiKeyRecord, ApiKeyView, KeyState},
    scopes::{self, Need, RouteRule, Scope},
    usage::Pending,
};
use crate::{
    auth::{Role, UserRecord},
    http::{ApiError, ApiResult},
    state::AppState,
    store::TenantScope,
};

pub const PREFIX: &str = "nxk_";

/// A presented key, taken apart.
#[derive(Debug, PartialEq, Eq)]
pub struct Presented<'a> {
    pub tenant: &'a str,
    pub id: &'a str,
    pub digest: String,
}

pub fn new_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// A new secret for the key `id` of `tenant`.
pub fn new_secret(tenant: &str, id: &str) -> String {
    let secret: [u8; 32] = rand::random();
    format!("{}_{}", visible_prefix(tenant, id), hex::encode(secret))
}

/// The first characters of every secret of the key: what lists show.
pub fn visible_prefix(tenant: &str, id: &str) -> String {
    format!("{PREFIX}{tenant}_{id}")
}

pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether `token` looks like an API key at all (as opposed to a session token).
pub fn is_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// The tenant, id and digest of a presented key; `None` when it is not well-formed.
pub fn parse(key: &str) -> Option<Presented<'_>> {
    let mut parts = key.strip_prefix(PREFIX)?.split('_');
    let (tenant, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    if parts.next().is_some() || !hex(id, 16) || !hex(secret, 64) {
        return None;
    }
    Some(Presented {
        tenant,
        id,
        digest: digest(key),
    })
}

/// Constant-time comparison of two digests (timing must not tell how much of a guess matched).
pub fn same_digest(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub fn state_of(rec: &ApiKeyRecord, now: DateTime<Utc>) -> KeyState {
    if rec.revoked_at.is_some() {
        KeyState::Revoked
    } else if rec.expires_at.is_some_and(|e| e <= now) {
        KeyState::Expired
    } else {
        KeyState::Active
    }
}

/// Whether `digest` opens `rec` now: the current secret, or the one before a rotation during
/// its grace period; never a revoked or expired key.
pub fn opens(rec: &ApiKeyRecord, digest: &str, now: DateTime<Utc>) -> bool {
    if state_of(rec, now) != KeyState::Active {
        return false;
    }
    let current = same_digest(&rec.secret_digest, digest);
    let previous = match (&rec.previous_digest, rec.previous_valid_until) {
        (Some(d), Some(until)) => until > now && same_digest(d, digest),
        _ => false,
    };
    current | previous
}

/// Checks the scopes asked for a new key: each known, within the caller's role and, when the
/// caller is itself a key, within that key's scopes. Errors name `scopes[i]`.
pub fn check_scopes(asked: &[String], role: Role, by_key: Option<&[Scope]>) -> ApiResult<()> {
    if asked.is_empty() {
        return Err(ApiError::invalid("scopes", "at least one scope"));
    }
    if asked.len() > 32 {
        return Err(ApiError::invalid("scopes", "at most 32 scopes"));
    }
    let mut errs = Vec::new();
    for (i, s) in asked.iter().enumerate() {
        let field = format!("scopes[{i}]");
        let Some(scope) = Scope::parse(s) else {
            errs.push(nexbii_crds::FieldError::new(
                field,
                format!(
                    "unknown scope {s:?}: `<area>:<read|write|*>` with area one of {} or `*`, or `*`",
                    scopes::Area::ALL.map(|a| a.as_str()).join(", ")
                ),
            ));
            continue;
        };
        if !scopes::within_role(&scope, role) {
            errs.push(nexbii_crds::FieldError::new(
                field,
                format!("{s:?} grants more than the role {} allows", role.as_str()),
            ));
        } else if by_key.is_some_and(|by| !scopes::within_scopes(&scope, by)) {
            errs.push(nexbii_crds::FieldError::new(
                field,
                format!("{s:?} grants more than the API key making this request"),
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(errs))
    }
}

/// Checks a new key's name, scopes and expiry.
pub fn check_input(
    input: &ApiKeyInput,
    role: Role,
    by_key: Option<&[Scope]>,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "1 to 100 characters"));
    }
    check_scopes(&input.scopes, role, by_key)?;
    if let Some(at) = input.expires_at {
        if at <= now {
            return Err(ApiError::invalid("expiresAt", "must be in the future"));
        }
        if at > now + Duration::days(3650) {
            return Err(ApiError::invalid("expiresAt", "at most 10 years ahead"));
        }
    }
    Ok(())
}

/// A key as shown, with the usage counted in memory since the last flush.
pub fn view(
    tenant: &str,
    rec: &ApiKeyRecord,
    pending: Option<&Pending>,
    now: DateTime<Utc>,
) -> ApiKeyView {
    let (count, last_at, last_addr) = match pending {
        Some(p) => (
            rec.request_count + p.count,
            Some(p.last_at),
            p.last_address.clone(),
        ),
        None => (
            rec.request_count,
            rec.last_used_at,
            rec.last_used_address.clone(),
        ),
    };
    ApiKeyView {
        id: rec.id.clone(),
        name: rec.name.clone(),
        owner: rec.owner.clone(),
        prefix: visible_prefix(tenant, &rec.id),
        scopes: rec.scopes.clone(),
        state: state_of(rec, now),
        expires_at: rec.expires_at,
        created_at: rec.meta.created_at,
        rotated_at: rec.rotated_at,
        previous_valid_until: rec.previous_valid_until.filter(|u| *u > now),
        revoked_at: rec.revoked_at,
        revoked_by: rec.revoked_by.clone(),
        last_used_at: last_at.or(rec.last_used_at),
        last_used_address: last_addr.or_else(|| rec.last_used_address.clone()),
        request_count: count,
    }
}

/// Who a valid key acts as: its owner, with the owner's role as it is now, within the key's
/// scopes. Put into the request by the guard; the `Caller` extractor reads it.
#[derive(Clone, Debug)]
pub struct KeyPrincipal {
    pub scope: TenantScope,
    pub key_id: String,
    pub owner: String,
    pub role: Role,
    pub scopes: Vec<Scope>,
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized("missing, invalid, expired or revoked API key".into())
}

/// The principal of a presented key: the key must exist, open with this secret, be neither
/// revoked nor expired, and its owner must exist and be enabled. Every failure is the same 401.
pub async fn authenticate(
    state: &AppState,
    key: &str,
    now: DateTime<Utc>,
) -> ApiResult<KeyPrincipal> {
    let p = parse(key).ok_or_else(unauthorized)?;
    let scope = TenantScope::new(p.tenant).ok_or_else(unauthorized)?;
    let rec = state
        .store
        .cached::<ApiKeyRecord>(&scope, p.id)
        .await?
        .filter(|r| opens(r, &p.digest, now))
        .ok_or_else(unauthorized)?;
    // The owner as it is now; a user created after the key under a deleted owner's name is
    // someone else.
    let owner = state
        .store
        .cached::<UserRecord>(&scope, &rec.owner)
        .await?
        .filter(|u| !u.disabled && u.meta.created_at <= rec.meta.created_at)
        .ok_or_else(unauthorized)?;
    Ok(KeyPrincipal {
        scope,
        key_id: rec.id.clone(),
        owner: owner.username.clone(),
        role: owner.role,
        scopes: rec.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
    })
}

/// Whether the key may call `method` on the route `template`: the route's area scope must be
/// granted by the key and allowed to its owner's role now. Routes the table does not know are
/// refused (fail closed).
pub fn authorize(p: &KeyPrincipal, template: &str, method: &Method) -> ApiResult<()> {
    let need = match scopes::route_rule(template) {
        Some(RouteRule::Public | RouteRule::AnyKey) => return Ok(()),
        Some(RouteRule::Scoped(area)) => Need {
            area,
            access: scopes::Access::of(method),
        },
        Some(RouteRule::OperatorOnly) => {
            return Err(ApiError::Forbidden(
                "this route takes the operator's token, not an API key".into(),
            ))
        }
        None => {
            return Err(ApiError::Forbidden(
                "this route is not available to API keys".into(),
            ))
        }
    };
    if !scopes::granted(&p.scopes, need) {
        return Err(ApiError::Forbidden(format!(
            "this API key lacks the scope {need}"
        )));
    }
    if !scopes::role_allows(p.role, need) {
        return Err(ApiError::Forbidden(format!(
            "the key's owner (role {}) may not use {need}",
            p.role.as_str()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Meta;

    fn rec(digest: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            id: "0123456789abcdef".into(),
            name: "ci".into(),
            owner: "ann".into(),
            scopes: vec!["dashboards:read".into()],
            secret_digest: digest.into(),
            expires_at: None,
            revoked_at: None,
            revoked_by: None,
            rotated_at: None,
            previous_digest: None,
            previous_valid_until: None,
            last_used_at: None,
            last_used_address: None,
            request_count: 0,
            meta: Meta::default(),
        }
    }

    #[test]
    fn secrets_lead_to_their_record() {
        let id = new_id();
        let key = new_secret("acme-eu", &id);
        let p = parse(&key).unwrap();
        assert_eq!((p.tenant, p.id), ("acme-eu", id.as_str()));
        assert_eq!(p.digest, digest(&key));
        assert!(key.starts_with(&visible_prefix("acme-eu", &id)) && key.len() > 90);
        assert_ne!(new_secret("acme-eu", &id), key);
        for bad in [
            "nxk_acme_short_00",
            &key.replace("nxk_", "nxs_"),
            &format!("{key}_x"),
            &key[..key.len() - 1],
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn keys_open_while_active_and_during_a_grace_period() {
        let now = Utc::now();
        let mut r = rec("aa");
        assert!(opens(&r, "aa", now) && !opens(&r, "bb", now));
        r.previous_digest = Some("bb".into());
        r.previous_valid_until = Some(now + Duration::seconds(5));
        assert!(opens(&r, "bb", now));
        assert!(!opens(&r, "bb", now + Duration::seconds(6)));
        r.expires_at = Some(now);
        assert!(!opens(&r, "aa", now));
        assert_eq!(state_of(&r, now), KeyState::Expired);
        r.expires_at = None;
        r.revoked_at = Some(now);
        assert!(!opens(&r, "aa", now));
        assert_eq!(state_of(&r, now), KeyState::Revoked);
    }

    #[test]
    fn scope_errors_name_the_field() {
        let e = check_scopes(
            &["dashboards:read".into(), "dashboard:read".into()],
            Role::Admin,
            None,
        )
        .unwrap_err();
        assert_eq!(e.to_problem().field.as_deref(), Some("scopes[1]"));
        let e = check_scopes(&["*".into()], Role::Editor, None).unwrap_err();
        assert_eq!(e.to_problem().field.as_deref(), Some("scopes[0]"));
        let by = [Scope::parse("queries:read").unwrap()];
        assert!(check_scopes(&["queries:read".into()], Role::Admin, Some(&by)).is_ok());
        assert!(check_scopes(&["queries:write".into()], Role::Admin, Some(&by)).is_err());
        assert!(check_scopes(&[], Role::Admin, None).is_err());
    }

    #[test]
    fn authorize_needs_the_scope_and_the_role() {
        let p = |role, s: &[&str]| KeyPrincipal {
            scope: TenantScope::new("t").unwrap(),
            key_id: "k".into(),
            owner: "o".into(),
            role,
            scopes: s.iter().map(|s| Scope::parse(s).unwrap()).collect(),
        };
        let reader = p(Role::Admin, &["dashboards:read"]);
        assert!(authorize(&reader, "/api/v1/dashboards/{name}", &Method::GET).is_ok());
        assert!(authorize(&reader, "/api/v1/dashboards/{name}", &Method::PUT).is_err());
        assert!(authorize(&reader, "/api/v1/queries", &Method::GET).is_err());
        assert!(authorize(&reader, "/api/v1/auth/me", &Method::GET).is_ok());
        assert!(authorize(&reader, "/api/v1/brand-new", &Method::GET).is_err());
        let demoted = p(Role::Viewer, &["*"]);
        assert!(authorize(&demoted, "/api/v1/users", &Method::GET).is_err());
        assert!(authorize(&demoted, "/api/v1/dashboards", &Method::GET).is_ok());
        let all = p(Role::Admin, &["*"]);
        assert!(authorize(
            &all,
            "/api/v1/provisioning/{tenant}/dashboards/{name}",
            &Method::PUT
        )
        .is_err());
    }
}
