//! Health alerting: thresholds from the tenant's settings (`alerts`) checked against the
//! monitoring figures every minute. Deciding what fires and what clears is pure; the loop
//! stores the transitions (so replicas and restarts do not repeat them) and tells admins
//! (inbox), webhooks (`alert.fired`, `alert.cleared`) and, through the alerts the operator
//! reads, the Tenant's status and Kubernetes Events.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use nexbii_crds::settings::AlertSettings;
use serde_json::json;

use super::model::{ActiveAlert, AlertEvent, AlertKind, AlertsRecord, Firing, Transition};
use crate::{
    bi::datasources::status::SourceStatus,
    events::{emit, Notice},
    state::AppState,
    store::{write::Actor, Expect, StoreExt, TenantScope},
    telemetry::{now_s, windows::Figures, windows::Window},
};

/// Transitions kept in the record.
const RECENT: usize = 100;

/// What the thresholds are checked against.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The tenant's requests over the last 5 minutes.
    pub requests: Figures,
    /// Each data source and whether its last check connected (`None`: not checked yet).
    pub sources: Vec<(String, Option<bool>, Option<String>)>,
    pub disk_free_bytes: Option<u64>,
    pub disk_total_bytes: Option<u64>,
}

/// What fires now.
pub fn evaluate(t: &AlertSettings, i: &Inputs) -> Vec<Firing> {
    let mut out = Vec::new();
    if !t.enabled {
        return out;
    }
    let r = &i.requests;
    if r.count >= u64::from(t.min_requests) {
        let pct = r.error_rate * 100.0;
        if pct > t.error_rate_percent {
            out.push(Firing {
                key: "errorRate".into(),
                kind: AlertKind::ErrorRate,
                subject: None,
                value: pct,
                threshold: t.error_rate_percent,
                message: format!(
                    "{pct:.1}% of the last 5 minutes' {} requests failed (threshold {}%)",
                    r.count, t.error_rate_percent
                ),
            });
        }
        if let Some(p95) = r.p95_ms.filter(|p| *p > f64::from(t.p95_latency_ms)) {
            out.push(Firing {
                key: "latency".into(),
                kind: AlertKind::Latency,
                subject: None,
                value: p95,
                threshold: f64::from(t.p95_latency_ms),
                message: format!(
                    "p95 latency {p95:.0} ms over the last 5 minutes (threshold {} ms)",
                    t.p95_latency_ms
                ),
            });
        }
    }
    if t.data_source_down {
        for (name, connected, error) in &i.sources {
            if *connected == Some(false) {
                out.push(Firing {
                    key: format!("dataSourceDown:{name}"),
                    kind: AlertKind::DataSourceDown,
                    subject: Some(name.clone()),
                    value: 0.0,
                    threshold: 1.0,
                    message: format!(
                        "data source {name} is unreachable: {}",
                        error.as_deref().unwrap_or("its last check failed")
                    ),
                });
            }
        }
    }
    if let (Some(free), Some(total)) = (i.disk_free_bytes, i.disk_total_bytes) {
        if total > 0 {
            let pct = free as f64 * 100.0 / total as f64;
            if pct < t.disk_free_percent {
                out.push(Firing {
                    key: "diskFree".into(),
                    kind: AlertKind::DiskFree,
                    subject: None,
                    value: pct,
                    threshold: t.disk_free_percent,
                    message: format!(
                        "{pct:.1}% of the data directory's disk is free (threshold {}%)",
                        t.disk_free_percent
                    ),
                });
            }
        }
    }
    out
}

