//! Driver values to JSON, and JSON parameters to bound driver arguments (never spliced into SQL).
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use futures::{Stream, TryStreamExt};
use rust_decimal::{prelude::ToPrimitive, Decimal};
use serde_json::{json, Value};
use sqlx::{
    mysql::MySqlRow, postgres::PgRow, query::Query, sqlite::SqliteRow, Column, Database, Decode,
    Encode, Row, Statement, Type, TypeInfo, ValueRef,
};

use super::ColumnInfo;

/// Binds JSON parameters positionally with their natural SQL types.
pub(crate) fn bind_all<'q, DB>(
    mut q: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    params: &[Value],
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    bool: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    f64: Encode<'q, DB> + Type<DB>,
    String: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
{
    for p in params {
        q = match p {
            Value::Null => q.bind(None::<String>),
            Value::Bool(b) => q.bind(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => q.bind(i),
                None => q.bind(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => q.bind(s.clone()),
            other => q.bind(other.to_string()),
        };
    }
    q
}

pub(crate) fn columns_of<'q, S: Statement<'q>>(stmt: &S) -> Vec<ColumnInfo> {
    stmt.columns()
        .iter()
        .map(|c| ColumnInfo {
            name: c.name().to_string(),
            type_name: c.type_info().name().to_string(),
        })
        .collect()
}

/// Takes at most `limit` rows; reports whether the stream had more.
pub(crate) async fn take_rows<R, S>(
    mut stream: S,
    limit: usize,
    to_json: fn(&R) -> Vec<Value>,
) -> Result<(Vec<Vec<Value>>, bool), sqlx::Error>
where
    S: Stream<Item = Result<R, sqlx::Error>> + Unpin,
{
    let mut rows = Vec::new();
    while let Some(row) = stream.try_next().await? {
        if rows.len() == limit {
            return Ok((rows, true));
        }
        rows.push(to_json(&row));
    }
    Ok((rows, false))
}

fn get<'r, T, R>(row: &'r R, i: usize) -> Option<T>
where
    R: Row,
    T: Decode<'r, R::Database> + Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    row.try_get::<T, _>(i).ok()
}

