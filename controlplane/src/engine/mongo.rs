//! MongoDB sources: the query is an aggregation `{"collection", "pipeline"}`; parameters are
//! bound by replacing `{"$param": N}` nodes with the N-th JSON value (structure, not text).
use std::time::Duration;

use futures::StreamExt;
use mongodb::{
    bson::{doc, Bson, Document},
    options::{AggregateOptions, ClientOptions, Credential, ServerAddress, Tls, TlsOptions},
    Client, Database,
};
use nexbii_crds::TlsMode;
use serde_json::Value;

use super::{
    guard, ColumnDef, ColumnInfo, EngineError, Fetched, QueryLimits, ResolvedSource, SchemaInfo,
    TableInfo,
};

pub(super) fn database(src: &ResolvedSource) -> Result<Database, EngineError> {
    let s = &src.spec;
    let mut opts = ClientOptions::default();
    opts.hosts = vec![ServerAddress::Tcp {
        host: s.host.clone().unwrap_or_else(|| "localhost".into()),
        port: Some(s.port.unwrap_or(27017)),
    }];
    // One named host is what the spec models; talk to it directly rather than discovering peers.
    opts.direct_connection = Some(true);
    opts.app_name = Some("nexbii".into());
    opts.connect_timeout = Some(Duration::from_secs(s.pool.connect_timeout_seconds as u64));
    opts.server_selection_timeout =
        Some(Duration::from_secs(s.pool.connect_timeout_seconds as u64));
    opts.max_pool_size = Some(s.pool.max_connections);
    opts.tls = match s.tls.mode {
        TlsMode::Disable | TlsMode::Prefer => None,
        TlsMode::Require => {
            let mut t = TlsOptions::default();
            t.allow_invalid_certificates = Some(true);
            Some(Tls::Enabled(t))
        }
        TlsMode::VerifyFull => Some(Tls::Enabled(TlsOptions::default())),
    };
    if let Some(user) = &s.username {
        let mut c = Credential::default();
        c.username = Some(user.clone());
        c.password = src.password.clone();
        c.source = s.database.clone();
        opts.credential = Some(c);
    }
    let client = Client::with_options(opts).map_err(|e| EngineError::Config(e.to_string()))?;
    Ok(client.database(s.database.as_deref().unwrap_or("test")))
}

fn bind_params(v: &Value, params: &[Value]) -> Result<Value, EngineError> {
    Ok(match v {
        Value::Object(map) => {
            if map.len() == 1 {
                if let Some(n) = map.get("$param") {
                    let idx = n
                        .as_u64()
                        .ok_or_else(|| EngineError::Refused("$param needs an index".into()))?;
                    return params
                        .get(idx as usize)
                        .cloned()
                        .ok_or_else(|| EngineError::Refused(format!("no parameter {idx}")));
                }
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), bind_params(v, params)?)))
                    .collect::<Result<_, EngineError>>()?,
            )
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| bind_params(i, params))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

fn to_doc(v: Value) -> Result<Document, EngineError> {
    match Bson::try_from(v)
        .map_err(|e| EngineError::Refused(format!("invalid pipeline stage: {e}")))?
    {
        Bson::Document(d) => Ok(d),
        _ => Err(EngineError::Refused(
            "every pipeline stage must be an object".into(),
        )),
    }
}

/// Ends the pipeline with `{"$limit": cap}` unless it already ends with a smaller one, so the
/// server stops after one row more than the limit (`truncated` stays exact).
fn with_row_cap(mut pipeline: Vec<Document>, cap: i64) -> Vec<Document> {
    let bounded = pipeline.last().is_some_and(|stage| {
        stage.len() == 1
            && match stage.get("$limit") {
                Some(Bson::Int32(n)) => i64::from(*n) <= cap,
                Some(Bson::Int64(n)) => *n <= cap,
                Some(Bson::Double(n)) => *n <= cap as f64,
                _ => false,
            }
    });
    if !bounded {
        pipeline.push(doc! { "$limit": cap });
    }
    pipeline
}

fn mongo_err(e: mongodb::error::Error, limits: &QueryLimits) -> EngineError {
    use mongodb::error::ErrorKind;
    match &*e.kind {
        ErrorKind::Command(c) if c.code == 50 => EngineError::Timeout(limits.timeout),
        ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::Authentication { .. } => {
            EngineError::Connect(e.to_string())
        }
        _ => EngineError::Query(e.to_string()),
    }
}

fn type_name(b: &Bson) -> &'static str {
    match b {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Boolean(_) => "bool",
        Bson::Null => "null",
        Bson::Int32(_) => "int",
        Bson::Int64(_) => "long",
        Bson::DateTime(_) => "date",
        Bson::ObjectId(_) => "objectId",
        Bson::Decimal128(_) => "decimal",
        _ => "other",
    }
}

