//! Insights: deterministic statistics over a query result — trends, period changes, outliers,
//! concentration and correlations — computed here, with no external AI service. The query runs
//! through the same pipeline as a normal run (guard, row policies, masking, row limit, audit),
//! and masked columns are never analysed. Gated by the `insights` feature flag.
pub mod analyse;
pub mod change;
pub mod columns;
pub mod concentration;
pub mod correlation;
pub mod model;
pub mod outlier;
pub mod routes;
pub mod series;
pub mod stats;
pub mod trend;

pub use model::{Finding, FindingKind, Insights, SkippedColumn};
pub use routes::{routes, InsightsRequest};
