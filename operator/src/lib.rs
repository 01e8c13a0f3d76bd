//! NexBII operator: one kube-runtime controller per kind, leader-elected.
pub mod backup;
pub mod backups;
pub mod builders;
pub mod conditions;
pub mod context;
pub mod cp_client;
pub mod leader;
pub mod metrics;
pub mod names;
pub mod owned;
pub mod run;
pub mod secrets;
pub mod sync;
pub mod tenant;
