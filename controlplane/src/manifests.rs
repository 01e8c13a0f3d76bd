//! Loads Tenant / DataSource / Dashboard / GovernancePolicy / BackupSchedule YAML (the CRD
//! shapes) plus v1 Secrets from a folder and applies them; re-applies when the folder changes.
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chrono::Utc;
use nexbii_crds::{
    BackupSchedule, Dashboard, DataSource, GovernancePolicy, SecretKeyRef, Tenant, Validate,
    API_VERSION,
};
use serde::Deserialize;
use serde_json::Value;

use crate::{
    auth::create_user_record,
    crypto::generate_password,
    dashboards, datasources,
    models::{
        DashboardRecord, DataSourceRecord, Origin, PolicyRecord, Role, ScheduleRecord,
        TenantRecord, UserRecord,
    },
    state::AppState,
    store::{Collection, Entity, StoreExt, TenantScope},
};

pub const BOOTSTRAP_PASSWORD_ENV: &str = "NEXBII_BOOTSTRAP_PASSWORD";

/// Everything read from the folder; `problems` names each skipped document and why.
#[derive(Default)]
pub struct Manifests {
    pub tenants: Vec<Tenant>,
    pub datasources: Vec<DataSource>,
    pub dashboards: Vec<Dashboard>,
    pub policies: Vec<GovernancePolicy>,
    pub schedules: Vec<BackupSchedule>,
    /// Secret name -> key -> value.
    pub secrets: HashMap<String, BTreeMap<String, String>>,
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
struct SecretDoc {
    metadata: Meta,
    #[serde(default, rename = "stringData")]
    string_data: BTreeMap<String, String>,
    #[serde(default)]
    data: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
}

fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Changes when any YAML file is added, removed or modified.
pub fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    yaml_files(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).ok();
            let len = m.as_ref().map(|m| m.len()).unwrap_or(0);
            let mtime = m.and_then(|m| m.modified().ok());
            (p, len, mtime)
        })
        .collect()
}

fn typed<T: serde::de::DeserializeOwned>(
    doc: Value,
    file: &Path,
    problems: &mut Vec<String>,
) -> Option<T> {
    let res: Result<T, _> = serde_path_to_error::deserialize(doc);
    match res {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!(
                "{}: field {}: {}",
                file.display(),
                e.path(),
                e.inner()
            ));
            None
        }
    }
}

fn check<S: Validate>(
    name: &str,
    kind: &str,
    spec: &S,
    file: &Path,
    problems: &mut Vec<String>,
) -> bool {
    let errs = spec.validate();
    for e in &errs {
        problems.push(format!("{}: {kind}/{name}: {e}", file.display()));
    }
    errs.is_empty()
}

pub fn load_dir(dir: &Path) -> std::io::Result<Manifests> {
    let mut m = Manifests::default();
    for file in yaml_files(dir)? {
        let text = std::fs::read_to_string(&file)?;
        for (i, de) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let doc: Value = match Value::deserialize(de) {
                Ok(Value::Null) => continue,
                Ok(v) => v,
                Err(e) => {
                    m.problems
                        .push(format!("{}: document {i}: {e}", file.display()));
                    continue;
                }
            };
            let kind = doc
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let api = doc
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let name = doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if kind == "Secret" && api == "v1" {
                if let Some(s) = typed::<SecretDoc>(doc, &file, &mut m.problems) {
                    let mut values = s.string_data;
                    for (k, v) in s.data {
                        match B64
                            .decode(v.trim())
                            .ok()
                            .and_then(|b| String::from_utf8(b).ok())
                        {
                            Some(v) => {
                                values.entry(k).or_insert(v);
                            }
                            None => m.problems.push(format!(
                                "{}: Secret/{}: data.{k} is not base64 UTF-8",
                                file.display(),
                                s.metadata.name
                            )),
                        }
                    }
                    m.secrets.insert(s.metadata.name, values);
                }
                continue;
            }
            if api != API_VERSION {
                m.problems.push(format!(
                    "{}: document {i}: skipped {api}/{kind}",
                    file.display()
                ));
                continue;
            }
            if !nexbii_crds::validate::is_dns_label(&name) {
                m.problems.push(format!(
                    "{}: {kind}: metadata.name {name:?} must be a DNS label",
                    file.display()
                ));
                continue;
            }
            let p = &mut m.problems;
            match kind.as_str() {
                "Tenant" => {
                    if let Some(t) = typed::<Tenant>(doc, &file, p)
                        .filter(|t| check(&name, &kind, &t.spec, &file, p))
                    {
                        m.tenants.push(t)
                    }
                }
                "DataSource" => {
                    if let Some(t) = typed::<DataSource>(doc, &file, p)
                        .filter(|t| check(&name, &kind, &t.spec, &file, p))
                    {
                        m.datasources.push(t)
                    }
                }
                "Dashboard" => {
                    if let Some(t) = typed::<Dashboard>(doc, &file, p)
                        .filter(|t| check(&name, &kind, &t.spec, &file, p))
                    {
                        m.dashboards.push(t)
                    }
                }
                "GovernancePolicy" => {
                    if let Some(t) = typed::<GovernancePolicy>(doc, &file, p)
                        .filter(|t| check(&name, &kind, &t.spec, &file, p))
                    {
                        m.policies.push(t)
                    }
                }
                "BackupSchedule" => {
                    if let Some(t) = typed::<BackupSchedule>(doc, &file, p)
                        .filter(|t| check(&name, &kind, &t.spec, &file, p))
                    {
                        m.schedules.push(t)
                    }
                }
                other => p.push(format!("{}: unknown kind {other}", file.display())),
            }
        }
    }
    Ok(m)
}

