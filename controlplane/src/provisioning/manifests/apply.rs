//! Applies what `load_dir` read, in named steps: tenants (with bootstrap admins), data sources,
//! dashboards, saved queries, policies, schedules, then pruning what left the folder, then the report.
//! Every write goes through the write path as the `manifests` actor.
use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
};

use nexbii_crds::Tenant;

use super::{name_of, Manifests};
use crate::{
    admin::{backups::recovery, ScheduleRecord},
    auth::{users::create_user_record, Role, UserRecord},
    bi::{
        dashboards::{self, DashboardRecord},
        datasources::{self, domain::SaveSource, DataSourceRecord},
        queries::{self, SavedQuery},
    },
    crypto::generate_password,
    governance::PolicyRecord,
    state::AppState,
    store::{write::Actor, Entity, Expect, Meta, Origin, StoreExt, TenantScope},
    tenant::TenantRecord,
};

pub const BOOTSTRAP_PASSWORD_ENV: &str = "NEXBII_BOOTSTRAP_PASSWORD";

const ACTOR: Actor = Actor::Manifests;

/// Outcome of one apply, for logs and tests.
#[derive(Debug, Default)]
pub struct Applied {
    pub tenants: usize,
    pub datasources: usize,
    pub dashboards: usize,
    pub queries: usize,
    pub policies: usize,
    pub schedules: usize,
    pub removed: usize,
    /// Tenants recovered from their backups (`spec.bootstrap.fromBackup`) by this apply.
    pub recovered: Vec<String>,
    pub problems: Vec<String>,
}

/// Names declared in the folder, per tenant and kind (what pruning keeps).
#[derive(Default)]
struct Declared {
    datasources: HashSet<String>,
    dashboards: HashSet<String>,
    queries: HashSet<String>,
    policies: HashSet<String>,
    schedules: HashSet<String>,
}

/// One apply's working state.
struct Run<'a> {
    state: &'a AppState,
    m: &'a Manifests,
    base: PathBuf,
    scopes: HashMap<String, TenantScope>,
    declared: HashMap<String, Declared>,
    out: Applied,
}

/// Applies everything in `m`. Objects whose tenant is not declared are reported, not applied.
pub async fn apply(state: &AppState, dir: &Path, m: &Manifests) -> anyhow::Result<Applied> {
    let mut run = Run {
        state,
        m,
        base: std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
        scopes: HashMap::new(),
        declared: HashMap::new(),
        out: Applied {
            problems: m.problems.clone(),
            ..Default::default()
        },
    };
    run.tenants().await?;
    run.datasources().await?;
    run.check_sources().await?;
    run.dashboards().await?;
    run.queries().await?;
    run.policies().await?;
    run.schedules().await?;
    run.prune_removed().await?;
    run.report();
    Ok(run.out)
}

/// Saves `rec` unless the stored one has the same content; `true` when written.
async fn save_if_changed<T: Entity + Clone>(
    state: &AppState,
    scope: &TenantScope,
    mut rec: T,
    same: impl Fn(&T) -> bool,
) -> anyhow::Result<bool> {
    let existing = state.store.get_as::<T>(scope, rec.id()).await?;
    if existing.as_ref().is_some_and(&same) {
        return Ok(false);
    }
    *rec.meta_mut() = existing
        .as_ref()
        .map(|e| e.meta().clone())
        .unwrap_or_default();
    let expect = existing.map_or(Expect::Absent, |e| Expect::Revision(e.meta().revision));
    state.writer.save(scope, &ACTOR, rec, expect).await?;
    Ok(true)
}

