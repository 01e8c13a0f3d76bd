//! Feature flags: which features exist and gate which routes, how a flag is decided for a
//! user (pure), and the gate the request guard applies before any handler runs.
use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::model::{FlagRecord, FlagSource, FlagView};
use crate::{
    auth::Role,
    http::{ApiError, ApiResult},
    state::AppState,
    store::{StoreExt, TenantScope},
    tenant::TenantRecord,
};

/// A feature the server knows: on by default, and the route templates (whole-segment
/// prefixes) it turns off. Flags with other names are kept and reported for clients to read.
pub struct Known {
    pub name: &'static str,
    pub description: &'static str,
    pub gates: &'static [&'static str],
}

pub const KNOWN: [Known; 5] = [
    Known {
        name: "sharing",
        description: "share links of dashboards and saved queries, and their public views",
        gates: &["/api/v1/shares", "/api/v1/shared"],
    },
    Known {
        name: "exports",
        description: "CSV and JSON exports of query results",
        gates: &["/api/v1/queries/export", "/api/v1/queries/{id}/export"],
    },
    Known {
        name: "webhooks",
        description: "webhook subscriptions and their deliveries",
        gates: &["/api/v1/webhooks"],
    },
    Known {
        name: "embedding",
        description: "embed tokens and the embedded dashboards they open",
        gates: &["/api/v1/embed"],
    },
    Known {
        name: "insights",
        description: "insights: trends, changes, outliers, concentration and correlations found in query results",
        gates: &["/api/v1/insights", "/api/v1/queries/{id}/insights"],
    },
];

/// The known feature gating a route template, if any.
pub fn feature_of(template: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| {
        k.gates.iter().any(|g| {
            template == *g
                || template
                    .strip_prefix(g)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    })
}

/// 0..100, stable for a (tenant, flag, user): the same users stay in as a rollout widens.
pub fn bucket(tenant: &str, flag: &str, user: &str) -> u8 {
    let h = Sha256::digest(format!("{tenant}\0{flag}\0{user}").as_bytes());
    (u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) % 100) as u8
}

/// Whether `flag` is on for a user. The Tenant's declaration decides alone; then a stored flag;
/// else the default.
pub fn evaluate(
    tenant: &str,
    flag: &str,
    declared: Option<bool>,
    stored: Option<&FlagRecord>,
    default: bool,
    user: Option<(&str, Role)>,
) -> bool {
    if let Some(d) = declared {
        return d;
    }
    let Some(f) = stored else {
        return default;
    };
    if !f.enabled {
        return false;
    }
    let Some((user, role)) = user else {
        // No user (a public share view): on when on for everyone.
        return f.roles.is_empty() && f.rollout_percent >= 100;
    };
    if f.users.iter().any(|u| u == user) {
        return true;
    }
    if !f.roles.is_empty() && !f.roles.contains(&role) {
        return false;
    }
    bucket(tenant, flag, user) < f.rollout_percent
}

fn default_of(name: &str) -> bool {
    // Known features are on unless turned off; a flag nobody set is off.
    KNOWN.iter().any(|k| k.name == name)
}

/// Whether one feature is on for a user of the tenant.
pub async fn is_on(
    state: &AppState,
    scope: &TenantScope,
    name: &str,
    user: Option<(&str, Role)>,
) -> ApiResult<bool> {
    let tenant = state.tenant(scope).await?;
    let stored = state.store.cached::<FlagRecord>(scope, name).await?;
    Ok(evaluate(
        scope.tenant(),
        name,
        tenant.spec.features.get(name).copied(),
        stored.as_deref(),
        default_of(name),
        user,
    ))
}

/// Refuses a route whose feature is off for the caller (403 naming the feature).
pub async fn gate(
    state: &AppState,
    scope: &TenantScope,
    template: &str,
    user: Option<(&str, Role)>,
) -> ApiResult<()> {
    let Some(k) = feature_of(template) else {
        return Ok(());
    };
    if is_on(state, scope, k.name, user).await? {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "the feature {:?} ({}) is turned off for you in this tenant",
            k.name, k.description
        )))
    }
}

/// Every flag for one caller: known, stored and declared.
pub async fn for_caller(
    state: &AppState,
    scope: &TenantScope,
    user: &str,
    role: Role,
) -> ApiResult<BTreeMap<String, bool>> {
    let tenant = state.tenant(scope).await?;
    let stored = state.store.list_as::<FlagRecord>(scope).await?;
    let mut out = BTreeMap::new();
    for name in names(&tenant, &stored) {
        let rec = stored.iter().find(|f| f.name == name);
        let on = evaluate(
            scope.tenant(),
            &name,
            tenant.spec.features.get(&name).copied(),
            rec,
            default_of(&name),
            Some((user, role)),
        );
        out.insert(name, on);
    }
    Ok(out)
}

