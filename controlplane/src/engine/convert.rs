//! Driver values to JSON, and JSON parameters to bound driver arguments (never spliced into SQL).
//!
//! Every value comes back as what it is, never as a placeholder: a column of a type this module
//! cannot convert fails the query with an error naming the column and the type (on PostgreSQL
//! before the statement runs, since the types are known once it is prepared).
//!
//! Shared rules, whatever the source:
//! - exact decimals (NUMERIC/DECIMAL, MongoDB Decimal128, and MONEY, an exact amount whose
//!   64-bit count of cents an f64 cannot always hold): a JSON number when an f64 carries exactly
//!   the same digits, else the exact decimal as a string ([`exact_decimal`]);
//! - floats: numbers; NaN and the infinities, which JSON numbers cannot hold, are the strings
//!   `"NaN"`, `"Infinity"`, `"-Infinity"` ([`float_json`]);
//! - instants (PostgreSQL `timestamptz`, MongoDB dates): RFC 3339 in UTC ([`instant_text`]);
//!   wall-clock values without a zone stay without one (`2024-05-06T07:08:09.5`);
//! - bytes: base64 (standard alphabet, padded).
use std::{
    fmt::Write as _,
    net::{Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use futures::{Stream, TryStreamExt};
use serde_json::{json, Map, Value};
use sqlx::{
    mysql::{MySqlColumn, MySqlRow, MySqlTypeInfo},
    postgres::{PgColumn, PgRow, PgTypeInfo, PgTypeKind, PgValueFormat},
    query::Query,
    sqlite::{SqliteColumn, SqliteRow},
    Column, Database, Encode, Row, Statement, Type, TypeInfo, ValueRef,
};

use super::{pipeline::ColumnMasks, ColumnInfo, EngineError};

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

/// Takes at most `limit` rows, converting each; reports whether the stream had more.
///
/// With `masks`, the rows are masked in batches of [`MASK_BATCH`] on the blocking pool while
/// the stream goes on: a large masked result costs little more time than the same result
/// unmasked (the masking runs beside the fetch instead of after it), and the rows keep their
/// order. A result smaller than one batch is masked here, at the end.
pub(crate) async fn take_rows<R, S>(
    mut stream: S,
    limit: usize,
    mut to_json: impl FnMut(&R) -> Result<Vec<Value>, EngineError>,
    driver_err: impl Fn(sqlx::Error) -> EngineError,
    masks: Option<&Arc<ColumnMasks>>,
) -> Result<(Vec<Vec<Value>>, bool), EngineError>
where
    S: Stream<Item = Result<R, sqlx::Error>> + Unpin,
{
    let mut rows = Vec::new();
    let mut batches = Vec::new();
    let mut taken = 0;
    let mut truncated = false;
    while let Some(row) = stream.try_next().await.map_err(&driver_err)? {
        if taken == limit {
            truncated = true;
            break;
        }
        rows.push(to_json(&row)?);
        taken += 1;
        if let Some(m) = masks.filter(|_| rows.len() == MASK_BATCH) {
            let (m, mut batch) = (Arc::clone(m), std::mem::take(&mut rows));
            batches.push(tokio::task::spawn_blocking(move || {
                batch.iter_mut().for_each(|r| m.row(r));
                batch
            }));
        }
    }
    let Some(m) = masks else {
        return Ok((rows, truncated));
    };
    rows.iter_mut().for_each(|r| m.row(r));
    if batches.is_empty() {
        return Ok((rows, truncated));
    }
    let mut all = Vec::with_capacity(taken);
    for b in batches {
        all.extend(
            b.await
                .map_err(|e| EngineError::Query(format!("masking the result failed: {e}")))?,
        );
    }
    all.extend(rows);
    Ok((all, truncated))
}

/// Rows per masking batch (see [`take_rows`]): large enough that handing a batch to another
/// thread costs next to nothing per row.
pub(crate) const MASK_BATCH: usize = 4096;

/// The error for a column whose type has no JSON form here; `inner` names the part of a
/// container type (array element, field) that is the reason, when it is not the column's own.
fn unconvertible(column: &str, ty: &str, inner: &str) -> EngineError {
    let part = if inner == ty {
        String::new()
    } else {
        format!(" (because of {inner})")
    };
    EngineError::Query(format!(
        "column \"{column}\" has type {ty}{part}, which NexBII cannot convert; cast it in the \
         query (for example to text)"
    ))
}

fn undecodable(column: &str, ty: &str, why: impl std::fmt::Display) -> EngineError {
    EngineError::Query(format!(
        "column \"{column}\" ({ty}): cannot read the value: {why}"
    ))
}

// ---------------------------------------------------------------------------------------------
// Shared scalar rules

/// A float as JSON: a number, or for NaN and the infinities (which JSON numbers cannot hold)
/// the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
pub(crate) fn float_json(f: f64) -> Value {
    match serde_json::Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => json!("NaN"),
        None if f > 0.0 => json!("Infinity"),
        None => json!("-Infinity"),
    }
}

/// A 4-byte float with the digits the database shows (`0.1`, not `0.10000000149011612`).
fn float4_json(f: f32) -> Value {
    float_json(f.to_string().parse().unwrap_or(f64::from(f)))
}

/// An exact decimal given as text (`-12.50`, `1.5E+3`, `NaN`): a JSON number when an f64
/// carries exactly those digits (charts want numbers), else the text itself, so that no digit
/// is lost. The JSON text of such a number is the shortest one that reads back as the same
/// f64, so `19.99` stays `19.99`.
pub(crate) fn exact_decimal(text: &str) -> Value {
    if let (Some(want), Ok(f)) = (decimal_digits(text), text.parse::<f64>()) {
        if f.is_finite() && decimal_digits(&f.to_string()) == Some(want) {
            return float_json(f);
        }
    }
    Value::String(text.to_string())
}

/// A decimal's value as (negative, significant digits, power of ten of the last digit), so
/// `1.50`, `15E-1` and `1.5` compare equal; zero is `(false, "", 0)`. None for anything that
/// is not a plain or exponent decimal (`NaN`, `Infinity`).
fn decimal_digits(text: &str) -> Option<(bool, String, i64)> {
    let (neg, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let all = format!("{int}{frac}");
    let from_first = all.trim_start_matches('0');
    let digits = from_first.trim_end_matches('0');
    if digits.is_empty() {
        return Some((false, String::new(), 0));
    }
    let exp = exp - frac.len() as i64 + (from_first.len() - digits.len()) as i64;
    Some((neg, digits.to_string(), exp))
}

/// An instant as RFC 3339 in UTC (`2024-05-06T07:08:09.500+00:00`).
pub(crate) fn instant_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// Fractional seconds the way chrono's `%.f` writes them: none, 3 or 6 digits.
fn frac_micros(us: u32) -> String {
    match us {
        0 => String::new(),
        us if us % 1000 == 0 => format!(".{:03}", us / 1000),
        us => format!(".{us:06}"),
    }
}

const DATETIME: &str = "%Y-%m-%dT%H:%M:%S%.f";

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "the text is not valid UTF-8".to_string())
}

/// Bytes that may be text: the text when they are UTF-8, else base64.
fn text_or_base64(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => Value::String(B64.encode(b)),
    }
}

