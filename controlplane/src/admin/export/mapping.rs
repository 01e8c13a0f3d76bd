//! Pure mapping between stored records and the resource documents (the CRD shapes of `crds/`)
//! that export writes and import reads. No store, no HTTP: everything here is unit-tested.
use serde_json::{json, Map, Value};

use nexbii_crds::{DataSourceSpec, SecretKeyRef, TenantSpec, API_VERSION};

use crate::{
    bi::{dashboards::DashboardRecord, datasources::DataSourceRecord, queries::SavedQuery},
    governance::PolicyRecord,
};

/// Annotation on an exported DataSource whose password the instance holds: the Secret it
/// refers to and the keys that Secret must hold (the value itself is never exported).
pub const SECRET_KEYS_ANNOTATION: &str = "nexbii.io/secret-keys";
/// The key of the password inside a derived Secret.
pub const PASSWORD_KEY: &str = "password";

/// The Secret a data source's API-entered password is exported as a reference to.
pub fn secret_name_for(datasource: &str) -> String {
    format!("datasource-{datasource}-credentials")
}

/// The reference an export writes for a source with a stored password: the one its spec
/// declares (provisioned sources), or one derived from its name.
pub fn password_ref(rec: &DataSourceRecord) -> Option<SecretKeyRef> {
    rec.password_sealed.as_ref()?;
    Some(
        rec.spec
            .password_secret_ref
            .clone()
            .unwrap_or_else(|| SecretKeyRef {
                name: secret_name_for(&rec.name),
                key: PASSWORD_KEY.into(),
            }),
    )
}

