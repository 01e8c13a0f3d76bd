//! Saved queries as stored.
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::store::{fields, Meta, Origin};

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
    /// Provisioned ones (a `SavedQuery` in `--manifests` YAML) are read-only through the API;
    /// records written before the field existed were all made through the API.
    #[serde(default)]
    pub origin: Origin,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    SavedQuery,
    SavedQueries,
    id,
    fn fields(&self) -> Map<String, Value> {
        fields(json!({"owner": self.owner, "dataSource": self.data_source}))
    }
}

/// A bound query parameter: a JSON scalar (string, number, boolean or null). Objects and
/// arrays are refused: for MongoDB sources they could smuggle operators into a pipeline.
pub struct ParamValue;

impl utoipa::PartialSchema for ParamValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .description(Some(
                "a JSON scalar bound to the next placeholder ($n / ?; {\"$param\": n} for MongoDB)",
            ))
            .into()
    }
}

impl utoipa::ToSchema for ParamValue {}

/// Refuses parameters that are not JSON scalars, naming the offending one.
pub fn check_params(params: &[Value]) -> Result<(), nexbii_crds::FieldError> {
    match params
        .iter()
        .position(|p| matches!(p, Value::Array(_) | Value::Object(_)))
    {
        Some(i) => Err(nexbii_crds::FieldError::new(
            format!("params[{i}]"),
            "must be a string, number, boolean or null",
        )),
        None => Ok(()),
    }
}

impl SavedQuery {
    /// The record a `SavedQuery` resource declares (`id` is its `metadata.name`); `owner` is
    /// whoever writes it.
    pub fn from_spec(
        id: &str,
        spec: &nexbii_crds::SavedQuerySpec,
        owner: String,
        origin: Origin,
    ) -> Self {
        Self {
            id: id.to_string(),
            name: spec.display_name.clone().unwrap_or_else(|| id.to_string()),
            description: spec.description.clone(),
            data_source: spec.data_source.clone(),
            sql: spec.sql.clone(),
            params: spec.params.clone(),
            owner,
            origin,
            meta: Meta::default(),
        }
    }

    /// The resource spec of this record, for `tenant`.
    pub fn to_spec(&self, tenant: &str) -> nexbii_crds::SavedQuerySpec {
        nexbii_crds::SavedQuerySpec {
            tenant_ref: nexbii_crds::TenantRef {
                name: tenant.to_string(),
            },
            display_name: Some(self.name.clone()),
            description: self.description.clone(),
            data_source: self.data_source.clone(),
            sql: self.sql.clone(),
            params: self.params.clone(),
            suspend: false,
        }
    }

    /// Whether `other` declares the same content (ownership and bookkeeping aside).
    pub fn same_content(&self, other: &SavedQuery) -> bool {
        self.name == other.name
            && self.description == other.description
            && self.data_source == other.data_source
            && self.sql == other.sql
            && self.params == other.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_and_record_map_both_ways() {
        let spec: nexbii_crds::SavedQuerySpec = serde_json::from_value(json!({
            "tenantRef": {"name": "acme"}, "displayName": "Top customers",
            "description": "by revenue", "dataSource": "sales",
            "sql": "SELECT * FROM customers WHERE region = ?", "params": ["EU"]
        }))
        .unwrap();
        let rec = SavedQuery::from_spec("top", &spec, "alice".into(), Origin::Manifests);
        assert_eq!(
            (rec.id.as_str(), rec.name.as_str(), rec.origin),
            ("top", "Top customers", Origin::Manifests)
        );
        assert_eq!(rec.to_spec("acme"), spec);
        // No display name: the console shows the resource's name.
        let bare = nexbii_crds::SavedQuerySpec {
            display_name: None,
            ..spec.clone()
        };
        let rec2 = SavedQuery::from_spec("top", &bare, "bob".into(), Origin::Api);
        assert_eq!(rec2.name, "top");
        assert!(!rec2.same_content(&rec));
        let rec3 = SavedQuery::from_spec("top", &spec, "bob".into(), Origin::Api);
        assert!(rec3.same_content(&rec), "owner and origin are not content");
    }
}
