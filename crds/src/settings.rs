//! A tenant's system settings: one typed document (session timeouts, password, lockout and
//! MFA policy, IP allow-list, query defaults, notification defaults, health-alert thresholds,
//! impersonation). An admin edits it through the API; a `Tenant` may declare any part of it
//! under `spec.settings`, and what it declares is authoritative (read-only through the API).
//!
//! Every field has a default, so any part of the document is a valid document: the CRD
//! declares a part, the API stores a part, and the instance merges
//! defaults ← stored ← declared into the effective settings.
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validate::FieldError;

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    pub sessions: SessionSettings,
    pub password: PasswordPolicy,
    pub lockout: LockoutSettings,
    pub mfa: MfaSettings,
    pub network: NetworkSettings,
    pub query: QuerySettings,
    pub notifications: NotificationSettings,
    pub alerts: AlertSettings,
    pub impersonation: ImpersonationSettings,
    pub embedding: EmbeddingSettings,
}

/// Login sessions end after `idleTimeoutMinutes` without a request, and in any case
/// `absoluteTimeoutMinutes` after login.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SessionSettings {
    #[schemars(range(min = 5, max = 1440))]
    pub idle_timeout_minutes: u32,
    /// Defaults to the Tenant's `spec.auth.sessionTtlMinutes`.
    #[schemars(range(min = 5, max = 43200))]
    pub absolute_timeout_minutes: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle_timeout_minutes: 60,
            absolute_timeout_minutes: 720,
        }
    }
}

/// What a new password must be.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Defaults to the Tenant's `spec.auth.passwordMinLength`.
    #[schemars(range(min = 8, max = 128))]
    pub min_length: u32,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_digit: bool,
    pub require_symbol: bool,
    /// Days after which a password must be changed; 0 never.
    #[schemars(range(min = 0, max = 3650))]
    pub max_age_days: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 12,
            require_uppercase: false,
            require_lowercase: false,
            require_digit: false,
            require_symbol: false,
            max_age_days: 0,
        }
    }
}

/// Failed logins before an account is locked, and for how long.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LockoutSettings {
    /// Defaults to the Tenant's `spec.auth.maxFailedLogins`.
    #[schemars(range(min = 1, max = 100))]
    pub max_failed_logins: u32,
    #[schemars(range(min = 1, max = 1440))]
    pub lockout_minutes: u32,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        Self {
            max_failed_logins: 5,
            lockout_minutes: 15,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MfaSettings {
    pub required: MfaRequirement,
}

/// Who must use a second factor to log in.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum MfaRequirement {
    /// Whoever enrolled a second factor uses it; nobody must.
    #[default]
    Optional,
    Admins,
    All,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NetworkSettings {
    /// Client addresses or CIDR ranges allowed to use the tenant's API (logins, sessions and
    /// API keys); empty allows every address. Share links are not restricted.
    #[schemars(length(max = 256))]
    pub ip_allow_list: Vec<String>,
}

/// Defaults of the tenant's queries, within the Tenant's `spec.limits`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct QuerySettings {
    /// At most the Tenant's `spec.limits.queryTimeoutSeconds` (its default).
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_seconds: u32,
    /// At most the Tenant's `spec.limits.rowLimit` (its default).
    #[schemars(range(min = 1, max = 1000000))]
    pub row_limit: u32,
    /// How long a query result is reused; at most the instance's `--cache-ttl-seconds`
    /// (results are never kept longer than that), 0 turns the result cache off.
    #[schemars(range(min = 0, max = 86400))]
    pub cache_ttl_seconds: u32,
}

impl Default for QuerySettings {
    fn default() -> Self {
        Self {
            timeout_seconds: 30,
            row_limit: 10_000,
            cache_ttl_seconds: 300,
        }
    }
}

