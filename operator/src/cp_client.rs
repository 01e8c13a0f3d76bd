//! Typed client of a control-plane instance's provisioning API (grafana-operator style: the
//! operator pushes resources into the instance over HTTP with the instance's operator token).
use std::time::Duration;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("instance unreachable: {0}")]
    Unreachable(String),
    /// The instance refused the object; the message is the problem's detail.
    #[error("{0}")]
    Rejected(String),
    /// A concurrent write won (409); trying again may succeed.
    #[error("{0}")]
    Conflict(String),
}

/// Starts the message of a 410 answer (the object existed and is gone for good).
const GONE: &str = "gone: ";

#[derive(Clone)]
pub struct ControlPlane {
    http: reqwest::Client,
    base: String,
    token: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceSync {
    pub connected: bool,
    #[serde(default)]
    pub error: Option<String>,
    pub tables: u32,
    pub columns: u32,
    pub synced_at: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardSync {
    pub url: String,
    pub validation_errors: Vec<String>,
    /// `Pending`, `Approved` or `Rejected` when the tenant's policy asks for approval.
    #[serde(default)]
    pub approval_state: Option<String>,
    /// Who must approve next, while pending.
    #[serde(default)]
    pub approvers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedQuerySync {
    pub revision: u64,
    pub url: String,
}

/// A backup as the instance reports it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceBackup {
    pub id: String,
    /// `Pending`, `Running`, `Completed` or `Failed`.
    pub state: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub size_bytes: Option<u64>,
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// What a restore changed (or would change) in one collection, as the instance reports it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRestoreCollection {
    pub collection: String,
    pub in_backup: u64,
    pub current: u64,
    pub added: u64,
    pub removed: u64,
    pub modified: u64,
    pub unchanged: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRestore {
    pub backup: String,
    pub restored: bool,
    pub started_at: String,
    pub finished_at: String,
    pub collections: Vec<InstanceRestoreCollection>,
}

#[derive(Debug, Deserialize)]
pub struct Readiness {
    pub status: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// One HTTP client for all instances: building a client (TLS roots, pools) per call is costly.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .expect("client builds")
}

impl ControlPlane {
    pub fn new(http: reqwest::Client, base: &str, token: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    pub async fn readyz(&self) -> Result<Readiness, ClientError> {
        let r = self
            .http
            .get(format!("{}/readyz", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        if !r.status().is_success() {
            return Err(ClientError::Unreachable(format!(
                "/readyz answered {}",
                r.status()
            )));
        }
        r.json()
            .await
            .map_err(|e| ClientError::Unreachable(e.to_string()))
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<Option<T>, ClientError> {
        let r = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        let status = r.status();
        let body = r
            .text()
            .await
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        if status.is_success() {
            if body.is_empty() {
                return Ok(None);
            }
            return serde_json::from_str(&body)
                .map(Some)
                .map_err(|e| ClientError::Rejected(e.to_string()));
        }
        let detail = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|p| {
                let d = p.get("detail")?.as_str()?.to_string();
                Some(match p.get("field").and_then(Value::as_str) {
                    Some(f) => format!("{f}: {d}"),
                    None => d,
                })
            })
            .unwrap_or(body);
        if status == reqwest::StatusCode::GONE {
            return Err(ClientError::Rejected(format!("{GONE}{detail}")));
        }
        if status.is_server_error()
            || status == reqwest::StatusCode::UNAUTHORIZED
            || status == reqwest::StatusCode::NOT_FOUND
        {
            Err(ClientError::Unreachable(format!("{status}: {detail}")))
        } else if status == reqwest::StatusCode::CONFLICT {
            Err(ClientError::Conflict(detail))
        } else {
            Err(ClientError::Rejected(detail))
        }
    }

    fn url(&self, tenant: &str, kind: &str, name: &str) -> String {
        format!("{}/api/v1/provisioning/{tenant}/{kind}/{name}", self.base)
    }

    pub async fn put_datasource<S: Serialize>(
        &self,
        tenant: &str,
        name: &str,
        spec: &S,
        password: Option<&str>,
    ) -> Result<DataSourceSync, ClientError> {
        let body = json!({"spec": spec, "password": password});
        self.send(
            self.http
                .put(self.url(tenant, "datasources", name))
                .json(&body),
        )
        .await?
        .ok_or_else(|| ClientError::Rejected("empty answer".into()))
    }

    pub async fn put_dashboard<S: Serialize>(
        &self,
        tenant: &str,
        name: &str,
        spec: &S,
    ) -> Result<DashboardSync, ClientError> {
        self.send(
            self.http
                .put(self.url(tenant, "dashboards", name))
                .json(&json!({"spec": spec})),
        )
        .await?
        .ok_or_else(|| ClientError::Rejected("empty answer".into()))
    }

    pub async fn put_policy<S: Serialize>(
        &self,
        tenant: &str,
        name: &str,
        spec: &S,
    ) -> Result<Option<nexbii_crds::PolicyEnforcement>, ClientError> {
        // An older instance answers 204 without the summary.
        self.send::<nexbii_crds::PolicyEnforcement>(
            self.http
                .put(self.url(tenant, "governancepolicies", name))
                .json(&json!({"spec": spec})),
        )
        .await
    }

    pub async fn put_saved_query<S: Serialize>(
        &self,
        tenant: &str,
        name: &str,
        spec: &S,
    ) -> Result<SavedQuerySync, ClientError> {
        self.send(
            self.http
                .put(self.url(tenant, "savedqueries", name))
                .json(&json!({"spec": spec})),
        )
        .await?
        .ok_or_else(|| ClientError::Rejected("empty answer".into()))
    }

    /// The tenant's health alerts firing now.
    pub async fn alerts(&self, tenant: &str) -> Result<Vec<nexbii_crds::TenantAlert>, ClientError> {
        Ok(self
            .send(
                self.http
                    .get(format!("{}/api/v1/provisioning/{tenant}/alerts", self.base)),
            )
            .await?
            .unwrap_or_default())
    }

    /// Starts a backup of the tenant (`body`: pinned, note, retention, destination).
    pub async fn create_backup(
        &self,
        tenant: &str,
        body: &Value,
    ) -> Result<InstanceBackup, ClientError> {
        self.send(
            self.http
                .post(format!(
                    "{}/api/v1/provisioning/{tenant}/backups",
                    self.base
                ))
                .json(body),
        )
        .await?
        .ok_or_else(|| ClientError::Rejected("empty answer".into()))
    }

    /// The backup `id`; `None` when the instance has no such backup any more (deleted, or
    /// pruned by retention: 410). A 404 means the tenant is unknown and stays an error.
    pub async fn get_backup(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<InstanceBackup>, ClientError> {
        let url = format!("{}/api/v1/provisioning/{tenant}/backups/{id}", self.base);
        match self.send(self.http.get(url)).await {
            Err(ClientError::Rejected(m)) if m.starts_with(GONE) => Ok(None),
            other => other,
        }
    }

    /// Deletes the backup `id` and its archive; done when it is already gone.
    pub async fn delete_backup(&self, tenant: &str, id: &str) -> Result<(), ClientError> {
        let url = format!("{}/api/v1/provisioning/{tenant}/backups/{id}", self.base);
        self.send::<Value>(self.http.delete(url)).await.map(|_| ())
    }

    /// Restores (or, with `dryRun`, reports): `body` is backup, targetTime, only, dryRun.
    pub async fn restore(
        &self,
        tenant: &str,
        body: &Value,
    ) -> Result<InstanceRestore, ClientError> {
        self.send(
            self.http
                .post(format!(
                    "{}/api/v1/provisioning/{tenant}/restores",
                    self.base
                ))
                .json(body),
        )
        .await?
        .ok_or_else(|| ClientError::Rejected("empty answer".into()))
    }

    pub async fn delete(&self, tenant: &str, kind: &str, name: &str) -> Result<(), ClientError> {
        self.send::<Value>(self.http.delete(self.url(tenant, kind, name)))
            .await
            .map(|_| ())
    }
}
