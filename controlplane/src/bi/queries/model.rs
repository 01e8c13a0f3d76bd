//! Saved queries as stored.
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::store::{fields, Collection, Entity, Meta};

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavedQuery {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub data_source: String,
    pub sql: String,
    #[serde(default)]
    pub params: Vec<Value>,
    pub owner: String,
    #[serde(flatten)]
    pub meta: Meta,
}

impl Entity for SavedQuery {
    const COLLECTION: Collection = Collection::SavedQueries;
    fn id(&self) -> &str {
        &self.id
    }
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }
    fn fields(&self) -> Map<String, Value> {
        fields(json!({"owner": self.owner, "dataSource": self.data_source}))
    }
}