fn num_f64(f: f64) -> Value {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

fn decimal(d: Decimal) -> Value {
    // Charts want numbers; exact text is kept when f64 cannot hold the value.
    match d.to_f64() {
        Some(f)
            if Decimal::try_from(f)
                .map(|back| back == d.normalize())
                .unwrap_or(false) =>
        {
            num_f64(f)
        }
        Some(f) if d.scale() <= 6 && f.abs() < 1e15 => num_f64(f),
        _ => Value::String(d.to_string()),
    }
}

fn unsupported(ty: &str) -> Value {
    Value::String(format!("<unsupported type {ty}>"))
}

fn is_null<R: Row>(row: &R, i: usize) -> (bool, String)
where
    usize: sqlx::ColumnIndex<R>,
{
    match row.try_get_raw(i) {
        Ok(v) => (v.is_null(), v.type_info().name().to_string()),
        Err(_) => (true, String::new()),
    }
}

pub(crate) fn pg_row(row: &PgRow) -> Vec<Value> {
    (0..row.len()).map(|i| pg_value(row, i)).collect()
}

fn pg_value(row: &PgRow, i: usize) -> Value {
    let (null, ty) = is_null(row, i);
    if null {
        return Value::Null;
    }
    let v = match ty.as_str() {
        "BOOL" => get::<bool, _>(row, i).map(Value::Bool),
        "INT2" => get::<i16, _>(row, i).map(|v| json!(v)),
        "INT4" => get::<i32, _>(row, i).map(|v| json!(v)),
        "INT8" => get::<i64, _>(row, i).map(|v| json!(v)),
        "OID" => get::<sqlx::postgres::types::Oid, _>(row, i).map(|v| json!(v.0)),
        "FLOAT4" => get::<f32, _>(row, i).map(|v| num_f64(v as f64)),
        "FLOAT8" => get::<f64, _>(row, i).map(num_f64),
        "NUMERIC" => get::<Decimal, _>(row, i).map(decimal),
        "TIMESTAMPTZ" => get::<DateTime<Utc>, _>(row, i).map(|v| json!(v.to_rfc3339())),
        "TIMESTAMP" => get::<NaiveDateTime, _>(row, i)
            .map(|v| json!(v.format("%Y-%m-%dT%H:%M:%S%.f").to_string())),
        "DATE" => get::<NaiveDate, _>(row, i).map(|v| json!(v.to_string())),
        "TIME" => get::<NaiveTime, _>(row, i).map(|v| json!(v.to_string())),
        "JSON" | "JSONB" => get::<Value, _>(row, i),
        "UUID" => get::<uuid::Uuid, _>(row, i).map(|v| json!(v.to_string())),
        "BYTEA" => get::<Vec<u8>, _>(row, i).map(|v| json!(B64.encode(v))),
        "VOID" => Some(Value::Null),
        _ => get::<String, _>(row, i).map(Value::String),
    };
    v.unwrap_or_else(|| unsupported(&ty))
}

pub(crate) fn mysql_row(row: &MySqlRow) -> Vec<Value> {
    (0..row.len()).map(|i| mysql_value(row, i)).collect()
}

fn mysql_value(row: &MySqlRow, i: usize) -> Value {
    let (null, ty) = is_null(row, i);
    if null {
        return Value::Null;
    }
    let v = match ty.as_str() {
        "BOOLEAN" => get::<bool, _>(row, i).map(Value::Bool),
        t if t.ends_with("UNSIGNED") => get::<u64, _>(row, i).map(|v| json!(v)),
        "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" | "YEAR" => get::<i64, _>(row, i)
            .or_else(|| get::<u16, _>(row, i).map(i64::from))
            .map(|v| json!(v)),
        "FLOAT" => get::<f32, _>(row, i).map(|v| num_f64(v as f64)),
        "DOUBLE" => get::<f64, _>(row, i).map(num_f64),
        "DECIMAL" => get::<Decimal, _>(row, i).map(decimal),
        "DATE" => get::<NaiveDate, _>(row, i).map(|v| json!(v.to_string())),
        "DATETIME" => get::<NaiveDateTime, _>(row, i)
            .map(|v| json!(v.format("%Y-%m-%dT%H:%M:%S%.f").to_string())),
        "TIMESTAMP" => get::<DateTime<Utc>, _>(row, i).map(|v| json!(v.to_rfc3339())),
        "TIME" => get::<NaiveTime, _>(row, i).map(|v| json!(v.to_string())),
        "JSON" => get::<Value, _>(row, i),
        "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BINARY" | "VARBINARY" => {
            get::<String, _>(row, i)
                .map(Value::String)
                .or_else(|| get::<Vec<u8>, _>(row, i).map(|v| json!(B64.encode(v))))
        }
        _ => get::<String, _>(row, i).map(Value::String),
    };
    v.unwrap_or_else(|| unsupported(&ty))
}

pub(crate) fn sqlite_row(row: &SqliteRow) -> Vec<Value> {
    (0..row.len()).map(|i| sqlite_value(row, i)).collect()
}

fn sqlite_value(row: &SqliteRow, i: usize) -> Value {
    let (null, ty) = is_null(row, i);
    if null {
        return Value::Null;
    }
    // SQLite is dynamically typed: the value's storage class decides.
    let v = match ty.as_str() {
        "INTEGER" | "INT8" | "BOOLEAN" => get::<i64, _>(row, i).map(|v| json!(v)),
        "REAL" => get::<f64, _>(row, i).map(num_f64),
        "BLOB" => get::<Vec<u8>, _>(row, i).map(|v| json!(B64.encode(v))),
        _ => None,
    };
    v.or_else(|| get::<String, _>(row, i).map(Value::String))
        .or_else(|| get::<i64, _>(row, i).map(|v| json!(v)))
        .or_else(|| get::<f64, _>(row, i).map(num_f64))
        .unwrap_or_else(|| unsupported(&ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_become_numbers_when_exact_enough() {
        assert_eq!(decimal(Decimal::new(1999, 2)), json!(19.99));
        assert_eq!(decimal(Decimal::new(42, 0)), json!(42.0));
        let huge: Decimal = "12345678901234567890.123456789".parse().unwrap();
        assert_eq!(decimal(huge), json!("12345678901234567890.123456789"));
    }
}
