//! Loads Tenant / DataSource / Dashboard / SavedQuery / GovernancePolicy / BackupSchedule YAML (the CRD
//! shapes) plus v1 Secrets from a folder (`load_dir`), applies them (`apply`) and re-applies
//! when the folder changes (`watch`).
use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    time::SystemTime,
};

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use nexbii_crds::{
    BackupSchedule, Dashboard, DataSource, GovernancePolicy, SavedQuery, SecretKeyRef, Tenant,
    Validate, API_VERSION,
};
use serde::Deserialize;
use serde_json::Value;

mod apply;
mod watch;

pub use apply::{apply, Applied, BOOTSTRAP_PASSWORD_ENV};
pub use watch::{load_and_apply, watch};

/// Everything read from the folder; `problems` names each skipped document and why.
#[derive(Default)]
pub struct Manifests {
    pub tenants: Vec<Tenant>,
    pub datasources: Vec<DataSource>,
    pub dashboards: Vec<Dashboard>,
    pub queries: Vec<SavedQuery>,
    pub policies: Vec<GovernancePolicy>,
    pub schedules: Vec<BackupSchedule>,
    /// Secret name -> key -> value.
    pub secrets: HashMap<String, BTreeMap<String, String>>,
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
struct SecretDoc {
    metadata: Meta,
    #[serde(default, rename = "stringData")]
    string_data: BTreeMap<String, String>,
    #[serde(default)]
    data: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
}

fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Changes when any YAML file is added, removed or modified.
pub fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    yaml_files(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).ok();
            let len = m.as_ref().map(|m| m.len()).unwrap_or(0);
            let mtime = m.and_then(|m| m.modified().ok());
            (p, len, mtime)
        })
        .collect()
}

fn typed<T: serde::de::DeserializeOwned>(
    doc: Value,
    file: &Path,
    problems: &mut Vec<String>,
) -> Option<T> {
    let res: Result<T, _> = serde_path_to_error::deserialize(doc);
    match res {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!(
                "{}: field {}: {}",
                file.display(),
                e.path(),
                e.inner()
            ));
            None
        }
    }
}

fn check<S: Validate>(
    name: &str,
    kind: &str,
    spec: &S,
    file: &Path,
    problems: &mut Vec<String>,
) -> bool {
    let errs = spec.validate();
    for e in &errs {
        problems.push(format!("{}: {kind}/{name}: {e}", file.display()));
    }
    errs.is_empty()
}

pub fn load_dir(dir: &Path) -> std::io::Result<Manifests> {
    let mut m = Manifests::default();
    for file in yaml_files(dir)? {
        let text = std::fs::read_to_string(&file)?;
        for (i, de) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let doc: Value = match Value::deserialize(de) {
                Ok(Value::Null) => continue,
                Ok(v) => v,
                Err(e) => {
                    m.problems
                        .push(format!("{}: document {i}: {e}", file.display()));
                    continue;
                }
            };
            let kind = doc
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let api = doc
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let name = doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if kind == "Secret" && api == "v1" {
                if let Some(s) = typed::<SecretDoc>(doc, &file, &mut m.problems) {
                    let mut values = s.string_data;
                    for (k, v) in s.data {
                        match B64
                            .decode(v.trim())
                            .ok()
                            .and_then(|b| String::from_utf8(b).ok())
                        {
                            Some(v) => {
                                values.entry(k).or_insert(v);
                            }
                            None => m.problems.push(format!(
                                "{}: Secret/{}: data.{k} is not base64 UTF-8",
                                file.display(),
                                s.metadata.name
                            )),
                        }
                    }
                    m.secrets.insert(s.metadata.name, values);
                }
                continue;
            }
            if api != API_VERSION {
                m.problems.push(format!(
                    "{}: document {i}: skipped {api}/{kind}",
                    file.display()
                ));
                continue;
            }
            if !nexbii_crds::validate::is_dns_label(&name) {
                m.problems.push(format!(
                    "{}: {kind}: metadata.name {name:?} must be a DNS label",
                    file.display()
                ));
                continue;
            }
            let p = &mut m.problems;
            match kind.as_str() {
                "Tenant" => {
                    if let Some(t) = typed::<Tenant>(doc, &file, p)
                        .filter(|t| check(&name, &kind, &t.spec, &file, p))
                    {
                        m.tenants.push(t)
                    }
                }
                "DataSource" => {
                    if let Some(t) = typed::<DataSource>(doc, &file, p)
                        .filter(|t| check(&name, &kind, &t.spec, &file, p))
                    {
                        m.datasources.push(t)
                    }
                }
                "Dashboard" => {
                    if let Some(t) = typed::<Dashboard>(doc, &file, p)
                        .filter(|t| check(&name, &kind, &t.spec, &file, p))
                    {
                        m.dashboards.push(t)
                    }
                }
                "SavedQuery" => {
                    if let Some(t) = typed::<SavedQuery>(doc, &file, p)
                        .filter(|t| check(&name, &kind, &t.spec, &file, p))
                    {
                        m.queries.push(t)
                    }
                }
                "GovernancePolicy" => {
                    if let Some(t) = typed::<GovernancePolicy>(doc, &file, p)
                        .filter(|t| check(&name, &kind, &t.spec, &file, p))
                    {
                        m.policies.push(t)
                    }
                }
                "BackupSchedule" => {
                    if let Some(t) = typed::<BackupSchedule>(doc, &file, p)
                        .filter(|t| check(&name, &kind, &t.spec, &file, p))
                    {
                        m.schedules.push(t)
                    }
                }
                other => p.push(format!("{}: unknown kind {other}", file.display())),
            }
        }
    }
    Ok(m)
}

pub(super) fn name_of<K: kube::Resource>(r: &K) -> String {
    r.meta().name.clone().unwrap_or_default()
}

impl Manifests {
    pub(super) fn secret(&self, r: &SecretKeyRef) -> Option<String> {
        self.secrets
            .get(&r.name)
            .and_then(|s| s.get(&r.key))
            .cloned()
    }
}
