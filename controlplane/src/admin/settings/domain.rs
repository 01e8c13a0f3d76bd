//! Effective settings: defaults (from the Tenant's `spec.auth` and `spec.limits`) ← what the
//! API stored ← what the Tenant declares under `spec.settings`. Pure merging and checking here;
//! the store and the cache in [`effective`].
use std::{collections::BTreeMap, sync::Arc, time::Duration};

use nexbii_crds::{
    settings::{leaf_paths, Settings},
    FieldError, TenantSpec,
};
use serde_json::{Map, Value};

use super::model::{SettingSource, SettingsLimits, SettingsRecord};
use crate::{
    http::{ApiError, ApiResult},
    state::AppState,
    store::TenantScope,
};

/// The settings in force for a tenant, with where each value comes from.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub settings: Settings,
    pub sources: BTreeMap<String, SettingSource>,
    pub limits: SettingsLimits,
}

/// Per tenant: the revisions of the Tenant and settings records it was resolved from.
pub type Cache = moka::sync::Cache<TenantScope, (u64, u64, Arc<Resolved>)>;

pub fn new_cache() -> Cache {
    moka::sync::Cache::builder().max_capacity(10_000).build()
}

pub fn limits(spec: &TenantSpec, instance_cache_ttl: Duration) -> SettingsLimits {
    SettingsLimits {
        query_timeout_seconds: spec.limits.query_timeout_seconds,
        row_limit: spec.limits.row_limit,
        cache_ttl_seconds: u32::try_from(instance_cache_ttl.as_secs()).unwrap_or(u32::MAX),
    }
}

/// The defaults: built in, except what the Tenant's older fields already say.
pub fn defaults_for(spec: &TenantSpec, limits: &SettingsLimits) -> Settings {
    let mut s = Settings::default();
    s.sessions.absolute_timeout_minutes = spec.auth.session_ttl_minutes;
    s.sessions.idle_timeout_minutes = s
        .sessions
        .idle_timeout_minutes
        .min(spec.auth.session_ttl_minutes);
    s.password.min_length = spec.auth.password_min_length;
    s.lockout.max_failed_logins = spec.auth.max_failed_logins;
    s.query.timeout_seconds = limits.query_timeout_seconds;
    s.query.row_limit = limits.row_limit;
    s.query.cache_ttl_seconds = s.query.cache_ttl_seconds.min(limits.cache_ttl_seconds);
    s
}

/// Objects merge key by key; anything else (scalars, lists) is replaced.
fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

fn declared(spec: &TenantSpec) -> Map<String, Value> {
    spec.settings.clone().unwrap_or_default()
}

/// The effective settings. Stored values outside today's limits (the Tenant's limits may have
/// been lowered since) are brought within them rather than refused: the Tenant has the last word.
pub fn resolve(spec: &TenantSpec, stored: &Map<String, Value>, limits: SettingsLimits) -> Resolved {
    let defaults = defaults_for(spec, &limits);
    let mut doc = serde_json::to_value(&defaults).unwrap_or_default();
    let mut sources: BTreeMap<String, SettingSource> = match &doc {
        Value::Object(m) => leaf_paths(m)
            .into_iter()
            .map(|p| (p, SettingSource::Default))
            .collect(),
        _ => BTreeMap::new(),
    };
    let declared = declared(spec);
    for (part, source) in [
        (stored, SettingSource::Api),
        (&declared, SettingSource::Tenant),
    ] {
        // A part that no longer reads (a field renamed by an upgrade) is skipped whole
        // rather than half applied.
        if Settings::from_part(part, "").is_err() {
            continue;
        }
        merge(&mut doc, &Value::Object(part.clone()));
        for p in leaf_paths(part) {
            sources.insert(p, source);
        }
    }
    let mut settings: Settings = serde_json::from_value(doc).unwrap_or(defaults);
    let q = &mut settings.query;
    q.timeout_seconds = q.timeout_seconds.min(limits.query_timeout_seconds);
    q.row_limit = q.row_limit.min(limits.row_limit);
    q.cache_ttl_seconds = q.cache_ttl_seconds.min(limits.cache_ttl_seconds);
    Resolved {
        settings,
        sources,
        limits,
    }
}

fn at<'a>(m: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = m.get(parts.next()?)?;
    for p in parts {
        cur = cur.get(p)?;
    }
    Some(cur)
}

