//! The same end-to-end suite against real PostgreSQL and real MariaDB: connect, schema, query,
//! bound parameters, read-only refusals (checked against the database afterwards), timeout,
//! row limit, cache, and credentials never echoed in responses or logs.
use nexbii_tests::{logs, unique, Client2, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Executor;

async fn pg() -> sqlx::PgConnection {
    nexbii_tests::admin_postgres().await
}

async fn my() -> sqlx::MySqlConnection {
    nexbii_tests::admin_mariadb().await
}

struct Target {
    kind: &'static str,
    version_word: &'static str,
    port: u16,
    database: &'static str,
    placeholder: &'static str,
    sleep_sql: &'static str,
    select_into: String,
}

async fn exec_admin(kind: &str, sql: &str) {
    match kind {
        "postgresql" => {
            let mut c = pg().await;
            c.execute(sqlx::raw_sql(sql)).await.unwrap();
        }
        _ => {
            let mut c = my().await;
            c.execute(sqlx::raw_sql(sql)).await.unwrap();
        }
    }
}

async fn count_rows(kind: &str, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    match kind {
        "postgresql" => {
            let mut c = pg().await;
            sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
        }
        _ => {
            let mut c = my().await;
            sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

async fn setup(t: &Target, table: &str, user: &str, password: &str) {
    let rows: Vec<String> = (1..=50)
        .map(|i| {
            let region = ["north", "south", "east"][i % 3];
            format!(
                "({i}, '{region}', {}.25, '2026-0{}-1{}')",
                i * 10,
                1 + i % 9,
                i % 10
            )
        })
        .collect();
    let create = format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, region VARCHAR(20) NOT NULL, amount NUMERIC(10,2), created DATE);
         INSERT INTO {table} VALUES {};",
        rows.join(",")
    );
    let grants = match t.kind {
        "postgresql" => format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN
               CREATE ROLE {user} LOGIN PASSWORD '{password}'; END IF; END $$;
             GRANT SELECT ON {table} TO {user};"
        ),
        _ => format!(
            "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}';
             CREATE USER IF NOT EXISTS '{user}'@'localhost' IDENTIFIED BY '{password}';
             ALTER USER '{user}'@'%' IDENTIFIED BY '{password}';
             ALTER USER '{user}'@'localhost' IDENTIFIED BY '{password}';
             GRANT SELECT ON test.{table} TO '{user}'@'%';
             GRANT SELECT ON test.{table} TO '{user}'@'localhost';"
        ),
    };
    exec_admin(t.kind, &format!("{create}\n{grants}")).await;
}

fn source_body(t: &Target, name: &str, user: &str, password: &str, timeout: Option<u32>) -> Value {
    let mut spec = json!({
        "type": t.kind, "host": "127.0.0.1", "port": t.port, "database": t.database,
        "username": user, "tls": {"mode": "disable"},
        "pool": {"maxConnections": 3, "maxConcurrentQueries": 2, "connectTimeoutSeconds": 5}
    });
    if let Some(s) = timeout {
        spec["queryTimeoutSeconds"] = json!(s);
    }
    json!({"name": name, "spec": spec, "password": password})
}

async fn suite(t: Target) {
    let server = TestServer::start().await;
    let tenant = unique("t");
    let admin: Client2 = server.tenant(&tenant, "admin-password-123").await;
    let table = unique("nexbii_it_");
    let user = "nexbii_reader";
    let password = unique("Pw-SECRET-");
    setup(&t, &table, user, &password).await;
    let mut seen = Vec::<String>::new();

    // Create: the password is accepted but never shown.
    let (s, body) = admin
        .post(
            "/api/v1/datasources",
            source_body(&t, "db", user, &password, None),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["hasPassword"], json!(true));
    assert!(body.get("password").is_none());
    seen.push(body.to_string());
    let (_, body) = admin.get("/api/v1/datasources/db").await;
    seen.push(body.to_string());
    let (_, body) = admin.get("/api/v1/datasources").await;
    seen.push(body.to_string());

    // Connection test and schema.
    let (s, body) = admin.post("/api/v1/datasources/db/test", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(
        body["serverVersion"]
            .as_str()
            .unwrap()
            .contains(t.version_word),
        "{body}"
    );
    let (s, body) = admin.get("/api/v1/datasources/db/schema").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let tbl = body["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == json!(table))
        .unwrap_or_else(|| panic!("{table} missing from schema {body}"));
    let cols: Vec<&str> = tbl["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["id", "region", "amount", "created"]);

    // A query with bound parameters.
    let p = t.placeholder;
    let sql = format!("SELECT region, count(*) AS n, sum(amount) AS total FROM {table} WHERE id <= {p} GROUP BY region ORDER BY region");
    let (s, body) = admin.run("db", &sql, json!([9])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["columns"][0]["name"], json!("region"));
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][0], json!("east"));
    assert_eq!(rows[0][1], json!(3));
    assert_eq!(rows[0][2].as_f64().unwrap(), 20.25 + 50.25 + 80.25);
    assert_eq!(rows[1][2].as_f64().unwrap(), 30.25 + 60.25 + 90.25);
    assert_eq!(body["truncated"], json!(false));
    // A string parameter is bound, not spliced: an injection attempt matches nothing.
    let (s, body) = admin
        .run(
            "db",
            &format!("SELECT id FROM {table} WHERE region = {p}"),
            json!(["north' OR '1'='1"]),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["rowCount"], json!(0));

    // Writes, DDL, multiple statements and SELECT INTO are refused before the database sees them.
    for bad in [
        format!("DELETE FROM {table}"),
        format!("DROP TABLE {table}"),
        format!("SELECT 1; DELETE FROM {table}"),
        t.select_into.replace("{table}", &table),
        format!("UPDATE {table} SET amount = 0"),
    ] {
        let (s, body) = admin.run("db", &bad, json!([])).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(
            body["type"],
            json!("https://nexbii.io/problems/query-refused"),
            "{bad}"
        );
    }
    assert_eq!(
        count_rows(t.kind, &table).await,
        50,
        "refused statements changed nothing"
    );

    // Row limit truncates.
    let (s, body) = admin
        .post("/api/v1/queries/run", json!({"dataSource": "db", "sql": format!("SELECT id FROM {table} ORDER BY id"), "limit": 7}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["rowCount"], json!(7));
    assert_eq!(body["truncated"], json!(true));
    assert_eq!(body["rows"][6], json!([7]));
    let (_, body) = admin
        .run("db", &format!("SELECT id FROM {table}"), json!([]))
        .await;
    assert_eq!(
        (body["rowCount"].clone(), body["truncated"].clone()),
        (json!(50), json!(false))
    );

    // The row limit is pushed into the statement (LIMIT limit+1): `truncated` stays exact
    // whatever limit the statement brings, written, bound or absent.
    let p1 = if t.kind == "postgresql" { "$1" } else { "?" };
    for (sql, params, rows, truncated) in [
        (format!("SELECT id FROM {table} ORDER BY id LIMIT 30"), json!([]), 7, true),
        (format!("SELECT id FROM {table} ORDER BY id LIMIT 8"), json!([]), 7, true),
        (format!("SELECT id FROM {table} ORDER BY id LIMIT 7;"), json!([]), 7, false),
        (format!("SELECT id FROM {table} ORDER BY id LIMIT 3"), json!([]), 3, false),
        (format!("SELECT id FROM {table} ORDER BY id LIMIT {p1}"), json!([20]), 7, true),
        (format!("SELECT id FROM {table} ORDER BY id LIMIT {p1}"), json!([7]), 7, false),
        (format!("SELECT id, id FROM {table} ORDER BY id FETCH FIRST 30 ROWS ONLY"), json!([]), 7, true),
        (format!("SELECT id FROM {table} WHERE id <= 7 UNION ALL SELECT id FROM {table} WHERE id > 49 -- trailing comment"), json!([]), 7, true),
        (format!("WITH x AS (SELECT id FROM {table} ORDER BY id LIMIT 6) SELECT id FROM x ORDER BY id"), json!([]), 6, false),
    ] {
        let (s, body) = admin
            .post("/api/v1/queries/run", json!({"dataSource": "db", "sql": sql, "params": params, "limit": 7, "noCache": true}))
            .await;
        assert_eq!(s, StatusCode::OK, "{sql}: {body}");
        assert_eq!(body["rowCount"], json!(rows), "{sql}: {body}");
        assert_eq!(body["truncated"], json!(truncated), "{sql}: {body}");
        assert_eq!(body["rows"][0][0], json!(1), "{sql}: {body}");
    }

    second_line(&t, &admin, &table, user, &password).await;

    // The cache answers the second identical query.
    let q = json!({"dataSource": "db", "sql": format!("SELECT count(*) AS n FROM {table}")});
    let (_, first) = admin.post("/api/v1/queries/run", q.clone()).await;
    let (_, second) = admin.post("/api/v1/queries/run", q).await;
    assert_eq!(first["cached"], json!(false));
    assert_eq!(second["cached"], json!(true));
    assert_eq!(first["rows"], second["rows"]);

    // The statement timeout fires.
    let (s, body) = admin
        .post(
            "/api/v1/datasources",
            source_body(&t, "slow", user, &password, Some(1)),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, body) = admin.run("slow", t.sleep_sql, json!([])).await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(
        body["type"],
        json!("https://nexbii.io/problems/query-timeout")
    );
    // ...and the source still works afterwards.
    let (s, _) = admin.run("slow", "SELECT 1", json!([])).await;
    assert_eq!(s, StatusCode::OK);

    // A wrong password is a 502 whose message does not contain the password.
    let wrong = unique("Wrong-PW-");
    let mut body = source_body(&t, "bad", user, &wrong, None);
    body["spec"]["port"] = json!(1); // nothing listens on port 1
    let (s, _) = admin.post("/api/v1/datasources", body).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, body) = admin.post("/api/v1/datasources/bad/test", json!({})).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY, "{body}");
    seen.push(body.to_string());

    let metrics = server.get_text("/metrics").await.1;
    assert!(
        metrics.contains(&format!(
            "nexbii_query_executions_total{{outcome=\"refused\",source_type=\"{}\"}}",
            t.kind
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "nexbii_query_executions_total{{outcome=\"timeout\",source_type=\"{}\"}}",
        t.kind
    )));
    assert!(metrics.contains("nexbii_query_cache_hits_total"));

    for text in seen.iter().chain(std::iter::once(&logs())) {
        for line in text.lines() {
            assert!(!line.contains(&password), "password leaked: {line}");
            assert!(!line.contains(&wrong), "password leaked: {line}");
        }
    }
    exec_admin(t.kind, &format!("DROP TABLE {table}")).await;
}

/// The database is the second line behind the guard: a write the guard cannot see (inside a
/// function) fails there, and a function that changes session settings does not leak them to
/// the next query on the pooled connection (one connection, so the next query gets it).
async fn second_line(t: &Target, admin: &Client2, table: &str, user: &str, password: &str) {
    let (write_fn, unlock_fn) = (format!("{table}_write"), format!("{table}_unlock"));
    // The reader may insert: only the read-only session stands between the query and the write.
    let ddl = match t.kind {
        "postgresql" => vec![
            format!(
                "CREATE FUNCTION {write_fn}() RETURNS int LANGUAGE plpgsql AS $$
                 BEGIN INSERT INTO {table} VALUES (999, 'west', 1, '2026-01-01'); RETURN 1; END $$"
            ),
            format!(
                "CREATE FUNCTION {unlock_fn}() RETURNS text LANGUAGE sql AS $$
                 SELECT set_config('default_transaction_read_only', 'off', false)
                     || set_config('statement_timeout', '0', false) $$"
            ),
            format!("GRANT INSERT ON {table} TO {user}"),
        ],
        _ => {
            let mut v = vec![
                format!(
                    "CREATE FUNCTION {write_fn}() RETURNS INT MODIFIES SQL DATA SQL SECURITY INVOKER
                     BEGIN INSERT INTO {table} VALUES (999, 'west', 1, '2026-01-01'); RETURN 1; END"
                ),
                format!(
                    "CREATE FUNCTION {unlock_fn}() RETURNS INT NO SQL SQL SECURITY INVOKER
                     BEGIN SET SESSION tx_read_only = 0; SET SESSION max_statement_time = 0; RETURN 1; END"
                ),
            ];
            for host in ["%", "localhost"] {
                v.push(format!("GRANT INSERT ON test.{table} TO '{user}'@'{host}'"));
                for f in [&write_fn, &unlock_fn] {
                    v.push(format!(
                        "GRANT EXECUTE ON FUNCTION test.{f} TO '{user}'@'{host}'"
                    ));
                }
            }
            v
        }
    };
    for sql in &ddl {
        exec_admin(t.kind, sql).await;
    }
    let mut body = source_body(t, "one", user, password, Some(1));
    body["spec"]["pool"] =
        json!({"maxConnections": 1, "maxConcurrentQueries": 1, "connectTimeoutSeconds": 5});
    let (s, body) = admin.post("/api/v1/datasources", body).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // A new source is crawled for the catalog at once; with its single query slot, a query
    // arriving meanwhile waits and runs with the time that is left. Let the crawl finish so
    // the session settings below are the ones a query gets on an idle source.
    let mut synced = false;
    for _ in 0..100 {
        let (_, ds) = admin.get("/api/v1/datasources/one").await;
        if !ds["status"]["catalogSyncedAt"].is_null() {
            synced = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(synced, "the catalog crawl of a new source completes");

    let refused_by_db = |body: &Value| {
        let detail = body["detail"].as_str().unwrap_or_default().to_lowercase();
        detail.replace('-', " ").contains("read only transaction")
    };
    let write = format!("SELECT {write_fn}()");
    let (s, body) = admin.run("one", &write, json!([])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(refused_by_db(&body), "{body}");

    // A function turns read-only and the time limit off for its session...
    let (s, body) = admin
        .run("one", &format!("SELECT {unlock_fn}()"), json!([]))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // ...which the next query on that connection does not inherit.
    let settings = match t.kind {
        "postgresql" => "SELECT current_setting('default_transaction_read_only') AS ro, current_setting('statement_timeout') AS st",
        _ => "SELECT IF(@@tx_read_only, 'on', 'off') AS ro, CAST(@@max_statement_time AS CHAR) AS st",
    };
    let (s, body) = admin.run("one", settings, json!([])).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let expected = match t.kind {
        "postgresql" => json!([["on", "1s"]]),
        _ => json!([["on", "1.000000"]]),
    };
    assert_eq!(body["rows"], expected, "{body}");
    let (s, body) = admin.run("one", &write, json!([])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(refused_by_db(&body), "{body}");
    let (s, body) = admin.run("one", t.sleep_sql, json!([])).await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{body}");
    let (s, _) = admin.run("one", "SELECT 1", json!([])).await;
    assert_eq!(s, StatusCode::OK);
    // A query that waited for the only slot runs with the time left (its own server-side
    // limit); the next query is back to the source's.
    let nap = match t.kind {
        "postgresql" => "SELECT pg_sleep(0.3)",
        _ => "SELECT SLEEP(0.3)",
    };
    let (a, b) = tokio::join!(
        admin.run("one", nap, json!([])),
        admin.run("one", nap, json!([]))
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{a:?} {b:?}");
    let (_, body) = admin.run("one", settings, json!([])).await;
    assert_eq!(body["rows"], expected, "{body}");
    assert_eq!(
        count_rows(t.kind, table).await,
        50,
        "no write reached the table"
    );

    for f in [&write_fn, &unlock_fn] {
        exec_admin(t.kind, &format!("DROP FUNCTION {f}")).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_end_to_end() {
    suite(Target {
        kind: "postgresql",
        version_word: "PostgreSQL",
        port: 5432,
        database: "test",
        placeholder: "$1",
        sleep_sql: "SELECT pg_sleep(5)",
        select_into: "SELECT * INTO copy_of_it FROM {table}".into(),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_end_to_end() {
    suite(Target {
        kind: "mysql",
        version_word: "MariaDB",
        port: 3306,
        database: "test",
        placeholder: "?",
        sleep_sql: "SELECT SLEEP(5)",
        select_into: "SELECT id INTO OUTFILE '/tmp/nexbii-it-out' FROM {table}".into(),
    })
    .await;
}
