//! NexBII custom resources, group `nexbii.io`, version `v1alpha1`.
//!
//! These types are the single source of truth: the CRD YAML in this folder is generated from
//! them (`cargo run -p nexbii-crds --bin crdgen`) and the control plane's API accepts the same
//! spec types.
pub mod backup;
pub mod common;
pub mod dashboard;
pub mod datasource;
pub mod governance;
pub mod saved_query;
pub mod settings;
pub mod tenant;
pub mod validate;

pub use backup::*;
pub use common::*;
pub use dashboard::*;
pub use datasource::*;
pub use governance::*;
pub use saved_query::*;
pub use settings::{MfaRequirement, Settings};
pub use tenant::*;
pub use validate::{FieldError, Validate};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub const GROUP: &str = "nexbii.io";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "nexbii.io/v1alpha1";

/// Every CRD, in install order.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    [
        Tenant::crd(),
        DataSource::crd(),
        Dashboard::crd(),
        GovernancePolicy::crd(),
        SavedQuery::crd(),
        BackupSchedule::crd(),
        Backup::crd(),
        Restore::crd(),
    ]
    .into_iter()
    .map(without_status_defaults)
    .map(with_name_rule)
    .collect()
}

/// Every object of these kinds is an id inside a tenant's instance (and a Tenant's name is the
/// instance's tenant id and a label value), so names are DNS-1123 labels of at most 63
/// characters; the apiserver alone would accept any DNS-1123 subdomain of up to 253.
fn with_name_rule(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let mut v = serde_json::to_value(&crd).expect("CRD serializes");
    if let Some(versions) = v
        .pointer_mut("/spec/versions")
        .and_then(|x| x.as_array_mut())
    {
        for ver in versions {
            if let Some(props) = ver
                .pointer_mut("/schema/openAPIV3Schema/properties")
                .and_then(|p| p.as_object_mut())
            {
                props.insert(
                    "metadata".into(),
                    serde_json::json!({
                        "type": "object",
                        "properties": {"name": {
                            "type": "string",
                            "maxLength": 63,
                            "pattern": common::DNS_LABEL,
                        }},
                    }),
                );
            }
        }
    }
    serde_json::from_value(v).expect("CRD round-trips")
}

/// Status is written only by controllers, so schema defaults there serve no one, and
/// Kubernetes 1.20 rejects some of them (an empty-string default reads as null there).
fn without_status_defaults(crd: CustomResourceDefinition) -> CustomResourceDefinition {
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
    let mut v = serde_json::to_value(&crd).expect("CRD serializes");
    if let Some(versions) = v
        .pointer_mut("/spec/versions")
        .and_then(|x| x.as_array_mut())
    {
        for ver in versions {
            if let Some(status) = ver.pointer_mut("/schema/openAPIV3Schema/properties/status") {
                strip(status);
            }
        }
    }
    serde_json::from_value(v).expect("CRD round-trips")
}

/// The file each CRD is written to inside `crds/`, and its YAML.
pub fn crd_files() -> Vec<(String, String)> {
    all_crds()
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let value = canonical(serde_json::to_value(&crd).expect("CRD serializes"));
            let yaml = serde_yaml::to_string(&value).expect("CRD serializes");
            (format!("{name}.yaml"), yaml)
        })
        .collect()
}

/// Sorts object keys, so the output does not depend on whether some crate in the build enabled
/// serde_json's `preserve_order` (feature unification differs between `crdgen` and test builds).
fn canonical(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// All CRDs as one multi-document YAML stream.
pub fn crds_yaml() -> String {
    crd_files()
        .into_iter()
        .map(|(_, y)| format!("---\n{y}"))
        .collect()
}
