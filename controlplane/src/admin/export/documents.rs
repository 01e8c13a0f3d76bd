//! Reads an import body (multi-document YAML, a JSON `List`, a JSON array or one object) into
//! typed documents. A document that cannot be read is a 400 naming its index and the field.
use std::collections::{BTreeMap, HashMap};

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use nexbii_crds::{Dashboard, DataSource, GovernancePolicy, SavedQuery, Tenant, API_VERSION};
use serde::Deserialize;
use serde_json::Value;

use crate::http::ApiError;

/// One resource to import.
// One value per imported object, short-lived: boxing the large variants would only add noise.
#[allow(clippy::large_enum_variant)]
pub enum Doc {
    Tenant(Tenant),
    DataSource(DataSource),
    Dashboard(Dashboard),
    SavedQuery(SavedQuery),
    GovernancePolicy(GovernancePolicy),
    /// A kind import does not write (reported as skipped).
    Other {
        kind: String,
        name: String,
    },
}

impl Doc {
    pub fn kind(&self) -> &str {
        match self {
            Doc::Tenant(_) => "Tenant",
            Doc::DataSource(_) => "DataSource",
            Doc::Dashboard(_) => "Dashboard",
            Doc::SavedQuery(_) => "SavedQuery",
            Doc::GovernancePolicy(_) => "GovernancePolicy",
            Doc::Other { kind, .. } => kind,
        }
    }

    pub fn name(&self) -> String {
        fn n<K: kube::Resource>(r: &K) -> String {
            r.meta().name.clone().unwrap_or_default()
        }
        match self {
            Doc::Tenant(r) => n(r),
            Doc::DataSource(r) => n(r),
            Doc::Dashboard(r) => n(r),
            Doc::SavedQuery(r) => n(r),
            Doc::GovernancePolicy(r) => n(r),
            Doc::Other { name, .. } => name.clone(),
        }
    }
}

/// The resources and the Secrets (name -> key -> value) of one import body.
#[derive(Default)]
pub struct Parsed {
    pub docs: Vec<Doc>,
    pub secrets: HashMap<String, BTreeMap<String, String>>,
}

fn bad(index: usize, field: impl Into<String>, detail: impl std::fmt::Display) -> ApiError {
    let field = field.into();
    ApiError::BadRequest {
        detail: format!("document {index}: {field}: {detail}"),
        field: Some(format!("documents[{index}].{field}")),
    }
}

/// The raw documents of the body, in order (a `List`'s items in place of the list).
fn raw_documents(body: &str, json: bool) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    if json {
        let v: Value = serde_json::from_str(body).map_err(|e| ApiError::BadRequest {
            field: None,
            detail: format!("the body is not JSON: {e}"),
        })?;
        match v {
            Value::Array(items) => out.extend(items),
            other => out.push(other),
        }
    } else {
        for (i, de) in serde_yaml::Deserializer::from_str(body).enumerate() {
            match Value::deserialize(de) {
                Ok(Value::Null) => {}
                Ok(v) => out.push(v),
                Err(e) => return Err(bad(i, "(document)", format!("not YAML: {e}"))),
            }
        }
    }
    let mut flat = Vec::new();
    for v in out {
        match (v.get("kind").and_then(Value::as_str), v.get("items")) {
            (Some("List"), Some(Value::Array(items))) => flat.extend(items.iter().cloned()),
            _ => flat.push(v),
        }
    }
    Ok(flat)
}

fn typed<T: serde::de::DeserializeOwned>(index: usize, v: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v).map_err(|e| bad(index, e.path().to_string(), e.inner()))
}

#[derive(Deserialize)]
struct SecretDoc {
    #[serde(default, rename = "stringData")]
    string_data: BTreeMap<String, String>,
    #[serde(default)]
    data: BTreeMap<String, String>,
}

fn secret(index: usize, v: Value) -> Result<BTreeMap<String, String>, ApiError> {
    let s: SecretDoc = typed(index, v)?;
    let mut values = s.string_data;
    for (k, v) in s.data {
        let decoded = B64
            .decode(v.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| bad(index, format!("data.{k}"), "is not base64 UTF-8"))?;
        values.entry(k).or_insert(decoded);
    }
    Ok(values)
}

