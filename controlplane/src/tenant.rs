//! The tenant record: the `Tenant` spec this instance serves (limits, auth, branding, flags).
use nexbii_crds::{TenantSpec, Validate};
use serde::{Deserialize, Serialize};

use crate::store::{Collection, Entity, Meta, Origin};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantRecord {
    pub name: String,
    pub spec: TenantSpec,
    pub origin: Origin,
    #[serde(flatten)]
    pub meta: Meta,
}

impl TenantRecord {
    pub const ID: &'static str = "tenant";
}

impl Entity for TenantRecord {
    const COLLECTION: Collection = Collection::Tenants;
    fn id(&self) -> &str {
        Self::ID
    }
    fn meta(&self) -> &Meta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut Meta {
        &mut self.meta
    }
    fn validate(&self) -> Vec<nexbii_crds::FieldError> {
        self.spec.validate()
    }
}
