//! NexBII control plane: the per-tenant server behind the BI and admin API.
pub mod auth;
pub mod config;
pub mod crypto;
pub mod dashboards;
pub mod datasources;
pub mod engine;
pub mod error;
pub mod manifests;
pub mod metrics;
pub mod models;
pub mod openapi;
pub mod provisioning;
pub mod queries;
pub mod sample_data;
pub mod server;
pub mod state;
pub mod store;