/// Checks a new stored part before it is written: readable, not changing what the Tenant
/// declares (409 naming the field and the resource), within ranges and the Tenant's limits.
pub fn check_update(
    tenant_name: &str,
    spec: &TenantSpec,
    body: &Map<String, Value>,
    limits: SettingsLimits,
) -> ApiResult<()> {
    let parsed = Settings::from_part(body, "").map_err(|e| ApiError::Invalid(vec![e]))?;
    let declared = declared(spec);
    for path in leaf_paths(body) {
        if let Some(fixed) = at(&declared, &path) {
            if at(body, &path) != Some(fixed) {
                return Err(ApiError::Owned {
                    field: path.clone(),
                    owner: format!("Tenant/{tenant_name} (spec.settings.{path})"),
                });
            }
        }
    }
    let mut errs = Vec::new();
    let sets = |p: &str| at(body, p).is_some();
    let q = &parsed.query;
    for (path, v, max, owner) in [
        (
            "query.timeoutSeconds",
            q.timeout_seconds,
            limits.query_timeout_seconds,
            "the Tenant's spec.limits.queryTimeoutSeconds",
        ),
        (
            "query.rowLimit",
            q.row_limit,
            limits.row_limit,
            "the Tenant's spec.limits.rowLimit",
        ),
        (
            "query.cacheTtlSeconds",
            q.cache_ttl_seconds,
            limits.cache_ttl_seconds,
            "the instance's --cache-ttl-seconds",
        ),
    ] {
        if sets(path) && v > max {
            errs.push(FieldError::new(path, format!("at most {max} ({owner})")));
        }
    }
    // Ranges and cross-field rules on what will be in force.
    let merged = resolve(spec, body, limits);
    for e in merged.settings.validate_at("") {
        if !errs.iter().any(|x| x.field == e.field) {
            errs.push(e);
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(errs))
    }
}

/// Whether the allow-list lets a client address in: an empty list lets everyone in; an
/// unknown address is kept out of a non-empty one (fail closed).
pub fn allows(list: &[String], addr: Option<std::net::IpAddr>) -> bool {
    if list.is_empty() {
        return true;
    }
    let Some(ip) = addr.map(|a| a.to_canonical()) else {
        return false;
    };
    list.iter()
        .filter_map(|e| nexbii_crds::settings::parse_allowed(e))
        .filter_map(|(net, bits)| ipnet::IpNet::new(net, bits).ok())
        .any(|n| n.trunc().contains(&ip))
}

/// Refuses a client address the tenant's allow-list does not let in (403).
pub async fn admit_address(
    state: &AppState,
    scope: &TenantScope,
    addr: Option<std::net::IpAddr>,
) -> ApiResult<()> {
    let s = effective(state, scope).await?;
    if allows(&s.settings.network.ip_allow_list, addr) {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "client address {} is not in the tenant's IP allow-list (settings network.ipAllowList)",
        addr.map_or_else(|| "(unknown)".to_string(), |a| a.to_string())
    )))
}