fn document(kind: &str, name: &str, annotations: Option<Value>, spec: Value) -> Value {
    let mut metadata = json!({ "name": name });
    if let Some(a) = annotations {
        metadata["annotations"] = a;
    }
    json!({ "apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec })
}

fn spec_value<T: serde::Serialize>(spec: &T) -> Value {
    serde_json::to_value(spec).expect("CRD specs serialize")
}

fn tenant_ref(tenant: &str) -> nexbii_crds::TenantRef {
    nexbii_crds::TenantRef {
        name: tenant.to_string(),
    }
}

pub fn datasource_doc(tenant: &str, rec: &DataSourceRecord) -> Value {
    let mut spec: DataSourceSpec = rec.spec.clone();
    spec.tenant_ref = tenant_ref(tenant);
    spec.password_secret_ref = password_ref(rec);
    let annotations = spec.password_secret_ref.as_ref().map(
        |r| json!({ SECRET_KEYS_ANNOTATION: format!("Secret {} must hold key {}", r.name, r.key) }),
    );
    document("DataSource", &rec.name, annotations, spec_value(&spec))
}

pub fn dashboard_doc(tenant: &str, rec: &DashboardRecord) -> Value {
    let mut spec = rec.spec.clone();
    spec.tenant_ref = tenant_ref(tenant);
    document("Dashboard", &rec.name, None, spec_value(&spec))
}

pub fn query_doc(tenant: &str, rec: &SavedQuery) -> Value {
    document(
        "SavedQuery",
        &rec.id,
        None,
        spec_value(&rec.to_spec(tenant)),
    )
}

pub fn policy_doc(tenant: &str, rec: &PolicyRecord) -> Value {
    let mut spec = rec.spec.clone();
    spec.tenant_ref = tenant_ref(tenant);
    document("GovernancePolicy", &rec.name, None, spec_value(&spec))
}

/// The Tenant as a document whose `spec.settings` holds every setting that is not a default:
/// what the Tenant declares, then what was set through the API. Bootstrap admins and
/// `bootstrap` are left out: accounts and how the instance was first filled are not
/// configuration, and their Secrets are not part of an export.
pub fn tenant_doc(tenant: &str, spec: &TenantSpec, stored: &Map<String, Value>) -> Value {
    let mut spec = spec.clone();
    spec.bootstrap_admins.clear();
    spec.bootstrap = None;
    let merged = merge_settings(spec.settings.as_ref(), stored);
    spec.settings = (!merged.is_empty()).then_some(merged);
    document("Tenant", tenant, None, spec_value(&spec))
}

/// `stored` overlaid with `declared` (what a Tenant declares wins, as it does in force).
pub fn merge_settings(
    declared: Option<&Map<String, Value>>,
    stored: &Map<String, Value>,
) -> Map<String, Value> {
    fn overlay(base: &mut Map<String, Value>, top: &Map<String, Value>) {
        for (k, v) in top {
            match (base.get_mut(k), v) {
                (Some(Value::Object(b)), Value::Object(t)) => overlay(b, t),
                _ => {
                    base.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let mut out = stored.clone();
    if let Some(d) = declared {
        overlay(&mut out, d);
    }
    out
}

/// The part of imported `settings` that this instance stores: what its Tenant declares is left
/// out when equal, and is an error (naming the field) when it differs, since the Tenant owns it.
pub fn settings_to_store(
    declared: Option<&Map<String, Value>>,
    imported: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    fn strip(
        declared: &Map<String, Value>,
        imported: &Map<String, Value>,
        prefix: &str,
    ) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        for (k, v) in imported {
            let path = format!("{prefix}{k}");
            match (declared.get(k), v) {
                (None, _) => {
                    out.insert(k.clone(), v.clone());
                }
                (Some(Value::Object(d)), Value::Object(i)) => {
                    let rest = strip(d, i, &format!("{path}."))?;
                    if !rest.is_empty() {
                        out.insert(k.clone(), Value::Object(rest));
                    }
                }
                (Some(d), v) if d == v => {}
                (Some(_), _) => {
                    return Err(format!(
                        "settings.{path} is declared by this instance's Tenant with another value"
                    ))
                }
            }
        }
        Ok(out)
    }
    match declared {
        Some(d) => strip(d, imported, ""),
        None => Ok(imported.clone()),
    }
}

/// Where a kind comes in an import: settings, then sources, then policies (a dashboard's
/// publication consults them), then what reads the sources.
pub fn rank(kind: &str) -> u8 {
    match kind {
        "Tenant" => 0,
        "DataSource" => 1,
        "GovernancePolicy" => 2,
        "SavedQuery" => 3,
        "Dashboard" => 4,
        _ => 5,
    }
}

/// Documents in the order an import applies them (sources before what reads them), each kind
/// sorted by name, so two exports of the same configuration are byte-identical.
pub fn ordered(mut docs: Vec<Value>) -> Vec<Value> {
    let key = |d: &Value| {
        (
            rank(d["kind"].as_str().unwrap_or_default()),
            d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    docs.sort_by_key(key);
    docs
}

/// Multi-document YAML, one `---` before each document.
pub fn to_yaml(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| {
            format!(
                "---\n{}",
                serde_yaml::to_string(d).expect("JSON values serialize")
            )
        })
        .collect()
}

/// A Kubernetes `List` of the documents.
pub fn to_list(docs: Vec<Value>) -> Value {
    json!({ "apiVersion": "v1", "kind": "List", "items": docs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Meta, Origin};

    fn source(password: bool, declared_ref: Option<SecretKeyRef>) -> DataSourceRecord {
        let spec: DataSourceSpec = serde_json::from_value(json!({
            "tenantRef": {"name": "old"}, "type": "postgresql", "host": "db", "database": "sales",
            "username": "bi"
        }))
        .unwrap();
        DataSourceRecord {
            name: "warehouse".into(),
            spec: DataSourceSpec {
                password_secret_ref: declared_ref,
                ..spec
            },
            password_sealed: password.then(|| "sealed-bytes-not-a-password".into()),
            base_dir: None,
            origin: Origin::Api,
            meta: Meta::default(),
        }
    }

    #[test]
    fn a_stored_password_becomes_a_derived_secret_reference() {
        let doc = datasource_doc("acme", &source(true, None));
        assert_eq!(doc["apiVersion"], "nexbii.io/v1alpha1");
        assert_eq!(doc["kind"], "DataSource");
        assert_eq!(doc["metadata"]["name"], "warehouse");
        assert_eq!(doc["spec"]["tenantRef"]["name"], "acme");
        assert_eq!(
            doc["spec"]["passwordSecretRef"],
            json!({"name": "datasource-warehouse-credentials", "key": "password"})
        );
        assert_eq!(
            doc["metadata"]["annotations"][SECRET_KEYS_ANNOTATION],
            "Secret datasource-warehouse-credentials must hold key password"
        );
        assert!(!doc.to_string().contains("sealed-bytes"));
        // The document is a DataSource the manifests loader and the operator read.
        let back: nexbii_crds::DataSource = serde_json::from_value(doc).unwrap();
        assert_eq!(back.spec.host.as_deref(), Some("db"));
    }

    #[test]
    fn a_declared_reference_is_kept_and_no_password_means_no_reference() {
        let declared = SecretKeyRef {
            name: "wh".into(),
            key: "pw".into(),
        };
        let doc = datasource_doc("acme", &source(true, Some(declared)));
        assert_eq!(
            doc["spec"]["passwordSecretRef"],
            json!({"name": "wh", "key": "pw"})
        );
        let doc = datasource_doc("acme", &source(false, None));
        assert!(doc["spec"].get("passwordSecretRef").is_none(), "{doc}");
        assert!(doc["metadata"].get("annotations").is_none(), "{doc}");
    }

    #[test]
    fn settings_merge_with_the_tenant_winning_and_split_back() {
        let declared =
            json!({"sessions": {"idleTimeoutMinutes": 30}, "mfa": {"required": "admins"}});
        let stored = json!({"sessions": {"idleTimeoutMinutes": 5, "absoluteTimeoutHours": 8},
            "query": {"rowLimit": 100}});
        let (declared, stored) = (
            declared.as_object().unwrap().clone(),
            stored.as_object().unwrap().clone(),
        );
        let merged = merge_settings(Some(&declared), &stored);
        assert_eq!(
            Value::Object(merged.clone()),
            json!({"sessions": {"idleTimeoutMinutes": 30, "absoluteTimeoutHours": 8},
                "mfa": {"required": "admins"}, "query": {"rowLimit": 100}})
        );
        // Importing the merged settings into an instance with the same Tenant stores the rest.
        let back = settings_to_store(Some(&declared), &merged).unwrap();
        assert_eq!(
            Value::Object(back),
            json!({"sessions": {"absoluteTimeoutHours": 8}, "query": {"rowLimit": 100}})
        );
        // A value the Tenant declares differently is refused, naming the field.
        let mut other = merged.clone();
        other["mfa"] = json!({"required": "everyone"});
        let err = settings_to_store(Some(&declared), &other).unwrap_err();
        assert!(err.contains("settings.mfa.required"), "{err}");
        assert_eq!(settings_to_store(None, &stored).unwrap(), stored);
    }

    #[test]
    fn the_tenant_document_carries_settings_and_no_bootstrap_admins() {
        let spec: TenantSpec = serde_json::from_value(json!({
            "displayName": "Acme", "bootstrapAdmins": [{"username": "admin",
                "passwordSecretRef": {"name": "acme-admin", "key": "password"}}],
            "settings": {"mfa": {"required": "admins"}}
        }))
        .unwrap();
        let stored = json!({"query": {"rowLimit": 100}});
        let doc = tenant_doc("acme", &spec, stored.as_object().unwrap());
        assert_eq!(doc["kind"], "Tenant");
        assert_eq!(doc["metadata"]["name"], "acme");
        assert_eq!(doc["spec"]["bootstrapAdmins"], json!([]));
        assert_eq!(
            doc["spec"]["settings"],
            json!({"mfa": {"required": "admins"}, "query": {"rowLimit": 100}})
        );
        let t: nexbii_crds::Tenant = serde_json::from_value(doc).unwrap();
        assert_eq!(t.spec.display_name, "Acme");
        let empty = tenant_doc(
            "acme",
            &TenantSpec {
                settings: None,
                ..t.spec
            },
            &Map::new(),
        );
        assert!(empty["spec"].get("settings").is_none(), "{empty}");
    }

    #[test]
    fn documents_are_ordered_by_kind_then_name_and_written_as_one_stream() {
        let docs = vec![
            json!({"kind": "Dashboard", "metadata": {"name": "a"}}),
            json!({"kind": "DataSource", "metadata": {"name": "z"}}),
            json!({"kind": "DataSource", "metadata": {"name": "b"}}),
            json!({"kind": "Tenant", "metadata": {"name": "t"}}),
        ];
        let names: Vec<String> = ordered(docs.clone())
            .iter()
            .map(|d| {
                format!(
                    "{}/{}",
                    d["kind"].as_str().unwrap(),
                    d["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            names,
            ["Tenant/t", "DataSource/b", "DataSource/z", "Dashboard/a"]
        );
        let yaml = to_yaml(&ordered(docs));
        assert_eq!(yaml.matches("---\n").count(), 4);
        let back: Vec<Value> = serde_yaml::Deserializer::from_str(&yaml)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(back[0]["kind"], "Tenant");
        assert_eq!(to_list(back)["kind"], "List");
    }
}
