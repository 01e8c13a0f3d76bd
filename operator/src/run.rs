//! Wiring: metrics/health server, leader election, one controller per kind, graceful shutdown.
use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{routing::get, Router};
use futures::StreamExt;
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, Service},
    networking::v1::NetworkPolicy,
};
use kube::{
    runtime::{
        events::{Recorder, Reporter},
        watcher, Controller,
    },
    Api, Client, Resource,
};
use nexbii_crds::{BackupSchedule, Dashboard, DataSource, GovernancePolicy, Tenant};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::{
    backup,
    context::{Ctx, Settings},
    leader::{self, LeaderConfig},
    metrics::Metrics,
    sync, tenant,
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
    let owned = watcher::Config::default().labels("app.kubernetes.io/managed-by=nexbii-operator");
    let tenants = Controller::new(api::<Tenant>(&client, &ns), watcher::Config::default())
        .owns(api::<Deployment>(&client, &ns), owned.clone())
        .owns(api::<Service>(&client, &ns), owned.clone())
        .owns(api::<ConfigMap>(&client, &ns), owned.clone())
        .owns(api::<NetworkPolicy>(&client, &ns), owned)
        .graceful_shutdown_on(shutdown(rx.clone()))
        .run(tenant::reconcile, tenant::error_policy, ctx.clone())
        .for_each(|_| async {});
    let datasources = Controller::new(api::<DataSource>(&client, &ns), watcher::Config::default())
        .graceful_shutdown_on(shutdown(rx.clone()))
        .run(
            sync::reconcile_datasource,
            sync::error_policy("DataSource"),
            ctx.clone(),
        )
        .for_each(|_| async {});
    let dashboards = Controller::new(api::<Dashboard>(&client, &ns), watcher::Config::default())
        .graceful_shutdown_on(shutdown(rx.clone()))
        .run(
            sync::reconcile_dashboard,
            sync::error_policy("Dashboard"),
            ctx.clone(),
        )
        .for_each(|_| async {});
    let policies = Controller::new(
        api::<GovernancePolicy>(&client, &ns),
        watcher::Config::default(),
    )
    .graceful_shutdown_on(shutdown(rx.clone()))
    .run(
        sync::reconcile_policy,
        sync::error_policy("GovernancePolicy"),
        ctx.clone(),
    )
    .for_each(|_| async {});
    let schedules = Controller::new(
        api::<BackupSchedule>(&client, &ns),
        watcher::Config::default(),
    )
    .graceful_shutdown_on(shutdown(rx.clone()))
    .run(backup::reconcile, backup::error_policy, ctx.clone())
    .for_each(|_| async {});
    tokio::join!(tenants, datasources, dashboards, policies, schedules);
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
