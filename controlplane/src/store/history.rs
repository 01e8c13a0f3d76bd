//! Configuration history, recorded by the write path itself: every committed change to a
//! configuration object (settings, feature flags, data sources, dashboards, saved queries,
//! governance policies) becomes a numbered version with its author, source, time, the paths it
//! changed and the object as it then was. The API to read, compare and roll back lives in
//! `admin::history`; recording is here so no writer can bypass it.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use super::{
    fields,
    write::{Actor, Change, ChangeKind},
    Collection, Meta,
};

/// The collections whose objects are versioned, and the kind names the API uses for them.
pub const VERSIONED: [(Collection, &str); 6] = [
    (Collection::Settings, "settings"),
    (Collection::FeatureFlags, "features"),
    (Collection::DataSources, "datasources"),
    (Collection::Dashboards, "dashboards"),
    (Collection::SavedQueries, "queries"),
    (Collection::GovernancePolicies, "policies"),
];

/// Versions kept per object; older ones are dropped as new ones arrive.
pub const KEEP_VERSIONS: u64 = 200;

/// Bookkeeping fields every stored object carries; they change with every write, so versions
/// and diffs leave them out (the version itself says when and by whom).
const STAMPS: [&str; 4] = ["revision", "createdAt", "updatedAt", "updatedBy"];

pub fn kind_of(coll: Collection) -> Option<&'static str> {
    VERSIONED.iter().find(|(c, _)| *c == coll).map(|(_, k)| *k)
}

pub fn collection_of(kind: &str) -> Option<Collection> {
    VERSIONED.iter().find(|(_, k)| *k == kind).map(|(c, _)| *c)
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum VersionAction {
    Created,
    Updated,
    Deleted,
}

/// Where a change came from: the API, the manifests folder, the operator, or the instance.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ChangeSource {
    Api,
    Manifests,
    Operator,
    System,
}

impl From<&Actor> for ChangeSource {
    fn from(a: &Actor) -> Self {
        match a {
            Actor::User(_) => Self::Api,
            Actor::Manifests => Self::Manifests,
            Actor::Operator => Self::Operator,
            Actor::System => Self::System,
        }
    }
}

/// One version of one configuration object.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigVersion {
    /// `<kind>:<name>:<version, 10 digits>`: ids sort by version within an object.
    pub id: String,
    pub kind: String,
    pub name: String,
    /// 1, 2, 3, … per object, across deletions and re-creations.
    pub version: u64,
    pub action: VersionAction,
    pub at: DateTime<Utc>,
    /// `user:<name>`, `operator`, `manifests` or `system`.
    pub author: String,
    pub source: ChangeSource,
    /// The object after the change, without its bookkeeping stamps; absent for a deletion.
    pub value: Option<Value>,
    /// Dotted paths the change touched (lists count as one value).
    pub changes: Vec<String>,
    /// Set when the change was a rollback to that version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<u64>,
    #[serde(flatten)]
    pub meta: Meta,
}

crate::entity! {
    ConfigVersion,
    ConfigHistory,
    id,
    fn fields(&self) -> Map<String, Value> {
        fields(json!({"kind": self.kind, "name": self.name, "version": self.version}))
    }
}

pub fn version_id(kind: &str, name: &str, version: u64) -> String {
    format!("{}{version:010}", version_prefix(kind, name))
}

/// What the ids of every version of one object start with.
pub fn version_prefix(kind: &str, name: &str) -> String {
    format!("{kind}:{name}:")
}

/// The object without its bookkeeping stamps.
pub fn unstamped(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(m) = &mut v {
        for k in STAMPS {
            m.remove(k);
        }
    }
    v
}

/// The dotted paths at which two values differ; objects are compared key by key, anything else
/// (lists included) as a whole.
pub fn changed_paths(before: Option<&Value>, after: Option<&Value>) -> Vec<String> {
    fn walk(prefix: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&path, x.get(k), y.get(k), out);
                }
            }
            (x, y) if x == y => {}
            _ => out.push(if prefix.is_empty() {
                ".".into()
            } else {
                prefix.to_string()
            }),
        }
    }
    let mut out = Vec::new();
    match (before, after) {
        (Some(a), Some(b)) => walk("", Some(a), Some(b), &mut out),
        (None, None) => {}
        // Created or deleted: the whole object.
        _ => out.push(".".into()),
    }
    out
}

