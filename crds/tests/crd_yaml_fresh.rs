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