/// The alerts active after this evaluation, and the transitions that got there.
pub fn transition(
    active: &BTreeMap<String, ActiveAlert>,
    firing: &[Firing],
    at: DateTime<Utc>,
) -> (BTreeMap<String, ActiveAlert>, Vec<AlertEvent>) {
    let mut next = BTreeMap::new();
    let mut events = Vec::new();
    for f in firing {
        let since = match active.get(&f.key) {
            Some(a) => a.since,
            None => {
                events.push(AlertEvent {
                    key: f.key.clone(),
                    kind: f.kind,
                    subject: f.subject.clone(),
                    transition: Transition::Fired,
                    at,
                    value: f.value,
                    threshold: f.threshold,
                    message: f.message.clone(),
                });
                at
            }
        };
        next.insert(
            f.key.clone(),
            ActiveAlert {
                kind: f.kind,
                subject: f.subject.clone(),
                since,
                value: f.value,
                threshold: f.threshold,
                message: f.message.clone(),
            },
        );
    }
    for (key, a) in active {
        if !next.contains_key(key) {
            events.push(AlertEvent {
                key: key.clone(),
                kind: a.kind,
                subject: a.subject.clone(),
                transition: Transition::Cleared,
                at,
                value: a.value,
                threshold: a.threshold,
                message: format!("cleared: {}", a.message),
            });
        }
    }
    (next, events)
}

/// Figures of one tenant now.
async fn inputs(
    state: &AppState,
    scope: &TenantScope,
    disk: (Option<u64>, Option<u64>),
) -> anyhow::Result<Inputs> {
    let now = now_s();
    let requests = state
        .metrics
        .telemetry
        .requests
        .read(scope.tenant(), |r| {
            r.overall
                .window(now, Window::M5)
                .figures(Window::M5.seconds() as f64)
        })
        .unwrap_or_default();
    let sources = state
        .store
        .list_as::<SourceStatus>(scope)
        .await?
        .into_iter()
        .map(|s| (s.name, Some(s.connected), s.last_error))
        .collect();
    Ok(Inputs {
        requests,
        sources,
        disk_free_bytes: disk.0,
        disk_total_bytes: disk.1,
    })
}

/// Evaluates one tenant, stores and announces what changed. Returns the transitions.
pub async fn check_tenant(
    state: &AppState,
    scope: &TenantScope,
    disk: (Option<u64>, Option<u64>),
) -> anyhow::Result<Vec<AlertEvent>> {
    let settings = crate::admin::settings::effective(state, scope).await?;
    let firing = evaluate(
        &settings.settings.alerts,
        &inputs(state, scope, disk).await?,
    );
    let stored = state
        .store
        .get_as::<AlertsRecord>(scope, AlertsRecord::ID)
        .await?;
    let (expect, mut rec) = match stored {
        Some(r) => (Expect::Revision(r.meta.revision), r),
        None => (
            Expect::Absent,
            AlertsRecord {
                id: AlertsRecord::ID.into(),
                ..Default::default()
            },
        ),
    };
    let now = Utc::now();
    let (active, events) = transition(&rec.active, &firing, now);
    for a in active.keys() {
        state
            .metrics
            .alerts_firing
            .with_label_values(&[scope.tenant(), a])
            .set(1.0);
    }
    if events.is_empty() && expect != Expect::Absent {
        return Ok(events);
    }
    rec.active = active;
    rec.recent.extend(events.iter().cloned());
    let excess = rec.recent.len().saturating_sub(RECENT);
    rec.recent.drain(..excess);
    rec.evaluated_at = Some(now);
    match state.writer.save(scope, &Actor::System, rec, expect).await {
        Ok(_) => {}
        // Another replica recorded this minute's transitions first: it tells them.
        Err(crate::store::write::WriteError::Store(
            crate::store::StoreError::Stale { .. } | crate::store::StoreError::Conflict(_),
        )) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    }
    announce(
        state,
        scope,
        &events,
        settings.settings.notifications.notify_admins_on_alerts,
    )
    .await;
    Ok(events)
}