/// In-app notifications (no mail server is involved).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// Notify the tenant's admins in the app when a health alert fires or clears.
    pub notify_admins_on_alerts: bool,
    /// Days a notification is kept after its last change (created, or read).
    #[schemars(range(min = 1, max = 3650))]
    pub retention_days: u32,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            notify_admins_on_alerts: true,
            retention_days: 90,
        }
    }
}

/// Health-alert thresholds, checked every minute over the last 5 minutes of the tenant's
/// requests. An alert fires when a threshold is crossed and clears when it no longer is.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AlertSettings {
    pub enabled: bool,
    /// Percentage of requests answered 5xx above which `errorRate` fires.
    #[schemars(range(min = 0, max = 100))]
    pub error_rate_percent: f64,
    /// p95 request latency above which `latency` fires.
    #[schemars(range(min = 1, max = 600000))]
    pub p95_latency_ms: u32,
    /// Requests in the window below which rate and latency alerts stay quiet.
    #[schemars(range(min = 1, max = 1000000))]
    pub min_requests: u32,
    /// A data source whose last connection check failed fires `dataSourceDown`.
    pub data_source_down: bool,
    /// Free disk of the data directory below this percentage fires `diskFree`.
    #[schemars(range(min = 0, max = 100))]
    pub disk_free_percent: f64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            error_rate_percent: 5.0,
            p95_latency_ms: 2000,
            min_requests: 20,
            data_source_down: true,
            disk_free_percent: 10.0,
        }
    }
}

/// Whether admins may act as another (non-admin) user, and for how long at most.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ImpersonationSettings {
    pub enabled: bool,
    #[schemars(range(min = 1, max = 480))]
    pub max_minutes: u32,
}

impl Default for ImpersonationSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_minutes: 30,
        }
    }
}

/// Host applications that embed the tenant's dashboards.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EmbeddingSettings {
    /// Origins (`https://app.example.com`, `http://127.0.0.1:5173`) that may frame the embed
    /// page (`frame-ancestors`) and call the embed API from the browser (CORS); empty allows
    /// none.
    #[schemars(length(max = 64))]
    pub allowed_origins: Vec<String>,
}

/// An origin as browsers send it: `http` or `https`, a host, an optional port, nothing
/// else (no path, query, user or wildcard), lower-cased; `None` when `entry` is not one.
pub fn parse_origin(entry: &str) -> Option<String> {
    let (scheme, rest) = entry.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" || rest.is_empty() {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        // An IPv6 literal (`[::1]`) has colons of its own.
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (rest, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .split('.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    (host_ok && port_ok).then(|| format!("{scheme}://{}", rest.to_ascii_lowercase()))
}

fn range<T: PartialOrd + std::fmt::Display>(
    errs: &mut Vec<FieldError>,
    prefix: &str,
    field: &str,
    v: T,
    min: T,
    max: T,
) {
    if !(v >= min && v <= max) {
        errs.push(FieldError::new(
            format!("{prefix}{field}"),
            format!("must be {min} to {max}"),
        ));
    }
}

/// An address or a CIDR range of the allow-list.
pub fn parse_allowed(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (entry, None),
    };
    let addr: IpAddr = addr.trim().parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) => b.trim().parse::<u8>().ok().filter(|b| *b <= max)?,
        None => max,
    };
    Some((addr, bits))
}

