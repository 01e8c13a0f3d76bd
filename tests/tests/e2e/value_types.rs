//! Values come back as they are: one table per real server with a column of every type a BI
//! user meets, a row of telling values and a row of NULLs, queried through the HTTP API, with
//! the exact JSON value and the column type name asserted for each column. A type NexBII
//! cannot convert is an error that names the column and the type, never a placeholder.
use nexbii_tests::{mongo_url, unique, Client2, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{ConnectOptions, Connection, Executor, Row};

async fn pg() -> sqlx::PgConnection {
    nexbii_tests::admin_postgres().await
}

async fn my() -> sqlx::MySqlConnection {
    nexbii_tests::admin_mariadb().await
}

/// Every response body a test saw, to check that none holds a placeholder.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    fn assert_no_placeholder(&self) {
        assert!(!self.0.is_empty());
        for body in &self.0 {
            assert!(!body.contains("<unsupported"), "placeholder in {body}");
        }
    }
}

/// Runs `sql` and returns the 200 answer.
async fn run(c: &Client2, source: &str, sql: &str, seen: &mut Seen) -> Value {
    let (s, body) = c.run(source, sql, json!([])).await;
    seen.0.push(body.to_string());
    assert_eq!(s, StatusCode::OK, "{sql}: {body}");
    body
}

/// Runs `sql` and returns the problem, asserting it is a 400 query-failed.
async fn fail(c: &Client2, source: &str, sql: &str, seen: &mut Seen) -> String {
    let (s, body) = c.run(source, sql, json!([])).await;
    seen.0.push(body.to_string());
    assert_eq!(s, StatusCode::BAD_REQUEST, "{sql}: {body}");
    assert_eq!(
        body["type"],
        json!("https://nexbii.io/problems/query-failed"),
        "{body}"
    );
    body["detail"].as_str().unwrap().to_string()
}

/// One expected column: name, type name, value in the checked row.
type Expect = (String, String, Value);

fn col(name: &str, ty: &str, value: Value) -> Expect {
    (name.to_string(), ty.to_string(), value)
}

/// Asserts the columns (names and types, in order) and the values of row `row`.
fn check(body: &Value, row: usize, expected: &[Expect]) {
    let cols = body["columns"].as_array().unwrap();
    let names: Vec<&str> = cols.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let want: Vec<&str> = expected.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, want, "{body}");
    for (i, (name, ty, value)) in expected.iter().enumerate() {
        assert_eq!(cols[i]["type"], json!(ty), "type of {name}: {body}");
        assert_eq!(
            body["rows"][row][i], *value,
            "value of {name} ({ty}): {}",
            body["rows"][row]
        );
    }
}

/// Asserts that row `row` is the id followed by NULLs only.
fn check_nulls(body: &Value, row: usize, id: Value) {
    let values = body["rows"][row].as_array().unwrap();
    assert_eq!(values[0], id, "{body}");
    for (i, v) in values.iter().enumerate().skip(1) {
        assert_eq!(
            *v,
            Value::Null,
            "column {} of the NULL row",
            body["columns"][i]["name"]
        );
    }
}

fn source(kind: &str, port: u16, user: &str) -> Value {
    json!({"name": "db", "spec": {
        "type": kind, "host": "127.0.0.1", "port": port, "database": "test", "username": user,
        "tls": {"mode": "disable"},
        "pool": {"maxConnections": 2, "maxConcurrentQueries": 2, "connectTimeoutSeconds": 5}
    }})
}