fn name_of<K: kube::Resource>(r: &K) -> String {
    r.meta().name.clone().unwrap_or_default()
}

impl Manifests {
    fn secret(&self, r: &SecretKeyRef) -> Option<String> {
        self.secrets
            .get(&r.name)
            .and_then(|s| s.get(&r.key))
            .cloned()
    }
}

/// Outcome of one apply, for logs and tests.
#[derive(Debug, Default)]
pub struct Applied {
    pub tenants: usize,
    pub datasources: usize,
    pub dashboards: usize,
    pub policies: usize,
    pub schedules: usize,
    pub removed: usize,
    pub problems: Vec<String>,
}

/// Removes manifest-provisioned records of `T` that are no longer in the folder.
async fn prune<T: Entity>(
    state: &AppState,
    scope: &TenantScope,
    keep: &HashSet<String>,
    origin_of: fn(&T) -> Origin,
) -> anyhow::Result<usize> {
    let mut removed = 0;
    for rec in state.store.list_as::<T>(scope).await? {
        if origin_of(&rec) == Origin::Manifests && !keep.contains(rec.id()) {
            state.store.delete(scope, T::COLLECTION, rec.id()).await?;
            if T::COLLECTION == Collection::DataSources {
                state.engine.forget(scope, rec.id());
            }
            tracing::info!(
                tenant = scope.tenant(),
                collection = T::COLLECTION.name(),
                name = rec.id(),
                "removed (no longer in manifests)"
            );
            removed += 1;
        }
    }
    Ok(removed)
}

