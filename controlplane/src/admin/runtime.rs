//! The instance's effective runtime configuration (admin only): version and build, every
//! server flag with its value and where it came from (command line, environment, default),
//! the `NEXBII_*` environment, and the store in use. Secrets are redacted: values of flags and
//! variables whose names say they hold one, and passwords inside URLs.
use axum::{extract::State, routing::get, Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::{Caller, Role},
    http::{ApiResult, Problem},
    state::SharedState,
};

pub fn routes() -> Router<SharedState> {
    Router::new().route("/api/v1/admin/config", get(config))
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeFlag {
    /// `--cache-ttl-seconds`.
    pub flag: String,
    /// `NEXBII_CACHE_TTL_SECONDS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The value in force (redacted when secret); absent when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `commandLine`, `environment`, `default` or `unset`.
    pub source: &'static str,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    pub version: &'static str,
    /// `debug` or `release`.
    pub build: &'static str,
    pub os: &'static str,
    pub arch: &'static str,
    pub started_at: DateTime<Utc>,
    pub uptime_seconds: i64,
    /// `embedded` (SQLite file) or `mongodb`.
    pub store: &'static str,
    pub flags: Vec<RuntimeFlag>,
    pub environment: Vec<EnvVar>,
}

/// Names that say their value is a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('_', "-");
    [
        "secret",
        "password",
        "token",
        "credential",
        "access-key",
        "private",
    ]
    .iter()
    .any(|w| n.contains(w))
        || n.ends_with("-key")
}

/// A URL's password replaced (`mongodb://u:***@host`); other text as it is.
pub fn without_url_password(v: &str) -> String {
    let Some((scheme, rest)) = v.split_once("://") else {
        return v.to_string();
    };
    let (auth, host) = match rest.split_once('@') {
        Some(x) => x,
        None => return v.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => v.to_string(),
    }
}

pub fn shown(name: &str, value: &str) -> String {
    if is_secret_name(name) {
        "(redacted)".into()
    } else {
        without_url_password(value)
    }
}

/// Every argument of a (sub)command as parsed: value and where it came from.
pub fn flags_of(cmd: &clap::Command, m: &clap::ArgMatches) -> Vec<RuntimeFlag> {
    use clap::parser::ValueSource;
    cmd.get_arguments()
        .filter(|a| a.get_long().is_some())
        .map(|a| {
            let id = a.get_id().as_str();
            let flag = format!("--{}", a.get_long().unwrap_or(id));
            let env = a.get_env().map(|e| e.to_string_lossy().into_owned());
            let value = m.get_raw(id).map(|vals| {
                vals.map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(",")
            });
            let source = match m.value_source(id) {
                Some(ValueSource::CommandLine) => "commandLine",
                Some(ValueSource::EnvVariable) => "environment",
                Some(ValueSource::DefaultValue) => "default",
                _ => "unset",
            };
            RuntimeFlag {
                value: value.map(|v| shown(&flag, &v)),
                flag,
                env,
                source,
            }
        })
        .collect()
}

/// The `NEXBII_*` variables of the process, secrets redacted.
pub fn environment() -> Vec<EnvVar> {
    let mut vars: Vec<EnvVar> = std::env::vars()
        .filter(|(k, _)| k.starts_with("NEXBII_"))
        .map(|(k, v)| EnvVar {
            value: shown(&k, &v),
            name: k,
        })
        .collect();
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    vars
}

#[utoipa::path(get, path = "/api/v1/admin/config", tag = "admin",
    responses(
        (status = 200, body = RuntimeConfig, description = "version, flags with their sources, NEXBII_* environment (secrets redacted)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "not an admin")),
    security(("bearer" = [])))]
pub async fn config(
    State(state): State<SharedState>,
    caller: Caller,
) -> ApiResult<Json<RuntimeConfig>> {
    caller.require(Role::Admin)?;
    let started_at = state.settings.started_at;
    Ok(Json(RuntimeConfig {
        version: env!("CARGO_PKG_VERSION"),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
        uptime_seconds: (Utc::now() - started_at).num_seconds(),
        started_at,
        store: crate::store::Store::kind(state.store.as_ref()),
        flags: state.settings.runtime_flags.as_ref().clone(),
        environment: environment(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[test]
    fn secret_names_and_url_passwords_are_redacted() {
        assert!(is_secret_name("NEXBII_SIGNING_KEY"));
        assert!(is_secret_name("NEXBII_BACKUP_S3_SECRET_ACCESS_KEY"));
        assert!(is_secret_name("NEXBII_OPERATOR_TOKEN"));
        assert!(!is_secret_name("--keys-file"));
        assert!(!is_secret_name("--apikey-usage-flush-seconds"));
        assert_eq!(
            without_url_password("mongodb://app:s3cret@db:27017/x"),
            "mongodb://app:***@db:27017/x"
        );
        assert_eq!(without_url_password("./data/nexbii.db"), "./data/nexbii.db");
        assert_eq!(shown("NEXBII_ENCRYPTION_KEY", "abc"), "(redacted)");
    }

    #[derive(Parser)]
    struct Args {
        #[arg(long, default_value_t = 60, env = "NEXBII_TEST_RUNTIME_TTL")]
        cache_ttl_seconds: u64,
        #[arg(long)]
        store: Option<String>,
        #[arg(long)]
        admin_password: Option<String>,
    }

    #[test]
    fn flags_tell_their_value_and_source() {
        let cmd = Args::command();
        let m = cmd.clone().get_matches_from([
            "x",
            "--store",
            "mongodb://u:pw@h/db",
            "--admin-password",
            "hunter2",
        ]);
        Args::from_arg_matches(&m).unwrap();
        let flags = flags_of(&cmd, &m);
        let get = |f: &str| flags.iter().find(|x| x.flag == f).unwrap();
        assert_eq!(get("--cache-ttl-seconds").source, "default");
        assert_eq!(get("--cache-ttl-seconds").value.as_deref(), Some("60"));
        assert_eq!(
            get("--cache-ttl-seconds").env.as_deref(),
            Some("NEXBII_TEST_RUNTIME_TTL")
        );
        assert_eq!(get("--store").source, "commandLine");
        assert_eq!(
            get("--store").value.as_deref(),
            Some("mongodb://u:***@h/db")
        );
        assert_eq!(get("--admin-password").value.as_deref(), Some("(redacted)"));
    }
}
