//! Import in two steps: `plan` checks every document against the instance (and against the
//! other documents of the same import) without writing; `apply` writes what the plan accepted,
//! each object through the write path (audit, history, events) as the calling admin.
use std::collections::{HashMap, HashSet};

use nexbii_crds::{DataSourceType, TenantRef, Validate};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{
    documents::{Doc, Parsed},
    mapping,
};
use crate::{
    admin::settings::{domain as settings, model::SettingsRecord},
    bi::{
        dashboards::{self, DashboardRecord},
        datasources::{self, domain::SaveSource, DataSourceRecord},
        queries::SavedQuery,
    },
    governance::PolicyRecord,
    http::ApiResult,
    state::SharedState,
    store::{write::Actor, Collection, Expect, ListQuery, Origin, Store, StoreExt, TenantScope},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    Skipped,
    Error,
}

/// What the import did (or, in a dry run, would do) with one object.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportResult {
    pub kind: String,
    pub name: String,
    pub action: Action,
    /// Why the object failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A write the plan accepted, with the record it is based on.
// One value per imported object, short-lived: boxing the large variants would only add noise.
#[allow(clippy::large_enum_variant)]
enum Write {
    Settings(Map<String, Value>, Option<SettingsRecord>),
    Source {
        name: String,
        spec: nexbii_crds::DataSourceSpec,
        password: Option<Option<String>>,
        existing: Option<DataSourceRecord>,
    },
    Policy(PolicyRecord, Option<PolicyRecord>),
    Query(SavedQuery, Option<SavedQuery>),
    Dashboard {
        name: String,
        spec: nexbii_crds::DashboardSpec,
        existing: Option<DashboardRecord>,
    },
}

pub struct Step {
    pub result: ImportResult,
    write: Option<Write>,
}

/// What an import is checked against: the caller's tenant and where the caller connects from.
pub struct Target<'a> {
    pub state: &'a SharedState,
    pub scope: &'a TenantScope,
    pub username: &'a str,
    pub client: Option<std::net::IpAddr>,
}

type Checked<T> = Result<T, String>;

fn owned(kind: &str, name: &str, origin: Origin) -> String {
    format!(
        "conflict (409): {kind}/{name} is provisioned from YAML ({origin:?}, the GitOps source) \
         and an import never overwrites it; change it there"
    )
}

/// The record an imported object would replace. One that YAML provisions (manifests, the
/// operator) is refused: its source of truth is elsewhere and an import never overwrites it.
async fn replaced<T: crate::store::Entity>(
    t: &Target<'_>,
    kind: &str,
    name: &str,
    origin: fn(&T) -> Origin,
) -> Checked<Option<T>> {
    let existing = t
        .state
        .store
        .get_as::<T>(t.scope, name)
        .await
        .map_err(|e| e.to_string())?;
    match existing.as_ref().map(origin) {
        Some(o) if o != Origin::Api => Err(owned(kind, name, o)),
        _ => Ok(existing),
    }
}

fn own_tenant(r: &TenantRef, tenant: &str) -> Checked<()> {
    if r.name == tenant {
        Ok(())
    } else {
        Err(format!(
            "spec.tenantRef.name is {:?}: an import writes only into your own tenant {tenant:?}",
            r.name
        ))
    }
}

fn first_error(errs: Vec<nexbii_crds::FieldError>) -> Checked<()> {
    match errs.into_iter().next() {
        Some(e) => Err(e.to_string()),
        None => Ok(()),
    }
}

fn created_or_updated<T>(existing: &Option<T>) -> Action {
    if existing.is_some() {
        Action::Updated
    } else {
        Action::Created
    }
}