async fn admin_with(server: &TestServer, body: Value) -> Client2 {
    let admin = server.tenant(&unique("t"), "admin-password-123").await;
    let (s, b) = admin.post("/api/v1/datasources", body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    admin
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_values_come_back_as_they_are() {
    let t = unique("nexbii_vt_");
    let mut admin_conn = pg().await;
    admin_conn
        .execute(sqlx::raw_sql(&format!(
            r#"CREATE EXTENSION IF NOT EXISTS citext;
            CREATE EXTENSION IF NOT EXISTS hstore;
            CREATE TYPE {t}_mood AS ENUM ('sad', 'happy');
            CREATE TYPE {t}_pair AS (a int, b text);
            CREATE DOMAIN {t}_pos AS numeric(6,2) CHECK (VALUE > 0);
            CREATE TABLE {t} (
                id int PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
                n numeric(30,9), n2 numeric(10,2), n_nan numeric, m money,
                d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
                u uuid, j json, jb jsonb,
                a_int int4[], a_text text[], a_2d int4[], a_num numeric[], a_iv interval[],
                a_mood {t}_mood[],
                ip inet, ip6 inet, net cidr, mac macaddr, mac8 macaddr8, bytes bytea,
                mood {t}_mood, r_int int4range, r_num numrange, r_ts tstzrange, r_date daterange,
                bits bit(5), vbits varbit(10),
                pt point, ln line, seg lseg, bx box, pa path, poly polygon, cir circle,
                o oid, ch "char", nm name, txt text, cit citext, x xml, vc varchar(10),
                bp char(5), hs hstore, pos {t}_pos, pair {t}_pair
            );
            INSERT INTO {t} VALUES (
                1, true, -32768, 2147483647, 9223372036854775807, 0.1, 1.5e300,
                12345678901234567890.123456789, 19.99, 'NaN', 1234.56,
                '2024-05-06', '04:05:06.789', '04:05:06.789+05:30', '2024-05-06 07:08:09.5',
                '2024-05-06 07:08:09.5+02', '1 year 2 months 3 days 04:05:06.5',
                'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{{"a": [1, 2.5, "x"], "b": null}}',
                '{{"k": {{"n": 1}}}}',
                '{{1,NULL,3}}', '{{"a b",NULL,""}}', '{{{{1,2}},{{3,4}}}}',
                '{{1.5,12345678901234567890.1}}', '{{1 day,-2 hours}}', '{{happy,NULL}}',
                '192.168.0.1/24', '2001:db8::1', '10.1/16', '08:00:2b:01:02:03',
                '08:00:2b:01:02:03:04:05', '\x00ff01',
                'happy', '[1,5]', '(1.5,]', '[2024-01-01 00:00+00,2024-02-01 00:00+00)', 'empty',
                B'10110', B'101',
                '(1.5,-2)', '{{1,-1,0}}', '[(0,0),(1,1)]', '(0,0),(2,2)', '[(0,0),(1,1),(2,0)]',
                '((0,0),(1,1),(2,0))', '<(0,0),1.5>',
                4294967295, 'x', 'a_name', 'héllo "q"', 'MiXeD', '<a>1</a>', 'short',
                'ab', 'a=>1, b=>NULL', 12.5, '(1,"x y")'
            );
            INSERT INTO {t} (id) VALUES (2);"#
        )))
        .await
        .unwrap();

    let server = TestServer::start().await;
    let admin = admin_with(&server, source("postgresql", 5432, "postgres")).await;
    let mut seen = Seen::default();

    let body = run(
        &admin,
        "db",
        &format!("SELECT * FROM {t} ORDER BY id"),
        &mut seen,
    )
    .await;
    let range = |lower: Value, upper: Value, li: bool, ui: bool| json!({"empty": false, "lower": lower, "upper": upper, "lowerInclusive": li, "upperInclusive": ui});
    let expected = [
        col("id", "INT4", json!(1)),
        col("b", "BOOL", json!(true)),
        col("i2", "INT2", json!(-32768)),
        col("i4", "INT4", json!(2147483647)),
        col("i8", "INT8", json!(9223372036854775807_i64)),
        col("f4", "FLOAT4", json!(0.1)),
        col("f8", "FLOAT8", json!(1.5e300)),
        col("n", "NUMERIC", json!("12345678901234567890.123456789")),
        col("n2", "NUMERIC", json!(19.99)),
        col("n_nan", "NUMERIC", json!("NaN")),
        col("m", "MONEY", json!(1234.56)),
        col("d", "DATE", json!("2024-05-06")),
        col("tm", "TIME", json!("04:05:06.789")),
        col("ttz", "TIMETZ", json!("04:05:06.789+05:30")),
        col("ts", "TIMESTAMP", json!("2024-05-06T07:08:09.500")),
        col(
            "tstz",
            "TIMESTAMPTZ",
            json!("2024-05-06T05:08:09.500+00:00"),
        ),
        col("iv", "INTERVAL", json!("P1Y2M3DT4H5M6.5S")),
        col("u", "UUID", json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        col("j", "JSON", json!({"a": [1, 2.5, "x"], "b": null})),
        col("jb", "JSONB", json!({"k": {"n": 1}})),
        col("a_int", "INT4[]", json!([1, null, 3])),
        col("a_text", "TEXT[]", json!(["a b", null, ""])),
        col("a_2d", "INT4[]", json!([[1, 2], [3, 4]])),
        col("a_num", "NUMERIC[]", json!([1.5, "12345678901234567890.1"])),
        col("a_iv", "INTERVAL[]", json!(["P1D", "PT-2H"])),
        col("a_mood", &format!("{t}_mood[]"), json!(["happy", null])),
        col("ip", "INET", json!("192.168.0.1/24")),
        col("ip6", "INET", json!("2001:db8::1")),
        col("net", "CIDR", json!("10.1.0.0/16")),
        col("mac", "MACADDR", json!("08:00:2b:01:02:03")),
        col("mac8", "MACADDR8", json!("08:00:2b:01:02:03:04:05")),
        col("bytes", "BYTEA", json!("AP8B")),
        col("mood", &format!("{t}_mood"), json!("happy")),
        // Discrete ranges come canonical: [1,5] is [1,6).
        col("r_int", "INT4RANGE", range(json!(1), json!(6), true, false)),
        col(
            "r_num",
            "NUMRANGE",
            range(json!(1.5), json!(null), false, false),
        ),
        col(
            "r_ts",
            "TSTZRANGE",
            range(
                json!("2024-01-01T00:00:00+00:00"),
                json!("2024-02-01T00:00:00+00:00"),
                true,
                false,
            ),
        ),
        col(
            "r_date",
            "DATERANGE",
            json!({"empty": true, "lower": null, "upper": null, "lowerInclusive": false, "upperInclusive": false}),
        ),
        col("bits", "BIT", json!("10110")),
        col("vbits", "VARBIT", json!("101")),
        col("pt", "POINT", json!("(1.5,-2)")),
        col("ln", "LINE", json!("{1,-1,0}")),
        col("seg", "LSEG", json!("[(0,0),(1,1)]")),
        col("bx", "BOX", json!("(2,2),(0,0)")),
        col("pa", "PATH", json!("[(0,0),(1,1),(2,0)]")),
        col("poly", "POLYGON", json!("((0,0),(1,1),(2,0))")),
        col("cir", "CIRCLE", json!("<(0,0),1.5>")),
        col("o", "OID", json!(4294967295_u32)),
        col("ch", "\"CHAR\"", json!("x")),
        col("nm", "NAME", json!("a_name")),
        col("txt", "TEXT", json!("héllo \"q\"")),
        col("cit", "citext", json!("MiXeD")),
        col("x", "xml", json!("<a>1</a>")),
        col("vc", "VARCHAR", json!("short")),
        col("bp", "CHAR", json!("ab   ")),
        col("hs", "hstore", json!({"a": "1", "b": null})),
        // PostgreSQL describes a domain column by its base type.
        col("pos", "NUMERIC", json!(12.5)),
        col("pair", &format!("{t}_pair"), json!({"a": 1, "b": "x y"})),
    ];
    check(&body, 0, &expected);
    check_nulls(&body, 1, json!(2));
    assert_eq!(body["rowCount"], json!(2));

    // Where the answer is PostgreSQL's own text form, it is exactly what the server writes
    // (intervals with IntervalStyle iso_8601).
    let text_cols = [
        "iv", "ip", "ip6", "net", "mac", "mac8", "bits", "vbits", "pt", "ln", "seg", "bx", "pa",
        "poly", "cir",
    ];
    let select = text_cols
        .iter()
        // format() writes with the type's output function (a cast of inet to text adds /32).
        .map(|c| format!("format('%s', {c})"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut tx = admin_conn.begin().await.unwrap();
    (&mut *tx)
        .execute("SET LOCAL intervalstyle = iso_8601")
        .await
        .unwrap();
    let server_text = sqlx::query(&format!("SELECT {select} FROM {t} WHERE id = 1"))
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    for (i, c) in text_cols.iter().enumerate() {
        let pos = expected.iter().position(|e| e.0 == *c).unwrap();
        assert_eq!(
            body["rows"][0][pos],
            json!(server_text.get::<String, _>(i)),
            "{c} as the server writes it"
        );
    }

    // array_agg results are arrays of the element type, NULLs included; so are records.
    let body = run(
        &admin,
        "db",
        &format!(
            "SELECT array_agg(i4 ORDER BY id) AS ints, array_agg(txt ORDER BY id) AS texts,
                    array_agg(mood ORDER BY id) AS moods, array_agg(iv ORDER BY id) AS ivs,
                    array_agg(n ORDER BY id) AS nums, array_agg(tstz ORDER BY id) AS instants,
                    array_agg(ROW(id, b) ORDER BY id) AS recs
             FROM {t}"
        ),
        &mut seen,
    )
    .await;
    check(
        &body,
        0,
        &[
            col("ints", "INT4[]", json!([2147483647, null])),
            col("texts", "TEXT[]", json!(["héllo \"q\"", null])),
            col("moods", &format!("{t}_mood[]"), json!(["happy", null])),
            col("ivs", "INTERVAL[]", json!(["P1Y2M3DT4H5M6.5S", null])),
            col(
                "nums",
                "NUMERIC[]",
                json!(["12345678901234567890.123456789", null]),
            ),
            col(
                "instants",
                "TIMESTAMPTZ[]",
                json!(["2024-05-06T05:08:09.500+00:00", null]),
            ),
            col(
                "recs",
                "RECORD[]",
                json!([{"f1": 1, "f2": true}, {"f1": 2, "f2": null}]),
            ),
        ],
    );

    // Edge values: infinities, empty and non-1-based arrays, records, multiranges.
    let body = run(
        &admin,
        "db",
        &format!(
            "SELECT 'Infinity'::float8 AS inf, '-Infinity'::float4 AS ninf,
                    '-infinity'::timestamptz AS tsinf, 'infinity'::date AS dinf,
                    '{{}}'::int4[] AS empty_arr, '[0:1]={{7,8}}'::int4[] AS lb_arr,
                    ROW(1, 'a'::text, NULL::date) AS rec,
                    ARRAY[ROW(1, 'x')::{t}_pair, NULL] AS pairs,
                    '{{[1,3),[5,7)}}'::int4multirange AS mr,
                    '::1.2.3.4'::inet AS compat, '-0.5 seconds'::interval AS neg,
                    '0'::interval AS zero, NULL::text AS nothing,
                    '-123.45'::money AS debt"
        ),
        &mut seen,
    )
    .await;
    check(
        &body,
        0,
        &[
            col("inf", "FLOAT8", json!("Infinity")),
            col("ninf", "FLOAT4", json!("-Infinity")),
            col("tsinf", "TIMESTAMPTZ", json!("-infinity")),
            col("dinf", "DATE", json!("infinity")),
            col("empty_arr", "INT4[]", json!([])),
            col("lb_arr", "INT4[]", json!([7, 8])),
            col("rec", "RECORD", json!({"f1": 1, "f2": "a", "f3": null})),
            col(
                "pairs",
                &format!("{t}_pair[]"),
                json!([{"a": 1, "b": "x"}, null]),
            ),
            col(
                "mr",
                "int4multirange",
                json!([
                    {"empty": false, "lower": 1, "upper": 3, "lowerInclusive": true, "upperInclusive": false},
                    {"empty": false, "lower": 5, "upper": 7, "lowerInclusive": true, "upperInclusive": false}
                ]),
            ),
            col("compat", "INET", json!("::1.2.3.4")),
            col("neg", "INTERVAL", json!("PT-0.5S")),
            col("zero", "INTERVAL", json!("PT0S")),
            col("nothing", "TEXT", json!(null)),
            col("debt", "MONEY", json!(-123.45)),
        ],
    );

    // A type NexBII leaves out is an error naming the column and the type, before any row.
    let detail = fail(
        &admin,
        "db",
        "SELECT to_tsvector('simple', 'a b') AS doc",
        &mut seen,
    )
    .await;
    assert!(
        detail.contains("column \"doc\" has type tsvector, which NexBII cannot convert"),
        "{detail}"
    );
    let detail = fail(
        &admin,
        "db",
        "SELECT ARRAY[to_tsvector('simple', 'a')] AS docs",
        &mut seen,
    )
    .await;
    assert!(
        detail.contains("column \"docs\" has type tsvector[] (because of tsvector)"),
        "{detail}"
    );
    // Inside an anonymous record the field type is only known with the value.
    let detail = fail(
        &admin,
        "db",
        "SELECT ROW(1, 'a b'::tsvector) AS r",
        &mut seen,
    )
    .await;
    assert!(
        detail.contains("column \"r\" (RECORD)") && detail.contains("record field f2"),
        "{detail}"
    );
    // The source still answers afterwards.
    let body = run(&admin, "db", "SELECT 1 AS one", &mut seen).await;
    assert_eq!(body["rows"], json!([[1]]));
    seen.assert_no_placeholder();

    admin_conn
        .execute(sqlx::raw_sql(&format!(
            "DROP TABLE {t}; DROP TYPE {t}_pair; DROP TYPE {t}_mood; DROP DOMAIN {t}_pos;"
        )))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_values_come_back_as_they_are() {
    let t = unique("nexbii_vt_");
    let mut admin_conn = my().await;
    admin_conn
        .execute(sqlx::raw_sql(&format!(
            r#"CREATE TABLE {t} (
                id INT PRIMARY KEY, ti TINYINT, si SMALLINT, mi MEDIUMINT, i INT, bi BIGINT,
                ubi BIGINT UNSIGNED, ui INT UNSIGNED, flag TINYINT(1), flag2 BOOLEAN,
                fl FLOAT, db DOUBLE, d1 DECIMAL(30,9), d2 DECIMAL(10,2),
                y YEAR, d DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME(6),
                bt BIT(5), bt64 BIT(64), e ENUM('small','large'), s SET('a','b','c'), j JSON,
                g GEOMETRY, pt POINT, gs GEOMETRY,
                ch CHAR(5), vc VARCHAR(20), tx TEXT, vbin VARCHAR(10) COLLATE utf8mb4_bin,
                bin BINARY(3), vb VARBINARY(10), bl BLOB
            ) CHARACTER SET utf8mb4;
            INSERT INTO {t} VALUES (
                1, -128, -32768, 8388607, -2147483648, -9223372036854775808,
                18446744073709551615, 4294967295, 1, 0,
                0.1, 1.5e300, 12345678901234567890.123456789, 19.99,
                2024, '2024-05-06', '2024-05-06 07:08:09.500000', '2024-05-06 07:08:09.500',
                '-838:59:59.000000',
                b'10110', b'1111111111111111111111111111111111111111111111111111111111111111',
                'large', 'a,c', '{{"k": [1, "x"]}}',
                ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 0))'), POINT(1.5, -2.25),
                ST_GeomFromText('POINT(1 2)', 4326),
                'ab', 'héllo', 'long text', 'Bin',
                x'00ff01', 'abc', x'ffd8ff'
            );
            INSERT INTO {t} (id) VALUES (2);
            SET SESSION sql_mode = '';
            INSERT INTO {t} (id, flag, d, dt, tm, s) VALUES (3, 5, '0000-00-00', '0000-00-00 00:00:00', '00:00:00', '');"#
        )))
        .await
        .unwrap();

    let server = TestServer::start().await;
    let admin = admin_with(&server, source("mysql", 3306, "root")).await;
    let mut seen = Seen::default();
    let body = run(
        &admin,
        "db",
        &format!("SELECT * FROM {t} ORDER BY id"),
        &mut seen,
    )
    .await;
    check(
        &body,
        0,
        &[
            col("id", "INT", json!(1)),
            col("ti", "TINYINT", json!(-128)),
            col("si", "SMALLINT", json!(-32768)),
            col("mi", "MEDIUMINT", json!(8388607)),
            col("i", "INT", json!(-2147483648_i64)),
            col("bi", "BIGINT", json!(i64::MIN)),
            col("ubi", "BIGINT UNSIGNED", json!(u64::MAX)),
            col("ui", "INT UNSIGNED", json!(4294967295_u32)),
            col("flag", "BOOLEAN", json!(true)),
            col("flag2", "BOOLEAN", json!(false)),
            col("fl", "FLOAT", json!(0.1)),
            col("db", "DOUBLE", json!(1.5e300)),
            col("d1", "DECIMAL", json!("12345678901234567890.123456789")),
            col("d2", "DECIMAL", json!(19.99)),
            col("y", "YEAR", json!(2024)),
            col("d", "DATE", json!("2024-05-06")),
            col("dt", "DATETIME", json!("2024-05-06T07:08:09.500")),
            // The session time zone's wall clock: the protocol names no zone.
            col("ts", "TIMESTAMP", json!("2024-05-06T07:08:09.500")),
            col("tm", "TIME", json!("-838:59:59")),
            col("bt", "BIT", json!(22)),
            col("bt64", "BIT", json!(u64::MAX)),
            col("e", "ENUM", json!("large")),
            col("s", "SET", json!(["a", "c"])),
            // MariaDB's JSON is LONGTEXT; without MariaDB's extended metadata the protocol
            // says only "binary-flagged blob", so the document comes back as its text.
            col("j", "BLOB", json!("{\"k\": [1, \"x\"]}")),
            col("g", "GEOMETRY", json!("POLYGON((0 0,10 0,10 10,0 0))")),
            col("pt", "GEOMETRY", json!("POINT(1.5 -2.25)")),
            col("gs", "GEOMETRY", json!("SRID=4326;POINT(1 2)")),
            col("ch", "CHAR", json!("ab")),
            col("vc", "VARCHAR", json!("héllo")),
            col("tx", "TEXT", json!("long text")),
            // A _bin collation sets the protocol's BINARY flag: UTF-8 comes back as text.
            col("vbin", "VARBINARY", json!("Bin")),
            col("bin", "BINARY", json!("AP8B")),
            col("vb", "VARBINARY", json!("abc")),
            col("bl", "BLOB", json!("/9j/")),
        ],
    );
    check_nulls(&body, 1, json!(2));
    // Zero dates come back as stored; a TINYINT(1) holding 5 stays 5; an empty SET is [].
    let row3 = &body["rows"][2];
    let at = |name: &str| {
        body["columns"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c["name"] == json!(name))
            .unwrap()
    };
    assert_eq!(row3[at("flag")], json!(5), "{row3}");
    assert_eq!(row3[at("d")], json!("0000-00-00"), "{row3}");
    assert_eq!(row3[at("dt")], json!("0000-00-00T00:00:00"), "{row3}");
    assert_eq!(row3[at("tm")], json!("00:00:00"), "{row3}");
    assert_eq!(row3[at("s")], json!([]), "{row3}");

    // WKT is what the server itself writes; computed values keep their types.
    let server_wkt: (String, String) = sqlx::query_as(&format!(
        "SELECT ST_AsText(g), ST_AsText(pt) FROM {t} WHERE id = 1"
    ))
    .fetch_one(&mut admin_conn)
    .await
    .unwrap();
    assert_eq!(
        (json!(server_wkt.0), json!(server_wkt.1)),
        (
            body["rows"][0][at("g")].clone(),
            body["rows"][0][at("pt")].clone()
        )
    );
    let body = run(
        &admin,
        "db",
        &format!(
            "SELECT SUM(d2) AS total, MAX(ubi) AS top, CAST(1 AS UNSIGNED) + 1 AS two,
                    ST_GeomFromText('MULTIPOINT(1 1,2 2)') AS mp,
                    ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1))') AS gc
             FROM {t}"
        ),
        &mut seen,
    )
    .await;
    check(
        &body,
        0,
        &[
            col("total", "DECIMAL", json!(19.99)),
            col("top", "BIGINT UNSIGNED", json!(u64::MAX)),
            col("two", "INT UNSIGNED", json!(2)),
            col("mp", "GEOMETRY", json!("MULTIPOINT(1 1,2 2)")),
            col(
                "gc",
                "GEOMETRY",
                json!("GEOMETRYCOLLECTION(POINT(1 1),LINESTRING(0 0,1 1))"),
            ),
        ],
    );
    // A bound parameter in the select list: the statement describes it as NULL, the result
    // as what was bound, and the answer follows the result.
    let (s, body) = admin
        .run("db", "SELECT ? AS p, ? AS q", json!(["x", 5]))
        .await;
    seen.0.push(body.to_string());
    assert_eq!(s, StatusCode::OK, "{body}");
    check(
        &body,
        0,
        &[
            col("p", "VARCHAR", json!("x")),
            col("q", "BIGINT", json!(5)),
        ],
    );
    seen.assert_no_placeholder();
    admin_conn
        .execute(sqlx::raw_sql(&format!("DROP TABLE {t}")))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_values_come_back_as_they_are() {
    let server = TestServer::start().await;
    let root = &server.state.settings.sqlite_root;
    std::fs::create_dir_all(root).unwrap();
    let file = format!("{}.db", unique("values"));
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(root.join(&file))
        .create_if_missing(true);
    let mut conn = opts.connect().await.unwrap();
    conn.execute(sqlx::raw_sql(
        "CREATE TABLE v (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n NUMERIC,
                         d DATE, dt DATETIME, flag BOOLEAN, big INTEGER, anything);
         INSERT INTO v VALUES (1, 42, 1.5, 'héllo', x'00ff01', '12.50', '2024-05-06',
                               '2024-05-06 07:08:09', 1, 9223372036854775807, 'x');
         INSERT INTO v (id) VALUES (2);
         INSERT INTO v VALUES (3, -1, 9e999, CAST(x'ff' AS TEXT), x'', 7, 2460437.5,
                               1714978089, 0, -9223372036854775808, 2.5);",
    ))
    .await
    .unwrap();
    conn.close().await.unwrap();

    let admin = server.tenant(&unique("t"), "admin-password-123").await;
    let (s, b) = admin
        .post(
            "/api/v1/datasources",
            json!({"name": "lite", "spec": {"type": "sqlite", "path": file}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mut seen = Seen::default();
    let body = run(&admin, "lite", "SELECT * FROM v ORDER BY id", &mut seen).await;
    // SQLite is dynamically typed. sqlx names a column by its declared type when it knows the
    // name, else by the storage class of the first row's value (NUMERIC holding 12.5: REAL; no
    // declared type, holding 'x': TEXT); each value still follows its own storage class.
    let types = [
        ("id", "INTEGER"),
        ("i", "INTEGER"),
        ("r", "REAL"),
        ("t", "TEXT"),
        ("b", "BLOB"),
        ("n", "REAL"),
        ("d", "DATE"),
        ("dt", "DATETIME"),
        ("flag", "BOOLEAN"),
        ("big", "INTEGER"),
        ("anything", "TEXT"),
    ];
    let with = |values: [Value; 11]| -> Vec<Expect> {
        types
            .iter()
            .zip(values)
            .map(|((n, ty), v)| col(n, ty, v))
            .collect()
    };
    check(
        &body,
        0,
        &with([
            json!(1),
            json!(42),
            json!(1.5),
            json!("héllo"),
            json!("AP8B"),
            // NUMERIC affinity stored '12.50' as the REAL 12.5.
            json!(12.5),
            json!("2024-05-06"),
            json!("2024-05-06 07:08:09"),
            json!(true),
            json!(i64::MAX),
            json!("x"),
        ]),
    );
    check_nulls(&body, 1, json!(2));
    // Each value's storage class decides: a REAL in a DATE column, an INTEGER in a DATETIME
    // one, text that is not UTF-8 as base64, an infinite REAL as "Infinity".
    check(
        &body,
        2,
        &with([
            json!(3),
            json!(-1),
            json!("Infinity"),
            json!("/w=="),
            json!(""),
            json!(7),
            json!(2460437.5),
            json!(1714978089),
            json!(false),
            json!(i64::MIN),
            json!(2.5),
        ]),
    );
    let body = run(
        &admin,
        "lite",
        "SELECT i + 1 AS plus, r * 2 AS twice, t || '!' AS bang, length(b) AS len,
                typeof(n) AS tn, flag AS f
         FROM v WHERE id = 1",
        &mut seen,
    )
    .await;
    check(
        &body,
        0,
        &[
            col("plus", "INTEGER", json!(43)),
            col("twice", "REAL", json!(3.0)),
            col("bang", "TEXT", json!("héllo!")),
            col("len", "INTEGER", json!(3)),
            col("tn", "TEXT", json!("real")),
            col("f", "BOOLEAN", json!(true)),
        ],
    );
    seen.assert_no_placeholder();
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_values_come_back_as_they_are() {
    use mongodb::bson::{
        doc, oid::ObjectId, spec::BinarySubtype, Binary, Bson, DateTime, Decimal128, Regex,
        Timestamp,
    };
    let dbname = unique("nexbii_vt_");
    let client = mongodb::Client::with_uri_str(mongo_url()).await.unwrap();
    let db = client.database(&dbname);
    let id = ObjectId::parse_str("65f0c0ffee00000000000001").unwrap();
    let dec = |s: &str| Bson::Decimal128(s.parse::<Decimal128>().unwrap());
    db.collection("v")
        .insert_many([
            doc! {
                "_id": id, "n": 1, "int": 2147483647, "long": 9_007_199_254_740_993_i64,
                "double": 0.1, "inf": f64::INFINITY, "bool": true, "str": "héllo",
                "price": dec("19.99"), "exact": dec("12345678901234567890.123456789"),
                "at": DateTime::from_millis(1_714_978_089_500),
                "bin": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 255, 1] },
                "ts": Timestamp { time: 1_714_978_089, increment: 7 },
                "re": Regex { pattern: "^a.*".into(), options: "i".into() },
                "arr": [1, "two", Bson::Null, {"deep": id}],
                "obj": {"when": DateTime::from_millis(0), "price": dec("0.5")},
                "nil": Bson::Null,
            },
            doc! {"_id": ObjectId::parse_str("65f0c0ffee00000000000002").unwrap(), "n": 2, "double": 2},
        ])
        .await
        .unwrap_or_else(|e| nexbii_tests::env::MONGO.missing(&mongo_url(), e));

    let server = TestServer::start().await;
    let admin = admin_with(
        &server,
        json!({"name": "mongo", "spec": {"type": "mongodb", "host": "127.0.0.1", "port": 27017,
                "database": dbname, "tls": {"mode": "disable"}}}),
    )
    .await;
    let mut seen = Seen::default();
    let q = json!({"collection": "v", "pipeline": [{"$sort": {"n": 1}}]}).to_string();
    let body = run(&admin, "mongo", &q, &mut seen).await;
    let expected = [
        col("_id", "objectId", json!("65f0c0ffee00000000000001")),
        col("n", "int", json!(1)),
        col("int", "int", json!(2147483647)),
        col("long", "long", json!(9_007_199_254_740_993_i64)),
        // The second document's int 2 makes the column's types disagree.
        col("double", "double|int", json!(0.1)),
        col("inf", "double", json!("Infinity")),
        col("bool", "bool", json!(true)),
        col("str", "string", json!("héllo")),
        col("price", "decimal", json!(19.99)),
        col("exact", "decimal", json!("12345678901234567890.123456789")),
        col("at", "date", json!("2024-05-06T06:48:09.500+00:00")),
        col("bin", "binData", json!("AP8B")),
        col("ts", "timestamp", json!({"t": 1_714_978_089, "i": 7})),
        col("re", "regex", json!("/^a.*/i")),
        col(
            "arr",
            "array",
            json!([1, "two", null, {"deep": "65f0c0ffee00000000000001"}]),
        ),
        col(
            "obj",
            "object",
            json!({"when": "1970-01-01T00:00:00+00:00", "price": 0.5}),
        ),
        col("nil", "null", json!(null)),
    ];
    check(&body, 0, &expected);
    let second = &body["rows"][1];
    assert_eq!(second[0], json!("65f0c0ffee00000000000002"), "{second}");
    assert_eq!(second[1], json!(2));
    assert_eq!(second[4], json!(2));
    for (i, v) in second.as_array().unwrap().iter().enumerate() {
        if ![0, 1, 4].contains(&i) {
            assert_eq!(*v, Value::Null, "missing field {} is null", expected[i].0);
        }
    }
    seen.assert_no_placeholder();
    db.drop().await.unwrap();
}
