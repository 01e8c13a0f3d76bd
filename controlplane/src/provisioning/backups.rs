//! The operator's side of backups: the `Backup` and `Restore` custom resources become calls
//! here, authenticated by the instance's operator token. They reuse the admin backup domain
//! (the same runs, retention, records and restore), acting as `Actor::Operator`.
//!
//! The destination belongs to the instance: it backs up to, and restores from, the destination
//! it was configured with. A request names the destination its resource declares, and one that
//! differs is refused (422 `destination`) rather than silently written elsewhere. Destinations
//! are compared by a normalised description (volume path, or S3 bucket and prefix), never by
//! credentials.
use std::path::{Component, Path as FsPath};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
    Json,
};
use chrono::{DateTime, Utc};
use nexbii_crds::backup::{Destination as DestinationSpec, DestinationKind, Retention};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{
    admin::backups::{
        check_request,
        destination::Destination,
        domain,
        model::{BackupRecord, BackupRequest, RestoreReport, RestoreRequest},
        restore, started,
    },
    auth::{Caller, Operator},
    http::{ApiError, ApiJson, ApiResult, Problem},
    state::SharedState,
};

/// A destination as compared: `volume:<path>` (lexically cleaned) or `s3://<bucket>[/<prefix>]`.
pub fn describe_spec(d: &DestinationSpec) -> Result<String, &'static str> {
    match d.kind {
        DestinationKind::Volume => {
            let v = d.volume.as_ref().ok_or("kind Volume needs `volume.path`")?;
            Ok(format!("volume:{}", clean_path(&v.path)))
        }
        DestinationKind::S3 => {
            let s = d.s3.as_ref().ok_or("kind S3 needs `s3.bucket`")?;
            Ok(s3_description(
                &s.bucket,
                s.prefix.as_deref().unwrap_or_default(),
            ))
        }
    }
}

/// The instance's own destination, described as [`describe_spec`] does.
pub fn describe_instance(d: &Destination) -> String {
    match d {
        Destination::Volume(dir) => format!("volume:{}", clean_path(&dir.to_string_lossy())),
        // `S3Bucket::describe` is `s3://<bucket>[/<prefix>]` with the prefix trimmed of '/'.
        Destination::S3(b) => b.describe(),
    }
}

fn s3_description(bucket: &str, prefix: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("s3://{}", bucket.trim())
    } else {
        format!("s3://{}/{prefix}", bucket.trim())
    }
}

