//! Fails when the checked-in CRD YAML differs from what the Rust types generate.
#[test]
fn checked_in_crds_match_generated() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, yaml) in nexbii_crds::crd_files() {
        let on_disk = std::fs::read_to_string(dir.join(&file)).unwrap_or_else(|_| {
            panic!("{file} missing: run `cargo run -p nexbii-crds --bin crdgen`")
        });
        assert!(
            on_disk == yaml,
            "{file} is stale: run `cargo run -p nexbii-crds --bin crdgen`"
        );
    }
}

/// kube-apiserver 1.20 refuses a CRD whose schema lists `null` among an enum's values (what
/// schemars writes for an optional enum), with an unrelated-looking "per-version schemas may
/// not all be set to identical values".
#[test]
fn no_enum_lists_null() {
    fn walk(v: &serde_json::Value, path: &str, bad: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(serde_json::Value::Array(values)) = m.get("enum") {
                    if values.iter().any(|x| x.is_null()) {
                        bad.push(path.to_string());
                    }
                }
                for (k, x) in m {
                    walk(x, &format!("{path}.{k}"), bad);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    walk(x, &format!("{path}[{i}]"), bad);
                }
            }
            _ => {}
        }
    }
    let mut bad = Vec::new();
    for crd in nexbii_crds::all_crds() {
        let v = serde_json::to_value(&crd).unwrap();
        walk(&v, &crd.metadata.name.clone().unwrap_or_default(), &mut bad);
    }
    assert!(bad.is_empty(), "enums with null: {bad:?}");
}