/// Checks every document; nothing is written.
pub async fn plan(t: &Target<'_>, parsed: Parsed) -> ApiResult<Vec<Step>> {
    let tenant = t.scope.tenant().to_string();
    let mut docs = parsed.docs;
    // Sources before what reads them; the body's order within a kind.
    docs.sort_by_key(|d| mapping::rank(d.kind()));
    let mut sources: HashMap<String, DataSourceType> = t
        .state
        .store
        .list_as::<DataSourceRecord>(t.scope)
        .await?
        .into_iter()
        .map(|d| (d.name, d.spec.source_type))
        .collect();
    for d in &docs {
        if let Doc::DataSource(ds) = d {
            sources.insert(d.name(), ds.spec.source_type);
        }
    }
    let mut seen = HashSet::new();
    let mut new_sources = 0u64;
    let mut steps = Vec::new();
    for doc in docs {
        let (kind, name) = (doc.kind().to_string(), doc.name());
        let checked = if !seen.insert((kind.clone(), name.clone())) {
            Err(format!("{kind}/{name} appears twice in the import"))
        } else {
            match doc {
                Doc::Tenant(r) => plan_tenant(t, &tenant, &name, &r.spec).await,
                Doc::DataSource(r) => {
                    let s = plan_source(t, &tenant, &name, r.spec, &parsed.secrets).await;
                    if matches!(&s, Ok((Action::Created, _))) {
                        new_sources += 1;
                        quota(t, new_sources).await?.map_or(s, Err)
                    } else {
                        s
                    }
                }
                Doc::GovernancePolicy(r) => plan_policy(t, &tenant, &name, r.spec).await,
                Doc::SavedQuery(r) => plan_query(t, &tenant, &name, r.spec, &sources).await,
                Doc::Dashboard(r) => plan_dashboard(t, &tenant, &name, r.spec, &sources).await,
                Doc::Other { .. } => Ok((Action::Skipped, None)),
            }
        };
        let (action, write, error) = match checked {
            Ok((Action::Skipped, _)) => (
                Action::Skipped,
                None,
                Some(format!("kind {kind} is not imported")),
            ),
            Ok((action, write)) => (action, write, None),
            Err(e) => (Action::Error, None, Some(e)),
        };
        steps.push(Step {
            result: ImportResult {
                kind,
                name,
                action,
                error,
            },
            write,
        });
    }
    Ok(steps)
}

/// A new source beyond the tenant's data-source quota is refused, as through the API.
async fn quota(t: &Target<'_>, new_sources: u64) -> ApiResult<Option<String>> {
    let limit = t.state.tenant(t.scope).await?.spec.limits.max_data_sources as u64;
    let count = t
        .state
        .store
        .count(t.scope, Collection::DataSources, &ListQuery::default())
        .await?;
    Ok((count + new_sources > limit).then(|| format!("data source quota of {limit} reached")))
}

type Planned = Checked<(Action, Option<Write>)>;

async fn plan_tenant(
    t: &Target<'_>,
    tenant: &str,
    name: &str,
    spec: &nexbii_crds::TenantSpec,
) -> Planned {
    if name != tenant {
        return Err(format!(
            "Tenant/{name} is not this instance's tenant {tenant:?}: only its settings are imported"
        ));
    }
    let current = t.state.tenant(t.scope).await.map_err(|e| e.to_string())?;
    let empty = Map::new();
    let imported = spec.settings.as_ref().unwrap_or(&empty);
    let values = mapping::settings_to_store(current.spec.settings.as_ref(), imported)?;
    let limits = settings::limits(&current.spec, t.state.settings.cache_ttl);
    settings::check_update(tenant, &current.spec, &values, limits).map_err(|e| e.to_string())?;
    let after = settings::resolve(&current.spec, &values, limits);
    if !settings::allows(&after.settings.network.ip_allow_list, t.client) {
        return Err(
            "settings.network.ipAllowList would lock you out: your address is not in it".into(),
        );
    }
    let existing = t
        .state
        .store
        .get_as::<SettingsRecord>(t.scope, SettingsRecord::ID)
        .await
        .map_err(|e| e.to_string())?;
    let stored = existing.as_ref().map(|e| &e.values).unwrap_or(&empty);
    if *stored == values {
        return Ok((Action::Unchanged, None));
    }
    // The Tenant exists already: what changes is its settings.
    Ok((Action::Updated, Some(Write::Settings(values, existing))))
}

/// The password an imported source is written with: from the import's Secret, or the one the
/// instance already holds for it; a reference that resolves to neither is an error naming it.
fn password_for(
    spec: &nexbii_crds::DataSourceSpec,
    existing: Option<&DataSourceRecord>,
    secrets: &HashMap<String, std::collections::BTreeMap<String, String>>,
) -> Checked<Option<Option<String>>> {
    let Some(r) = &spec.password_secret_ref else {
        return Ok(Some(None));
    };
    match secrets.get(&r.name).and_then(|s| s.get(&r.key)) {
        Some(p) => Ok(Some(Some(p.clone()))),
        None if existing.is_some_and(|e| e.password_sealed.is_some()) => Ok(None),
        None => Err(format!(
            "spec.passwordSecretRef: Secret {} with key {} is not in the import (add it as a v1 Secret document)",
            r.name, r.key
        )),
    }
}

