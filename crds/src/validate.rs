//! Semantic checks the OpenAPI schema cannot express (cross-field rules; Kubernetes 1.20 has no CEL).
//! The control plane runs them on every write; the operator reports them as conditions.
use std::collections::HashSet;

use crate::{
    backup::{BackupMethod, BackupScheduleSpec, BackupSpec, DestinationKind, RestoreSpec},
    dashboard::DashboardSpec,
    datasource::{DataSourceSpec, DataSourceType},
    governance::GovernancePolicySpec,
    saved_query::SavedQuerySpec,
    tenant::{StorageKind, TenantSpec},
};

/// One invalid field, named by its path in the resource (`spec.widgets[0].query.dataSource`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

pub trait Validate {
    /// Every semantic error found (empty when valid).
    fn validate(&self) -> Vec<FieldError>;
}

fn require<T>(errs: &mut Vec<FieldError>, v: &Option<T>, field: &str, why: &str) {
    if v.is_none() {
        errs.push(FieldError::new(field, format!("required {why}")));
    }
}

/// A DNS-1123 label, the id format of every named object.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl Validate for TenantSpec {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self.display_name.trim().is_empty() {
            errs.push(FieldError::new("spec.displayName", "must not be empty"));
        }
        let storage = &self.instance.storage;
        if storage.kind == StorageKind::Mongodb {
            require(
                &mut errs,
                &storage.mongodb,
                "spec.instance.storage.mongodb",
                "when storage kind is mongodb",
            );
        }
        let limits = &self.rate_limits;
        for (name, l) in [
            ("perKey", limits.per_key),
            ("perUser", limits.per_user),
            ("perAddress", limits.per_address),
        ] {
            if !(1..=1_000_000).contains(&l.requests_per_minute) {
                errs.push(FieldError::new(
                    format!("spec.rateLimits.{name}.requestsPerMinute"),
                    "must be 1 to 1000000",
                ));
            }
            if !(1..=100_000).contains(&l.burst) {
                errs.push(FieldError::new(
                    format!("spec.rateLimits.{name}.burst"),
                    "must be 1 to 100000",
                ));
            }
        }
        if let Some(part) = &self.settings {
            match crate::settings::Settings::from_part(part, "spec.settings.") {
                Ok(s) => errs.extend(s.validate_at("spec.settings.")),
                Err(e) => errs.push(e),
            }
        }
        if let Some(o) = &self.auth.oidc {
            if !o.scopes.iter().any(|s| s == "openid") {
                errs.push(FieldError::new(
                    "spec.auth.oidc.scopes",
                    "must contain openid",
                ));
            }
        }
        if let Some(fb) = self.bootstrap.as_ref().and_then(|b| b.from_backup.as_ref()) {
            errs.extend(destination_errors(
                &fb.destination,
                "spec.bootstrap.fromBackup.destination",
            ));
            if let Some(t) = &fb.target_time {
                if chrono::DateTime::parse_from_rfc3339(t).is_err() {
                    errs.push(FieldError::new(
                        "spec.bootstrap.fromBackup.targetTime",
                        "an RFC 3339 time (2026-01-31T12:00:00Z)",
                    ));
                }
            }
        }
        let mut seen = HashSet::new();
        for (i, a) in self.bootstrap_admins.iter().enumerate() {
            if !seen.insert(&a.username) {
                errs.push(FieldError::new(
                    format!("spec.bootstrapAdmins[{i}].username"),
                    "duplicate username",
                ));
            }
        }
        errs
    }
}

impl Validate for DataSourceSpec {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let why = format!("for type {}", self.source_type.as_str());
        match self.source_type {
            DataSourceType::Postgresql | DataSourceType::Mysql => {
                require(&mut errs, &self.host, "spec.host", &why);
                require(&mut errs, &self.database, "spec.database", &why);
                require(&mut errs, &self.username, "spec.username", &why);
            }
            DataSourceType::Mongodb => {
                require(&mut errs, &self.host, "spec.host", &why);
                require(&mut errs, &self.database, "spec.database", &why);
            }
            DataSourceType::Sqlite => {
                require(&mut errs, &self.path, "spec.path", &why);
                if self.host.is_some() {
                    errs.push(FieldError::new("spec.host", "not allowed for type sqlite"));
                }
            }
        }
        errs
    }
}

impl Validate for SavedQuerySpec {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self
            .display_name
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            errs.push(FieldError::new("spec.displayName", "must not be blank"));
        }
        if self.sql.trim().is_empty() {
            errs.push(FieldError::new("spec.sql", "must not be empty"));
        }
        // Objects and arrays could smuggle operators into a MongoDB pipeline.
        if let Some(i) = self
            .params
            .iter()
            .position(|p| p.is_array() || p.is_object())
        {
            errs.push(FieldError::new(
                format!("spec.params[{i}]"),
                "must be a string, number, boolean or null",
            ));
        }
        errs
    }
}