/// Reads a binary wire value front to back; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("the value ends {} bytes early", n - self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }
    fn i16(&mut self) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_be_bytes(self.array()?))
    }
    fn u32_in(&mut self, little: bool) -> Result<u32, String> {
        let b = self.array()?;
        Ok(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn f64_in(&mut self, little: bool) -> Result<f64, String> {
        let b = self.array()?;
        Ok(if little {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
    fn end(&self) -> Result<(), String> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(format!("{n} unexpected bytes after the value")),
        }
    }
    /// A PostgreSQL length-prefixed value (length -1 is NULL), as in arrays, records, ranges.
    fn pg_field(&mut self) -> Result<Option<&'a [u8]>, String> {
        let n = self.i32()?;
        match usize::try_from(n) {
            Ok(n) => self.take(n).map(Some),
            Err(_) => Ok(None),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: values arrive in the binary format (sqlx asks for it on every Bind), decoded here
// byte by byte so that array elements, range bounds and record fields of any supported type go
// through the same per-type function as a plain column.

/// How a PostgreSQL value is laid out, resolved once per statement from its column types.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PgShape {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    Money,
    /// text, varchar, char(n), name, xml, citext, unknown, enum labels: UTF-8 as sent.
    Text,
    /// The one-byte `"char"`.
    Char,
    Json,
    Jsonb,
    Jsonpath,
    Uuid,
    Bytea,
    Date,
    Time,
    TimeTz,
    Timestamp,
    TimestampTz,
    Interval,
    /// inet and cidr (the value says which).
    Inet,
    Macaddr,
    Macaddr8,
    /// bit(n) and varbit.
    Bits,
    Point,
    Line,
    Lseg,
    Box,
    Path,
    Polygon,
    Circle,
    Hstore,
    Void,
    Array(Box<PgShape>),
    Range(Box<PgShape>),
    /// A multirange, by the shape of its ranges.
    Multirange(Box<PgShape>),
    Composite(Vec<(String, PgShape)>),
    /// An anonymous record: its field types travel with each value.
    Record,
}

/// Built-in types by OID (fixed in PostgreSQL's catalog), scalars and ranges.
fn pg_builtin(oid: u32) -> Option<PgShape> {
    use PgShape::*;
    let range = |s: PgShape| Range(std::boxed::Box::new(s));
    let multi = |s: PgShape| Multirange(std::boxed::Box::new(Range(std::boxed::Box::new(s))));
    Some(match oid {
        16 => Bool,
        17 => Bytea,
        18 => Char,
        19 | 25 | 142 | 705 | 1042 | 1043 => Text,
        20 => Int8,
        21 => Int2,
        23 => Int4,
        26 => Oid,
        114 => Json,
        3802 => Jsonb,
        4072 => Jsonpath,
        600 => Point,
        601 => Lseg,
        602 => Path,
        603 => Box,
        604 => Polygon,
        628 => Line,
        718 => Circle,
        650 | 869 => Inet,
        829 => Macaddr,
        774 => Macaddr8,
        700 => Float4,
        701 => Float8,
        790 => Money,
        1082 => Date,
        1083 => Time,
        1114 => Timestamp,
        1184 => TimestampTz,
        1186 => Interval,
        1266 => TimeTz,
        1560 | 1562 => Bits,
        1700 => Numeric,
        2249 => Record,
        2278 => Void,
        2950 => Uuid,
        3904 => range(Int4),
        3906 => range(Numeric),
        3908 => range(Timestamp),
        3910 => range(TimestampTz),
        3912 => range(Date),
        3926 => range(Int8),
        4451 => multi(Int4),
        4532 => multi(Numeric),
        4533 => multi(Timestamp),
        4534 => multi(TimestampTz),
        4535 => multi(Date),
        4536 => multi(Int8),
        _ => return None,
    })
}

/// Built-in array types by OID and their element OIDs: only anonymous record fields need
/// this (a named column's array type says its element type).
const PG_ARRAYS: &[(u32, u32)] = &[
    (1000, 16),
    (1001, 17),
    (1002, 18),
    (1003, 19),
    (1005, 21),
    (1007, 23),
    (1009, 25),
    (1014, 1042),
    (1015, 1043),
    (1016, 20),
    (1017, 600),
    (1021, 700),
    (1022, 701),
    (1028, 26),
    (1040, 829),
    (1041, 869),
    (651, 650),
    (775, 774),
    (791, 790),
    (143, 142),
    (199, 114),
    (3807, 3802),
    (1115, 1114),
    (1182, 1082),
    (1183, 1083),
    (1185, 1184),
    (1187, 1186),
    (1270, 1266),
    (1231, 1700),
    (1561, 1560),
    (1563, 1562),
    (2287, 2249),
    (2951, 2950),
    (3905, 3904),
    (3907, 3906),
    (3909, 3908),
    (3911, 3910),
    (3913, 3912),
    (3927, 3926),
];

fn pg_shape_of_oid(oid: u32) -> Option<PgShape> {
    pg_builtin(oid).or_else(|| {
        PG_ARRAYS
            .iter()
            .find(|(array, _)| *array == oid)
            .and_then(|(_, elem)| pg_builtin(*elem))
            .map(|e| PgShape::Array(Box::new(e)))
    })
}

/// The shape of a column type; `Err` names the (innermost) type that has none.
fn pg_shape(ty: &PgTypeInfo) -> Result<PgShape, String> {
    if let Some(shape) = ty.oid().and_then(|oid| pg_builtin(oid.0)) {
        return Ok(shape);
    }
    match ty.kind() {
        PgTypeKind::Array(elem) => Ok(PgShape::Array(Box::new(pg_shape(elem)?))),
        PgTypeKind::Range(elem) => Ok(PgShape::Range(Box::new(pg_shape(elem)?))),
        // An enum value travels as its label.
        PgTypeKind::Enum(_) => Ok(PgShape::Text),
        PgTypeKind::Domain(base) => pg_shape(base),
        PgTypeKind::Composite(fields) => fields
            .iter()
            .map(|(name, t)| Ok((name.clone(), pg_shape(t)?)))
            .collect::<Result<_, String>>()
            .map(PgShape::Composite),
        PgTypeKind::Simple | PgTypeKind::Pseudo => {
            // Extension types have no fixed OID; they are known by name (schema-qualified
            // when their schema is not on the search path).
            let name = ty.name();
            let bare = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
            match bare.as_str() {
                "citext" => Ok(PgShape::Text),
                "hstore" => Ok(PgShape::Hstore),
                _ => Err(name.to_string()),
            }
        }
    }
}

/// Turns PostgreSQL rows into JSON. Built from the prepared statement's columns, so a column
/// NexBII cannot convert fails the query before it runs.
pub(crate) struct PgRows {
    columns: Vec<(String, String, PgShape)>,
}

impl PgRows {
    pub(crate) fn new(columns: &[PgColumn]) -> Result<Self, EngineError> {
        let columns = columns
            .iter()
            .map(|c| {
                let ty = c.type_info().name();
                pg_shape(c.type_info())
                    .map(|shape| (c.name().to_string(), ty.to_string(), shape))
                    .map_err(|inner| unconvertible(c.name(), ty, &inner))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { columns })
    }

    pub(crate) fn row(&self, row: &PgRow) -> Result<Vec<Value>, EngineError> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, (name, ty, shape))| {
                let raw = row.try_get_raw(i).map_err(|e| undecodable(name, ty, e))?;
                if raw.is_null() {
                    return Ok(Value::Null);
                }
                if raw.format() != PgValueFormat::Binary {
                    return Err(undecodable(name, ty, "expected the binary format"));
                }
                let bytes = raw.as_bytes().map_err(|e| undecodable(name, ty, e))?;
                pg_decode(shape, bytes).map_err(|why| undecodable(name, ty, why))
            })
            .collect()
    }
}

/// One PostgreSQL value (binary format) as JSON.
pub(crate) fn pg_decode(shape: &PgShape, raw: &[u8]) -> Result<Value, String> {
    let r = &mut Reader(raw);
    let v = match shape {
        PgShape::Bool => Value::Bool(r.u8()? != 0),
        PgShape::Int2 => json!(r.i16()?),
        PgShape::Int4 => json!(r.i32()?),
        PgShape::Int8 => json!(r.i64()?),
        PgShape::Oid => json!(r.u32()?),
        PgShape::Float4 => float4_json(f32::from_be_bytes(r.array()?)),
        PgShape::Float8 => float_json(r.f64()?),
        PgShape::Numeric => exact_decimal(&pg_numeric(r)?),
        PgShape::Money => exact_decimal(&cents_text(r.i64()?)),
        PgShape::Text => Value::String(utf8(r.rest())?),
        PgShape::Char => Value::String(pg_char(r.rest())),
        PgShape::Json => serde_json::from_slice(r.rest()).map_err(|e| e.to_string())?,
        PgShape::Jsonb | PgShape::Jsonpath => {
            let version = r.u8()?;
            if version != 1 {
                return Err(format!("unknown format version {version}"));
            }
            let body = r.rest();
            if *shape == PgShape::Jsonb {
                serde_json::from_slice(body).map_err(|e| e.to_string())?
            } else {
                Value::String(utf8(body)?)
            }
        }
        PgShape::Uuid => json!(uuid::Uuid::from_bytes(r.array()?).to_string()),
        PgShape::Bytea => json!(B64.encode(r.rest())),
        PgShape::Date => json!(pg_date(r.i32()?)?),
        PgShape::Time => json!(clock_text(r.i64()?)),
        PgShape::TimeTz => {
            let time = clock_text(r.i64()?);
            // The zone is sent in seconds west of UTC; offsets are written east-positive.
            let west = r.i32()?;
            json!(format!("{time}{}", offset_text(-west)))
        }
        PgShape::Timestamp => json!(pg_timestamp(r.i64()?, false)?),
        PgShape::TimestampTz => json!(pg_timestamp(r.i64()?, true)?),
        PgShape::Interval => {
            let micros = r.i64()?;
            let days = r.i32()?;
            let months = r.i32()?;
            json!(iso_interval(months, days, micros))
        }
        PgShape::Inet => json!(pg_inet(r)?),
        PgShape::Macaddr => json!(mac_text(&r.array::<6>()?)),
        PgShape::Macaddr8 => json!(mac_text(&r.array::<8>()?)),
        PgShape::Bits => json!(pg_bits(r)?),
        PgShape::Point => json!(pg_point(r)?),
        PgShape::Line => {
            let (a, b, c) = (r.f64()?, r.f64()?, r.f64()?);
            json!(format!(
                "{{{},{},{}}}",
                pg_float(a),
                pg_float(b),
                pg_float(c)
            ))
        }
        PgShape::Lseg => json!(format!("[{},{}]", pg_point(r)?, pg_point(r)?)),
        PgShape::Box => json!(format!("{},{}", pg_point(r)?, pg_point(r)?)),
        PgShape::Path => {
            let closed = r.u8()? != 0;
            let points = pg_points(r)?;
            json!(if closed {
                format!("({points})")
            } else {
                format!("[{points}]")
            })
        }
        PgShape::Polygon => json!(format!("({})", pg_points(r)?)),
        PgShape::Circle => {
            let center = pg_point(r)?;
            json!(format!("<{center},{}>", pg_float(r.f64()?)))
        }
        PgShape::Hstore => pg_hstore(r)?,
        PgShape::Void => Value::Null,
        PgShape::Array(elem) => pg_array(elem, r)?,
        PgShape::Range(elem) => pg_range(elem, r)?,
        PgShape::Multirange(range) => {
            let n = r.i32()?;
            let mut out = Vec::new();
            for _ in 0..n {
                let bytes = r.pg_field()?.ok_or("a multirange holds a NULL range")?;
                out.push(pg_decode(range, bytes)?);
            }
            Value::Array(out)
        }
        PgShape::Composite(fields) => pg_record(Some(fields), r)?,
        PgShape::Record => pg_record(None, r)?,
    };
    r.end()?;
    Ok(v)
}

/// A value of an element, bound or field: NULL stays null.
fn pg_maybe(shape: &PgShape, raw: Option<&[u8]>) -> Result<Value, String> {
    raw.map_or(Ok(Value::Null), |b| pg_decode(shape, b))
}

/// NUMERIC's exact text, as PostgreSQL writes it (`dscale` digits after the point), from its
/// base-10000 digits; `NaN`, `Infinity` and `-Infinity` in PostgreSQL's words.
fn pg_numeric(r: &mut Reader) -> Result<String, String> {
    let ndigits = r.i16()?;
    let weight = r.i16()?;
    let sign = r.u16()?;
    let dscale = usize::from(r.u16()?);
    let digits = (0..ndigits)
        .map(|_| r.i16())
        .collect::<Result<Vec<_>, _>>()?;
    let sign = match sign {
        0x0000 => "",
        0x4000 => "-",
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        s => return Err(format!("unknown NUMERIC sign {s:#x}")),
    };
    let digit = |i: i32| -> i16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut int = String::new();
    for i in 0..=i32::from(weight) {
        if int.is_empty() {
            write!(int, "{}", digit(i)).expect("writing to a String");
        } else {
            write!(int, "{:04}", digit(i)).expect("writing to a String");
        }
    }
    if int.is_empty() {
        int.push('0');
    }
    let mut frac = String::new();
    let mut i = i32::from(weight) + 1;
    while frac.len() < dscale {
        write!(frac, "{:04}", digit(i)).expect("writing to a String");
        i += 1;
    }
    frac.truncate(dscale);
    Ok(if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    })
}

