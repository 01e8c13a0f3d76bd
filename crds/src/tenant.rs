//! `Tenant`: one organisation and the control-plane instance that serves it.
use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, SecretKeyRef, COLOR, HOSTNAME, IDENT};

/// Where a branding image may come from: https, the instance itself, or inline.
pub const IMAGE_URL: &str =
    r"^(https://[^\s]+|/[^\s]*|data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=]+)$";

#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[kube(
    group = "nexbii.io",
    version = "v1alpha1",
    kind = "Tenant",
    plural = "tenants",
    shortname = "nxt",
    namespaced,
    status = "TenantStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".status.endpoint"}"#,
    printcolumn = r#"{"name":"Instance","type":"string","priority":1,"jsonPath":".status.instanceName"}"#,
    printcolumn = r#"{"name":"Suspended","type":"boolean","priority":1,"jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// Human-readable organisation name.
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,
    /// White-label settings shown by the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branding: Option<Branding>,
    /// Feature flags (name -> enabled).
    #[serde(default)]
    pub features: BTreeMap<String, bool>,
    #[serde(default)]
    pub limits: Limits,
    /// Admin accounts created on first start (never overwritten afterwards).
    #[serde(default)]
    pub bootstrap_admins: Vec<BootstrapAdmin>,
    /// How a new instance gets its first data (CloudNativePG's `bootstrap`): from a backup, for
    /// disaster recovery into a fresh instance. Acted on once, while the tenant has no users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<TenantBootstrap>,
    #[serde(default)]
    pub auth: AuthSettings,
    /// Request rate limits of the instance's API (token buckets per API key, per user and per
    /// client address); defaults apply when absent.
    #[serde(default, skip_serializing_if = "RateLimits::is_default")]
    pub rate_limits: RateLimits,
    /// System settings the platform team fixes for this tenant (any part of the settings
    /// document: `sessions`, `password`, `lockout`, `mfa`, `network`, `query`,
    /// `notifications`, `alerts`, `impersonation`). What is declared here is authoritative: the
    /// instance's settings API shows it and refuses to change it (409).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::settings::declared_schema")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub instance: InstanceSpec,
    /// Pauses the operator for this object: while true it changes and deletes nothing for it
    /// (status shows `Suspended`). The control plane ignores the field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub suspend: bool,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Branding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub name: Option<String>,
    /// `https://…`, a path on the instance (`/…`) or a `data:image/…` URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(IMAGE_URL))]
    pub logo_url: Option<String>,
    /// The logo on dark backgrounds (dark theme); the light one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(IMAGE_URL))]
    pub dark_logo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048), pattern(IMAGE_URL))]
    pub favicon_url: Option<String>,
    /// A CSS font-family list, e.g. `Inter, "Helvetica Neue", sans-serif`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200), pattern(r#"^[A-Za-z0-9 ,'"-]+$"#))]
    pub font_family: Option<String>,
    /// Extra CSS for the console. Served sanitised: imports, external `url(…)`, scripts in
    /// any form and anything that could close the style element are removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20000))]
    pub custom_css: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(COLOR))]
    pub primary_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(COLOR))]
    pub accent_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253), pattern(HOSTNAME))]
    pub custom_domain: Option<String>,
}