/// The tenant's settings in force, resolved once per change of the Tenant or the settings.
pub async fn effective(state: &AppState, scope: &TenantScope) -> ApiResult<Arc<Resolved>> {
    let tenant = state.tenant(scope).await?;
    let stored = state
        .store
        .cached::<SettingsRecord>(scope, SettingsRecord::ID)
        .await?;
    let revs = (
        tenant.meta.revision,
        stored.as_ref().map_or(0, |s| s.meta.revision),
    );
    if let Some((t, s, r)) = state.tenant_settings.get(scope) {
        if (t, s) == revs {
            return Ok(r);
        }
    }
    let empty = Map::new();
    let resolved = Arc::new(resolve(
        &tenant.spec,
        stored.as_ref().map_or(&empty, |s| &s.values),
        limits(&tenant.spec, state.settings.cache_ttl),
    ));
    state
        .tenant_settings
        .insert(scope.clone(), (revs.0, revs.1, resolved.clone()));
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(settings: Value) -> TenantSpec {
        serde_json::from_value(json!({
            "displayName": "Acme",
            "limits": {"queryTimeoutSeconds": 60, "rowLimit": 5000},
            "auth": {"sessionTtlMinutes": 480, "passwordMinLength": 14},
            "settings": settings,
        }))
        .unwrap()
    }

    fn part(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const LIMITS: SettingsLimits = SettingsLimits {
        query_timeout_seconds: 60,
        row_limit: 5000,
        cache_ttl_seconds: 120,
    };

    #[test]
    fn the_allow_list_matches_addresses_and_ranges_and_fails_closed() {
        let list = vec!["10.1.0.0/16".to_string(), "2001:db8::1".to_string()];
        let ip = |s: &str| Some(s.parse::<std::net::IpAddr>().unwrap());
        assert!(allows(&list, ip("10.1.200.3")));
        assert!(allows(&list, ip("::ffff:10.1.0.1")), "IPv4-mapped");
        assert!(allows(&list, ip("2001:db8::1")));
        assert!(!allows(&list, ip("10.2.0.1")));
        assert!(!allows(&list, None));
        assert!(allows(&[], None));
    }

    #[test]
    fn defaults_come_from_the_tenants_older_fields() {
        let r = resolve(&spec(json!({})), &Map::new(), LIMITS);
        assert_eq!(r.settings.sessions.absolute_timeout_minutes, 480);
        assert_eq!(r.settings.password.min_length, 14);
        assert_eq!(r.settings.query.timeout_seconds, 60);
        assert_eq!(r.settings.query.row_limit, 5000);
        assert_eq!(r.settings.query.cache_ttl_seconds, 120);
        assert_eq!(r.sources["query.rowLimit"], SettingSource::Default);
    }

    #[test]
    fn declared_beats_stored_beats_default() {
        let s = spec(json!({"sessions": {"idleTimeoutMinutes": 10}}));
        let stored =
            part(json!({"sessions": {"idleTimeoutMinutes": 30}, "mfa": {"required": "admins"}}));
        let r = resolve(&s, &stored, LIMITS);
        assert_eq!(r.settings.sessions.idle_timeout_minutes, 10);
        assert_eq!(r.settings.mfa.required, nexbii_crds::MfaRequirement::Admins);
        assert_eq!(
            r.sources["sessions.idleTimeoutMinutes"],
            SettingSource::Tenant
        );
        assert_eq!(r.sources["mfa.required"], SettingSource::Api);
        assert_eq!(r.sources["lockout.lockoutMinutes"], SettingSource::Default);
    }

    #[test]
    fn stored_values_beyond_lowered_limits_are_brought_within() {
        let stored = part(json!({"query": {"rowLimit": 50000, "timeoutSeconds": 600}}));
        let r = resolve(&spec(json!({})), &stored, LIMITS);
        assert_eq!(r.settings.query.row_limit, 5000);
        assert_eq!(r.settings.query.timeout_seconds, 60);
    }

    #[test]
    fn changing_a_declared_field_is_a_conflict_naming_it() {
        let s = spec(json!({"network": {"ipAllowList": ["10.0.0.0/8"]}}));
        let err = check_update(
            "acme",
            &s,
            &part(json!({"network": {"ipAllowList": []}})),
            LIMITS,
        )
        .unwrap_err();
        match err {
            ApiError::Owned { field, owner } => {
                assert_eq!(field, "network.ipAllowList");
                assert!(owner.starts_with("Tenant/acme"), "{owner}");
            }
            e => panic!("{e:?}"),
        }
        // Repeating the declared value, or leaving it out, is fine.
        check_update(
            "acme",
            &s,
            &part(json!({"network": {"ipAllowList": ["10.0.0.0/8"]}})),
            LIMITS,
        )
        .unwrap();
        check_update(
            "acme",
            &s,
            &part(json!({"mfa": {"required": "all"}})),
            LIMITS,
        )
        .unwrap();
    }

    #[test]
    fn limits_ranges_and_cross_field_rules_are_checked() {
        let s = spec(json!({}));
        let fields = |body: Value| match check_update("acme", &s, &part(body), LIMITS) {
            Err(ApiError::Invalid(errs)) => errs.into_iter().map(|e| e.field).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            fields(json!({"query": {"rowLimit": 5001}})),
            ["query.rowLimit"]
        );
        assert_eq!(
            fields(json!({"query": {"cacheTtlSeconds": 121}})),
            ["query.cacheTtlSeconds"]
        );
        // The idle timeout may not exceed the absolute one in force (480 from spec.auth).
        assert_eq!(
            fields(json!({"sessions": {"idleTimeoutMinutes": 500}})),
            ["sessions.idleTimeoutMinutes"]
        );
        assert_eq!(
            fields(json!({"lockout": {"lockoutMinutes": 0}})),
            ["lockout.lockoutMinutes"]
        );
        assert!(matches!(
            check_update(
                "acme",
                &s,
                &part(json!({"lockout": {"minutes": 3}})),
                LIMITS
            ),
            Err(ApiError::Invalid(_))
        ));
    }
}
