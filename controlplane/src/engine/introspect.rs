//! What the catalog crawler asks a source beyond its columns: table kinds, row-count estimates,
//! primary and foreign keys, and bounded samples of rows. The statements run on the source's
//! own read-only pool (they are the control plane's, not a caller's, so no policy applies).
use std::time::Duration;

use mongodb::bson::Document;
use nexbii_crds::DataSourceType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Engine, EngineError, Plan, Pool, QueryLimits, ResolvedSource};

/// A table's (or view's, or collection's) shape beyond its columns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
    /// `table`, `view` or `collection`.
    pub kind: String,
    /// The database's own estimate (statistics), not a count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_estimate: Option<i64>,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ForeignKey {
    pub columns: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_schema: Option<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

/// Rows sampled from one table: column names and at most `limit` rows.
pub struct Sample {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

const INTROSPECT_ROWS: usize = 200_000;

impl Engine {
    /// Kinds, row estimates and keys of every table of the source.
    /// `timeout` is the one the source's own queries get, so the crawler shares their pooled
    /// connections instead of opening others with another time limit.
    pub async fn table_details(
        &self,
        src: &ResolvedSource,
        timeout: Duration,
    ) -> Result<Vec<TableDetails>, EngineError> {
        if src.spec.source_type == DataSourceType::Mongodb {
            return self.mongo_details(src).await;
        }
        let (tables_sql, keys_sql) = match src.spec.source_type {
            DataSourceType::Postgresql => (PG_TABLES, PG_KEYS),
            DataSourceType::Mysql => (MYSQL_TABLES, MYSQL_KEYS),
            _ => (SQLITE_TABLES, SQLITE_KEYS),
        };
        let mut tables: Vec<TableDetails> = self
            .internal(src, tables_sql, timeout)
            .await?
            .into_iter()
            .map(|r| TableDetails {
                schema: text(&r[0]),
                name: text(&r[1]).unwrap_or_default(),
                kind: text(&r[2]).unwrap_or_else(|| "table".into()),
                row_estimate: r[3].as_f64().map(|n| n.max(0.0) as i64),
                ..Default::default()
            })
            .collect();
        for r in self.internal(src, keys_sql, timeout).await? {
            let (schema, table) = (text(&r[0]), text(&r[1]).unwrap_or_default());
            let Some(t) = tables
                .iter_mut()
                .find(|t| t.schema == schema && t.name == table)
            else {
                continue;
            };
            let columns = json_list(&r[4]);
            if text(&r[2]).as_deref() == Some("p") {
                t.primary_key = columns;
            } else {
                t.foreign_keys.push(ForeignKey {
                    columns,
                    ref_schema: text(&r[5]),
                    ref_table: text(&r[6]).unwrap_or_default(),
                    ref_columns: json_list(&r[7]),
                });
            }
        }
        if src.spec.source_type == DataSourceType::Sqlite {
            // SQLite keeps no statistics by default; a count of a local file is cheap enough.
            for t in tables.iter_mut().filter(|t| t.kind == "table") {
                let sql = format!("SELECT count(*) FROM {}", quote(src, None, &t.name));
                let rows = self.internal(src, &sql, timeout).await?;
                t.row_estimate = rows.first().and_then(|r| r[0].as_i64());
            }
        }
        Ok(tables)
    }

    /// At most `limit` rows of a table (its first rows as the database returns them).
    pub async fn sample(
        &self,
        src: &ResolvedSource,
        schema: Option<&str>,
        table: &str,
        limit: usize,
        timeout: Duration,
    ) -> Result<Sample, EngineError> {
        let limits = QueryLimits {
            timeout,
            row_limit: limit,
        };
        let text = match src.spec.source_type {
            DataSourceType::Mongodb => {
                serde_json::json!({"collection": table, "pipeline": [{"$limit": limit}]})
                    .to_string()
            }
            _ => format!("SELECT * FROM {}", quote(src, schema, table)),
        };
        let f = self
            .execute(src, &text, &[], limits, &Plan::default())
            .await?;
        Ok(Sample {
            columns: f.columns.into_iter().map(|c| c.name).collect(),
            rows: f.rows,
        })
    }