impl Settings {
    /// Every range error, each named by its path under `prefix` (`spec.settings.` for a
    /// Tenant, empty for the API).
    pub fn validate_at(&self, prefix: &str) -> Vec<FieldError> {
        let mut e = Vec::new();
        let s = &self.sessions;
        range(
            &mut e,
            prefix,
            "sessions.idleTimeoutMinutes",
            s.idle_timeout_minutes,
            5,
            1440,
        );
        range(
            &mut e,
            prefix,
            "sessions.absoluteTimeoutMinutes",
            s.absolute_timeout_minutes,
            5,
            43200,
        );
        if s.idle_timeout_minutes > s.absolute_timeout_minutes {
            e.push(FieldError::new(
                format!("{prefix}sessions.idleTimeoutMinutes"),
                "must not exceed sessions.absoluteTimeoutMinutes",
            ));
        }
        let p = &self.password;
        range(&mut e, prefix, "password.minLength", p.min_length, 8, 128);
        range(
            &mut e,
            prefix,
            "password.maxAgeDays",
            p.max_age_days,
            0,
            3650,
        );
        let l = &self.lockout;
        range(
            &mut e,
            prefix,
            "lockout.maxFailedLogins",
            l.max_failed_logins,
            1,
            100,
        );
        range(
            &mut e,
            prefix,
            "lockout.lockoutMinutes",
            l.lockout_minutes,
            1,
            1440,
        );
        if self.network.ip_allow_list.len() > 256 {
            e.push(FieldError::new(
                format!("{prefix}network.ipAllowList"),
                "at most 256 entries",
            ));
        }
        for (i, entry) in self.network.ip_allow_list.iter().enumerate() {
            if parse_allowed(entry).is_none() {
                e.push(FieldError::new(
                    format!("{prefix}network.ipAllowList[{i}]"),
                    format!("{entry:?} is not an IP address or CIDR range"),
                ));
            }
        }
        let q = &self.query;
        range(
            &mut e,
            prefix,
            "query.timeoutSeconds",
            q.timeout_seconds,
            1,
            3600,
        );
        range(&mut e, prefix, "query.rowLimit", q.row_limit, 1, 1_000_000);
        range(
            &mut e,
            prefix,
            "query.cacheTtlSeconds",
            q.cache_ttl_seconds,
            0,
            86400,
        );
        range(
            &mut e,
            prefix,
            "notifications.retentionDays",
            self.notifications.retention_days,
            1,
            3650,
        );
        let a = &self.alerts;
        range(
            &mut e,
            prefix,
            "alerts.errorRatePercent",
            a.error_rate_percent,
            0.0,
            100.0,
        );
        range(
            &mut e,
            prefix,
            "alerts.p95LatencyMs",
            a.p95_latency_ms,
            1,
            600_000,
        );
        range(
            &mut e,
            prefix,
            "alerts.minRequests",
            a.min_requests,
            1,
            1_000_000,
        );
        range(
            &mut e,
            prefix,
            "alerts.diskFreePercent",
            a.disk_free_percent,
            0.0,
            100.0,
        );
        range(
            &mut e,
            prefix,
            "impersonation.maxMinutes",
            self.impersonation.max_minutes,
            1,
            480,
        );
        if self.embedding.allowed_origins.len() > 64 {
            e.push(FieldError::new(
                format!("{prefix}embedding.allowedOrigins"),
                "at most 64 entries",
            ));
        }
        for (i, origin) in self.embedding.allowed_origins.iter().enumerate() {
            if parse_origin(origin).is_none() {
                e.push(FieldError::new(
                    format!("{prefix}embedding.allowedOrigins[{i}]"),
                    format!("{origin:?} is not an origin (scheme://host[:port], http or https)"),
                ));
            }
        }
        e
    }

    /// A part of the document (as declared or stored) read as a whole document, so that a
    /// wrong field name or type is an error naming it.
    pub fn from_part(
        part: &serde_json::Map<String, serde_json::Value>,
        prefix: &str,
    ) -> Result<Self, FieldError> {
        let value = serde_json::Value::Object(part.clone());
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." || path.is_empty() {
                prefix.trim_end_matches('.').to_string()
            } else {
                format!("{prefix}{path}")
            };
            FieldError::new(field, e.into_inner().to_string())
        })
    }
}

/// The schema of `spec.settings`: the settings document without its defaults, so the
/// apiserver does not fill in (and so declare) every field a Tenant leaves out.
pub fn declared_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("default");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let schema = <Settings as JsonSchema>::json_schema(generator);
    let mut value = serde_json::Value::from(schema);
    strip(&mut value);
    schemars::Schema::try_from(value).expect("an object schema stays one")
}