/// Quotas enforced by the instance.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    #[serde(default = "d_max_users")]
    #[schemars(range(min = 1, max = 100000))]
    pub max_users: u32,
    #[serde(default = "d_max_sources")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_data_sources: u32,
    #[serde(default = "d_query_timeout")]
    #[schemars(range(min = 1, max = 3600))]
    pub query_timeout_seconds: u32,
    #[serde(default = "d_row_limit")]
    #[schemars(range(min = 1, max = 1000000))]
    pub row_limit: u32,
}
fn d_max_users() -> u32 {
    100
}
fn d_max_sources() -> u32 {
    20
}
fn d_query_timeout() -> u32 {
    30
}
fn d_row_limit() -> u32 {
    10_000
}
impl Default for Limits {
    fn default() -> Self {
        Self {
            max_users: d_max_users(),
            max_data_sources: d_max_sources(),
            query_timeout_seconds: d_query_timeout(),
            row_limit: d_row_limit(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BootstrapAdmin {
    #[schemars(pattern(IDENT))]
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Initial password; when absent the instance generates one and prints it once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret_ref: Option<SecretKeyRef>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TenantBootstrap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_backup: Option<FromBackup>,
}

/// Recovery of this tenant from its backups, into an instance that has no data yet (its store
/// has no users): the archives and shipped journal segments of the tenant of the same name at
/// `destination` are adopted as the instance's backups, then the newest one (or `backupId`),
/// or the state at `targetTime` (a backup plus the change journal), is restored. The instance
/// starts serving only once that succeeded. Archives are sealed with the source instance's keys:
/// `keysSecretRef` names a copy of its generated keys Secret, which the operator uses for the new
/// one (otherwise the Tenant's own keys Secret, `<tenant>-nexbii-keys`, must already hold them).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FromBackup {
    /// Where the backups are; the instance also backs up there from then on (a BackupSchedule
    /// of the Tenant must declare the same destination).
    pub destination: crate::backup::Destination,
    /// The backup to restore (its id in the destination); the newest completed one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100), pattern(r"^[A-Za-z0-9][A-Za-z0-9._-]*$"))]
    pub backup_id: Option<String>,
    /// Recover to this time (RFC 3339): the newest backup at or before it (or `backupId`) plus
    /// the journal segments shipped up to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub target_time: Option<String>,
    /// A Secret in the Tenant's namespace holding the source instance's `signing-key` and
    /// `encryption-key` (a copy of its generated keys Secret): the operator creates the Tenant's
    /// keys Secret with them, since the archives and the data-source credentials inside are
    /// sealed with those keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_secret_ref: Option<crate::common::SecretRef>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthSettings {
    /// Lifetime of a login session.
    #[serde(default = "d_session_ttl")]
    #[schemars(range(min = 5, max = 43200))]
    pub session_ttl_minutes: u32,
    /// Failed logins per user within 15 minutes before login is refused (429).
    #[serde(default = "d_failed")]
    #[schemars(range(min = 1, max = 100))]
    pub max_failed_logins: u32,
    #[serde(default = "d_pw_len")]
    #[schemars(range(min = 8, max = 128))]
    pub password_min_length: u32,
    /// OpenID Connect single sign-on (authorization code with PKCE). Absent: password logins
    /// only, and `/api/v1/auth/oidc/*` answers 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcSettings>,
}

/// Where an OpenID provider may be: https, or plain http on the loopback interface only (a
/// provider on the same machine, as in tests).
pub const ISSUER_URL: &str =
    r"^(https://[^\s]+|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?(/[^\s]*)?)$";

/// An optional role as the plain enum: schemars writes `Option<enum>` with `null` among the
/// enum values, which kube-apiserver rejects in a CRD (the field is omitted when unset).
fn optional_role(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<UserRole>()
}

/// A role of the instance's users.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    Viewer,
    Editor,
    Admin,
}

/// Single sign-on through an OpenID provider. Users are created at their first login
/// (just in time) and their role follows their groups at every login.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OidcSettings {
    /// The provider's issuer; its `/.well-known/openid-configuration` is read from there.
    #[schemars(length(min = 1, max = 2048), pattern(ISSUER_URL))]
    pub issuer_url: String,
    #[schemars(length(min = 1, max = 255))]
    pub client_id: String,
    /// The client secret, read from a Secret (never returned by the API nor logged).
    pub client_secret_ref: SecretKeyRef,
    /// Scopes asked for; must contain `openid`.
    #[serde(default = "d_oidc_scopes")]
    #[schemars(
        length(min = 1, max = 20),
        inner(length(min = 1, max = 100), pattern(r"^[!#-\[\]-~]+$"))
    )]
    pub scopes: Vec<String>,
    /// The claim whose value becomes the username.
    #[serde(default = "d_username_claim")]
    #[schemars(length(min = 1, max = 100))]
    pub username_claim: String,
    /// The claim listing the user's groups (a list of strings, or one string).
    #[serde(default = "d_groups_claim")]
    #[schemars(length(min = 1, max = 100))]
    pub groups_claim: String,
    /// Group → role; a user in several mapped groups gets the highest of their roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub role_mapping: Vec<OidcRoleMapping>,
    /// The role of a user in none of the mapped groups; absent: such a user may not sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_role")]
    pub default_role: Option<UserRole>,
    /// The label of the login page's single sign-on button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 60))]
    pub button_label: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OidcRoleMapping {
    #[schemars(length(min = 1, max = 256))]
    pub group: String,
    pub role: UserRole,
}

fn d_oidc_scopes() -> Vec<String> {
    ["openid", "profile", "email", "groups"]
        .map(str::to_string)
        .to_vec()
}
fn d_username_claim() -> String {
    "preferred_username".into()
}
fn d_groups_claim() -> String {
    "groups".into()
}
fn d_session_ttl() -> u32 {
    720
}
fn d_failed() -> u32 {
    5
}
fn d_pw_len() -> u32 {
    12
}
impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            session_ttl_minutes: d_session_ttl(),
            max_failed_logins: d_failed(),
            password_min_length: d_pw_len(),
            oidc: None,
        }
    }
}