pub(super) async fn run(
    db: &Database,
    text: &str,
    params: &[Value],
    limits: QueryLimits,
) -> Result<Fetched, EngineError> {
    let q = guard::check_mongo(text).map_err(|r| EngineError::Refused(r.0))?;
    let pipeline = q
        .pipeline
        .iter()
        .map(|stage| bind_params(stage, params).and_then(to_doc))
        .collect::<Result<Vec<_>, _>>()?;
    let pipeline = with_row_cap(pipeline, limits.row_limit as i64 + 1);
    let opts = AggregateOptions::builder().max_time(limits.timeout).build();
    let work = async {
        let mut cursor = db
            .collection::<Document>(&q.collection)
            .aggregate(pipeline)
            .with_options(opts)
            .await
            .map_err(|e| mongo_err(e, &limits))?;
        let mut docs = Vec::new();
        let mut truncated = false;
        while let Some(d) = cursor.next().await {
            let d = d.map_err(|e| mongo_err(e, &limits))?;
            if docs.len() == limits.row_limit {
                truncated = true;
                break;
            }
            docs.push(d);
        }
        Ok::<_, EngineError>((docs, truncated))
    };
    let (docs, truncated) = tokio::time::timeout(limits.timeout + Duration::from_secs(2), work)
        .await
        .map_err(|_| EngineError::Timeout(limits.timeout))??;
    // Columns: the union of top-level keys, in first-seen order.
    let mut columns: Vec<ColumnInfo> = Vec::new();
    for d in &docs {
        for (k, v) in d {
            if !columns.iter().any(|c| &c.name == k) {
                columns.push(ColumnInfo {
                    name: k.clone(),
                    type_name: type_name(v).into(),
                });
            }
        }
    }
    let rows = docs
        .into_iter()
        .map(|d| {
            columns
                .iter()
                .map(|c| {
                    d.get(&c.name)
                        .cloned()
                        .map(Bson::into_relaxed_extjson)
                        .unwrap_or(Value::Null)
                })
                .collect()
        })
        .collect();
    Ok(Fetched {
        columns,
        rows,
        truncated,
    })
}

pub(super) async fn version(db: &Database) -> Result<String, EngineError> {
    let info = db
        .run_command(doc! { "buildInfo": 1 })
        .await
        .map_err(|e| EngineError::Connect(e.to_string()))?;
    Ok(format!(
        "MongoDB {}",
        info.get_str("version").unwrap_or("unknown")
    ))
}

pub(super) async fn schema(db: &Database) -> Result<SchemaInfo, EngineError> {
    let limits = QueryLimits {
        timeout: Duration::from_secs(30),
        row_limit: 1,
    };
    let mut names = db
        .list_collection_names()
        .await
        .map_err(|e| mongo_err(e, &limits))?;
    names.retain(|n| !n.starts_with("system."));
    names.sort();
    let mut tables = Vec::new();
    for name in names {
        // Collections are schemaless: describe the fields of one sampled document.
        let sample = db
            .collection::<Document>(&name)
            .find_one(doc! {})
            .await
            .map_err(|e| mongo_err(e, &limits))?;
        let columns = sample
            .map(|d| {
                d.iter()
                    .map(|(k, v)| ColumnDef {
                        name: k.clone(),
                        type_name: type_name(v).into(),
                        nullable: true,
                    })
                    .collect()
            })
            .unwrap_or_default();
        tables.push(TableInfo {
            schema: None,
            name,
            columns,
        });
    }
    Ok(SchemaInfo { tables })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn row_cap_ends_the_pipeline() {
        let m = doc! { "$match": { "a": 1 } };
        assert_eq!(
            with_row_cap(vec![m.clone()], 1001),
            vec![m.clone(), doc! { "$limit": 1001_i64 }]
        );
        assert_eq!(with_row_cap(vec![], 11), vec![doc! { "$limit": 11_i64 }]);
        // A smaller final limit is enough; a larger one gets the cap after it.
        let small = doc! { "$limit": 5 };
        assert_eq!(
            with_row_cap(vec![m.clone(), small.clone()], 1001),
            vec![m.clone(), small]
        );
        let large = doc! { "$limit": 50_000_i64 };
        assert_eq!(
            with_row_cap(vec![large.clone()], 1001),
            vec![large, doc! { "$limit": 1001_i64 }]
        );
        // A limit before other stages does not bound what they produce.
        let unwind = doc! { "$unwind": "$items" };
        assert_eq!(
            with_row_cap(vec![doc! { "$limit": 5 }, unwind.clone()], 1001),
            vec![doc! { "$limit": 5 }, unwind, doc! { "$limit": 1001_i64 }]
        );
    }

    #[test]
    fn params_bind_structurally() {
        let stage = json!({"$match": {"country": {"$param": 0}, "n": {"$gt": {"$param": 1}}}});
        let bound = bind_params(&stage, &[json!("DE"), json!(5)]).unwrap();
        assert_eq!(bound, json!({"$match": {"country": "DE", "n": {"$gt": 5}}}));
        assert!(bind_params(&json!({"$param": 3}), &[]).is_err());
        // A string that looks like an operator stays a string.
        let s = bind_params(&json!({"a": "{\"$param\":0}"}), &[json!(1)]).unwrap();
        assert_eq!(s, json!({"a": "{\"$param\":0}"}));
    }
}