impl Validate for DashboardSpec {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if self.title.trim().is_empty() {
            errs.push(FieldError::new("spec.title", "must not be empty"));
        }
        let mut vars = HashSet::new();
        for (i, v) in self.variables.iter().enumerate() {
            if !vars.insert(v.name.as_str()) {
                errs.push(FieldError::new(
                    format!("spec.variables[{i}].name"),
                    "duplicate variable",
                ));
            }
            if let Some(d) = &v.default {
                if !v.options.is_empty() && !v.options.contains(d) {
                    errs.push(FieldError::new(
                        format!("spec.variables[{i}].default"),
                        "must be one of the options",
                    ));
                }
            }
        }
        let mut ids = HashSet::new();
        for (i, w) in self.widgets.iter().enumerate() {
            if !ids.insert(w.id.as_str()) {
                errs.push(FieldError::new(
                    format!("spec.widgets[{i}].id"),
                    "duplicate widget id",
                ));
            }
            if !is_dns_label(&w.query.data_source) {
                errs.push(FieldError::new(
                    format!("spec.widgets[{i}].query.dataSource"),
                    "must be a DataSource name (DNS label)",
                ));
            }
            for (j, p) in w.query.params.iter().enumerate() {
                if let Some(var) = variable_ref(p) {
                    if !vars.contains(var) {
                        errs.push(FieldError::new(
                            format!("spec.widgets[{i}].query.params[{j}]"),
                            format!("unknown variable {var:?}"),
                        ));
                    }
                }
            }
        }
        errs
    }
}

/// `{"variable": "name"}` refers to a dashboard variable.
pub fn variable_ref(v: &serde_json::Value) -> Option<&str> {
    let obj = v.as_object()?;
    if obj.len() != 1 {
        return None;
    }
    obj.get("variable")?.as_str()
}

impl Validate for GovernancePolicySpec {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        for (i, r) in self.classification.custom_rules.iter().enumerate() {
            if r.column_name_pattern.is_none() && r.value_pattern.is_none() {
                errs.push(FieldError::new(
                    format!("spec.classification.customRules[{i}]"),
                    "needs columnNamePattern or valuePattern",
                ));
            }
        }
        let mut names = HashSet::new();
        for (i, f) in self.row_filters.filters.iter().enumerate() {
            if !names.insert(&f.name) {
                errs.push(FieldError::new(
                    format!("spec.rowFilters.filters[{i}].name"),
                    "duplicate name",
                ));
            }
            if f.clause.trim().is_empty() {
                errs.push(FieldError::new(
                    format!("spec.rowFilters.filters[{i}].clause"),
                    "must not be empty",
                ));
            }
        }
        let mut levels = HashSet::new();
        for (i, m) in self.masking.iter().enumerate() {
            if !levels.insert(m.level) {
                errs.push(FieldError::new(
                    format!("spec.masking[{i}].level"),
                    "duplicate level",
                ));
            }
        }
        let rules = [
            (
                "restrictedQueries",
                self.approvals.restricted_queries.as_ref().map(|q| &q.rule),
            ),
            (
                "dashboardPublication",
                self.approvals.dashboard_publication.as_ref(),
            ),
            (
                "dataSourceCreation",
                self.approvals.data_source_creation.as_ref(),
            ),
            ("exports", self.approvals.exports.as_ref().map(|e| &e.rule)),
            ("externalSharing", self.approvals.external_sharing.as_ref()),
        ];
        for (name, rule) in rules {
            if let Some(rule) = rule {
                if rule.approvers.is_empty() {
                    errs.push(FieldError::new(
                        format!("spec.approvals.{name}.approvers"),
                        "at least one approver",
                    ));
                }
            }
        }
        errs
    }
}

impl Validate for BackupScheduleSpec {
    fn validate(&self) -> Vec<FieldError> {
        destination_errors(&self.destination, "spec.destination")
    }
}

impl Validate for BackupSpec {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = destination_errors(&self.destination, "spec.destination");
        if self.method == BackupMethod::Schedule && self.schedule_ref.is_none() {
            errs.push(FieldError::new(
                "spec.scheduleRef",
                "required when method is schedule",
            ));
        }
        errs
    }
}

impl Validate for RestoreSpec {
    fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        match (&self.backup_ref, &self.target_time) {
            (None, None) => errs.push(FieldError::new(
                "spec.backupRef",
                "name a Backup, or give spec.targetTime",
            )),
            (Some(_), Some(_)) => errs.push(FieldError::new(
                "spec.targetTime",
                "give either spec.backupRef or spec.targetTime, not both",
            )),
            _ => {}
        }
        if let Some(t) = &self.target_time {
            if chrono::DateTime::parse_from_rfc3339(t).is_err() {
                errs.push(FieldError::new(
                    "spec.targetTime",
                    "an RFC 3339 time (2026-01-31T12:00:00Z)",
                ));
            }
        }
        if self.only.as_ref().is_some_and(|o| o.is_empty()) {
            errs.push(FieldError::new(
                "spec.only",
                "name at least one collection, or leave it out to restore all",
            ));
        }
        errs
    }
}

fn destination_errors(d: &crate::backup::Destination, at: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match d.kind {
        DestinationKind::Volume => require(
            &mut errs,
            &d.volume,
            &format!("{at}.volume"),
            "when kind is volume",
        ),
        DestinationKind::S3 => require(&mut errs, &d.s3, &format!("{at}.s3"), "when kind is s3"),
    }
    errs
}
