//! Wiring: metrics/health server, leader election, one controller per kind, graceful shutdown.
use std::{
    fmt::Debug,
    hash::{DefaultHasher, Hash, Hasher},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use axum::{routing::get, Router};
use futures::{channel::mpsc, Stream, StreamExt};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, Secret, Service},
    networking::v1::NetworkPolicy,
};
use kube::{
    core::PartialObjectMeta,
    runtime::{
        controller,
        events::{Recorder, Reporter},
        reflector::{self, ObjectRef, Store},
        watcher, Controller, PredicateConfig, WatchStreamExt,
    },
    Api, Client, Resource, ResourceExt,
};
use nexbii_crds::{
    Backup, BackupSchedule, Dashboard, DataSource, GovernancePolicy, Restore, SavedQuery, Tenant,
};
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::watch;

use crate::{
    backup, backups, builders,
    context::{Ctx, Settings},
    leader::{self, LeaderConfig},
    metrics::{Metrics, ObjectState},
    secrets, sync, tenant,
};

pub struct RunConfig {
    /// Watch one namespace; all namespaces when `None`.
    pub namespace: Option<String>,
    pub metrics_listen: SocketAddr,
    pub image: String,
    pub instance_url_template: Option<String>,
    pub lease_namespace: String,
    pub identity: String,
    pub resync: Duration,
    /// Reconciles running at once, per kind. Bounded so that a burst of objects queues in the
    /// operator instead of flooding the apiserver (and the operator's memory).
    pub concurrency: u16,
}

fn api<K>(client: &Client, ns: &Option<String>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// What wakes a reconcile of a primary object: its spec (generation), its finalizers, its
/// deletion. Status writes (the operator's own) and metadata-only edits do not.
fn spec_changes<K: Resource>(o: &K) -> Option<u64> {
    let m = o.meta();
    let mut h = DefaultHasher::new();
    (m.generation, &m.finalizers, m.deletion_timestamp.is_some()).hash(&mut h);
    Some(h.finish())
}

/// The watch of a primary kind: a reflector store for the controller (without managedFields,
/// which nothing reads and which make up much of a small object), `on_delete` for each deleted
/// object, and only the changes [`spec_changes`] lets through.
fn primary<K>(
    api: Api<K>,
    on_delete: impl Fn(&K) + Send + 'static,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .modify(|o: &mut K| o.meta_mut().managed_fields = None)
        .reflect(writer)
        .inspect(move |ev| {
            if let Ok(watcher::Event::Delete(o)) = ev {
                on_delete(o);
            }
        })
        .applied_objects()
        .predicate_filter(spec_changes, PredicateConfig::default());
    (reader, stream)
}

fn no_ready<K>(_: &K) -> Option<i32> {
    None
}

/// `policy/v1` PodDisruptionBudgets arrived in Kubernetes 1.21; older servers have v1beta1.
async fn pdb_version(client: &Client) -> String {
    match kube::discovery::oneshot::group(client, "policy").await {
        Ok(g) if g.versions().any(|v| v == "v1") => "policy/v1".into(),
        Ok(_) => "policy/v1beta1".into(),
        Err(e) => {
            tracing::warn!(error = %e, "discovery of the policy group failed; assuming policy/v1");
            "policy/v1".into()
        }
    }
}

/// The gauges' view of one kind's cache: whether each object's stored status says Ready.
fn object_states<K>(
    kind: &'static str,
    store: Store<K>,
) -> impl Fn() -> Vec<ObjectState> + Send + Sync + 'static
where
    K: Resource<DynamicType = ()> + Clone + Serialize + Send + Sync + 'static,
{
    move || {
        store
            .state()
            .iter()
            .map(|o| ObjectState {
                kind,
                namespace: o.namespace().unwrap_or_default(),
                name: o.name_any(),
                ready: is_ready(o.as_ref()),
                backup: None,
            })
            .collect()
    }
}

fn is_ready<K: Serialize>(o: &K) -> bool {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| {
            v.pointer("/status/conditions")?
                .as_array()?
                .iter()
                .find(|c| c["type"] == "Ready")
                .map(|c| c["status"] == "True")
        })
        .unwrap_or(false)
}

/// BackupSchedules add since when a backup is due and the last one that succeeded.
fn backup_states(
    store: Store<BackupSchedule>,
) -> impl Fn() -> Vec<ObjectState> + Send + Sync + 'static {
    let unix = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.timestamp())
    };
    move || {
        store
            .state()
            .iter()
            .map(|b| ObjectState {
                kind: backup::KIND,
                namespace: b.namespace().unwrap_or_default(),
                name: b.name_any(),
                ready: is_ready(b.as_ref()),
                backup: (!b.spec.suspend).then(|| {
                    (
                        b.creation_timestamp().map_or(0, |t| t.0.as_second()),
                        b.status
                            .as_ref()
                            .and_then(|s| s.last_successful_time.as_deref())
                            .and_then(unix),
                    )
                }),
            })
            .collect()
    }
}