    /// Runs one of the control plane's own statements on the source.
    async fn internal(
        &self,
        src: &ResolvedSource,
        sql: &str,
        timeout: Duration,
    ) -> Result<Vec<Vec<Value>>, EngineError> {
        let limits = QueryLimits {
            timeout,
            row_limit: INTROSPECT_ROWS,
        };
        Ok(self
            .execute(src, sql, &[], limits, &Plan::default())
            .await?
            .rows)
    }

    async fn mongo_details(&self, src: &ResolvedSource) -> Result<Vec<TableDetails>, EngineError> {
        let conn = self.conn(src)?;
        let Pool::Mongo(db) = &conn.pool else {
            return Err(EngineError::Config("not a MongoDB source".into()));
        };
        let err = |e: mongodb::error::Error| EngineError::Query(e.to_string());
        let mut names = db.list_collection_names().await.map_err(err)?;
        names.retain(|n| !n.starts_with("system."));
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let n = db
                .collection::<Document>(&name)
                .estimated_document_count()
                .await
                .map_err(err)?;
            out.push(TableDetails {
                schema: None,
                name,
                kind: "collection".into(),
                row_estimate: Some(n as i64),
                primary_key: vec!["_id".into()],
                foreign_keys: Vec::new(),
            });
        }
        Ok(out)
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Key columns travel as a JSON array in a text column (no driver array types needed).
fn json_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_default(),
        Value::Array(a) => a.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

/// A table name quoted for the source's dialect (quotes inside are doubled).
pub fn quote(src: &ResolvedSource, schema: Option<&str>, table: &str) -> String {
    let q = |s: &str| match src.spec.source_type {
        DataSourceType::Mysql => format!("`{}`", s.replace('`', "``")),
        _ => format!("\"{}\"", s.replace('"', "\"\"")),
    };
    match schema {
        Some(s) if src.spec.source_type == DataSourceType::Postgresql => {
            format!("{}.{}", q(s), q(table))
        }
        _ => q(table),
    }
}

const PG_TABLES: &str = "SELECT n.nspname::text, c.relname::text,
    CASE WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END,
    CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::float8 END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  ORDER BY 1, 2";

const PG_KEYS: &str = "SELECT n.nspname::text, c.relname::text, con.contype::text, con.conname::text,
    array_to_json(ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
      JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.ord))::text,
    fn.nspname::text, fc.relname::text,
    array_to_json(ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
      JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.ord))::text
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class fc ON fc.oid = con.confrelid LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
  WHERE con.contype IN ('p', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  ORDER BY 1, 2, 4";

const MYSQL_TABLES: &str = "SELECT NULL, CAST(table_name AS CHAR),
    CASE WHEN table_type = 'VIEW' THEN 'view' ELSE 'table' END, CAST(table_rows AS DOUBLE)
  FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 2";

const MYSQL_KEYS: &str = "SELECT NULL, CAST(k.table_name AS CHAR),
    CASE WHEN k.constraint_name = 'PRIMARY' THEN 'p' ELSE 'f' END, CAST(k.constraint_name AS CHAR),
    CAST(CONCAT('[', GROUP_CONCAT(JSON_QUOTE(k.column_name) ORDER BY k.ordinal_position), ']') AS CHAR),
    NULL, CAST(MAX(k.referenced_table_name) AS CHAR),
    CAST(CONCAT('[', GROUP_CONCAT(JSON_QUOTE(COALESCE(k.referenced_column_name, ''))
      ORDER BY k.ordinal_position), ']') AS CHAR)
  FROM information_schema.key_column_usage k
  WHERE k.table_schema = DATABASE()
    AND (k.constraint_name = 'PRIMARY' OR k.referenced_table_name IS NOT NULL)
  GROUP BY k.table_name, k.constraint_name ORDER BY 2, 4";

const SQLITE_TABLES: &str = "SELECT NULL, name, type, NULL FROM sqlite_master
  WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name";

const SQLITE_KEYS: &str = "SELECT NULL, k.name, 'p', 'pk', json_group_array(k.col), NULL, NULL, NULL
  FROM (SELECT m.name AS name, p.name AS col FROM sqlite_master m JOIN pragma_table_info(m.name) p
        WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND p.pk > 0
        ORDER BY m.name, p.pk) k
  GROUP BY k.name
  UNION ALL
  SELECT NULL, m.name, 'f', CAST(f.id AS TEXT), json_group_array(f.\"from\"), NULL, MAX(f.\"table\"),
    json_group_array(f.\"to\")
  FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
  WHERE m.type = 'table'
  GROUP BY m.name, f.id";