async fn announce(state: &AppState, scope: &TenantScope, events: &[AlertEvent], inbox: bool) {
    if events.is_empty() {
        return;
    }
    let admins: Vec<String> = if inbox {
        match crate::auth::users::admin_usernames(state, scope).await {
            Ok(admins) => admins,
            Err(e) => {
                tracing::warn!(tenant = scope.tenant(), error = %e, "alert recipients unknown");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    for e in events {
        let (kind, verb) = match e.transition {
            Transition::Fired => ("alert.fired", "fired"),
            Transition::Cleared => ("alert.cleared", "cleared"),
        };
        state
            .metrics
            .alert_transitions
            .with_label_values(&[scope.tenant(), e.kind.as_str(), verb])
            .inc();
        if e.transition == Transition::Cleared {
            state
                .metrics
                .alerts_firing
                .with_label_values(&[scope.tenant(), &e.key])
                .set(0.0);
        }
        let notice = Notice {
            kind,
            title: format!("Alert {verb}: {}", e.key),
            body: e.message.clone(),
            link: Some("/api/v1/admin/alerts".into()),
        };
        let data = json!({"alert": e});
        if let Err(err) = emit(state, scope, &admins, &notice, data).await {
            tracing::warn!(tenant = scope.tenant(), error = %err, "alert not announced");
        }
        tracing::warn!(
            tenant = scope.tenant(),
            alert = e.key,
            transition = verb,
            "{}",
            e.message
        );
    }
}

/// Checks every tenant's alerts every `interval`, for the life of the server.
pub async fn watch(state: std::sync::Arc<AppState>, interval: std::time::Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let tenants = match crate::store::Store::tenants(state.store.as_ref()).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "alerts: tenants unknown");
                continue;
            }
        };
        let (dir, store_bytes) = crate::admin::monitoring::domain::data_dir(&state).await;
        let sample = state.metrics.telemetry.resources.sample(&dir, store_bytes);
        let disk = (sample.disk_free_bytes, sample.disk_total_bytes);
        for scope in tenants {
            if let Err(e) = check_tenant(&state, &scope, disk).await {
                tracing::warn!(tenant = scope.tenant(), error = %e, "alerts not evaluated");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(count: u64, errors: u64, p95: Option<f64>) -> Figures {
        Figures {
            count,
            errors,
            error_rate: if count == 0 {
                0.0
            } else {
                errors as f64 / count as f64
            },
            p95_ms: p95,
            ..Default::default()
        }
    }

    #[test]
    fn twenty_requests_of_which_five_fail_cross_a_five_percent_threshold() {
        let t = AlertSettings::default();
        let i = Inputs {
            requests: figures(20, 5, Some(100.0)),
            ..Default::default()
        };
        let f = evaluate(&t, &i);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].key, "errorRate");
        assert_eq!(f[0].value, 25.0);
        // Below the minimum number of requests: quiet.
        let few = Inputs {
            requests: figures(19, 5, Some(100.0)),
            ..Default::default()
        };
        assert!(evaluate(&t, &few).is_empty());
    }

    #[test]
    fn latency_sources_and_disk_fire_on_their_thresholds() {
        let t = AlertSettings {
            p95_latency_ms: 500,
            disk_free_percent: 10.0,
            ..Default::default()
        };
        let i = Inputs {
            requests: figures(40, 0, Some(800.0)),
            sources: vec![
                ("pg".into(), Some(false), Some("refused".into())),
                ("ok".into(), Some(true), None),
                ("new".into(), None, None),
            ],
            disk_free_bytes: Some(5),
            disk_total_bytes: Some(100),
        };
        let keys: Vec<String> = evaluate(&t, &i).into_iter().map(|f| f.key).collect();
        assert_eq!(keys, ["latency", "dataSourceDown:pg", "diskFree"]);
        let off = AlertSettings {
            enabled: false,
            ..t
        };
        assert!(evaluate(&off, &i).is_empty());
    }

    #[test]
    fn alerts_fire_once_keep_their_start_and_clear_when_recovered() {
        let t0 = Utc::now();
        let f = |key: &str, v: f64| Firing {
            key: key.into(),
            kind: AlertKind::ErrorRate,
            subject: None,
            value: v,
            threshold: 5.0,
            message: format!("{v}"),
        };
        let (a1, e1) = transition(&BTreeMap::new(), &[f("errorRate", 25.0)], t0);
        assert_eq!(e1.len(), 1);
        assert_eq!(e1[0].transition, Transition::Fired);
        let t1 = t0 + chrono::Duration::minutes(1);
        let (a2, e2) = transition(&a1, &[f("errorRate", 30.0)], t1);
        assert!(e2.is_empty(), "still firing: no new event");
        assert_eq!(a2["errorRate"].since, t0);
        assert_eq!(a2["errorRate"].value, 30.0);
        let (a3, e3) = transition(&a2, &[], t1);
        assert!(a3.is_empty());
        assert_eq!(e3[0].transition, Transition::Cleared);
        assert_eq!(e3[0].key, "errorRate");
    }
}