async fn serve_metrics(listener: tokio::net::TcpListener, metrics: Metrics) {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move { m.render() }
            }),
        );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics server stopped");
    }
}

/// Runs until SIGINT/SIGTERM (Ok) or until leadership is lost (Err, so the pod restarts).
/// `metrics` is passed in so embedders (tests) can read it.
pub async fn run(client: Client, cfg: RunConfig, metrics: Metrics) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.metrics_listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "metrics and health listening");
    tokio::spawn(serve_metrics(listener, metrics.clone()));

    let (tx, mut rx) = watch::channel(false);
    tokio::spawn(leader::run(
        client.clone(),
        LeaderConfig {
            namespace: cfg.lease_namespace.clone(),
            name: "nexbii-operator".into(),
            identity: cfg.identity.clone(),
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(3),
        },
        tx,
    ));
    tracing::info!(identity = %cfg.identity, "waiting for leadership");
    while !*rx.borrow() {
        tokio::select! {
            r = rx.changed() => r?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
    metrics.leader.set(1);
    tracing::info!(identity = %cfg.identity, "leading: starting controllers");

    let settings = Settings {
        image: cfg.image,
        instance_url_template: cfg.instance_url_template,
        pdb_api_version: pdb_version(&client).await,
        resync: cfg.resync,
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "nexbii-operator".into(),
            instance: Some(cfg.identity.clone()),
        },
    );
    let ctx = Arc::new(Ctx::new(
        client.clone(),
        settings,
        metrics.clone(),
        recorder,
    ));
    let ns = cfg.namespace;
    let config = controller::Config::default().concurrency(cfg.concurrency);
    let o = ctx.owned.clone();
    let c = ctx.clone();
    let (tenant_store, tenant_stream) = primary(api::<Tenant>(&client, &ns), move |t: &Tenant| {
        if let Some(uid) = t.uid() {
            o.forget_tenant(&uid);
            c.applied_backup.lock().expect("lock").remove(&uid);
        }
    });
    let (source_store, source_stream) =
        primary(api::<DataSource>(&client, &ns), |_: &DataSource| {});
    let (schedule_store, schedule_stream) =
        primary(api::<BackupSchedule>(&client, &ns), |_: &BackupSchedule| {});

    // One metadata-only watch of Secrets for the three kinds that read them. The operator's
    // own Secrets and service-account tokens are never referenced by a spec: left out, so
    // that thousands of Tenants' generated Secrets cost neither events nor memory.
    let (tenant_tx, tenant_rx) = mpsc::channel(256);
    let (source_tx, source_rx) = mpsc::channel(256);
    let (schedule_tx, schedule_rx) = mpsc::channel(256);
    let secret_events = watcher(
        api::<PartialObjectMeta<Secret>>(&client, &ns),
        watcher::Config::default()
            .labels(&format!(
                "app.kubernetes.io/managed-by!={}",
                builders::FIELD_MANAGER
            ))
            .fields("type!=kubernetes.io/service-account-token"),
    )
    .default_backoff();
    let targets = secrets::Targets {
        tenants: (tenant_store.clone(), tenant_tx),
        datasources: (source_store.clone(), source_tx),
        schedules: (schedule_store.clone(), schedule_tx),
        owned: ctx.owned.clone(),
    };
    // Stopped from outside: it may be waiting to hand a controller that no longer listens.
    let stop = shutdown(rx.clone());
    let secret_watch = async move {
        tokio::select! {
            _ = secrets::trigger(secret_events, targets) => {}
            _ = stop => {}
        }
    };

    let owned = watcher::Config::default().labels("app.kubernetes.io/managed-by=nexbii-operator");
    let o = &ctx.owned;
    metrics.watch_objects(object_states(tenant::KIND, tenant_store.clone()));
    let tenants = Controller::for_stream(tenant_stream, tenant_store)
        .owns_stream(o.clone().filter(
            watcher(api::<Deployment>(&client, &ns), owned.clone()),
            |d: &Deployment| {
                Some(
                    d.status
                        .as_ref()
                        .and_then(|s| s.ready_replicas)
                        .unwrap_or(0),
                )
            },
        ))
        .owns_stream(o.clone().filter(
            watcher(
                api::<PartialObjectMeta<Service>>(&client, &ns),
                owned.clone(),
            ),
            no_ready,
        ))
        .owns_stream(o.clone().filter(
            watcher(
                api::<PartialObjectMeta<ConfigMap>>(&client, &ns),
                owned.clone(),
            ),
            no_ready,
        ))
        .owns_stream(o.clone().filter(
            watcher(api::<PartialObjectMeta<NetworkPolicy>>(&client, &ns), owned),
            no_ready,
        ))
        // A schedule's destination is rendered into its Tenant's Deployment.
        .watches_stream(
            watcher(
                api::<BackupSchedule>(&client, &ns),
                watcher::Config::default(),
            )
            .default_backoff()
            .applied_objects()
            .predicate_filter(spec_changes, PredicateConfig::default()),
            |s: BackupSchedule| {
                s.namespace()
                    .map(|ns| ObjectRef::new(&s.spec.tenant_ref.name).within(&ns))
            },
        )
        .reconcile_on(tenant_rx)
        .with_config(config.clone())
        .graceful_shutdown_on(shutdown(rx.clone()))
        .run(tenant::reconcile, tenant::error_policy, ctx.clone())
        .for_each(|_| async {});
    metrics.watch_objects(object_states("DataSource", source_store.clone()));
    let datasources = Controller::for_stream(source_stream, source_store)
        .reconcile_on(source_rx)
        .with_config(config.clone())
        .graceful_shutdown_on(shutdown(rx.clone()))
        .run(
            sync::reconcile_datasource,
            sync::error_policy("DataSource"),
            ctx.clone(),
        )
        .for_each(|_| async {});
    let (reader, stream) = primary(api::<Dashboard>(&client, &ns), |_: &Dashboard| {});
    metrics.watch_objects(object_states("Dashboard", reader.clone()));
    let dashboards = Controller::for_stream(stream, reader)
        .with_config(config.clone())
        .graceful_shutdown_on(shutdown(rx.clone()))
        .run(
            sync::reconcile_dashboard,
            sync::error_policy("Dashboard"),
            ctx.clone(),
        )
        .for_each(|_| async {});
    let (reader, stream) = primary(api::<SavedQuery>(&client, &ns), |_: &SavedQuery| {});
    metrics.watch_objects(object_states("SavedQuery", reader.clone()));
    let saved_queries = Controller::for_stream(stream, reader)
        .with_config(config.clone())
        .graceful_shutdown_on(shutdown(rx.clone()))
        .run(
            sync::reconcile_saved_query,
            sync::error_policy("SavedQuery"),
            ctx.clone(),
        )
        .for_each(|_| async {});
    let (reader, stream) = primary(
        api::<GovernancePolicy>(&client, &ns),
        |_: &GovernancePolicy| {},
    );
    metrics.watch_objects(object_states("GovernancePolicy", reader.clone()));
    let policies = Controller::for_stream(stream, reader)
        .with_config(config.clone())
        .graceful_shutdown_on(shutdown(rx.clone()))
        .run(
            sync::reconcile_policy,
            sync::error_policy("GovernancePolicy"),
            ctx.clone(),
        )
        .for_each(|_| async {});
    metrics.watch_objects(backup_states(schedule_store.clone()));
    let schedules = Controller::for_stream(schedule_stream, schedule_store)
        // A run's progress (its Backup's status) updates the schedule's status.
        .owns(api::<Backup>(&client, &ns), watcher::Config::default())
        .reconcile_on(schedule_rx)
        .with_config(config.clone())
        .graceful_shutdown_on(shutdown(rx.clone()))
        .run(backup::reconcile, backup::error_policy, ctx.clone())
        .for_each(|_| async {});
    let (reader, stream) = primary(api::<Backup>(&client, &ns), |_: &Backup| {});
    metrics.watch_objects(object_states(backups::BACKUP_KIND, reader.clone()));
    let backup_runs = Controller::for_stream(stream, reader)
        .with_config(config.clone())
        .graceful_shutdown_on(shutdown(rx.clone()))
        .run(
            backups::reconcile_backup,
            backups::error_policy_backup,
            ctx.clone(),
        )
        .for_each(|_| async {});
    let (reader, stream) = primary(api::<Restore>(&client, &ns), |_: &Restore| {});
    metrics.watch_objects(object_states(backups::RESTORE_KIND, reader.clone()));
    let restores = Controller::for_stream(stream, reader)
        .with_config(config)
        .graceful_shutdown_on(shutdown(rx.clone()))
        .run(
            backups::reconcile_restore,
            backups::error_policy_restore,
            ctx.clone(),
        )
        .for_each(|_| async {});
    tokio::join!(
        tenants,
        datasources,
        dashboards,
        saved_queries,
        policies,
        schedules,
        backup_runs,
        restores,
        secret_watch
    );
    metrics.leader.set(0);
    if !*rx.borrow() {
        // Another replica may be reconciling now; exit so the Deployment restarts us as a follower.
        anyhow::bail!("lost leadership");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT/SIGTERM, or when leadership is lost.
async fn shutdown(mut rx: watch::Receiver<bool>) {
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    let lost = async {
        while rx.changed().await.is_ok() {
            if !*rx.borrow() {
                return;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
        _ = lost => tracing::error!("leadership lost"),
    }
}
