//! The end-to-end tests, one module per area, linked into one test binary: one link of the
//! control plane instead of one per file keeps the build small and quick (CI machines have
//! limited disk). Run one area with `cargo test -p nexbii-tests --test e2e <module>::`.
mod alerts;
mod api;
mod apikeys;
mod audit;
mod backups;
mod backups_pitr;
mod backups_recovery;
mod branding;
mod chart;
mod config_export;
mod config_management;
mod dashboard_stream;
mod embed;
mod events;
mod governance;
mod identity;
mod insights;
mod mongo_source;
mod monitoring;
mod oidc;
mod operator;
mod operator_backups;
mod provisioning;
mod queries;
mod sharing;
mod source_status;
mod sql_sources;
mod store_conformance;
mod users;
mod value_types;
mod write_path;
