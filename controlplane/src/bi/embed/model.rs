//! What minting an embed token takes and gives.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmbedTokenInput {
    /// The dashboard to embed (one the minting user may see).
    pub dashboard: String,
    /// Dashboard variables the token fixes: the embedded view cannot change them.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Row-filter attributes (`{{user.attributes.<key>}}`) for the embedded view: the
    /// minter's row filters apply, and again with these values over the minter's own, so the
    /// view never shows more than the minter may see.
    #[serde(default)]
    pub row_context: Option<BTreeMap<String, String>>,
    /// 1 to 3600; 300 when not given.
    #[serde(default)]
    pub ttl_seconds: Option<u32>,
}

/// A minted token: hand it to the browser that shows the embedded dashboard.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbedToken {
    /// Secret until it expires: whoever holds it sees the dashboard as the token says.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}
