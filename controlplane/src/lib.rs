//! NexBII control plane: the per-tenant server behind the BI and admin API.
//!
//! Areas (each with its routes, domain logic and types): `auth`, `bi`, `governance`, `admin`,
//! `provisioning`, and the web `console` served at `/`. Shared floors below them: `http` (errors, extractors, OpenAPI), `engine`
//! (the query pipeline and drivers) and `store` (storage and the one write path).
pub mod admin;
pub mod audit;
pub mod auth;
pub mod bi;
pub mod branding;
pub mod config;
pub mod console;
pub mod crypto;
pub mod engine;
pub mod events;
pub mod governance;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod migrate;
pub mod provisioning;
pub mod sample_data;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tenant;