impl Run<'_> {
    /// The scope of an object's tenant, or a problem when that tenant is not in the folder.
    fn scope_of(&mut self, kind: &str, name: &str, tenant: &str) -> Option<TenantScope> {
        let scope = self.scopes.get(tenant).cloned();
        if scope.is_none() {
            self.out.problems.push(format!(
                "{kind}/{name}: tenant {tenant:?} is not declared in the folder"
            ));
        }
        scope
    }

    fn declared(&mut self, scope: &TenantScope) -> &mut Declared {
        self.declared.entry(scope.tenant().to_string()).or_default()
    }

    async fn tenants(&mut self) -> anyhow::Result<()> {
        let mut oidc_secrets = HashMap::new();
        for t in &self.m.tenants {
            let name = name_of(t);
            let scope = TenantScope::new(&name).expect("validated DNS label");
            // First, so the restored tenant record is then brought up to this spec.
            self.recover(&scope, t).await?;
            let rec = TenantRecord {
                name: name.clone(),
                spec: t.spec.clone(),
                origin: Origin::Manifests,
                meta: Meta::default(),
            };
            save_if_changed(self.state, &scope, rec, |e: &TenantRecord| {
                e.spec == t.spec && e.origin == Origin::Manifests
            })
            .await?;
            self.bootstrap_admins(&scope, t).await?;
            if let Some(secret) = self.oidc_client_secret(t) {
                oidc_secrets.insert(name.clone(), secret);
            }
            self.declared(&scope);
            self.scopes.insert(name, scope);
            self.out.tenants += 1;
        }
        // Kept in memory only (never in the store): a tenant that left the folder, or whose
        // Secret went, has no single sign-on any more.
        self.state.oidc.set_client_secrets(oidc_secrets);
        Ok(())
    }

    /// Recovers a fresh tenant from its backups when the Tenant asks for it. A failure stops
    /// the apply (and so the instance's start): serving an empty tenant in place of the one to
    /// recover would look like data loss.
    async fn recover(&mut self, scope: &TenantScope, t: &Tenant) -> anyhow::Result<()> {
        let Some(from) = t
            .spec
            .bootstrap
            .as_ref()
            .and_then(|b| b.from_backup.as_ref())
        else {
            return Ok(());
        };
        let name = scope.tenant();
        match recovery::recover(self.state, scope, from).await {
            Ok(None) => Ok(()),
            Ok(Some(r)) => {
                for (id, why) in &r.skipped {
                    self.out.problems.push(format!(
                        "Tenant/{name}: spec.bootstrap.fromBackup: archive {id} not adopted: {why}"
                    ));
                }
                tracing::info!(
                    tenant = name,
                    backup = %r.report.backup,
                    target_time = ?r.report.target_time,
                    replayed = r.report.replayed_changes,
                    adopted = r.adopted.len(),
                    journal_sequence = r.journal_sequence,
                    "tenant recovered from its backups"
                );
                self.out.recovered.push(name.to_string());
                Ok(())
            }
            Err(e) => Err(anyhow::anyhow!(
                "Tenant/{name}: spec.bootstrap.fromBackup: {e}"
            )),
        }
    }

    /// The client secret of the Tenant's single sign-on, from the Secrets in the folder.
    fn oidc_client_secret(&mut self, t: &Tenant) -> Option<String> {
        let r = &t.spec.auth.oidc.as_ref()?.client_secret_ref;
        let secret = self.m.secret(r);
        if secret.is_none() {
            self.out.problems.push(format!(
                "Tenant/{}: auth.oidc.clientSecretRef: Secret {}/{} not found",
                name_of(t),
                r.name,
                r.key
            ));
        }
        secret
    }

    /// Creates the Tenant's bootstrap admins that do not exist yet (never overwrites: the admin
    /// may have changed the password since).
    async fn bootstrap_admins(&mut self, scope: &TenantScope, t: &Tenant) -> anyhow::Result<()> {
        for admin in &t.spec.bootstrap_admins {
            if self
                .state
                .store
                .get_as::<UserRecord>(scope, &admin.username)
                .await?
                .is_some()
            {
                continue;
            }
            let (password, generated) = match &admin.password_secret_ref {
                Some(r) => match self.m.secret(r) {
                    Some(p) => (p, false),
                    None => {
                        self.out.problems.push(format!(
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
                self.state,
                scope,
                &ACTOR,
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

    async fn datasources(&mut self) -> anyhow::Result<()> {
        for ds in &self.m.datasources {
            let name = name_of(ds);
            let Some(scope) = self.scope_of("DataSource", &name, &ds.spec.tenant_ref.name) else {
                continue;
            };
            let password = match &ds.spec.password_secret_ref {
                Some(r) => match self.m.secret(r) {
                    Some(p) => Some(p),
                    None => {
                        self.out.problems.push(format!(
                            "DataSource/{name}: Secret {}/{} not found",
                            r.name, r.key
                        ));
                        continue;
                    }
                },
                None => None,
            };
            self.declared(&scope).datasources.insert(name.clone());
            let existing = self
                .state
                .store
                .get_as::<DataSourceRecord>(&scope, &name)
                .await?;
            let unchanged = existing.as_ref().is_some_and(|e| {
                datasources::domain::is_unchanged(
                    self.state,
                    &scope,
                    e,
                    &ds.spec,
                    password.as_deref(),
                    Origin::Manifests,
                    Some(&self.base),
                )
            });
            if unchanged {
                continue;
            }
            let save = SaveSource {
                name: &name,
                spec: ds.spec.clone(),
                password: Some(password),
                origin: Origin::Manifests,
                base_dir: Some(&self.base),
            };
            match datasources::domain::save(self.state, &scope, &ACTOR, existing.as_ref(), save)
                .await
            {
                Ok(_) => self.out.datasources += 1,
                Err(e) => self.out.problems.push(format!("DataSource/{name}: {e}")),
            }
        }
        Ok(())
    }

    /// Checks every declared source (concurrently: an unreachable host costs one connect
    /// timeout, not one per source); a source that does not answer is a problem with its reason.
    async fn check_sources(&mut self) -> anyhow::Result<()> {
        let state = self.state;
        let mut jobs = Vec::new();
        for (tenant, d) in &self.declared {
            let scope = self.scopes[tenant].clone();
            for name in d.datasources.iter().cloned() {
                if let Some(rec) = state
                    .store
                    .get_as::<DataSourceRecord>(&scope, &name)
                    .await?
                {
                    let scope = scope.clone();
                    jobs.push(async move {
                        let res = datasources::status::check(state, &scope, &rec).await;
                        (name, res)
                    });
                }
            }
        }
        for (name, res) in futures::future::join_all(jobs).await {
            match res {
                Ok((status, _)) if status.connected && status.last_error.is_none() => {}
                Ok((status, _)) => self.out.problems.push(format!(
                    "DataSource/{name}: {}",
                    status.last_error.as_deref().unwrap_or("not connected")
                )),
                Err(e) => self.out.problems.push(format!("DataSource/{name}: {e}")),
            }
        }
        Ok(())
    }

    async fn dashboards(&mut self) -> anyhow::Result<()> {
        for d in &self.m.dashboards {
            let name = name_of(d);
            let Some(scope) = self.scope_of("Dashboard", &name, &d.spec.tenant_ref.name) else {
                continue;
            };
            self.declared(&scope).dashboards.insert(name.clone());
            let existing = self
                .state
                .store
                .get_as::<DashboardRecord>(&scope, &name)
                .await?;
            // Saved on every apply: its widgets are validated again against today's sources.
            let saved = dashboards::domain::save(
                self.state,
                &scope,
                &ACTOR,
                existing.as_ref(),
                &name,
                d.spec.clone(),
                Origin::Manifests,
            )
            .await;
            match saved {
                Ok(rec) => {
                    for e in &rec.validation_errors {
                        self.out.problems.push(format!("Dashboard/{name}: {e}"));
                    }
                    self.out.dashboards += 1;
                }
                Err(e) => self.out.problems.push(format!("Dashboard/{name}: {e}")),
            }
        }
        Ok(())
    }

    /// Saved queries are checked like the API's (known source, read-only statement); one that
    /// fails is a problem and is not written.
    async fn queries(&mut self) -> anyhow::Result<()> {
        for q in &self.m.queries {
            let name = name_of(q);
            let Some(scope) = self.scope_of("SavedQuery", &name, &q.spec.tenant_ref.name) else {
                continue;
            };
            self.declared(&scope).queries.insert(name.clone());
            let rec = SavedQuery::from_spec(&name, &q.spec, ACTOR.label(), Origin::Manifests);
            let checked = queries::domain::check_saved(
                self.state,
                &scope,
                &rec.name,
                &rec.data_source,
                &rec.sql,
                &rec.params,
            )
            .await;
            if let Err(e) = checked {
                self.out.problems.push(format!("SavedQuery/{name}: {e}"));
                continue;
            }
            save_if_changed(self.state, &scope, rec.clone(), |e: &SavedQuery| {
                e.same_content(&rec) && e.origin == Origin::Manifests
            })
            .await?;
            self.out.queries += 1;
        }
        Ok(())
    }

    async fn policies(&mut self) -> anyhow::Result<()> {
        for p in &self.m.policies {
            let name = name_of(p);
            let Some(scope) = self.scope_of("GovernancePolicy", &name, &p.spec.tenant_ref.name)
            else {
                continue;
            };
            self.declared(&scope).policies.insert(name.clone());
            let rec = PolicyRecord {
                name,
                spec: p.spec.clone(),
                origin: Origin::Manifests,
                meta: Meta::default(),
            };
            save_if_changed(self.state, &scope, rec, |e: &PolicyRecord| {
                e.spec == p.spec && e.origin == Origin::Manifests
            })
            .await?;
            self.out.policies += 1;
        }
        Ok(())
    }

    async fn schedules(&mut self) -> anyhow::Result<()> {
        for s in &self.m.schedules {
            let name = name_of(s);
            let Some(scope) = self.scope_of("BackupSchedule", &name, &s.spec.tenant_ref.name)
            else {
                continue;
            };
            self.declared(&scope).schedules.insert(name.clone());
            let rec = ScheduleRecord {
                name,
                spec: s.spec.clone(),
                origin: Origin::Manifests,
                meta: Meta::default(),
            };
            save_if_changed(self.state, &scope, rec, |e: &ScheduleRecord| {
                e.spec == s.spec && e.origin == Origin::Manifests
            })
            .await?;
            self.out.schedules += 1;
        }
        Ok(())
    }

    /// Removes manifest-provisioned objects of declared tenants that left the folder.
    async fn prune_removed(&mut self) -> anyhow::Result<()> {
        for (tenant, d) in &self.declared {
            let scope = &self.scopes[tenant];
            let state = self.state;
            self.out.removed +=
                prune::<DataSourceRecord>(state, scope, &d.datasources, |r| r.origin).await?;
            self.out.removed +=
                prune::<DashboardRecord>(state, scope, &d.dashboards, |r| r.origin).await?;
            self.out.removed += prune::<SavedQuery>(state, scope, &d.queries, |r| r.origin).await?;
            self.out.removed +=
                prune::<PolicyRecord>(state, scope, &d.policies, |r| r.origin).await?;
            self.out.removed +=
                prune::<ScheduleRecord>(state, scope, &d.schedules, |r| r.origin).await?;
        }
        Ok(())
    }

    fn report(&self) {
        let out = &self.out;
        for p in &out.problems {
            tracing::warn!(problem = %p, "manifest not applied");
        }
        tracing::info!(
            tenants = out.tenants,
            datasources = out.datasources,
            dashboards = out.dashboards,
            queries = out.queries,
            policies = out.policies,
            schedules = out.schedules,
            removed = out.removed,
            problems = out.problems.len(),
            "manifests applied"
        );
    }
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
            state
                .writer
                .delete::<T>(scope, &ACTOR, rec.id(), None)
                .await?;
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