async fn ensure_admins(
    state: &AppState,
    scope: &TenantScope,
    t: &Tenant,
    m: &Manifests,
    out: &mut Applied,
) -> anyhow::Result<()> {
    for admin in &t.spec.bootstrap_admins {
        if state
            .store
            .get_as::<UserRecord>(scope, &admin.username)
            .await?
            .is_some()
        {
            continue; // never overwrite: the admin may have changed the password since
        }
        let (password, generated) = match &admin.password_secret_ref {
            Some(r) => match m.secret(r) {
                Some(p) => (p, false),
                None => {
                    out.problems.push(format!(
                        "Tenant/{}: bootstrap admin {}: Secret {}/{} not found",
                        scope.tenant(),
                        admin.username,
                        r.name,
                        r.key
                    ));
                    continue;
                }
            },
            None => match std::env::var(BOOTSTRAP_PASSWORD_ENV) {
                Ok(p) if !p.is_empty() => (p, false),
                _ => (generate_password(), true),
            },
        };
        create_user_record(
            state,
            scope,
            &admin.username,
            admin.email.clone(),
            Role::Admin,
            password.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        if generated {
            // Printed once, to the terminal only: it is not in the store and not in the logs.
            println!(
                "\n  NexBII bootstrap admin for tenant {:?}\n    username: {}\n    password: {}\n  (shown once; change it after the first login)\n",
                scope.tenant(),
                admin.username,
                password
            );
        }
        tracing::info!(tenant = scope.tenant(), username = %admin.username, "bootstrap admin created");
    }
    Ok(())
}

/// Applies everything in `m`. Objects whose tenant is not declared are reported, not applied.
pub async fn apply(state: &AppState, dir: &Path, m: &Manifests) -> anyhow::Result<Applied> {
    let mut out = Applied {
        problems: m.problems.clone(),
        ..Default::default()
    };
    let mut scopes: HashMap<String, TenantScope> = HashMap::new();
    for t in &m.tenants {
        let name = name_of(t);
        let scope = TenantScope::new(&name).expect("validated DNS label");
        let rec = TenantRecord {
            name: name.clone(),
            spec: t.spec.clone(),
            origin: Origin::Manifests,
            updated_at: Utc::now(),
        };
        state.store.upsert_as(&scope, &rec).await?;
        ensure_admins(state, &scope, t, m, &mut out).await?;
        scopes.insert(name, scope);
        out.tenants += 1;
    }
    let base = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut keep: HashMap<&str, [HashSet<String>; 4]> = scopes
        .keys()
        .map(|k| (k.as_str(), Default::default()))
        .collect();
    macro_rules! scope_or_skip {
        ($kind:literal, $obj:expr, $tenant:expr) => {
            match scopes.get($tenant) {
                Some(s) => s,
                None => {
                    out.problems.push(format!(
                        "{}/{}: tenant {:?} is not declared in the folder",
                        $kind,
                        name_of($obj),
                        $tenant
                    ));
                    continue;
                }
            }
        };
    }
    for ds in &m.datasources {
        let scope = scope_or_skip!("DataSource", ds, &ds.spec.tenant_ref.name);
        let name = name_of(ds);
        let password = match &ds.spec.password_secret_ref {
            Some(r) => match m.secret(r) {
                Some(p) => Some(p),
                None => {
                    out.problems.push(format!(
                        "DataSource/{name}: Secret {}/{} not found",
                        r.name, r.key
                    ));
                    continue;
                }
            },
            None => None,
        };
        keep.get_mut(scope.tenant()).expect("declared")[0].insert(name.clone());
        let existing = state.store.get_as::<DataSourceRecord>(scope, &name).await?;
        let unchanged = existing.as_ref().is_some_and(|e| {
            datasources::is_unchanged(
                state,
                scope,
                e,
                &ds.spec,
                password.as_deref(),
                Origin::Manifests,
                Some(&base),
            )
        });
        if unchanged {
            continue;
        }
        match datasources::upsert(
            state,
            scope,
            &name,
            ds.spec.clone(),
            Some(password),
            Origin::Manifests,
            Some(&base),
        )
        .await
        {
            Ok(_) => out.datasources += 1,
            Err(e) => out.problems.push(format!("DataSource/{name}: {e}")),
        }
    }
    for d in &m.dashboards {
        let scope = scope_or_skip!("Dashboard", d, &d.spec.tenant_ref.name);
        let name = name_of(d);
        keep.get_mut(scope.tenant()).expect("declared")[1].insert(name.clone());
        match dashboards::upsert(
            state,
            scope,
            &name,
            d.spec.clone(),
            Origin::Manifests,
            "manifests",
        )
        .await
        {
            Ok(rec) => {
                for e in &rec.validation_errors {
                    out.problems.push(format!("Dashboard/{name}: {e}"));
                }
                out.dashboards += 1;
            }
            Err(e) => out.problems.push(format!("Dashboard/{name}: {e}")),
        }
    }
    for p in &m.policies {
        let scope = scope_or_skip!("GovernancePolicy", p, &p.spec.tenant_ref.name);
        let name = name_of(p);
        keep.get_mut(scope.tenant()).expect("declared")[2].insert(name.clone());
        let rec = PolicyRecord {
            name,
            spec: p.spec.clone(),
            origin: Origin::Manifests,
            updated_at: Utc::now(),
        };
        state.store.upsert_as(scope, &rec).await?;
        out.policies += 1;
    }
    for s in &m.schedules {
        let scope = scope_or_skip!("BackupSchedule", s, &s.spec.tenant_ref.name);
        let name = name_of(s);
        keep.get_mut(scope.tenant()).expect("declared")[3].insert(name.clone());
        let rec = ScheduleRecord {
            name,
            spec: s.spec.clone(),
            origin: Origin::Manifests,
            updated_at: Utc::now(),
        };
        state.store.upsert_as(scope, &rec).await?;
        out.schedules += 1;
    }
    for (tenant, [ds, dash, pol, sch]) in &keep {
        let scope = &scopes[*tenant];
        out.removed += prune::<DataSourceRecord>(state, scope, ds, |r| r.origin).await?;
        out.removed += prune::<DashboardRecord>(state, scope, dash, |r| r.origin).await?;
        out.removed += prune::<PolicyRecord>(state, scope, pol, |r| r.origin).await?;
        out.removed += prune::<ScheduleRecord>(state, scope, sch, |r| r.origin).await?;
    }
    for p in &out.problems {
        tracing::warn!(problem = %p, "manifest not applied");
    }
    tracing::info!(
        tenants = out.tenants,
        datasources = out.datasources,
        dashboards = out.dashboards,
        policies = out.policies,
        schedules = out.schedules,
        removed = out.removed,
        problems = out.problems.len(),
        "manifests applied"
    );
    Ok(out)
}

pub async fn load_and_apply(state: &AppState, dir: &Path) -> anyhow::Result<Applied> {
    let m = load_dir(dir)?;
    apply(state, dir, &m).await
}

/// Re-applies the folder whenever its files change. Polling (not inotify) because Kubernetes
/// updates mounted ConfigMaps by swapping a symlink, which file watchers commonly miss.
pub async fn watch(state: std::sync::Arc<AppState>, dir: PathBuf, every: Duration) {
    let mut last = fingerprint(&dir);
    loop {
        tokio::time::sleep(every).await;
        let now = fingerprint(&dir);
        if now != last {
            last = now;
            if let Err(e) = load_and_apply(&state, &dir).await {
                tracing::error!(error = %e, dir = %dir.display(), "re-applying manifests failed");
            }
        }
    }
}