/// The leaf paths a part of the document sets (`sessions.idleTimeoutMinutes`, …), in order.
/// Lists are leaves: a list is declared or set as a whole.
pub fn leaf_paths(part: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    fn walk(prefix: &str, m: &serde_json::Map<String, serde_json::Value>, out: &mut Vec<String>) {
        for (k, v) in m {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                serde_json::Value::Object(inner) => walk(&path, inner, out),
                _ => out.push(path),
            }
        }
    }
    let mut out = Vec::new();
    walk("", part, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn part(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_part_reads_as_a_whole_document_with_defaults() {
        let s = Settings::from_part(&part(json!({"sessions": {"idleTimeoutMinutes": 15}})), "")
            .unwrap();
        assert_eq!(s.sessions.idle_timeout_minutes, 15);
        assert_eq!(s.sessions.absolute_timeout_minutes, 720);
        assert_eq!(s.lockout.lockout_minutes, 15);
        assert!(s.validate_at("").is_empty());
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_refused() {
        let e = Settings::from_part(&part(json!({"sessions": {"idle": 15}})), "spec.settings.")
            .unwrap_err();
        assert_eq!(e.field, "spec.settings.sessions.idle");
        assert!(e.message.contains("idle"), "{}", e.message);
        assert!(Settings::from_part(&part(json!({"mfa": {"required": "sometimes"}})), "").is_err());
    }

    #[test]
    fn ranges_and_cross_field_rules_name_their_field() {
        let mut s = Settings::default();
        s.sessions.idle_timeout_minutes = 2000;
        s.network.ip_allow_list = vec!["10.0.0.0/8".into(), "300.1.1.1".into(), "::1/129".into()];
        s.alerts.error_rate_percent = 101.0;
        let fields: Vec<String> = s.validate_at("").into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "sessions.idleTimeoutMinutes",
                "sessions.idleTimeoutMinutes",
                "network.ipAllowList[1]",
                "network.ipAllowList[2]",
                "alerts.errorRatePercent"
            ]
        );
    }

    #[test]
    fn allow_list_entries_parse_as_address_or_range() {
        assert_eq!(
            parse_allowed("10.1.0.0/16"),
            Some(("10.1.0.0".parse().unwrap(), 16))
        );
        assert_eq!(parse_allowed("::1"), Some(("::1".parse().unwrap(), 128)));
        assert_eq!(parse_allowed("10.1.0.0/33"), None);
        assert_eq!(parse_allowed("example.com"), None);
    }

    #[test]
    fn embedding_origins_are_scheme_host_and_port_only() {
        assert_eq!(
            parse_origin("https://App.Example.com").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:5173").as_deref(),
            Some("http://127.0.0.1:5173")
        );
        assert_eq!(
            parse_origin("http://[::1]:8080").as_deref(),
            Some("http://[::1]:8080")
        );
        for bad in [
            "app.example.com",
            "ftp://x.example",
            "https://x.example/path",
            "https://*.example.com",
            "https://x.example:99999",
            "https://user@x.example",
            "https://",
            "'self'",
            "https://x.example; script-src *",
        ] {
            assert!(parse_origin(bad).is_none(), "{bad}");
        }
        let mut s = Settings::default();
        s.embedding.allowed_origins = vec!["https://ok.example".into(), "nope".into()];
        let fields: Vec<String> = s.validate_at("").into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["embedding.allowedOrigins[1]"]);
    }

    #[test]
    fn leaf_paths_list_what_a_part_sets() {
        let p = part(
            json!({"sessions": {"idleTimeoutMinutes": 5}, "network": {"ipAllowList": ["::1"]}, "mfa": {"required": "all"}}),
        );
        let mut paths = leaf_paths(&p);
        paths.sort();
        assert_eq!(
            paths,
            [
                "mfa.required",
                "network.ipAllowList",
                "sessions.idleTimeoutMinutes"
            ]
        );
    }
}