/// `/a//b/./c/` → `/a/b/c`: the same folder written differently compares equal.
fn clean_path(p: &str) -> String {
    let path = FsPath::new(p.trim());
    let mut out = String::new();
    for c in path.components() {
        match c {
            Component::RootDir => out.push('/'),
            Component::CurDir => {}
            other => {
                if !out.is_empty() && !out.ends_with('/') {
                    out.push('/');
                }
                out.push_str(&other.as_os_str().to_string_lossy());
            }
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

/// Refuses a request whose declared destination is not the instance's own.
fn check_destination(state: &SharedState, declared: Option<&DestinationSpec>) -> ApiResult<()> {
    let Some(declared) = declared else {
        return Ok(());
    };
    let want = describe_spec(declared).map_err(|why| ApiError::invalid("destination", why))?;
    let have = describe_instance(&domain::destination(state));
    if want != have {
        return Err(ApiError::invalid(
            "destination",
            format!(
                "this instance backs up to {have}, not {want}: configure the instance with that \
                 destination (the Tenant's BackupSchedule renders it into the instance)"
            ),
        ));
    }
    Ok(())
}

async fn operator_caller(state: &SharedState, tenant: &str) -> ApiResult<Caller> {
    let scope = super::operator_api::tenant_scope(state, tenant).await?;
    Ok(Caller::operator(scope))
}

/// Body of `POST /api/v1/provisioning/{tenant}/backups`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionBackup {
    /// Never pruned by retention.
    #[serde(default)]
    pub pinned: bool,
    /// At most 500 characters (the operator puts the `Backup` resource's name here).
    #[serde(default)]
    pub note: Option<String>,
    /// Applied after this backup succeeds (the schedule's retention); none when absent.
    #[serde(default)]
    pub retention: Option<Retention>,
    /// The destination the resource declares; refused (422) unless it is the instance's own.
    #[serde(default)]
    pub destination: Option<DestinationSpec>,
    /// The `Backup` resource's UID: a retried request with it gets the backup the first one
    /// started (`200`), so a lost answer never starts a second backup. 1 to 128 characters.
    #[serde(default)]
    pub request_id: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/provisioning/{tenant}/backups", tag = "provisioning",
    params(("tenant" = String, Path)), request_body = ProvisionBackup,
    responses(
        (status = 202, body = BackupRecord, description = "the backup, `Pending`; it runs in the background (poll `GET …/backups/{id}`)",
            headers(("location" = String, description = "the backup's URL"))),
        (status = 200, body = BackupRecord, description = "an earlier request had this `requestId`: the backup it started, in its current state",
            headers(("location" = String, description = "the backup's URL"))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "provisioning is disabled on this instance"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such tenant"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "`note` too long, `retention.<field>` out of bounds, `requestId` empty or too long, or `destination` is not the instance's")),
    security(("bearer" = [])))]
pub async fn create_backup(
    State(state): State<SharedState>,
    _op: Operator,
    Path(tenant): Path<String>,
    ApiJson(req): ApiJson<ProvisionBackup>,
) -> ApiResult<Response> {
    let caller = operator_caller(&state, &tenant).await?;
    let backup = BackupRequest {
        pinned: req.pinned,
        note: req.note,
        retention: req.retention,
        request_id: req.request_id,
    };
    check_request(&backup)?;
    check_destination(&state, req.destination.as_ref())?;
    let (rec, new) = domain::start(&state, &caller, backup)
        .await
        .map_err(|e| e.into_api("id"))?;
    let url = format!("/api/v1/provisioning/{tenant}/backups/{}", rec.id);
    Ok(started(&rec, new, url))
}

#[utoipa::path(get, path = "/api/v1/provisioning/{tenant}/backups/{id}", tag = "provisioning",
    params(("tenant" = String, Path), ("id" = String, Path, description = "backup id")),
    responses(
        (status = 200, body = BackupRecord),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "provisioning is disabled on this instance"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such tenant"),
        (status = 410, body = Problem, content_type = "application/problem+json",
            description = "no such backup: deleted, or pruned by retention (distinct from 404, which says the tenant is not there yet)")),
    security(("bearer" = [])))]
pub async fn get_backup(
    State(state): State<SharedState>,
    _op: Operator,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<Json<BackupRecord>> {
    let caller = operator_caller(&state, &tenant).await?;
    match domain::load(&state, &caller.scope, &id).await {
        Ok(rec) => Ok(Json(rec)),
        // The operator deletes its `Backup` resource on this answer: it must never be confused
        // with an instance that does not know the tenant (yet), which is 404.
        Err(domain::BackupError::NotFound(id)) => Err(ApiError::Gone(format!(
            "backup {id} does not exist (deleted, or pruned by retention)"
        ))),
        Err(e) => Err(e.into_api("id")),
    }
}

#[utoipa::path(delete, path = "/api/v1/provisioning/{tenant}/backups/{id}", tag = "provisioning",
    params(("tenant" = String, Path), ("id" = String, Path, description = "backup id")),
    responses(
        (status = 204, description = "the archive and the record are gone (also when they already were)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "provisioning is disabled on this instance"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such tenant"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "still running, or pinned (a pinned backup is deleted from the admin API with `force`)")),
    security(("bearer" = [])))]
pub async fn delete_backup(
    State(state): State<SharedState>,
    _op: Operator,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let caller = operator_caller(&state, &tenant).await?;
    match domain::delete(&state, &caller, &id, false).await {
        // Deletes are idempotent, like every provisioning delete.
        Ok(()) | Err(domain::BackupError::NotFound(_)) => Ok(StatusCode::NO_CONTENT),
        Err(e) => Err(e.into_api("id")),
    }
}