async fn plan_source(
    t: &Target<'_>,
    tenant: &str,
    name: &str,
    mut spec: nexbii_crds::DataSourceSpec,
    secrets: &HashMap<String, std::collections::BTreeMap<String, String>>,
) -> Planned {
    own_tenant(&spec.tenant_ref, tenant)?;
    first_error(spec.validate())?;
    if spec.source_type == DataSourceType::Sqlite {
        datasources::domain::confined_sqlite_path(
            t.state,
            spec.path.as_deref().unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
    }
    let existing = replaced(t, "DataSource", name, |e: &DataSourceRecord| e.origin).await?;
    let password = password_for(&spec, existing.as_ref(), secrets)?;
    // The derived reference only names where an export put the password: the instance keeps
    // the password itself, sealed, as for a source made through the API.
    if spec
        .password_secret_ref
        .as_ref()
        .is_some_and(|r| r.name == mapping::secret_name_for(name) && r.key == mapping::PASSWORD_KEY)
    {
        spec.password_secret_ref = None;
    }
    if existing.is_none() {
        let policies = t
            .state
            .governance
            .policies(&t.state.store, t.scope)
            .await
            .map_err(|e| e.to_string())?;
        if crate::governance::approvals::datasource_rule(&policies).is_some() {
            return Err("the tenant's policy holds new data sources for approval: create it through the API".into());
        }
    }
    if let Some(e) = &existing {
        let same_password = match &password {
            None => true,
            Some(p) => {
                let held = datasources::resolve(t.state, t.scope, e).map_err(|e| e.to_string())?;
                held.password.as_deref() == p.as_deref().filter(|p| !p.is_empty())
            }
        };
        if e.spec == spec && same_password {
            return Ok((Action::Unchanged, None));
        }
    }
    let action = created_or_updated(&existing);
    Ok((
        action,
        Some(Write::Source {
            name: name.to_string(),
            spec,
            password,
            existing,
        }),
    ))
}

async fn plan_policy(
    t: &Target<'_>,
    tenant: &str,
    name: &str,
    spec: nexbii_crds::GovernancePolicySpec,
) -> Planned {
    own_tenant(&spec.tenant_ref, tenant)?;
    first_error(spec.validate())?;
    let existing = replaced(t, "GovernancePolicy", name, |e: &PolicyRecord| e.origin).await?;
    if existing.as_ref().is_some_and(|e| e.spec == spec) {
        return Ok((Action::Unchanged, None));
    }
    let rec = PolicyRecord {
        name: name.to_string(),
        spec,
        origin: Origin::Api,
        meta: Default::default(),
    };
    Ok((
        created_or_updated(&existing),
        Some(Write::Policy(rec, existing)),
    ))
}

/// A statement is checked against the type of the source it names (one of this import's or
/// one the instance has): the blocking checks of the API, before anything is written.
fn check_statement(
    t: &Target<'_>,
    sources: &HashMap<String, DataSourceType>,
    field: &str,
    source: &str,
    sql: &str,
) -> Checked<()> {
    let Some(ty) = sources.get(source) else {
        return Err(format!(
            "{field}.dataSource: no data source named {source:?}"
        ));
    };
    t.state
        .engine
        .check(*ty, sql)
        .map(|_| ())
        .map_err(|e| format!("{field}.sql: {e}"))
}

async fn plan_query(
    t: &Target<'_>,
    tenant: &str,
    name: &str,
    spec: nexbii_crds::SavedQuerySpec,
    sources: &HashMap<String, DataSourceType>,
) -> Planned {
    own_tenant(&spec.tenant_ref, tenant)?;
    first_error(spec.validate())?;
    if spec.display_name.as_ref().is_some_and(|n| n.len() > 200) {
        return Err("spec.displayName: at most 200 characters".into());
    }
    check_statement(t, sources, "spec", &spec.data_source, &spec.sql)?;
    let existing = replaced(t, "SavedQuery", name, |e: &SavedQuery| e.origin).await?;
    let owner = existing
        .as_ref()
        .map_or_else(|| t.username.to_string(), |e| e.owner.clone());
    let rec = SavedQuery::from_spec(name, &spec, owner, Origin::Api);
    if existing.as_ref().is_some_and(|e| e.same_content(&rec)) {
        return Ok((Action::Unchanged, None));
    }
    Ok((
        created_or_updated(&existing),
        Some(Write::Query(rec, existing)),
    ))
}

async fn plan_dashboard(
    t: &Target<'_>,
    tenant: &str,
    name: &str,
    spec: nexbii_crds::DashboardSpec,
    sources: &HashMap<String, DataSourceType>,
) -> Planned {
    own_tenant(&spec.tenant_ref, tenant)?;
    first_error(spec.validate())?;
    for (i, w) in spec.widgets.iter().enumerate() {
        let field = format!("spec.widgets[{i}].query");
        check_statement(t, sources, &field, &w.query.data_source, &w.query.sql)?;
    }
    let existing = replaced(t, "Dashboard", name, |e: &DashboardRecord| e.origin).await?;
    if existing.as_ref().is_some_and(|e| e.spec == spec) {
        return Ok((Action::Unchanged, None));
    }
    let action = created_or_updated(&existing);
    Ok((
        action,
        Some(Write::Dashboard {
            name: name.to_string(),
            spec,
            existing,
        }),
    ))
}

/// Writes what the plan accepted, in its order; a write that fails turns its result into an
/// error and the others go on.
pub async fn apply(t: &Target<'_>, steps: &mut [Step]) {
    let actor = Actor::User(t.username.to_string());
    for step in steps.iter_mut() {
        let Some(write) = step.write.take() else {
            continue;
        };
        if let Err(e) = write_one(t, &actor, write).await {
            step.result.action = Action::Error;
            step.result.error = Some(e);
        }
    }
}

fn revision_of(meta: Option<&crate::store::Meta>) -> Expect {
    meta.map_or(Expect::Absent, |m| Expect::Revision(m.revision))
}

async fn write_one(t: &Target<'_>, actor: &Actor, write: Write) -> Checked<()> {
    let (state, scope) = (t.state, t.scope);
    let err = |e: crate::http::ApiError| e.to_string();
    match write {
        Write::Settings(values, existing) => {
            let expect = revision_of(existing.as_ref().map(|e| &e.meta));
            let rec = SettingsRecord {
                id: SettingsRecord::ID.into(),
                values,
                meta: existing.map(|e| e.meta).unwrap_or_default(),
            };
            state
                .writer
                .save(scope, actor, rec, expect)
                .await
                .map_err(|e| e.to_string())?;
        }
        Write::Source {
            name,
            spec,
            password,
            existing,
        } => {
            let save = SaveSource {
                name: &name,
                spec,
                password,
                origin: Origin::Api,
                base_dir: None,
            };
            let rec = datasources::domain::save(state, scope, actor, existing.as_ref(), save)
                .await
                .map_err(err)?;
            datasources::status::check_later(t.state.clone(), scope.clone(), rec);
        }
        Write::Policy(mut rec, existing) => {
            let expect = revision_of(existing.as_ref().map(|e| &e.meta));
            rec.meta = existing.map(|e| e.meta).unwrap_or_default();
            state
                .writer
                .save(scope, actor, rec, expect)
                .await
                .map_err(|e| e.to_string())?;
        }
        Write::Query(mut rec, existing) => {
            let expect = revision_of(existing.as_ref().map(|e| &e.meta));
            rec.meta = existing.map(|e| e.meta).unwrap_or_default();
            state
                .writer
                .save(scope, actor, rec, expect)
                .await
                .map_err(|e| e.to_string())?;
        }
        Write::Dashboard {
            name,
            spec,
            existing,
        } => {
            let saved = dashboards::domain::save(
                state,
                scope,
                actor,
                existing.as_ref(),
                &name,
                spec,
                Origin::Api,
            );
            saved.await.map_err(err)?;
        }
    }
    Ok(())
}

/// Marks what an atomic import with a failed object did not apply.
pub fn hold_back(steps: &mut [Step]) {
    for s in steps.iter_mut() {
        if s.write.take().is_some() {
            s.result.action = Action::Skipped;
            s.result.error =
                Some("not applied: the import is atomic and another object failed".into());
        }
    }
}

pub fn any_error(steps: &[Step]) -> bool {
    steps.iter().any(|s| s.result.action == Action::Error)
}
