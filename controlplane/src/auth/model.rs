//! Users, roles and login sessions as stored.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::store::{fields, Meta};

#[derive(
    Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    pub password_hash: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub last_login_at: Option<DateTime<Utc>>,
    /// Facts about the user that row filters refer to (`{{user.attributes.region}}`).
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// Second factor, failed logins and lockout, password age.
    #[serde(default)]
    pub security: AccountSecurity,
    #[serde(flatten)]
    pub meta: Meta,
}

/// The account's security state, kept on the user so every replica sees the same.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccountSecurity {
    /// The TOTP second factor, once enrolment started.
    pub mfa: Option<super::mfa::MfaRecord>,
    /// Failed logins (and second-step codes) since the last success or lock.
    pub failed_logins: u32,
    /// Logins are refused until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the password was last set (`None`: before this was recorded; counts from creation).
    pub password_changed_at: Option<DateTime<Utc>>,
}

crate::entity! {
    UserRecord,
    Users,
    username,
    fn fields(&self) -> Map<String, Value> {
        fields(json!({"role": self.role, "disabled": self.disabled}))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub id: String,
    pub username: String,
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The client's address at login (the socket's peer, or behind a trusted proxy the
    /// forwarded address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The last request seen on this session, written at most once per
    /// `Settings::session_seen_every` (a minute by default), so it may lag by that much.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<DateTime<Utc>>,
    /// For an impersonation session: the admin acting as `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonator: Option<String>,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    SessionRecord,
    Sessions,
    id,
    fn fields(&self) -> Map<String, Value> {
        fields(json!({"username": self.username, "revoked": self.revoked}))
    }
}
