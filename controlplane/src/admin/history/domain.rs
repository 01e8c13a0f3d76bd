//! Reading, comparing and rolling back configuration versions (recorded by the write path,
//! `store::history`). A rollback writes the old content as a new version through the same
//! domain functions an edit uses, so validation, approvals and hooks apply as they would.
use serde_json::Value;

use crate::{
    admin::{
        features::model::FlagRecord,
        settings::{domain as settings, model::SettingsRecord},
    },
    auth::Caller,
    bi::{
        dashboards::{domain as dashboards, DashboardRecord},
        datasources::{domain as sources, DataSourceRecord},
        queries::{domain as queries, model::SavedQuery},
    },
    governance::policies::PolicyRecord,
    http::{ApiError, ApiResult},
    state::AppState,
    store::{
        history::{self, ConfigVersion},
        Expect, ListQuery, Origin, Store, StoreExt, TenantScope,
    },
};

/// The value with credentials replaced: any `…Sealed` field shows only that it is set.
pub fn redacted(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let shown = if k.ends_with("Sealed") && !x.is_null() {
                        Value::String("(sealed)".into())
                    } else {
                        redacted(x)
                    };
                    (k.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// RFC 6902 patch from one version's value to another's (absent values read as `null`).
pub fn patch(from: Option<&Value>, to: Option<&Value>) -> Value {
    let a = from.map(redacted).unwrap_or(Value::Null);
    let b = to.map(redacted).unwrap_or(Value::Null);
    serde_json::to_value(json_patch::diff(&a, &b)).unwrap_or(Value::Array(vec![]))
}

pub fn check_kind(kind: &str) -> ApiResult<()> {
    match history::collection_of(kind) {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid(
            "kind",
            format!(
                "must be one of {}",
                history::VERSIONED.map(|(_, k)| k).join(", ")
            ),
        )),
    }
}

pub async fn load(
    state: &AppState,
    scope: &TenantScope,
    kind: &str,
    name: &str,
    version: u64,
) -> ApiResult<ConfigVersion> {
    check_kind(kind)?;
    state
        .store
        .get_as::<ConfigVersion>(scope, &history::version_id(kind, name, version))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("version {version} of {kind} {name}")))
}

pub async fn latest(
    state: &AppState,
    scope: &TenantScope,
    kind: &str,
    name: &str,
) -> ApiResult<Option<ConfigVersion>> {
    let mut q = ListQuery::default()
        .id_prefix(history::version_prefix(kind, name))
        .filter("kind", kind)
        .filter("name", name)
        .limit(1);
    q.descending = true;
    Ok(state
        .store
        .page_as::<ConfigVersion>(scope, &q)
        .await?
        .items
        .into_iter()
        .next())
}

fn owned(kind: &str, name: &str, origin: Origin) -> ApiError {
    let by = match origin {
        Origin::Operator => "the operator (its Kubernetes resource)",
        Origin::Manifests => "the manifests folder",
        Origin::Api => "the API",
    };
    ApiError::Owned {
        field: "origin".into(),
        owner: format!("{by}, the GitOps source of {kind} {name}"),
    }
}

fn origin_of(v: &Value) -> Origin {
    v.get("origin")
        .and_then(|o| serde_json::from_value(o.clone()).ok())
        .unwrap_or_default()
}

fn decode<T: serde::de::DeserializeOwned>(v: &Value) -> ApiResult<T> {
    serde_json::from_value(v.clone()).map_err(|e| {
        ApiError::Conflict(format!(
            "that version no longer reads as the current format ({e}); it cannot be rolled back"
        ))
    })
}

