//! Insights over real HTTP, on the quick-start SQLite data and on real PostgreSQL: planted
//! trends and outliers are found with their figures; a masked column is never analysed (the
//! exempt admin sees the finding it would give); a viewer may look into a saved query but not
//! send free SQL; the `insights` flag switched off closes both endpoints.
use nexbii_tests::{unique, Client2, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Executor;

const PW: &str = "admin-password-123";

/// Masks columns named `masked_col` (declared confidential) for everyone but admins.
fn policy(tenant: &str, masked_col: &str) -> String {
    format!(
        r#"apiVersion: nexbii.io/v1alpha1
kind: GovernancePolicy
metadata:
  name: pii
spec:
  tenantRef:
    name: {tenant}
  classification:
    autoClassify: true
    customRules:
      - name: secret-figure
        columnNamePattern: "^{masked_col}$"
        level: confidential
  masking:
    - level: confidential
      action: partial
      exemptRoles: [admin]
"#
    )
}

async fn setup(server: &TestServer, tenant: &str, masked_col: &str) -> Client2 {
    let policy = policy(tenant, masked_col);
    server
        .tenant_with(tenant, PW, &[("policy.yaml", &policy)])
        .await
}

async fn user(
    server: &TestServer,
    admin: &Client2,
    tenant: &str,
    name: &str,
    role: &str,
) -> Client2 {
    server
        .user(admin, tenant, json!({"username": name, "role": role}))
        .await
}

async fn sync(admin: &Client2, source: &str) {
    let (s, b) = admin
        .post(
            &format!("/api/v1/catalog/datasources/{source}/sync"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

async fn insights(c: &Client2, source: &str, sql: &str) -> (StatusCode, Value) {
    c.post(
        "/api/v1/insights",
        json!({"dataSource": source, "sql": sql}),
    )
    .await
}

fn finding<'a>(b: &'a Value, kind: &str, column: &str) -> Option<&'a Value> {
    b["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind && f["columns"].as_array().unwrap().iter().any(|c| c == column))
}

fn about(b: &Value, column: &str) -> bool {
    b["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["columns"].as_array().unwrap().iter().any(|c| c == column))
}

fn ordered_by_score(b: &Value) {
    let scores: Vec<f64> = b["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}

/// Weekly dates along the products, a planted steady rise (`planned`), a planted outlier
/// (`units`, product 9) and a masked column (`price`) holding an outlier of its own.
const PLANTED: &str = "SELECT date('2025-01-01', '+' || (id * 7) || ' days') AS week, name, \
    100 + id * 10 AS planned, CASE WHEN id = 9 THEN 5000 ELSE 100 + id % 4 END AS units, \
    CASE WHEN id = 4 THEN price * 1000 ELSE price END AS price FROM products ORDER BY id";

#[tokio::test(flavor = "multi_thread")]
async fn insights_on_the_quickstart_data() {
    let server = TestServer::start().await;
    let t = unique("ins");
    let admin = setup(&server, &t, "price").await;
    server.add_sales(&admin, &format!("{t}.db")).await;
    sync(&admin, "sales").await;
    let editor = user(&server, &admin, &t, "eve", "editor").await;
    let viewer = user(&server, &admin, &t, "vic", "viewer").await;
    let (_, b) = admin
        .run("sales", "SELECT name FROM products WHERE id = 9", json!([]))
        .await;
    let ninth = b["rows"][0][0].as_str().unwrap().to_string();

    // The editor's result has price masked: it is skipped, and no finding speaks of it.
    let (s, b) = insights(&editor, "sales", PLANTED).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    ordered_by_score(&b);
    let trend = finding(&b, "trend", "planned").expect("planted trend");
    assert_eq!(trend["columns"], json!(["week", "planned"]));
    assert_eq!(trend["figures"]["direction"], "up");
    assert_eq!(trend["figures"]["r2"], 1.0);
    assert_eq!(trend["figures"]["slopeUnit"], "per day");
    let slope = trend["figures"]["slope"].as_f64().unwrap();
    assert!((slope - 10.0 / 7.0).abs() < 1e-4, "{slope}");
    assert_eq!(trend["figures"]["from"], "2025-01-08");
    let outlier = finding(&b, "outlier", "units").expect("planted outlier");
    assert_eq!(outlier["figures"]["count"], 1);
    assert_eq!(outlier["figures"]["outliers"][0]["row"], ninth.as_str());
    assert_eq!(outlier["figures"]["outliers"][0]["value"], 5000.0);
    assert!(outlier["summary"].as_str().unwrap().contains(&ninth));
    assert!(
        b["skippedColumns"]
            .as_array()
            .unwrap()
            .contains(&json!({"column": "price", "reason": "masked"})),
        "{b}"
    );
    assert!(!about(&b, "price"), "a masked column was analysed: {b}");
    assert_eq!(b["truncated"], false);
    assert!(b["rowsAnalysed"].as_u64().unwrap() >= 20, "{b}");

    // The exempt admin sees clear prices, and the outlier planted among them.
    let (s, b) = insights(&admin, "sales", PLANTED).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(finding(&b, "outlier", "price").is_some(), "{b}");
    assert!(!b["skippedColumns"].to_string().contains("price"));

    // Refused, unknown and malformed input answer as a run does.
    let (s, b) = insights(&editor, "sales", "DELETE FROM products").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = insights(&editor, "nope", "SELECT 1").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["field"], "dataSource");
    let (s, b) = editor
        .post(
            "/api/v1/insights",
            json!({"dataSource": "sales", "sql": "SELECT ?", "variables": [[1]]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["field"], "variables[0]");
    // Text alone gives no findings, not an error.
    let (s, b) = insights(&editor, "sales", "SELECT name, category FROM products").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["findings"], json!([]));

    // A viewer looks into a saved query, but may not send statements of their own.
    let (s, q) = editor
        .post(
            "/api/v1/queries",
            json!({"name": "planted", "dataSource": "sales", "sql": PLANTED}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let path = format!("/api/v1/queries/{}/insights", q["id"].as_str().unwrap());
    let (s, b) = viewer.post(&path, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(finding(&b, "trend", "planned").is_some(), "{b}");
    assert!(!about(&b, "price"), "{b}");
    let (s, b) = insights(&viewer, "sales", PLANTED).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, _) = viewer
        .post("/api/v1/queries/nope/insights", json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The flag switched off closes both endpoints, for every role; back on, they answer.
    let (_, f) = viewer.get("/api/v1/features").await;
    assert_eq!(f["features"]["insights"], true);
    let (s, b) = admin
        .put("/api/v1/admin/features/insights", json!({"enabled": false}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, f) = viewer.get("/api/v1/features").await;
    assert_eq!(f["features"]["insights"], false);
    for c in [&admin, &editor] {
        let (s, b) = insights(c, "sales", PLANTED).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
        assert!(b["detail"].as_str().unwrap().contains("insights"), "{b}");
    }
    let (s, b) = viewer.post(&path, json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("insights"), "{b}");
    let (s, _) = admin.delete("/api/v1/admin/features/insights").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = viewer.post(&path, json!({})).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn insights_on_postgresql() {
    let server = TestServer::start().await;
    let t = unique("inspg");
    let admin = setup(&server, &t, "margin").await;
    let table = unique("daily_");
    // 30 days: revenue rising by about 4 a day with a little noise, one day's visits far off,
    // a margin (masked) with an outlier of its own, and four regions of which north holds most.
    let rows: Vec<String> = (0..30)
        .map(|i| {
            let region = [
                "north", "north", "north", "north", "north", "north", "south", "east", "west",
                "south",
            ][i % 10];
            let visits = if i == 17 { 9000 } else { 300 + (i * 7) % 11 };
            let margin = if i == 5 { 999.0 } else { 10.0 + (i % 3) as f64 };
            format!(
                "(DATE '2025-03-01' + {i}, '{region}', {}.{:02}, {visits}, {margin})",
                200 + 4 * i + (i % 2),
                (i * 13) % 100
            )
        })
        .collect();
    let mut pg = nexbii_tests::admin_postgres().await;
    pg.execute(sqlx::raw_sql(&format!(
        "CREATE TABLE {table} (day DATE, region TEXT, revenue NUMERIC(10,2), visits INT, margin REAL);
         INSERT INTO {table} VALUES {};",
        rows.join(",")
    )))
    .await
    .unwrap();
    let (s, b) = admin
        .post(
            "/api/v1/datasources",
            json!({"name": "pg", "spec": {"type": "postgresql", "host": "127.0.0.1", "port": 5432,
                "database": "test", "username": "postgres", "tls": {"mode": "disable"},
                "schemaSyncIntervalSeconds": 0}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    sync(&admin, "pg").await;
    let editor = user(&server, &admin, &t, "eve", "editor").await;
    let sql = format!("SELECT day, region, revenue, visits, margin FROM {table} ORDER BY day");

    let (s, b) = insights(&editor, "pg", &sql).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    ordered_by_score(&b);
    let trend = finding(&b, "trend", "revenue").expect("planted trend");
    assert_eq!(trend["figures"]["direction"], "up");
    assert!(trend["figures"]["r2"].as_f64().unwrap() > 0.99, "{trend}");
    let slope = trend["figures"]["slope"].as_f64().unwrap();
    assert!((3.9..4.1).contains(&slope), "{slope}");
    assert_eq!(trend["figures"]["from"], "2025-03-01");
    assert_eq!(trend["figures"]["to"], "2025-03-30");
    let outlier = finding(&b, "outlier", "visits").expect("planted outlier");
    assert_eq!(outlier["figures"]["outliers"][0]["value"], 9000.0);
    // Rows are named by their label column.
    assert_eq!(outlier["figures"]["outliers"][0]["row"], "east");
    let conc = finding(&b, "concentration", "revenue").expect("north dominates");
    assert_eq!(conc["figures"]["top"][0]["label"], "north");
    assert!(
        b["skippedColumns"]
            .as_array()
            .unwrap()
            .contains(&json!({"column": "margin", "reason": "masked"})),
        "{b}"
    );
    assert!(!about(&b, "margin"), "{b}");
    let (_, b) = insights(&admin, "pg", &sql).await;
    assert!(finding(&b, "outlier", "margin").is_some(), "{b}");
    pg.execute(sqlx::raw_sql(&format!("DROP TABLE {table}")))
        .await
        .unwrap();
}