/// MONEY's integer count of cents as a decimal. The binary format carries no locale: this
/// assumes two fraction digits, which is what `lc_monetary` C/POSIX and most locales use.
fn cents_text(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// `"char"` as PostgreSQL prints it: the byte, nothing for 0, an octal escape above ASCII.
fn pg_char(b: &[u8]) -> String {
    match b.first() {
        None | Some(0) => String::new(),
        Some(&c) if c < 0x80 => char::from(c).to_string(),
        Some(&c) => format!("\\{c:03o}"),
    }
}

/// Days since 2000-01-01 as `YYYY-MM-DD`; PostgreSQL's infinities in its words.
fn pg_date(days: i32) -> Result<String, String> {
    match days {
        i32::MAX => Ok("infinity".into()),
        i32::MIN => Ok("-infinity".into()),
        d => NaiveDate::from_ymd_opt(2000, 1, 1)
            .and_then(|epoch| epoch.checked_add_signed(TimeDelta::days(d.into())))
            .map(|date| date.format("%Y-%m-%d").to_string())
            .ok_or_else(|| format!("date out of range ({d} days from 2000-01-01)")),
    }
}

/// Microseconds since 2000-01-01 00:00 as a wall-clock timestamp, or (for `timestamptz`,
/// where they count from 2000-01-01 00:00 UTC) as an instant.
fn pg_timestamp(micros: i64, instant: bool) -> Result<String, String> {
    match micros {
        i64::MAX => return Ok("infinity".into()),
        i64::MIN => return Ok("-infinity".into()),
        _ => {}
    }
    let t = NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|epoch| epoch.checked_add_signed(TimeDelta::microseconds(micros)))
        .ok_or_else(|| format!("timestamp out of range ({micros} µs from 2000-01-01)"))?;
    Ok(if instant {
        instant_text(t.and_utc())
    } else {
        t.format(DATETIME).to_string()
    })
}

/// Microseconds since midnight as `HH:MM:SS[.fff[fff]]` (PostgreSQL allows `24:00:00`).
fn clock_text(micros: i64) -> String {
    let us = micros.rem_euclid(1_000_000) as u32;
    let secs = micros.div_euclid(1_000_000);
    format!(
        "{:02}:{:02}:{:02}{}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        frac_micros(us)
    )
}

/// A UTC offset in seconds east as `+HH:MM` (with `:SS` when it has seconds).
fn offset_text(east: i32) -> String {
    let sign = if east < 0 { '-' } else { '+' };
    let abs = east.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    if s == 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    }
}

/// An interval as an ISO 8601 duration, exactly as PostgreSQL writes it with
/// `IntervalStyle = iso_8601`: `P1Y2M3DT4H5M6.5S`; months, days and time are kept apart (a
/// month is not a fixed number of days), each field carries its own sign
/// (`P-1Y-2M3DT-4H-5M-6.5S`), and zero is `PT0S`.
pub(crate) fn iso_interval(months: i32, days: i32, micros: i64) -> String {
    let (years, months) = (months / 12, months % 12);
    let hours = micros / 3_600_000_000;
    let minutes = micros % 3_600_000_000 / 60_000_000;
    let seconds = micros % 60_000_000;
    if years == 0 && months == 0 && days == 0 && micros == 0 {
        return "PT0S".into();
    }
    let mut s = String::from("P");
    for (n, unit) in [(years, 'Y'), (months, 'M'), (days, 'D')] {
        if n != 0 {
            write!(s, "{n}{unit}").expect("writing to a String");
        }
    }
    if micros != 0 {
        s.push('T');
    }
    for (n, unit) in [(hours, 'H'), (minutes, 'M')] {
        if n != 0 {
            write!(s, "{n}{unit}").expect("writing to a String");
        }
    }
    if seconds != 0 {
        let abs = seconds.unsigned_abs();
        let sign = if seconds < 0 { "-" } else { "" };
        let frac = format!("{:06}", abs % 1_000_000);
        let frac = frac.trim_end_matches('0');
        let dot = if frac.is_empty() { "" } else { "." };
        write!(s, "{sign}{}{dot}{frac}S", abs / 1_000_000).expect("writing to a String");
    }
    s
}