/// Parses the body: YAML unless `json`.
pub fn parse(body: &str, json: bool) -> Result<Parsed, ApiError> {
    let mut out = Parsed::default();
    for (i, v) in raw_documents(body, json)?.into_iter().enumerate() {
        if !v.is_object() {
            return Err(bad(i, "(document)", "must be an object"));
        }
        let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        let kind = text("/kind").ok_or_else(|| bad(i, "kind", "missing"))?;
        let api = text("/apiVersion").ok_or_else(|| bad(i, "apiVersion", "missing"))?;
        let name = text("/metadata/name").ok_or_else(|| bad(i, "metadata.name", "missing"))?;
        if kind == "Secret" && api == "v1" {
            let values = secret(i, v)?;
            out.secrets.insert(name, values);
            continue;
        }
        if api != API_VERSION {
            out.docs.push(Doc::Other {
                kind: format!("{api}/{kind}"),
                name,
            });
            continue;
        }
        if !nexbii_crds::validate::is_dns_label(&name) {
            return Err(bad(i, "metadata.name", "must be a DNS label"));
        }
        out.docs.push(match kind.as_str() {
            "Tenant" => Doc::Tenant(typed(i, v)?),
            "DataSource" => Doc::DataSource(typed(i, v)?),
            "Dashboard" => Doc::Dashboard(typed(i, v)?),
            "SavedQuery" => Doc::SavedQuery(typed(i, v)?),
            "GovernancePolicy" => Doc::GovernancePolicy(typed(i, v)?),
            _ => Doc::Other { kind, name },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: ApiError) -> (Option<String>, String) {
        match e {
            ApiError::BadRequest { field, detail } => (field, detail),
            other => panic!("not a 400: {other}"),
        }
    }

    #[test]
    fn yaml_streams_lists_and_secrets_are_read() {
        let yaml = r#"
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret}
data: {other: aGk=}
---
apiVersion: v1
kind: List
items:
  - apiVersion: nexbii.io/v1alpha1
    kind: SavedQuery
    metadata: {name: top}
    spec: {tenantRef: {name: acme}, dataSource: sales, sql: SELECT 1}
---
apiVersion: nexbii.io/v1alpha1
kind: BackupSchedule
metadata: {name: nightly}
"#;
        let p = parse(yaml, false).unwrap();
        assert_eq!(p.secrets["creds"]["password"], "s3cret");
        assert_eq!(p.secrets["creds"]["other"], "hi");
        let seen: Vec<String> = p
            .docs
            .iter()
            .map(|d| format!("{}/{}", d.kind(), d.name()))
            .collect();
        assert_eq!(seen, ["SavedQuery/top", "BackupSchedule/nightly"]);
        let json = r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"nexbii.io/v1alpha1",
            "kind":"SavedQuery","metadata":{"name":"q"},"spec":{"tenantRef":{"name":"a"},
            "dataSource":"s","sql":"SELECT 1"}}]}"#;
        assert_eq!(parse(json, true).unwrap().docs[0].name(), "q");
    }

    #[test]
    fn a_bad_document_names_its_index_and_field() {
        let yaml = "apiVersion: nexbii.io/v1alpha1\nkind: SavedQuery\nmetadata: {name: ok}\nspec: {tenantRef: {name: a}, dataSource: s, sql: x}\n---\napiVersion: nexbii.io/v1alpha1\nkind: Dashboard\nmetadata: {name: d}\nspec: {tenantRef: {name: a}, title: T, widgets: [{id: w, chart: donut, query: {dataSource: s, sql: x}}]}\n";
        let (field, detail) = field_of(parse(yaml, false).err().unwrap());
        assert_eq!(field.as_deref(), Some("documents[1].spec.widgets[0].chart"));
        assert!(
            detail.starts_with("document 1: spec.widgets[0].chart"),
            "{detail}"
        );
        let (field, _) = field_of(parse("kind: DataSource\n", false).err().unwrap());
        assert_eq!(field.as_deref(), Some("documents[0].apiVersion"));
        let (field, _) = field_of(
            parse(
                "apiVersion: nexbii.io/v1alpha1\nkind: Dashboard\nmetadata: {name: Not_A_Label}\n",
                false,
            )
            .err()
            .unwrap(),
        );
        assert_eq!(field.as_deref(), Some("documents[0].metadata.name"));
        let (field, _) = field_of(parse("a: [1\n", false).err().unwrap());
        assert_eq!(field.as_deref(), Some("documents[0].(document)"));
        let (_, detail) = field_of(parse("{", true).err().unwrap());
        assert!(detail.contains("not JSON"), "{detail}");
    }
}
