//! `GovernancePolicy`: classification, masking, approvals and audit retention for a tenant.
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{Condition, TenantRef, IDENT};

#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[kube(
    group = "nexbii.io",
    version = "v1alpha1",
    kind = "GovernancePolicy",
    plural = "governancepolicies",
    shortname = "nxgp",
    namespaced,
    status = "GovernancePolicyStatus",
    printcolumn = r#"{"name":"Tenant","type":"string","jsonPath":".spec.tenantRef.name"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GovernancePolicySpec {
    pub tenant_ref: TenantRef,
    #[serde(default)]
    pub classification: ClassificationSpec,
    /// What a role sees of data at each sensitivity level.
    #[serde(default)]
    pub masking: Vec<MaskingRule>,
    /// Row-level security: which rows of a table each caller reads.
    #[serde(default)]
    pub row_filters: RowFiltersSpec,
    #[serde(default)]
    pub approvals: ApprovalsSpec,
    #[serde(default)]
    pub audit: AuditSpec,
    /// Pauses the operator for this object: while true it changes and deletes nothing for it
    /// (status shows `Suspended`). The control plane ignores the field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("default" = false))]
    pub suspend: bool,
}

#[derive(
    Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum SensitivityLevel {
    Public,
    Internal,
    Confidential,
    Restricted,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum BuiltinDetector {
    Email,
    Phone,
    CreditCard,
    NationalId,
    IpAddress,
    Iban,
    PersonName,
    DateOfBirth,
    PostalAddress,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClassificationSpec {
    /// Classify newly discovered columns automatically during catalog sync.
    #[serde(default = "d_true")]
    pub auto_classify: bool,
    #[serde(default)]
    pub builtin_detectors: Vec<BuiltinDetector>,
    #[serde(default)]
    pub custom_rules: Vec<CustomRule>,
}
fn d_true() -> bool {
    true
}
impl Default for ClassificationSpec {
    fn default() -> Self {
        Self {
            auto_classify: true,
            builtin_detectors: Vec::new(),
            custom_rules: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CustomRule {
    #[schemars(pattern(IDENT))]
    pub name: String,
    /// Regular expression matched against column names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub column_name_pattern: Option<String>,
    /// Regular expression matched against sampled values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub value_pattern: Option<String>,
    pub level: SensitivityLevel,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum MaskAction {
    None,
    /// Keeps a few characters at the ends (`j***@example.com`, `****1111`).
    Partial,
    /// A keyed, stable digest: equal values stay equal, so joins and counts still work.
    Hash,
    /// The value is replaced by `***`.
    Redact,
    /// The value becomes null.
    Nullify,
    /// The query is refused (403 naming the column).
    Refuse,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MaskingRule {
    pub level: SensitivityLevel,
    pub action: MaskAction,
    /// Roles that see the clear value.
    #[serde(default)]
    pub exempt_roles: Vec<String>,
}

/// Row filters, applied by rewriting every reference to a filtered table into a read through
/// its filter (joins, subqueries, CTEs and set operations included).
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RowFiltersSpec {
    /// A caller to whom no filter of a filtered table applies reads no rows of it (fail closed).
    #[serde(default = "d_true")]
    pub default_deny: bool,
    /// Roles that read every row of every table.
    #[serde(default)]
    pub exempt_roles: Vec<String>,
    #[serde(default)]
    pub filters: Vec<RowFilter>,
}
impl Default for RowFiltersSpec {
    fn default() -> Self {
        Self {
            default_deny: true,
            exempt_roles: Vec::new(),
            filters: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum RowFilterKind {
    /// Applies to the callers it names (`subjects`).
    #[default]
    Regular,
    /// Applies to every caller except those it names.
    Base,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RowFilter {
    #[schemars(pattern(IDENT))]
    pub name: String,
    /// The DataSource whose table is filtered.
    #[schemars(length(min = 1, max = 63))]
    pub data_source: String,
    /// `table` or `schema.table` (a name without schema matches the table in any schema).
    #[schemars(length(min = 1, max = 255))]
    pub table: String,
    #[serde(default)]
    pub kind: RowFilterKind,
    /// Usernames or `role:<name>` entries.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// A SQL boolean expression over the table's columns. `{{user.username}}`, `{{user.role}}`
    /// and `{{user.attributes.<key>}}` stand for the caller's values (inserted as literals;
    /// a missing attribute matches no row).
    #[schemars(length(min = 1, max = 4000))]
    pub clause: String,
    /// Filters with the same group key are ORed; groups (and filters without a key) are ANDed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_key: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalsSpec {
    /// Queries touching data at or above `minLevel` need approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restricted_queries: Option<QueryApproval>,
    /// Publishing a dashboard needs approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_publication: Option<ApprovalRule>,
    /// Adding a data source through the API needs approval (the same name and spec may be
    /// created by the requester once approved). Sources declared by the operator or by
    /// manifests are approved by their review process and are not held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source_creation: Option<ApprovalRule>,
    /// Exporting query results (CSV, JSON lines) needs approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exports: Option<ExportApproval>,
    /// Sharing outside the tenant (share links anyone holding them can open) needs approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_sharing: Option<ApprovalRule>,
}

/// An optional level as the plain enum: schemars writes `Option<enum>` with `null` among the
/// enum values, which kube-apiserver 1.20 rejects in a CRD (the field is omitted when unset).
fn optional_level(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    g.subschema_for::<SensitivityLevel>()
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExportApproval {
    /// Only exports touching data at or above this level are held; without it, every export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_level")]
    pub min_level: Option<SensitivityLevel>,
    #[serde(flatten)]
    pub rule: ApprovalRule,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct QueryApproval {
    pub min_level: SensitivityLevel,
    #[serde(flatten)]
    pub rule: ApprovalRule,
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRule {
    /// Number of successive approval levels, each decided by `approvers` (one approval each);
    /// ignored when `steps` is given.
    #[schemars(range(min = 1, max = 5))]
    pub levels: u8,
    /// Usernames or `role:<name>` entries allowed to approve (a role includes higher roles).
    #[schemars(length(min = 1))]
    pub approvers: Vec<String>,
    /// Ordered levels with their own approvers and how many approvals each needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub steps: Vec<ApprovalStep>,
    /// A request nobody decided is expired after this many hours.
    #[serde(default = "d_expires")]
    #[schemars(range(min = 1, max = 2160))]
    pub expires_after_hours: u32,
    /// An approved query may run for this many hours after the approval.
    #[serde(default = "d_valid")]
    #[schemars(range(min = 1, max = 720))]
    pub valid_for_hours: u32,
}
fn d_expires() -> u32 {
    72
}
fn d_valid() -> u32 {
    24
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApprovalStep {
    /// Usernames or `role:<name>` entries.
    #[schemars(length(min = 1))]
    pub approvers: Vec<String>,
    /// Approvals this level needs (from different people).
    #[serde(default = "d_one")]
    #[schemars(range(min = 1, max = 10))]
    pub required: u8,
}
fn d_one() -> u8 {
    1
}

#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditSpec {
    #[serde(default = "d_retention")]
    #[schemars(range(min = 1, max = 3650))]
    pub retention_days: u32,
}
fn d_retention() -> u32 {
    365
}
impl Default for AuditSpec {
    fn default() -> Self {
        Self {
            retention_days: d_retention(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GovernancePolicyStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// What the instance enforces for this policy, as of the last sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<PolicyEnforcement>,
}

/// What a policy enforces on its tenant's instance: the rules in effect and the catalog
/// columns and tables they reach.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PolicyEnforcement {
    /// Masking rules that change what some role sees (action other than `none`).
    pub masking_rules: u32,
    /// Row filters declared.
    pub row_filters: u32,
    /// Built-in detectors plus custom classification rules.
    pub classification_rules: u32,
    /// Actions held for approval: `restrictedQueries`, `dashboardPublication`,
    /// `dataSourceCreation`, `exports`, `externalSharing`.
    #[serde(default)]
    pub approvals: Vec<String>,
    /// Catalog columns classified at a level one of the masking rules masks or refuses.
    pub columns_covered: u64,
    /// Catalog columns classified at any level.
    pub columns_classified: u64,
    /// Catalog tables read through at least one row filter.
    pub tables_filtered: u64,
}