fn names(tenant: &TenantRecord, stored: &[FlagRecord]) -> Vec<String> {
    let mut names: Vec<String> = KNOWN
        .iter()
        .map(|k| k.name.to_string())
        .chain(tenant.spec.features.keys().cloned())
        .chain(stored.iter().map(|f| f.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Every flag as admins see it.
pub async fn all(state: &AppState, scope: &TenantScope) -> ApiResult<Vec<FlagView>> {
    let tenant = state.tenant(scope).await?;
    let stored = state.store.list_as::<FlagRecord>(scope).await?;
    Ok(names(&tenant, &stored)
        .into_iter()
        .map(|name| view(&tenant, stored.iter().find(|f| f.name == name), &name))
        .collect())
}

pub fn view(tenant: &TenantRecord, stored: Option<&FlagRecord>, name: &str) -> FlagView {
    let known = KNOWN.iter().find(|k| k.name == name);
    let default = default_of(name);
    let base = FlagView {
        name: name.to_string(),
        description: known.map(|k| k.description.to_string()),
        source: FlagSource::Default,
        declared_by: None,
        enabled: default,
        roles: Vec::new(),
        users: Vec::new(),
        rollout_percent: 100,
        default,
        gates: known.map(|k| k.gates.to_vec()).unwrap_or_default(),
        revision: stored.map_or(0, |s| s.meta.revision),
    };
    if let Some(d) = tenant.spec.features.get(name) {
        return FlagView {
            source: FlagSource::Tenant,
            declared_by: Some(format!("Tenant/{} (spec.features.{name})", tenant.name)),
            enabled: *d,
            ..base
        };
    }
    match stored {
        Some(f) => FlagView {
            source: FlagSource::Api,
            description: f.description.clone().or(base.description.clone()),
            enabled: f.enabled,
            roles: f.roles.clone(),
            users: f.users.clone(),
            rollout_percent: f.rollout_percent,
            ..base
        },
        None => base,
    }
}

/// Refuses changing a flag the Tenant declares.
pub fn refuse_declared(tenant: &TenantRecord, name: &str) -> ApiResult<()> {
    if tenant.spec.features.contains_key(name) {
        return Err(ApiError::Owned {
            field: format!("features.{name}"),
            owner: format!("Tenant/{} (spec.features.{name})", tenant.name),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Meta;

    fn flag(enabled: bool, roles: Vec<Role>, users: &[&str], pct: u8) -> FlagRecord {
        FlagRecord {
            name: "beta".into(),
            description: None,
            enabled,
            roles,
            users: users.iter().map(|u| u.to_string()).collect(),
            rollout_percent: pct,
            meta: Meta::default(),
        }
    }

    #[test]
    fn the_tenant_declaration_decides_alone() {
        let f = flag(true, vec![], &[], 100);
        assert!(!evaluate(
            "t",
            "beta",
            Some(false),
            Some(&f),
            true,
            Some(("ann", Role::Admin))
        ));
        assert!(evaluate("t", "beta", Some(true), None, false, None));
    }

    #[test]
    fn defaults_roles_users_and_rollout() {
        let ann = Some(("ann", Role::Viewer));
        assert!(evaluate("t", "sharing", None, None, true, ann));
        assert!(!evaluate("t", "x", None, None, false, ann));
        assert!(!evaluate(
            "t",
            "beta",
            None,
            Some(&flag(false, vec![], &["ann"], 100)),
            true,
            ann
        ));
        let editors = flag(true, vec![Role::Editor], &["ann"], 100);
        assert!(
            evaluate("t", "beta", None, Some(&editors), false, ann),
            "listed user"
        );
        assert!(!evaluate(
            "t",
            "beta",
            None,
            Some(&editors),
            false,
            Some(("bob", Role::Viewer))
        ));
        assert!(evaluate(
            "t",
            "beta",
            None,
            Some(&editors),
            false,
            Some(("bob", Role::Editor))
        ));
        // Without a user only a flag on for everyone is on.
        assert!(!evaluate("t", "beta", None, Some(&editors), false, None));
        assert!(evaluate(
            "t",
            "beta",
            None,
            Some(&flag(true, vec![], &[], 100)),
            false,
            None
        ));
    }

    #[test]
    fn a_rollout_takes_about_its_share_and_keeps_users_as_it_widens() {
        let users: Vec<String> = (0..2000).map(|i| format!("user{i}")).collect();
        let on = |pct: u8| -> Vec<&String> {
            let f = flag(true, vec![], &[], pct);
            users
                .iter()
                .filter(|u| {
                    evaluate(
                        "acme",
                        "beta",
                        None,
                        Some(&f),
                        false,
                        Some((u, Role::Viewer)),
                    )
                })
                .collect()
        };
        let (ten, fifty) = (on(10), on(50));
        assert!((150..250).contains(&ten.len()), "{}", ten.len());
        assert!((900..1100).contains(&fifty.len()), "{}", fifty.len());
        assert!(ten.iter().all(|u| fifty.contains(u)));
        assert!(on(0).is_empty());
        assert_eq!(on(100).len(), 2000);
    }

    #[test]
    fn routes_map_to_their_feature_by_whole_segments() {
        assert_eq!(feature_of("/api/v1/shares/{id}").unwrap().name, "sharing");
        assert_eq!(
            feature_of("/api/v1/shared/{token}/data").unwrap().name,
            "sharing"
        );
        assert_eq!(
            feature_of("/api/v1/queries/{id}/export").unwrap().name,
            "exports"
        );
        assert_eq!(
            feature_of("/api/v1/embed/{tenant}/dashboard").unwrap().name,
            "embedding"
        );
        assert_eq!(
            feature_of("/api/v1/embed/tokens").unwrap().name,
            "embedding"
        );
        assert_eq!(
            feature_of("/api/v1/queries/{id}/insights").unwrap().name,
            "insights"
        );
        assert_eq!(feature_of("/api/v1/insights").unwrap().name, "insights");
        assert!(feature_of("/api/v1/queries/{id}").is_none());
        assert!(feature_of("/api/v1/sharesx").is_none());
    }
}