tokio::task_local! {
    /// The version a rollback restores, seen by the write it makes.
    static ROLLBACK_OF: u64;
}

/// Runs `fut` (a write) as a rollback to `version`, so its recorded version says so.
pub async fn as_rollback<F: std::future::Future>(version: u64, fut: F) -> F::Output {
    ROLLBACK_OF.scope(version, fut).await
}

/// The version a committed change becomes, given the object's last recorded version number.
/// `None` for collections that are not versioned.
pub fn version_of(change: &Change, last: u64) -> Option<ConfigVersion> {
    let kind = kind_of(change.collection)?;
    let before = change.before.as_ref().map(unstamped);
    let after = change.after.as_ref().map(unstamped);
    let version = last + 1;
    Some(ConfigVersion {
        id: version_id(kind, &change.id, version),
        kind: kind.to_string(),
        name: change.id.clone(),
        version,
        action: match change.kind {
            ChangeKind::Created => VersionAction::Created,
            ChangeKind::Updated => VersionAction::Updated,
            ChangeKind::Deleted => VersionAction::Deleted,
        },
        at: change.at,
        author: change.actor.label(),
        source: ChangeSource::from(&change.actor),
        changes: changed_paths(before.as_ref(), after.as_ref()),
        value: after,
        rolled_back_from: ROLLBACK_OF.try_with(|v| *v).ok(),
        meta: Meta::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TenantScope;

    fn change(kind: ChangeKind, before: Option<Value>, after: Option<Value>) -> Change {
        Change {
            tenant: TenantScope::new("acme").unwrap(),
            collection: Collection::Dashboards,
            id: "sales".into(),
            kind,
            revision: 2,
            actor: Actor::User("ann".into()),
            at: Utc::now(),
            before,
            after,
            fields: None,
        }
    }

    #[test]
    fn a_change_becomes_the_next_version_without_stamps() {
        let v = version_of(
            &change(
                ChangeKind::Updated,
                Some(json!({"name": "sales", "spec": {"title": "A", "widgets": [1]}, "revision": 1, "updatedBy": "x"})),
                Some(json!({"name": "sales", "spec": {"title": "B", "widgets": [1, 2]}, "revision": 2, "updatedBy": "user:ann"})),
            ),
            4,
        )
        .unwrap();
        assert_eq!(v.version, 5);
        assert_eq!(v.id, "dashboards:sales:0000000005");
        assert_eq!(v.kind, "dashboards");
        assert_eq!(v.source, ChangeSource::Api);
        assert_eq!(v.author, "user:ann");
        assert_eq!(v.changes, ["spec.title", "spec.widgets"]);
        assert!(v.value.as_ref().unwrap().get("revision").is_none());
        assert_eq!(v.rolled_back_from, None);
    }

    #[test]
    fn deletions_keep_no_value_and_unversioned_collections_none() {
        let v = version_of(&change(ChangeKind::Deleted, Some(json!({"a": 1})), None), 1).unwrap();
        assert_eq!(v.action, VersionAction::Deleted);
        assert_eq!(v.value, None);
        assert_eq!(v.changes, ["."]);
        let mut c = change(ChangeKind::Created, None, Some(json!({})));
        c.collection = Collection::Sessions;
        assert!(version_of(&c, 0).is_none());
    }

    #[tokio::test]
    async fn a_rollback_is_marked() {
        let v = as_rollback(3, async {
            version_of(
                &change(
                    ChangeKind::Updated,
                    Some(json!({"a": 1})),
                    Some(json!({"a": 2})),
                ),
                7,
            )
        })
        .await
        .unwrap();
        assert_eq!(v.rolled_back_from, Some(3));
    }

    #[test]
    fn changed_paths_compare_objects_deeply_and_lists_whole() {
        let a = json!({"x": {"y": 1, "z": [1, 2]}, "k": "same", "gone": true});
        let b = json!({"x": {"y": 2, "z": [1, 2], "new": null}, "k": "same"});
        assert_eq!(changed_paths(Some(&a), Some(&b)), ["gone", "x.new", "x.y"]);
        assert!(changed_paths(Some(&a), Some(&a)).is_empty());
    }
}