/// inet / cidr as PostgreSQL writes them: the prefix length after `/` always for cidr, and
/// for inet only when it is not the whole address.
fn pg_inet(r: &mut Reader) -> Result<String, String> {
    let family = r.u8()?;
    let bits = r.u8()?;
    let is_cidr = r.u8()? != 0;
    let n = usize::from(r.u8()?);
    let addr = r.take(n)?;
    let (text, full) = match family {
        2 => {
            let octets: [u8; 4] = addr.try_into().map_err(|_| "bad IPv4 length")?;
            (Ipv4Addr::from(octets).to_string(), 32)
        }
        3 => {
            let octets: [u8; 16] = addr.try_into().map_err(|_| "bad IPv6 length")?;
            (ipv6_text(Ipv6Addr::from(octets)), 128)
        }
        f => return Err(format!("unknown address family {f}")),
    };
    Ok(if is_cidr || bits != full {
        format!("{text}/{bits}")
    } else {
        text
    })
}

/// IPv6 text; an IPv4-compatible address (`::a.b.c.d`) is written dotted, as PostgreSQL does.
fn ipv6_text(a: Ipv6Addr) -> String {
    let s = a.segments();
    if s[..6] == [0; 6] && s[6] != 0 {
        let [.., a, b, c, d] = a.octets();
        format!("::{a}.{b}.{c}.{d}")
    } else {
        a.to_string()
    }
}

fn mac_text(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// bit(n) / varbit as the string of its bits (`"10110"`).
fn pg_bits(r: &mut Reader) -> Result<String, String> {
    let n = usize::try_from(r.i32()?).map_err(|_| "negative bit length")?;
    let bytes = r.take(n.div_ceil(8))?;
    Ok((0..n)
        .map(|i| {
            if bytes[i / 8] >> (7 - i % 8) & 1 == 1 {
                '1'
            } else {
                '0'
            }
        })
        .collect())
}

/// A float8 as PostgreSQL prints it (`extra_float_digits` 1, the default): the shortest
/// digits that read back the same, in exponent form below 1e-4 and from 1e15 (`1e+15`).
pub(crate) fn pg_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("LowerExp writes an exponent");
    let exp: i32 = exp.parse().expect("LowerExp writes an integer exponent");
    if (-4..15).contains(&exp) {
        f.to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    }
}

fn pg_point(r: &mut Reader) -> Result<String, String> {
    let x = r.f64()?;
    let y = r.f64()?;
    Ok(format!("({},{})", pg_float(x), pg_float(y)))
}

fn pg_points(r: &mut Reader) -> Result<String, String> {
    let n = r.i32()?;
    let points = (0..n).map(|_| pg_point(r)).collect::<Result<Vec<_>, _>>()?;
    Ok(points.join(","))
}

/// hstore as a JSON object; a NULL value stays null.
fn pg_hstore(r: &mut Reader) -> Result<Value, String> {
    let n = r.i32()?;
    let mut map = Map::new();
    for _ in 0..n {
        let key = utf8(r.pg_field()?.ok_or("an hstore key is NULL")?)?;
        let value = r.pg_field()?.map(utf8).transpose()?;
        map.insert(key, value.map_or(Value::Null, Value::String));
    }
    Ok(Value::Object(map))
}

/// An array (any number of dimensions; NULL elements stay null) as nested JSON arrays. The
/// lower bounds (`'[0:2]={…}'`) have no place in a JSON array and are dropped.
fn pg_array(elem: &PgShape, r: &mut Reader) -> Result<Value, String> {
    let ndim = r.i32()?;
    let _has_nulls = r.i32()?;
    let _elem_oid = r.u32()?;
    if ndim == 0 {
        return Ok(json!([]));
    }
    if !(1..=6).contains(&ndim) {
        return Err(format!("an array with {ndim} dimensions"));
    }
    let mut dims = Vec::new();
    for _ in 0..ndim {
        let len = usize::try_from(r.i32()?).map_err(|_| "a negative array length")?;
        let _lower_bound = r.i32()?;
        dims.push(len);
    }
    pg_array_dim(elem, &dims, r)
}

fn pg_array_dim(elem: &PgShape, dims: &[usize], r: &mut Reader) -> Result<Value, String> {
    let (&n, inner) = dims.split_first().expect("at least one dimension");
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(if inner.is_empty() {
            pg_maybe(elem, r.pg_field()?)?
        } else {
            pg_array_dim(elem, inner, r)?
        });
    }
    Ok(Value::Array(out))
}

/// A range as `{"empty", "lower", "upper", "lowerInclusive", "upperInclusive"}`; an unbounded
/// side is null and not inclusive. Discrete ranges come canonical from the server (`[1,5)`).
fn pg_range(elem: &PgShape, r: &mut Reader) -> Result<Value, String> {
    const EMPTY: u8 = 0x01;
    const LOWER_INCLUSIVE: u8 = 0x02;
    const UPPER_INCLUSIVE: u8 = 0x04;
    const LOWER_INFINITE: u8 = 0x08;
    const UPPER_INFINITE: u8 = 0x10;
    const LOWER_NULL: u8 = 0x20;
    const UPPER_NULL: u8 = 0x40;
    let flags = r.u8()?;
    let empty = flags & EMPTY != 0;
    let mut bound = |absent: u8| -> Result<Value, String> {
        if empty || flags & absent != 0 {
            Ok(Value::Null)
        } else {
            pg_maybe(elem, r.pg_field()?)
        }
    };
    let lower = bound(LOWER_INFINITE | LOWER_NULL)?;
    let upper = bound(UPPER_INFINITE | UPPER_NULL)?;
    Ok(json!({
        "empty": empty,
        "lower": lower,
        "upper": upper,
        "lowerInclusive": flags & LOWER_INCLUSIVE != 0,
        "upperInclusive": flags & UPPER_INCLUSIVE != 0,
    }))
}

/// A composite value as an object keyed by its field names; an anonymous record's fields are
/// `f1`, `f2`, … (as `row_to_json` names them), typed by the OIDs the value carries.
fn pg_record(fields: Option<&[(String, PgShape)]>, r: &mut Reader) -> Result<Value, String> {
    let n = usize::try_from(r.i32()?).map_err(|_| "a negative field count")?;
    if let Some(fields) = fields {
        if fields.len() != n {
            return Err(format!(
                "{n} fields arrived for a type with {}",
                fields.len()
            ));
        }
    }
    let mut map = Map::new();
    for i in 0..n {
        let oid = r.u32()?;
        let raw = r.pg_field()?;
        let value = match fields {
            Some(fields) => pg_maybe(&fields[i].1, raw)?,
            None => {
                let shape = pg_shape_of_oid(oid).ok_or_else(|| {
                    format!(
                        "record field f{} has the type with OID {oid}, which NexBII cannot \
                         convert; cast it in the query (for example to text)",
                        i + 1
                    )
                })?;
                pg_maybe(&shape, raw)?
            }
        };
        let name = fields.map_or_else(|| format!("f{}", i + 1), |f| f[i].0.clone());
        map.insert(name, value);
    }
    Ok(Value::Object(map))
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB: prepared statements answer in the binary protocol. Integers, floats and
// text go through sqlx's decoders; the rest is read from the value's bytes
// (`try_get_unchecked::<&[u8]>`), since sqlx has no Rust type for them or refuses values such
// as the zero date and TIME beyond 24 hours.

#[derive(Clone, Copy, Debug, PartialEq)]
enum MyKind {
    /// TINYINT(1): 0 and 1 are false and true; any other number it holds stays a number.
    Bool,
    Int,
    Unsigned,
    Float,
    Double,
    Decimal,
    Year,
    Date,
    DateTime,
    Time,
    /// BIT(M): the number whose bits they are (exact up to M = 64). A bit string would need
    /// M, which the binary protocol does not send with the value.
    Bit,
    Json,
    Geometry,
    Enum,
    Set,
    Text,
    /// BINARY, VARBINARY, BLOBs: also what `_bin`-collated text and MariaDB JSON columns look
    /// like on the wire (the protocol's BINARY flag), so UTF-8 comes back as text, other bytes
    /// as base64.
    Binary,
    Null,
}

/// A SET column reaches sqlx as a CHAR with the SET flag, which sqlx keeps private; its
/// Debug form is the one place the flag shows.
fn mysql_is_set(ty: &MySqlTypeInfo) -> bool {
    format!("{ty:?}")
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word == "SET")
}

fn mysql_kind(ty: &MySqlTypeInfo) -> Option<MyKind> {
    use MyKind::*;
    let name = ty.name();
    Some(match name {
        "BOOLEAN" => Bool,
        n if n.ends_with(" UNSIGNED") => Unsigned,
        "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" => Int,
        "FLOAT" => Float,
        "DOUBLE" => Double,
        "DECIMAL" => Decimal,
        "YEAR" => Year,
        "DATE" => Date,
        "DATETIME" | "TIMESTAMP" => DateTime,
        "TIME" => Time,
        "BIT" => Bit,
        "JSON" => Json,
        "GEOMETRY" => Geometry,
        "ENUM" => Enum,
        "SET" => Set,
        "CHAR" if mysql_is_set(ty) => Set,
        "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" => Text,
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => Binary,
        "NULL" => Null,
        _ => return None,
    })
}

