//! MongoDB sources: the query is an aggregation `{"collection", "pipeline"}`; parameters are
//! bound by replacing `{"$param": N}` nodes with the N-th JSON value (structure, not text).
use std::time::Duration;

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use futures::StreamExt;
use mongodb::{
    bson::{doc, Bson, Document},
    options::{AggregateOptions, ClientOptions, Credential, ServerAddress, Tls, TlsOptions},
    Client, Database,
};
use nexbii_crds::TlsMode;
use serde_json::{json, Value};

use super::{
    convert::{exact_decimal, float_json, instant_text},
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

/// MongoDB's name for a BSON type (its `$type` alias).
fn type_name(b: &Bson) -> &'static str {
    match b {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::Undefined => "undefined",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::DbPointer(_) => "dbPointer",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::Symbol(_) => "symbol",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
    }
}

/// One BSON value as plain JSON, by the same rules as SQL values (see `convert`): ObjectId as
/// its hex string, dates as RFC 3339 in UTC, Decimal128 as an exact decimal, binary as
/// base64, int/long as exact integers, doubles as numbers (NaN and the infinities as
/// strings), a regex as `/pattern/options`, a timestamp as `{"t", "i"}`, JavaScript as its
/// code (`{"code", "scope"}` with a scope); documents and arrays hold values converted the
/// same way. `Err` says why a value has no JSON form (minKey, maxKey, dbPointer).
fn bson_json(b: &Bson) -> Result<Value, String> {
    Ok(match b {
        Bson::Double(f) => float_json(*f),
        Bson::String(s) | Bson::Symbol(s) | Bson::JavaScriptCode(s) => Value::String(s.clone()),
        Bson::Document(d) => Value::Object(
            d.iter()
                .map(|(k, v)| Ok((k.clone(), bson_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        Bson::Array(items) => Value::Array(items.iter().map(bson_json).collect::<Result<_, _>>()?),
        Bson::Boolean(v) => Value::Bool(*v),
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Int32(n) => json!(n),
        Bson::Int64(n) => json!(n),
        Bson::Decimal128(d) => exact_decimal(&d.to_string()),
        Bson::ObjectId(id) => json!(id.to_hex()),
        Bson::DateTime(t) => {
            let ms = t.timestamp_millis();
            let at = chrono::DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| format!("the date {ms} ms from 1970 is out of range"))?;
            json!(instant_text(at))
        }
        Bson::Binary(bin) => json!(B64.encode(&bin.bytes)),
        Bson::RegularExpression(re) => json!(format!("/{}/{}", re.pattern, re.options)),
        Bson::Timestamp(ts) => json!({"t": ts.time, "i": ts.increment}),
        Bson::JavaScriptCodeWithScope(c) => json!({
            "code": c.code,
            "scope": bson_json(&Bson::Document(c.scope.clone()))?,
        }),
        Bson::MinKey | Bson::MaxKey | Bson::DbPointer(_) => {
            return Err(format!(
                "holds a {} value, which NexBII cannot convert",
                type_name(b)
            ))
        }
    })
}

/// Result columns: the union of top-level keys in first-seen order, each typed by the BSON
/// types of its non-null values (`int|double` when documents disagree, `null` when every value
/// is null or missing).
fn columns_of(docs: &[Document]) -> Vec<ColumnInfo> {
    let mut columns: Vec<(String, Vec<&'static str>)> = Vec::new();
    for d in docs {
        for (k, v) in d {
            let i = match columns.iter().position(|(name, _)| name == k) {
                Some(i) => i,
                None => {
                    columns.push((k.clone(), Vec::new()));
                    columns.len() - 1
                }
            };
            let ty = type_name(v);
            let types = &mut columns[i].1;
            if !matches!(v, Bson::Null | Bson::Undefined) && !types.contains(&ty) {
                types.push(ty);
            }
        }
    }
    columns
        .into_iter()
        .map(|(name, types)| ColumnInfo {
            name,
            type_name: if types.is_empty() {
                "null".into()
            } else {
                types.join("|")
            },
        })
        .collect()
}

fn rows_of(docs: &[Document], columns: &[ColumnInfo]) -> Result<Vec<Vec<Value>>, EngineError> {
    docs.iter()
        .map(|d| {
            columns
                .iter()
                .map(|c| match d.get(&c.name) {
                    None => Ok(Value::Null),
                    Some(v) => bson_json(v)
                        .map_err(|why| EngineError::Query(format!("field \"{}\" {why}", c.name))),
                })
                .collect()
        })
        .collect()
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
    let columns = columns_of(&docs);
    let rows = rows_of(&docs, &columns)?;
    Ok(Fetched {
        columns,
        rows,
        truncated,
        masked: None,
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
    fn bson_values_become_plain_json() {
        use mongodb::bson::{
            oid::ObjectId, spec::BinarySubtype, Binary, Decimal128, JavaScriptCodeWithScope, Regex,
            Timestamp,
        };
        let id = ObjectId::parse_str("65f0c0ffee00000000000001").unwrap();
        let dec = |s: &str| Bson::Decimal128(s.parse::<Decimal128>().unwrap());
        let d = doc! {
            "id": id,
            "price": dec("19.99"),
            "big": dec("12345678901234567890.123456789"),
            "at": Bson::DateTime(mongodb::bson::DateTime::from_millis(1_714_978_089_500)),
            "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 255, 1] },
            "re": Regex { pattern: "^a.*".into(), options: "i".into() },
            "ts": Timestamp { time: 1_714_978_089, increment: 7 },
            "long": 9_007_199_254_740_993_i64,
            "nan": f64::NAN,
            "nested": {"when": Bson::DateTime(mongodb::bson::DateTime::from_millis(0)), "ids": [id, Bson::Null]},
            "code": Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope { code: "x + 1".into(), scope: doc! {"x": 1} }),
        };
        assert_eq!(
            bson_json(&Bson::Document(d)).unwrap(),
            json!({
                "id": "65f0c0ffee00000000000001",
                "price": 19.99,
                "big": "12345678901234567890.123456789",
                "at": "2024-05-06T06:48:09.500+00:00",
                "bin": "AP8B",
                "re": "/^a.*/i",
                "ts": {"t": 1_714_978_089, "i": 7},
                "long": 9_007_199_254_740_993_i64,
                "nan": "NaN",
                "nested": {"when": "1970-01-01T00:00:00+00:00", "ids": ["65f0c0ffee00000000000001", null]},
                "code": {"code": "x + 1", "scope": {"x": 1}},
            })
        );
        let err = bson_json(&Bson::Array(vec![Bson::MaxKey])).unwrap_err();
        assert!(err.contains("maxKey"), "{err}");

        // Column types: one BSON type, several, or none but null.
        let docs = [
            doc! {"a": 1, "b": Bson::Null, "c": "x"},
            doc! {"a": 2.5, "b": Bson::Null, "d": true},
        ];
        let cols = columns_of(&docs);
        let named: Vec<(&str, &str)> = cols
            .iter()
            .map(|c| (c.name.as_str(), c.type_name.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                ("a", "int|double"),
                ("b", "null"),
                ("c", "string"),
                ("d", "bool")
            ]
        );
        assert_eq!(
            rows_of(&docs, &cols).unwrap(),
            vec![
                vec![json!(1), json!(null), json!("x"), json!(null)],
                vec![json!(2.5), json!(null), json!(null), json!(true)],
            ]
        );
        let bad = [doc! {"k": Bson::MinKey}];
        let err = rows_of(&bad, &columns_of(&bad)).unwrap_err().to_string();
        assert!(err.contains("field \"k\" holds a minKey value"), "{err}");
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