/// Writes version `version` of an object back as its newest version.
pub async fn rollback(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    name: &str,
    version: u64,
) -> ApiResult<ConfigVersion> {
    let target = load(state, &caller.scope, kind, name, version).await?;
    let value = target.value.clone().ok_or_else(|| {
        ApiError::invalid(
            "version",
            format!("version {version} is a deletion; delete the object instead"),
        )
    })?;
    let coll = history::collection_of(kind).expect("kind checked");
    let current = state.store.get(&caller.scope, coll, name).await?;
    for v in current.iter().chain(std::iter::once(&value)) {
        let origin = origin_of(v);
        if origin != Origin::Api {
            return Err(owned(kind, name, origin));
        }
    }
    let revision = current
        .as_ref()
        .and_then(|c| c.get("revision"))
        .and_then(Value::as_u64);
    let expect = revision.map_or(Expect::Absent, Expect::Revision);
    let scope = &caller.scope;
    let actor = caller.actor();
    history::as_rollback(version, async {
        match kind {
            "settings" => {
                let mut rec: SettingsRecord = decode(&value)?;
                let tenant = state.tenant(scope).await?;
                settings::check_update(
                    &tenant.name,
                    &tenant.spec,
                    &rec.values,
                    settings::limits(&tenant.spec, state.settings.cache_ttl),
                )?;
                rec.meta = Default::default();
                state.writer.save(scope, &actor, rec, expect).await?;
            }
            "features" => {
                let mut rec: FlagRecord = decode(&value)?;
                let tenant = state.tenant(scope).await?;
                crate::admin::features::domain::refuse_declared(&tenant, name)?;
                rec.meta = Default::default();
                state.writer.save(scope, &actor, rec, expect).await?;
            }
            "datasources" => {
                let mut rec: DataSourceRecord = decode(&value)?;
                // The same checks a create makes (an SQLite path must stay in its folder).
                sources::resolve(state, scope, &rec)?;
                rec.meta = Default::default();
                state.writer.save(scope, &actor, rec, expect).await?;
            }
            "dashboards" => {
                let old: DashboardRecord = decode(&value)?;
                let existing = state.store.get_as::<DashboardRecord>(scope, name).await?;
                dashboards::save(
                    state,
                    scope,
                    &actor,
                    existing.as_ref(),
                    name,
                    old.spec,
                    Origin::Api,
                )
                .await?;
            }
            "queries" => {
                let mut rec: SavedQuery = decode(&value)?;
                queries::check_saved(
                    state,
                    scope,
                    &rec.name,
                    &rec.data_source,
                    &rec.sql,
                    &rec.params,
                )
                .await?;
                rec.meta = Default::default();
                state.writer.save(scope, &actor, rec, expect).await?;
            }
            "policies" => {
                let mut rec: PolicyRecord = decode(&value)?;
                rec.meta = Default::default();
                state.writer.save(scope, &actor, rec, expect).await?;
            }
            _ => return Err(ApiError::invalid("kind", "not versioned")),
        }
        Ok::<(), ApiError>(())
    })
    .await?;
    latest(state, scope, kind, name)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("rollback left no version")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_fields_never_show() {
        let v = json!({"name": "pg", "passwordSealed": "v1:abc", "spec": {"x": {"tokenSealed": "s"}}, "otherSealed": null});
        let r = redacted(&v);
        assert_eq!(r["passwordSealed"], "(sealed)");
        assert_eq!(r["spec"]["x"]["tokenSealed"], "(sealed)");
        assert_eq!(r["otherSealed"], Value::Null);
        assert!(!r.to_string().contains("abc"));
    }

    #[test]
    fn patches_turn_one_version_into_the_other() {
        let a = json!({"spec": {"title": "A", "widgets": [1]}, "passwordSealed": "x1"});
        let b = json!({"spec": {"title": "B", "widgets": [1]}, "passwordSealed": "x2"});
        let p = patch(Some(&a), Some(&b));
        assert_eq!(
            p,
            json!([{"op": "replace", "path": "/spec/title", "value": "B"}])
        );
        let mut doc = redacted(&a);
        json_patch::patch(
            &mut doc,
            &serde_json::from_value::<json_patch::Patch>(p).unwrap(),
        )
        .unwrap();
        assert_eq!(doc, redacted(&b));
    }

    #[test]
    fn unknown_kinds_name_the_field() {
        match check_kind("users") {
            Err(ApiError::Invalid(e)) => assert_eq!(e[0].field, "kind"),
            other => panic!("{other:?}"),
        }
    }
}
