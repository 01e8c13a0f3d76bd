//! Saved queries as stored.
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::store::{fields, Meta};

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