/// Body of `POST /api/v1/provisioning/{tenant}/restores`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionRestore {
    /// The id of a completed backup of this tenant.
    #[serde(default)]
    pub backup: Option<String>,
    /// Point in time to recover to, passed to the instance's restore as it is.
    #[serde(default)]
    pub target_time: Option<DateTime<Utc>>,
    /// Restore only these collections; all when absent.
    #[serde(default)]
    pub only: Option<Vec<String>>,
    /// Report what would change and change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The destination the resource declares; refused (422) unless it is the instance's own.
    #[serde(default)]
    pub destination: Option<DestinationSpec>,
}

#[utoipa::path(post, path = "/api/v1/provisioning/{tenant}/restores", tag = "provisioning",
    params(("tenant" = String, Path)), request_body = ProvisionRestore,
    responses(
        (status = 200, body = RestoreReport, description = "restored (or, with `dryRun`, what a restore would change)"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "provisioning is disabled on this instance"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such tenant"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "a restore of this tenant is already running"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "bad input (`backup`, `only[i]`, `targetTime`, `destination`), or the backup cannot be restored; nothing changed")),
    security(("bearer" = [])))]
pub async fn create_restore(
    State(state): State<SharedState>,
    _op: Operator,
    Path(tenant): Path<String>,
    ApiJson(req): ApiJson<ProvisionRestore>,
) -> ApiResult<Json<RestoreReport>> {
    let caller = operator_caller(&state, &tenant).await?;
    check_destination(&state, req.destination.as_ref())?;
    // Built from JSON so that the admin request's own parsing (and its type for
    // `targetTime`) applies unchanged.
    let admin: RestoreRequest = serde_json::from_value(json!({
        "backup": req.backup,
        "dryRun": req.dry_run,
        "only": req.only,
        "targetTime": req.target_time,
    }))
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("restore request: {e}")))?;
    restore::restore(&state, &caller, admin).await.map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexbii_crds::backup::{S3Destination, VolumeDestination};
    use nexbii_crds::common::SecretRef;

    fn volume(path: &str) -> DestinationSpec {
        DestinationSpec {
            kind: DestinationKind::Volume,
            volume: Some(VolumeDestination {
                claim_name: Some("backups".into()),
                path: path.into(),
            }),
            s3: None,
        }
    }

    fn s3(bucket: &str, prefix: Option<&str>, endpoint: &str) -> DestinationSpec {
        DestinationSpec {
            kind: DestinationKind::S3,
            volume: None,
            s3: Some(S3Destination {
                bucket: bucket.into(),
                endpoint: Some(endpoint.into()),
                region: None,
                prefix: prefix.map(Into::into),
                path_style: true,
                credentials_secret_ref: SecretRef {
                    name: "creds".into(),
                },
            }),
        }
    }

    #[test]
    fn the_same_folder_written_differently_compares_equal() {
        let inst = describe_instance(&Destination::Volume("/var/lib/nexbii/backups".into()));
        for same in [
            "/var/lib/nexbii/backups",
            "/var/lib/nexbii/backups/",
            "/var/lib//nexbii/./backups",
        ] {
            assert_eq!(describe_spec(&volume(same)).unwrap(), inst, "{same}");
        }
        assert_ne!(describe_spec(&volume("/var/lib/nexbii")).unwrap(), inst);
        assert_eq!(
            describe_instance(&Destination::Volume("./data/backups".into())),
            "volume:data/backups"
        );
    }

    #[test]
    fn s3_compares_bucket_and_prefix_not_credentials_or_endpoint() {
        let a = describe_spec(&s3("bk", Some("/nexbii/"), "http://a:9000")).unwrap();
        let b = describe_spec(&s3("bk", Some("nexbii"), "http://b:9000")).unwrap();
        assert_eq!(a, "s3://bk/nexbii");
        assert_eq!(a, b);
        assert_eq!(
            describe_spec(&s3("bk", None, "http://a")).unwrap(),
            "s3://bk"
        );
        assert_ne!(
            describe_spec(&s3("bk", Some("other"), "http://a")).unwrap(),
            a
        );
        assert_ne!(describe_spec(&volume("/s3/bk/nexbii")).unwrap(), a);
    }

    #[test]
    fn a_destination_without_its_details_is_refused() {
        let mut d = volume("/x");
        d.volume = None;
        assert!(describe_spec(&d).is_err());
        let mut d = s3("bk", None, "http://a");
        d.s3 = None;
        assert!(describe_spec(&d).is_err());
    }
}