/// MySQL column names and types; a SET column is named SET (sqlx's name for it is CHAR).
pub(crate) fn mysql_columns(columns: &[MySqlColumn]) -> Vec<ColumnInfo> {
    columns
        .iter()
        .map(|c| ColumnInfo {
            name: c.name().to_string(),
            type_name: match mysql_kind(c.type_info()) {
                Some(MyKind::Set) => "SET".to_string(),
                _ => c.type_info().name().to_string(),
            },
        })
        .collect()
}

/// Turns MySQL / MariaDB rows into JSON. The column types come from the result's own column
/// definitions, read with its first row: a prepared statement describes a `?` in the select
/// list as NULL, while the result says what the bound value turned out to be.
#[derive(Default)]
pub(crate) struct MySqlRows {
    columns: Option<Vec<(String, String, MyKind)>>,
    described: Vec<ColumnInfo>,
}

impl MySqlRows {
    pub(crate) fn row(&mut self, row: &MySqlRow) -> Result<Vec<Value>, EngineError> {
        let columns = match &mut self.columns {
            Some(columns) => columns,
            empty => {
                let found = row
                    .columns()
                    .iter()
                    .map(|c| {
                        let ty = c.type_info().name();
                        mysql_kind(c.type_info())
                            .map(|kind| (c.name().to_string(), ty.to_string(), kind))
                            .ok_or_else(|| unconvertible(c.name(), ty, ty))
                    })
                    .collect::<Result<_, _>>()?;
                self.described = mysql_columns(row.columns());
                empty.insert(found)
            }
        };
        columns
            .iter()
            .enumerate()
            .map(|(i, (name, ty, kind))| {
                let null = row
                    .try_get_raw(i)
                    .map(|v| v.is_null())
                    .map_err(|e| undecodable(name, ty, e))?;
                if null {
                    // sqlx calls the zero date NULL; its bytes are still there, a NULL's not.
                    let zero_date = matches!(kind, MyKind::Date | MyKind::DateTime)
                        && row.try_get_unchecked::<&[u8], _>(i).is_ok();
                    if !zero_date {
                        return Ok(Value::Null);
                    }
                }
                mysql_value(row, i, *kind).map_err(|why| undecodable(name, ty, why))
            })
            .collect()
    }

    /// The columns as the result described them, once a row has been read.
    pub(crate) fn described(self) -> Option<Vec<ColumnInfo>> {
        self.columns.map(|_| self.described)
    }
}

fn mysql_value(row: &MySqlRow, i: usize, kind: MyKind) -> Result<Value, String> {
    let raw = || {
        row.try_get_unchecked::<&[u8], _>(i)
            .map_err(|e| e.to_string())
    };
    let text = || {
        row.try_get_unchecked::<&str, _>(i)
            .map_err(|e| e.to_string())
    };
    Ok(match kind {
        MyKind::Bool => match mysql_int(row, i)? {
            v if v.as_u64() == Some(0) => Value::Bool(false),
            v if v.as_u64() == Some(1) => Value::Bool(true),
            v => v,
        },
        MyKind::Int | MyKind::Unsigned => mysql_int(row, i)?,
        MyKind::Float => float4_json(row.try_get::<f32, _>(i).map_err(|e| e.to_string())?),
        MyKind::Double => float_json(row.try_get::<f64, _>(i).map_err(|e| e.to_string())?),
        MyKind::Decimal => exact_decimal(text()?),
        MyKind::Year => json!(u16::from_le_bytes(
            raw()?.try_into().map_err(|_| "YEAR is not 2 bytes")?
        )),
        MyKind::Date => json!(mysql_datetime(raw()?, false)?),
        MyKind::DateTime => json!(mysql_datetime(raw()?, true)?),
        MyKind::Time => json!(mysql_time(raw()?)?),
        MyKind::Bit => {
            let b = raw()?;
            if b.len() > 8 {
                return Err(format!("a BIT value of {} bytes", b.len()));
            }
            json!(b.iter().fold(0u64, |n, &x| n << 8 | u64::from(x)))
        }
        MyKind::Json => serde_json::from_str(text()?).map_err(|e| e.to_string())?,
        MyKind::Geometry => json!(mysql_geometry(raw()?)?),
        MyKind::Enum | MyKind::Text => json!(text()?),
        MyKind::Set => {
            let s = text()?;
            Value::Array(if s.is_empty() {
                Vec::new()
            } else {
                s.split(',').map(|m| json!(m)).collect()
            })
        }
        MyKind::Binary => text_or_base64(raw()?),
        MyKind::Null => Value::Null,
    })
}

fn mysql_int(row: &MySqlRow, i: usize) -> Result<Value, String> {
    match row.try_get::<i64, _>(i) {
        Ok(v) => Ok(json!(v)),
        Err(_) => row
            .try_get::<u64, _>(i)
            .map(|v| json!(v))
            .map_err(|e| e.to_string()),
    }
}

/// DATE / DATETIME / TIMESTAMP in the binary protocol (a length byte, then as many fields as
/// are not zero). Written as stored, including the zero date `0000-00-00`; TIMESTAMP is the
/// wall-clock time in the session's time zone, which the protocol does not name, so no offset
/// is added.
pub(crate) fn mysql_datetime(raw: &[u8], with_time: bool) -> Result<String, String> {
    let r = &mut Reader(raw);
    let len = r.u8()?;
    if ![0, 4, 7, 11].contains(&len) {
        return Err(format!("a date of {len} bytes"));
    }
    let mut f = [0u32; 7];
    if len >= 4 {
        f[0] = u32::from(u16::from_le_bytes(r.array()?));
        f[1] = u32::from(r.u8()?);
        f[2] = u32::from(r.u8()?);
    }
    if len >= 7 {
        for v in &mut f[3..6] {
            *v = u32::from(r.u8()?);
        }
    }
    if len == 11 {
        f[6] = u32::from_le_bytes(r.array()?);
    }
    r.end()?;
    let date = format!("{:04}-{:02}-{:02}", f[0], f[1], f[2]);
    Ok(if with_time {
        format!(
            "{date}T{:02}:{:02}:{:02}{}",
            f[3],
            f[4],
            f[5],
            frac_micros(f[6])
        )
    } else {
        date
    })
}

/// TIME in the binary protocol: a duration up to ±838:59:59, written `[-]HH:MM:SS[.ffffff]`
/// with the hours uncapped, as MySQL shows it.
pub(crate) fn mysql_time(raw: &[u8]) -> Result<String, String> {
    let r = &mut Reader(raw);
    let len = r.u8()?;
    if ![0, 8, 12].contains(&len) {
        return Err(format!("a time of {len} bytes"));
    }
    if len == 0 {
        return Ok("00:00:00".into());
    }
    let negative = r.u8()? != 0;
    let days = u32::from_le_bytes(r.array()?);
    let (h, m, s) = (r.u8()?, r.u8()?, r.u8()?);
    let us = if len == 12 {
        u32::from_le_bytes(r.array()?)
    } else {
        0
    };
    r.end()?;
    let hours = u64::from(days) * 24 + u64::from(h);
    let sign = if negative { "-" } else { "" };
    Ok(format!("{sign}{hours:02}:{m:02}:{s:02}{}", frac_micros(us)))
}

/// A MySQL geometry value (4-byte little-endian SRID, then WKB) as WKT; a non-zero SRID is
/// kept in the extended form `SRID=4326;POINT(1 2)`.
pub(crate) fn mysql_geometry(raw: &[u8]) -> Result<String, String> {
    let r = &mut Reader(raw);
    let srid = u32::from_le_bytes(r.array()?);
    let wkt = wkb_to_wkt(r.rest())?;
    Ok(if srid == 0 {
        wkt
    } else {
        format!("SRID={srid};{wkt}")
    })
}

/// Well-known binary (2D, either byte order) to well-known text in MySQL's spelling:
/// `POINT(1 2)`, `MULTIPOINT(1 1,2 2)`, `GEOMETRYCOLLECTION EMPTY`. Coordinates are the
/// shortest decimals that read back as the same doubles.
pub(crate) fn wkb_to_wkt(wkb: &[u8]) -> Result<String, String> {
    let r = &mut Reader(wkb);
    let mut out = String::new();
    wkb_geometry(r, &mut out, None, 0)?;
    r.end()?;
    Ok(out)
}

