//! Leader election on a `coordination.k8s.io/v1` Lease, so two operator replicas never both
//! reconcile. Hand-written (about 80 lines) because the crates offering it track older kube
//! releases; the algorithm is client-go's: renew while holding, take over only after expiry,
//! optimistic concurrency on resourceVersion decides races.
use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
};
use kube::{api::PostParams, Api, Client};
use tokio::sync::watch;

pub struct LeaderConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_every: Duration,
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

fn expired(spec: &LeaseSpec, duration: Duration) -> bool {
    let Some(MicroTime(renewed)) = &spec.renew_time else {
        return true;
    };
    let secs = spec
        .lease_duration_seconds
        .map(|s| s as u64)
        .unwrap_or(duration.as_secs());
    jiff::Timestamp::now().duration_since(*renewed) > jiff::SignedDuration::from_secs(secs as i64)
}

/// One round: returns whether this identity holds the lease afterwards.
async fn try_acquire(api: &Api<Lease>, cfg: &LeaderConfig) -> Result<bool, kube::Error> {
    let spec = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(cfg.lease_duration.as_secs() as i32),
        acquire_time: acquired.or_else(|| Some(now())),
        renew_time: Some(now()),
        lease_transitions: Some(transitions),
        ..Default::default()
    };
    let Some(mut lease) = api.get_opt(&cfg.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(cfg.name.clone()),
                ..Default::default()
            },
            spec: Some(spec(0, None)),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let current = lease.spec.clone().unwrap_or_default();
    let mine = current.holder_identity.as_deref() == Some(cfg.identity.as_str());
    if !mine && !expired(&current, cfg.lease_duration) {
        return Ok(false);
    }
    let transitions = current.lease_transitions.unwrap_or(0) + i32::from(!mine);
    lease.spec = Some(spec(
        transitions,
        if mine {
            current.acquire_time.clone()
        } else {
            None
        },
    ));
    // replace() carries the resourceVersion we read: a concurrent writer makes this a 409.
    match api.replace(&cfg.name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Runs forever, publishing leadership on the channel.
pub async fn run(client: Client, cfg: LeaderConfig, tx: watch::Sender<bool>) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    loop {
        let leading = match try_acquire(&api, &cfg).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "lease round failed");
                false
            }
        };
        if leading != *tx.borrow() {
            tracing::info!(identity = %cfg.identity, leading, "leadership changed");
        }
        let _ = tx.send(leading);
        tokio::time::sleep(cfg.renew_every).await;
    }
}
