//! Share links as stored and as shown: the secret token is kept only as a SHA-256 digest, a
//! link password only as an argon2 hash.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::store::{fields, Meta};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareLink {
    /// `shr-` and the start of the token's digest: the token leads to its record directly.
    pub id: String,
    /// `dashboard/<name>` or `query/<id>`.
    pub resource: String,
    /// Whose access the link uses: viewers of the link never see more than the owner.
    pub owner: String,
    pub token_digest: String,
    /// The token's first characters, to recognise it in a list.
    pub token_prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Dashboard variables fixed by the link; viewers set only the others.
    #[serde(default)]
    pub locked_variables: BTreeMap<String, String>,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    ShareLink,
    ShareLinks,
    id,
    fn fields(&self) -> Map<String, Value> {
        fields(json!({"owner": self.owner, "resource": self.resource}))
    }
}

/// A share link as its owner and admins see it (never the token or the password).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareView {
    pub id: String,
    pub resource: String,
    pub owner: String,
    pub token_prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    pub has_password: bool,
    pub locked_variables: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
}

impl From<&ShareLink> for ShareView {
    fn from(s: &ShareLink) -> Self {
        Self {
            id: s.id.clone(),
            resource: s.resource.clone(),
            owner: s.owner.clone(),
            token_prefix: s.token_prefix.clone(),
            expires_at: s.expires_at,
            has_password: s.password_hash.is_some(),
            locked_variables: s.locked_variables.clone(),
            created_at: s.meta.created_at,
        }
    }
}

/// A new link: the only time its token is shown.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedShare {
    #[serde(flatten)]
    pub share: ShareView,
    /// Secret: whoever holds it opens the link (with its password, if it has one).
    pub token: String,
    /// Where the shared view's definition is served (`…/data` serves its data).
    pub url: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShareInput {
    /// `dashboard/<name>` or `query/<id>`.
    pub resource: String,
    /// The link stops working after this many hours (1 to 8760); without it, when revoked.
    #[serde(default)]
    pub expires_in_hours: Option<u32>,
    /// Viewers must give it (header `x-share-password`); at least 8 characters.
    #[serde(default)]
    pub password: Option<String>,
    /// Dashboard variables the link fixes (each must be a variable of the dashboard, with an
    /// allowed value).
    #[serde(default)]
    pub locked_variables: BTreeMap<String, String>,
}

/// What a shared dashboard shows: its layout, never its statements.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedWidget {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[schema(value_type = String)]
    pub chart: nexbii_crds::ChartType,
    #[schema(value_type = Object)]
    pub options: BTreeMap<String, Value>,
    #[schema(value_type = Object)]
    pub position: nexbii_crds::Position,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedVariable {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    pub options: Vec<String>,
    /// Fixed by the link: viewers cannot change it.
    pub locked: bool,
}

/// What a share link opens.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum SharedView {
    #[serde(rename_all = "camelCase")]
    Dashboard {
        title: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        variables: Vec<SharedVariable>,
        widgets: Vec<SharedWidget>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<DateTime<Utc>>,
    },
    #[serde(rename_all = "camelCase")]
    Query {
        name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<DateTime<Utc>>,
    },
}