const WKB_TYPES: [&str; 7] = [
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
];

/// One geometry with its header; `member_of` is the multi type whose parts (written without
/// their names) it must be.
fn wkb_geometry(
    r: &mut Reader,
    out: &mut String,
    member_of: Option<u32>,
    depth: usize,
) -> Result<(), String> {
    if depth > 32 {
        return Err("geometry collections nested too deep".into());
    }
    let little = match r.u8()? {
        0 => false,
        1 => true,
        b => return Err(format!("unknown WKB byte order {b}")),
    };
    let kind = r.u32_in(little)?;
    let name = kind
        .checked_sub(1)
        .and_then(|k| WKB_TYPES.get(k as usize))
        .ok_or_else(|| format!("unsupported WKB geometry type {kind}"))?;
    match member_of {
        Some(multi) if kind != multi - 3 => {
            return Err(format!(
                "a {name} inside a {}",
                WKB_TYPES[multi as usize - 1]
            ))
        }
        Some(_) => {}
        None => out.push_str(name),
    }
    let coord = |r: &mut Reader, out: &mut String| -> Result<bool, String> {
        let x = r.f64_in(little)?;
        let y = r.f64_in(little)?;
        if x.is_nan() && y.is_nan() {
            return Ok(false);
        }
        write!(out, "{x} {y}").expect("writing to a String");
        Ok(true)
    };
    let points = |r: &mut Reader, out: &mut String| -> Result<(), String> {
        let n = r.u32_in(little)?;
        if n == 0 {
            out.push_str(" EMPTY");
            return Ok(());
        }
        out.push('(');
        for i in 0..n {
            if i > 0 {
                out.push(',');
            }
            coord(r, out)?;
        }
        out.push(')');
        Ok(())
    };
    match kind {
        1 => {
            let mut body = String::new();
            if coord(r, &mut body)? {
                // A point inside a MULTIPOINT is written bare: MULTIPOINT(1 1,2 2).
                if member_of.is_some() {
                    out.push_str(&body);
                } else {
                    write!(out, "({body})").expect("writing to a String");
                }
            } else if member_of.is_some() {
                out.push_str("EMPTY");
            } else {
                out.push_str(" EMPTY");
            }
        }
        2 => points(r, out)?,
        3 => {
            let rings = r.u32_in(little)?;
            if rings == 0 {
                out.push_str(" EMPTY");
            } else {
                out.push('(');
                for i in 0..rings {
                    if i > 0 {
                        out.push(',');
                    }
                    points(r, out)?;
                }
                out.push(')');
            }
        }
        _ => {
            let n = r.u32_in(little)?;
            if n == 0 {
                out.push_str(" EMPTY");
            } else {
                out.push('(');
                for i in 0..n {
                    if i > 0 {
                        out.push(',');
                    }
                    let part = (kind != 7).then_some(kind);
                    wkb_geometry(r, out, part, depth + 1)?;
                }
                out.push(')');
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SQLite: dynamically typed, so each value's storage class decides: INTEGER and REAL are
// numbers, TEXT a string (base64 if it is not UTF-8), BLOB base64. A column declared BOOLEAN
// holds 0 and 1 as integers; those come back as false and true (other values as they are).

/// Turns SQLite rows into JSON; built once per statement from its declared column types.
pub(crate) struct SqliteRows {
    columns: Vec<(String, String)>,
}

impl SqliteRows {
    pub(crate) fn new(columns: &[SqliteColumn]) -> Self {
        Self {
            columns: columns
                .iter()
                .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
                .collect(),
        }
    }

    pub(crate) fn row(&self, row: &SqliteRow) -> Result<Vec<Value>, EngineError> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, (name, declared))| {
                let fail = |e: sqlx::Error| undecodable(name, declared, e);
                let raw = row.try_get_raw(i).map_err(fail)?;
                if raw.is_null() {
                    return Ok(Value::Null);
                }
                let class = raw.type_info().name().to_string();
                Ok(match class.as_str() {
                    "INTEGER" => {
                        let v = row.try_get_unchecked::<i64, _>(i).map_err(fail)?;
                        match (declared.as_str(), v) {
                            ("BOOLEAN", 0 | 1) => Value::Bool(v == 1),
                            _ => json!(v),
                        }
                    }
                    "REAL" => float_json(row.try_get_unchecked::<f64, _>(i).map_err(fail)?),
                    "TEXT" => text_or_base64(row.try_get_unchecked::<&[u8], _>(i).map_err(fail)?),
                    "BLOB" => {
                        json!(B64.encode(row.try_get_unchecked::<&[u8], _>(i).map_err(fail)?))
                    }
                    other => return Err(unconvertible(name, other, other)),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_become_numbers_only_when_exact() {
        assert_eq!(exact_decimal("19.99"), json!(19.99));
        assert_eq!(exact_decimal("42"), json!(42.0));
        assert_eq!(exact_decimal("42.000"), json!(42.0));
        assert_eq!(exact_decimal("-0.5"), json!(-0.5));
        assert_eq!(exact_decimal("1.5E+3"), json!(1500.0));
        assert_eq!(exact_decimal("100000000000000000000"), json!(1e20));
        for exact in [
            "12345678901234567890.123456789",
            "9007199254740993",
            "0.1000000000000000055511151231257827",
            "NaN",
            "Infinity",
            "-Infinity",
        ] {
            assert_eq!(exact_decimal(exact), json!(exact), "{exact}");
        }
        assert_eq!(decimal_digits("0.000"), Some((false, String::new(), 0)));
        assert_eq!(decimal_digits("-1.50"), Some((true, "15".into(), -1)));
        assert_eq!(decimal_digits("15E-1"), decimal_digits("1.5"));
        assert_eq!(decimal_digits("1.2.3"), None);
        assert_eq!(decimal_digits(""), None);
    }

    #[test]
    fn floats_keep_their_digits_and_name_their_infinities() {
        assert_eq!(float4_json(0.1), json!(0.1));
        assert_eq!(float_json(f64::NAN), json!("NaN"));
        assert_eq!(float_json(f64::INFINITY), json!("Infinity"));
        assert_eq!(float_json(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(float4_json(f32::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(pg_float(1e14), "100000000000000");
        assert_eq!(pg_float(1e15), "1e+15");
        assert_eq!(pg_float(0.0001), "0.0001");
        assert_eq!(pg_float(0.00001), "1e-05");
        assert_eq!(pg_float(-1.5e300), "-1.5e+300");
        assert_eq!(pg_float(-0.0), "-0");
        assert_eq!(pg_float(123456789012345.6), "123456789012345.6");
    }

    /// NUMERIC's binary form: ndigits, weight, sign, dscale, base-10000 digits.
    fn numeric(weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((digits.len() as i16).to_be_bytes());
        b.extend(weight.to_be_bytes());
        b.extend(sign.to_be_bytes());
        b.extend(dscale.to_be_bytes());
        for d in digits {
            b.extend(d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numeric_binary_is_read_exactly() {
        let text = |b: Vec<u8>| pg_numeric(&mut Reader(&b)).unwrap();
        assert_eq!(text(numeric(0, 0, 2, &[42])), "42.00");
        assert_eq!(text(numeric(-1, 0, 4, &[1])), "0.0001");
        assert_eq!(text(numeric(-2, 0x4000, 5, &[1000])), "-0.00001");
        assert_eq!(text(numeric(1, 0, 1, &[1234, 5678, 9000])), "12345678.9");
        assert_eq!(text(numeric(2, 0, 0, &[1])), "100000000");
        assert_eq!(text(numeric(0, 0, 0, &[])), "0");
        assert_eq!(text(numeric(0, 0xC000, 0, &[])), "NaN");
        assert_eq!(text(numeric(0, 0xF000, 0, &[])), "-Infinity");
        let huge = numeric(4, 0, 9, &[1234, 5678, 9012, 3456, 7890, 1234, 5678, 9000]);
        assert_eq!(
            pg_decode(&PgShape::Numeric, &huge).unwrap(),
            json!("12345678901234567890.123456789")
        );
        assert_eq!(
            pg_decode(&PgShape::Numeric, &numeric(0, 0, 2, &[19, 9900])).unwrap(),
            json!(19.99)
        );
    }

    #[test]
    fn intervals_are_iso_8601_like_postgresql_writes_them() {
        let us = |h: i64, m: i64, s: f64| h * 3_600_000_000 + m * 60_000_000 + (s * 1e6) as i64;
        assert_eq!(iso_interval(14, 3, us(4, 5, 6.5)), "P1Y2M3DT4H5M6.5S");
        assert_eq!(iso_interval(0, 0, 0), "PT0S");
        assert_eq!(
            iso_interval(-14, 3, -us(4, 5, 6.5)),
            "P-1Y-2M3DT-4H-5M-6.5S"
        );
        assert_eq!(iso_interval(0, 0, 1), "PT0.000001S");
        assert_eq!(iso_interval(0, 1, 0), "P1D");
        assert_eq!(iso_interval(12, 0, us(0, 30, 0.0)), "P1YT30M");
        assert_eq!(iso_interval(0, 0, -500_000), "PT-0.5S");
        let mut b = us(25, 0, 0.0).to_be_bytes().to_vec();
        b.extend(0i32.to_be_bytes());
        b.extend(1i32.to_be_bytes());
        assert_eq!(pg_decode(&PgShape::Interval, &b).unwrap(), json!("P1MT25H"));
    }

    #[test]
    fn dates_and_times_keep_zone_and_infinity() {
        let decode = |s: PgShape, b: Vec<u8>| pg_decode(&s, &b).unwrap();
        assert_eq!(
            decode(PgShape::Date, 8891i32.to_be_bytes().to_vec()),
            json!("2024-05-05")
        );
        assert_eq!(
            decode(PgShape::Date, i32::MAX.to_be_bytes().to_vec()),
            json!("infinity")
        );
        assert_eq!(
            decode(PgShape::Date, (-730_119i32).to_be_bytes().to_vec()),
            json!("0001-01-01")
        );
        let t = 4 * 3_600_000_000i64 + 5 * 60_000_000 + 6_789_000;
        assert_eq!(
            decode(PgShape::Time, t.to_be_bytes().to_vec()),
            json!("04:05:06.789")
        );
        assert_eq!(
            decode(PgShape::Time, 86_400_000_000i64.to_be_bytes().to_vec()),
            json!("24:00:00")
        );
        // 04:05:06.789+05:30: the zone travels as seconds west of UTC.
        let mut tz = t.to_be_bytes().to_vec();
        tz.extend((-19_800i32).to_be_bytes());
        assert_eq!(decode(PgShape::TimeTz, tz), json!("04:05:06.789+05:30"));
        let mut tz = 0i64.to_be_bytes().to_vec();
        tz.extend(28_800i32.to_be_bytes());
        assert_eq!(decode(PgShape::TimeTz, tz), json!("00:00:00-08:00"));
        let ts = 1_000_000i64 + 500_000;
        assert_eq!(
            decode(PgShape::Timestamp, ts.to_be_bytes().to_vec()),
            json!("2000-01-01T00:00:01.500")
        );
        assert_eq!(
            decode(PgShape::TimestampTz, ts.to_be_bytes().to_vec()),
            json!("2000-01-01T00:00:01.500+00:00")
        );
        assert_eq!(
            decode(PgShape::TimestampTz, i64::MIN.to_be_bytes().to_vec()),
            json!("-infinity")
        );
        assert_eq!(
            decode(PgShape::Timestamp, (-1i64).to_be_bytes().to_vec()),
            json!("1999-12-31T23:59:59.999999")
        );
    }

    /// A binary array: ndim, has-nulls, element OID, (length, lower bound) per dimension,
    /// then length-prefixed elements (-1 for NULL).
    fn array(dims: &[i32], elems: &[Option<Vec<u8>>]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((dims.len() as i32).to_be_bytes());
        b.extend(1i32.to_be_bytes());
        b.extend(23u32.to_be_bytes());
        for d in dims {
            b.extend(d.to_be_bytes());
            b.extend(1i32.to_be_bytes());
        }
        for e in elems {
            match e {
                None => b.extend((-1i32).to_be_bytes()),
                Some(e) => {
                    b.extend((e.len() as i32).to_be_bytes());
                    b.extend(e);
                }
            }
        }
        b
    }

    #[test]
    fn arrays_decode_any_dimension_with_nulls() {
        let int = |n: i32| Some(n.to_be_bytes().to_vec());
        let shape = PgShape::Array(Box::new(PgShape::Int4));
        assert_eq!(
            pg_decode(&shape, &array(&[3], &[int(1), None, int(3)])).unwrap(),
            json!([1, null, 3])
        );
        assert_eq!(
            pg_decode(
                &shape,
                &array(&[2, 3], &[int(1), int(2), int(3), int(4), None, int(6)])
            )
            .unwrap(),
            json!([[1, 2, 3], [4, null, 6]])
        );
        assert_eq!(pg_decode(&shape, &array(&[], &[])).unwrap(), json!([]));
        // Elements go through the same per-type function as a column.
        let text = PgShape::Array(Box::new(PgShape::Interval));
        let mut iv = 0i64.to_be_bytes().to_vec();
        iv.extend(2i32.to_be_bytes());
        iv.extend(0i32.to_be_bytes());
        assert_eq!(
            pg_decode(&text, &array(&[1], &[Some(iv)])).unwrap(),
            json!(["P2D"])
        );
        // A truncated array is an error, not a short answer.
        let mut cut = array(&[3], &[int(1), int(2), int(3)]);
        cut.truncate(cut.len() - 2);
        assert!(pg_decode(&shape, &cut).is_err());
    }

    #[test]
    fn ranges_records_and_network_types() {
        let int = |n: i32| {
            let mut b = 4i32.to_be_bytes().to_vec();
            b.extend(n.to_be_bytes());
            b
        };
        let range = PgShape::Range(Box::new(PgShape::Int4));
        let mut b = vec![0x02];
        b.extend(int(1));
        b.extend(int(5));
        assert_eq!(
            pg_decode(&range, &b).unwrap(),
            json!({"empty": false, "lower": 1, "upper": 5, "lowerInclusive": true, "upperInclusive": false})
        );
        let mut b = vec![0x08 | 0x04];
        b.extend(int(9));
        assert_eq!(
            pg_decode(&range, &b).unwrap(),
            json!({"empty": false, "lower": null, "upper": 9, "lowerInclusive": false, "upperInclusive": true})
        );
        assert_eq!(
            pg_decode(&range, &[0x01]).unwrap(),
            json!({"empty": true, "lower": null, "upper": null, "lowerInclusive": false, "upperInclusive": false})
        );

        // ROW(7, NULL::text, 'x'::tsvector): known fields decode, an unknown one is named.
        let mut rec = 2i32.to_be_bytes().to_vec();
        rec.extend(23u32.to_be_bytes());
        rec.extend(int(7));
        rec.extend(25u32.to_be_bytes());
        rec.extend((-1i32).to_be_bytes());
        assert_eq!(
            pg_decode(&PgShape::Record, &rec).unwrap(),
            json!({"f1": 7, "f2": null})
        );
        let mut bad = 1i32.to_be_bytes().to_vec();
        bad.extend(3614u32.to_be_bytes());
        bad.extend((-1i32).to_be_bytes());
        let err = pg_decode(&PgShape::Record, &bad).unwrap_err();
        assert!(err.contains("OID 3614"), "{err}");

        let inet = |family: u8, bits: u8, cidr: u8, addr: &[u8]| {
            let mut b = vec![family, bits, cidr, addr.len() as u8];
            b.extend(addr);
            pg_decode(&PgShape::Inet, &b).unwrap()
        };
        assert_eq!(inet(2, 32, 0, &[192, 168, 0, 1]), json!("192.168.0.1"));
        assert_eq!(inet(2, 24, 0, &[192, 168, 0, 1]), json!("192.168.0.1/24"));
        assert_eq!(inet(2, 16, 1, &[10, 1, 0, 0]), json!("10.1.0.0/16"));
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(inet(3, 128, 0, &v6.octets()), json!("2001:db8::1"));
        let compat: Ipv6Addr = "::1.2.3.4".parse().unwrap();
        assert_eq!(inet(3, 128, 0, &compat.octets()), json!("::1.2.3.4"));
        let mapped: Ipv6Addr = "::ffff:1.2.3.4".parse().unwrap();
        assert_eq!(inet(3, 128, 0, &mapped.octets()), json!("::ffff:1.2.3.4"));
        assert_eq!(
            pg_decode(&PgShape::Macaddr, &[8, 0, 0x2b, 1, 2, 3]).unwrap(),
            json!("08:00:2b:01:02:03")
        );
        let mut bits = 5i32.to_be_bytes().to_vec();
        bits.push(0b1011_0000);
        assert_eq!(pg_decode(&PgShape::Bits, &bits).unwrap(), json!("10110"));
        assert_eq!(
            pg_decode(&PgShape::Money, &(-123_456i64).to_be_bytes()).unwrap(),
            json!(-1234.56)
        );
        assert_eq!(cents_text(i64::MIN), "-92233720368547758.08");
        assert_eq!(
            exact_decimal(&cents_text(i64::MAX)),
            json!("92233720368547758.07")
        );
    }

    #[test]
    fn geometric_types_use_postgresql_text() {
        let floats = |fs: &[f64]| fs.iter().flat_map(|f| f.to_be_bytes()).collect::<Vec<_>>();
        assert_eq!(
            pg_decode(&PgShape::Point, &floats(&[1.5, -2.0])).unwrap(),
            json!("(1.5,-2)")
        );
        assert_eq!(
            pg_decode(&PgShape::Box, &floats(&[2.0, 2.0, 0.0, 0.0])).unwrap(),
            json!("(2,2),(0,0)")
        );
        assert_eq!(
            pg_decode(&PgShape::Circle, &floats(&[0.0, 0.0, 1e20])).unwrap(),
            json!("<(0,0),1e+20>")
        );
        let mut path = vec![0u8];
        path.extend(2i32.to_be_bytes());
        path.extend(floats(&[0.0, 0.0, 1.0, 1.0]));
        assert_eq!(
            pg_decode(&PgShape::Path, &path).unwrap(),
            json!("[(0,0),(1,1)]")
        );
        path[0] = 1;
        assert_eq!(
            pg_decode(&PgShape::Path, &path).unwrap(),
            json!("((0,0),(1,1))")
        );
    }

    /// WKB for tests: byte order 1 (little-endian) unless `big`.
    fn wkb(big: bool, kind: u32, body: &[u8]) -> Vec<u8> {
        let mut b = vec![u8::from(!big)];
        b.extend(if big {
            kind.to_be_bytes()
        } else {
            kind.to_le_bytes()
        });
        b.extend(body);
        b
    }
    fn le(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
    fn count(n: u32) -> Vec<u8> {
        n.to_le_bytes().to_vec()
    }

    #[test]
    fn wkb_becomes_wkt() {
        let point = wkb(false, 1, &le(&[1.5, -2.25]));
        assert_eq!(wkb_to_wkt(&point).unwrap(), "POINT(1.5 -2.25)");
        let big: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| v.to_be_bytes()).collect();
        assert_eq!(wkb_to_wkt(&wkb(true, 1, &big)).unwrap(), "POINT(1 2)");
        assert_eq!(
            wkb_to_wkt(&wkb(false, 1, &le(&[f64::NAN, f64::NAN]))).unwrap(),
            "POINT EMPTY"
        );
        let line = [count(3), le(&[0.0, 0.0, 1.0, 1.0, 2.0, 0.5])].concat();
        assert_eq!(
            wkb_to_wkt(&wkb(false, 2, &line)).unwrap(),
            "LINESTRING(0 0,1 1,2 0.5)"
        );
        let ring = |pts: &[f64]| [count(pts.len() as u32 / 2), le(pts)].concat();
        let square = ring(&[0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 0.0]);
        let hole = ring(&[1.0, 1.0, 2.0, 1.0, 2.0, 2.0, 1.0, 1.0]);
        let polygon = wkb(false, 3, &[count(2), square.clone(), hole].concat());
        assert_eq!(
            wkb_to_wkt(&polygon).unwrap(),
            "POLYGON((0 0,10 0,10 10,0 0),(1 1,2 1,2 2,1 1))"
        );
        let multipoint = wkb(
            false,
            4,
            &[
                count(2),
                wkb(false, 1, &le(&[1.0, 1.0])),
                wkb(true, 1, &big),
            ]
            .concat(),
        );
        assert_eq!(wkb_to_wkt(&multipoint).unwrap(), "MULTIPOINT(1 1,1 2)");
        let multipolygon = wkb(
            false,
            6,
            &[count(1), wkb(false, 3, &[count(1), square].concat())].concat(),
        );
        assert_eq!(
            wkb_to_wkt(&multipolygon).unwrap(),
            "MULTIPOLYGON(((0 0,10 0,10 10,0 0)))"
        );
        let collection = wkb(
            false,
            7,
            &[count(2), point.clone(), wkb(false, 2, &line)].concat(),
        );
        assert_eq!(
            wkb_to_wkt(&collection).unwrap(),
            "GEOMETRYCOLLECTION(POINT(1.5 -2.25),LINESTRING(0 0,1 1,2 0.5))"
        );
        assert_eq!(
            wkb_to_wkt(&wkb(false, 7, &count(0))).unwrap(),
            "GEOMETRYCOLLECTION EMPTY"
        );
        // MySQL's value: a little-endian SRID before the WKB.
        let with_srid = [4326u32.to_le_bytes().to_vec(), point.clone()].concat();
        assert_eq!(
            mysql_geometry(&with_srid).unwrap(),
            "SRID=4326;POINT(1.5 -2.25)"
        );
        let no_srid = [0u32.to_le_bytes().to_vec(), point.clone()].concat();
        assert_eq!(mysql_geometry(&no_srid).unwrap(), "POINT(1.5 -2.25)");
        // Malformed input is an error: truncated, trailing bytes, wrong member, unknown type.
        assert!(wkb_to_wkt(&point[..point.len() - 1]).is_err());
        assert!(wkb_to_wkt(&[point.clone(), vec![0]].concat()).is_err());
        let wrong = wkb(false, 4, &[count(1), wkb(false, 2, &line)].concat());
        assert!(wkb_to_wkt(&wrong).is_err());
        assert!(wkb_to_wkt(&wkb(false, 1001, &le(&[1.0, 2.0, 3.0]))).is_err());
        assert!(wkb_to_wkt(&[2, 1, 0, 0, 0]).is_err());
    }

    #[test]
    fn mysql_temporal_binary_values() {
        let date = [4, 0xE8, 0x07, 5, 6];
        assert_eq!(mysql_datetime(&date, false).unwrap(), "2024-05-06");
        assert_eq!(mysql_datetime(&[0], false).unwrap(), "0000-00-00");
        assert_eq!(mysql_datetime(&[0], true).unwrap(), "0000-00-00T00:00:00");
        let dt = [7, 0xE8, 0x07, 5, 6, 7, 8, 9];
        assert_eq!(mysql_datetime(&dt, true).unwrap(), "2024-05-06T07:08:09");
        let mut dt_us = vec![11, 0xE8, 0x07, 5, 6, 7, 8, 9];
        dt_us.extend(500_000u32.to_le_bytes());
        assert_eq!(
            mysql_datetime(&dt_us, true).unwrap(),
            "2024-05-06T07:08:09.500"
        );
        assert!(mysql_datetime(&[5, 0, 0, 0, 0, 0], true).is_err());
        // -838:59:59 is 34 days 22 hours.
        let mut t = vec![8, 1];
        t.extend(34u32.to_le_bytes());
        t.extend([22, 59, 59]);
        assert_eq!(mysql_time(&t).unwrap(), "-838:59:59");
        let mut t = vec![12, 0];
        t.extend(0u32.to_le_bytes());
        t.extend([1, 2, 3]);
        t.extend(123_456u32.to_le_bytes());
        assert_eq!(mysql_time(&t).unwrap(), "01:02:03.123456");
        assert_eq!(mysql_time(&[0]).unwrap(), "00:00:00");
    }

    #[test]
    fn shapes_of_builtin_and_record_field_types() {
        assert_eq!(pg_shape_of_oid(23), Some(PgShape::Int4));
        assert_eq!(
            pg_shape_of_oid(1007),
            Some(PgShape::Array(Box::new(PgShape::Int4)))
        );
        assert_eq!(
            pg_shape_of_oid(4451),
            Some(PgShape::Multirange(Box::new(PgShape::Range(Box::new(
                PgShape::Int4
            )))))
        );
        // tsvector, pg_lsn and regclass are left out on purpose: no faithful JSON form here.
        for oid in [3614, 3220, 2205] {
            assert_eq!(pg_shape_of_oid(oid), None, "{oid}");
        }
        let err = unconvertible("doc", "tsvector[]", "tsvector").to_string();
        assert!(
            err.contains("column \"doc\" has type tsvector[] (because of tsvector)"),
            "{err}"
        );
    }
}