/// Token buckets limiting the API's requests: each holds `burst` requests and refills at
/// `requestsPerMinute`. A request takes one from every bucket that applies to it (its API key,
/// its user, its client address); when one is empty it is answered 429 with `Retry-After`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RateLimits {
    /// `false` turns every limit off.
    #[serde(default = "d_true")]
    #[schemars(extend("default" = true))]
    pub enabled: bool,
    /// Each API key.
    #[serde(default = "d_per_key")]
    pub per_key: RateLimit,
    /// Each user, over all their sessions and keys.
    #[serde(default = "d_per_user")]
    pub per_user: RateLimit,
    /// Each client address, authenticated or not.
    #[serde(default = "d_per_address")]
    pub per_address: RateLimit,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Sustained rate: the bucket gains one request every 60/requestsPerMinute seconds.
    #[schemars(range(min = 1, max = 1000000))]
    pub requests_per_minute: u32,
    /// Bucket size: how many requests may come at once.
    #[schemars(range(min = 1, max = 100000))]
    pub burst: u32,
}

fn d_true() -> bool {
    true
}
fn d_per_key() -> RateLimit {
    RateLimit {
        requests_per_minute: 1200,
        burst: 200,
    }
}
fn d_per_user() -> RateLimit {
    RateLimit {
        requests_per_minute: 3000,
        burst: 500,
    }
}
fn d_per_address() -> RateLimit {
    RateLimit {
        requests_per_minute: 6000,
        burst: 1000,
    }
}
impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            per_key: d_per_key(),
            per_user: d_per_user(),
            per_address: d_per_address(),
        }
    }
}
impl RateLimits {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The control-plane Deployment serving this tenant.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InstanceSpec {
    #[serde(default = "d_replicas")]
    #[schemars(range(min = 0, max = 20))]
    pub replicas: i32,
    /// Container image; the operator's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub storage: StorageSpec,
    #[serde(default)]
    pub exposure: ExposureSpec,
}
fn d_replicas() -> i32 {
    1
}
impl Default for InstanceSpec {
    fn default() -> Self {
        Self {
            replicas: d_replicas(),
            image: None,
            resources: Resources::default(),
            storage: StorageSpec::default(),
            exposure: ExposureSpec::default(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    #[serde(default)]
    pub requests: ResourceList,
    #[serde(default)]
    pub limits: ResourceList,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResourceList {
    /// Kubernetes quantity, e.g. `100m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9]+(\.[0-9]+)?m?$"))]
    pub cpu: Option<String>,
    /// Kubernetes quantity, e.g. `128Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$"))]
    pub memory: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum StorageKind {
    /// Production choice: MongoDB; replicas are stateless.
    Mongodb,
    /// SQLite on a PersistentVolume; forces a single replica.
    #[default]
    Embedded,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    #[serde(default)]
    pub kind: StorageKind,
    /// Required when kind is `mongodb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mongodb: Option<MongoStorage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedded: Option<EmbeddedStorage>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MongoStorage {
    /// Secret key holding the `mongodb://` connection string.
    pub connection_secret_ref: SecretKeyRef,
    #[schemars(length(min = 1, max = 63), pattern(r"^[A-Za-z0-9_-]+$"))]
    pub database: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedStorage {
    /// PersistentVolumeClaim size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9]+(Ki|Mi|Gi|Ti)$"))]
    pub size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExposureSpec {
    #[serde(default)]
    pub service_type: ServiceType,
    #[serde(default = "d_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
}
fn d_port() -> u16 {
    8080
}
impl Default for ExposureSpec {
    fn default() -> Self {
        Self {
            service_type: ServiceType::default(),
            port: d_port(),
            ingress: None,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    #[schemars(length(min = 1, max = 253), pattern(HOSTNAME))]
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// TLS certificate Secret; TLS is off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// URL of the tenant's API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Control-plane version reported by the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default)]
    pub ready_replicas: i32,
    /// Result of the instance's own `/readyz`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_ready: Option<bool>,
    /// Name of the Deployment, Service, ConfigMap, ServiceAccount, NetworkPolicy, Ingress and
    /// PodDisruptionBudget made for this Tenant: `<name>-nexbii`, or, where that is no valid
    /// Service name (too long, leading digit), a shortened form ending in a hash of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_name: Option<String>,
    /// Name of the generated Secret (signing and encryption keys, operator token, bootstrap
    /// password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_secret_name: Option<String>,
    /// Health alerts the instance reports firing (thresholds: `spec.settings.alerts` and the
    /// instance's settings API); each change is also a Kubernetes Event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<TenantAlert>,
}

/// A health alert firing in the tenant's instance.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TenantAlert {
    /// `errorRate`, `latency`, `diskFree` or `dataSourceDown:<source>`.
    pub key: String,
    pub kind: String,
    /// RFC 3339 time it started firing.
    pub since: String,
    pub message: String,
}
