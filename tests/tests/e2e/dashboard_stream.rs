//! Dashboards that do not wait for their slowest widget: one widget's data on its own, and the
//! whole dashboard streamed widget by widget (NDJSON, server-sent events) as each completes.
//! Real PostgreSQL, with a deliberately slow widget (`pg_sleep`).
use nexbii_tests::{postgres_url, unique, TestServer};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

const PW: &str = "admin-password-123";

fn yaml(t: &str) -> String {
    let url: sqlx::postgres::PgConnectOptions = postgres_url().parse().unwrap();
    format!(
        r#"apiVersion: nexbii.io/v1alpha1
kind: DataSource
metadata:
  name: pg
spec:
  tenantRef:
    name: {t}
  type: postgresql
  host: {host}
  port: {port}
  database: test
  username: {user}
---
apiVersion: nexbii.io/v1alpha1
kind: Dashboard
metadata:
  name: mixed
spec:
  tenantRef:
    name: {t}
  title: Mixed speeds
  publication: published
  variables:
    - name: n
      default: "7"
  widgets:
    - id: slow
      chart: number
      query:
        dataSource: pg
        sql: "SELECT 1 AS slow FROM pg_sleep(2)"
    - id: a
      chart: number
      query:
        dataSource: pg
        sql: "SELECT 2 AS a"
    - id: b
      chart: number
      query:
        dataSource: pg
        sql: "SELECT 'n=' || $1::text AS b"
        params: [{{variable: n}}]
    - id: c
      chart: number
      query:
        dataSource: pg
        sql: "SELECT no_such_column FROM pg_class"
"#,
        host = url.get_host(),
        port = url.get_port(),
        user = url.get_username(),
    )
}

async fn get_stream(server: &TestServer, token: &str, accept: &str) -> (String, Vec<String>) {
    let mut resp = server
        .http
        .get(format!(
            "{}/api/v1/dashboards/mixed/data?refresh=true",
            server.base
        ))
        .bearer_auth(token)
        .header(header::ACCEPT, accept)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ctype = resp.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    // The body as it arrives, chunk by chunk: the order of arrival is what is asserted.
    let mut text = String::new();
    let mut arrivals = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        arrivals.push(text.clone());
    }
    (ctype, vec![text].into_iter().chain(arrivals).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn widgets_arrive_as_they_complete_and_one_widget_can_be_fetched_alone() {
    let server = TestServer::start().await;
    let t = unique("t");
    let dir = tempfile::tempdir().unwrap();
    let tenant = nexbii_tests::tenant_yaml(&t, PW);
    let objects = yaml(&t);
    let applied = server
        .apply_yaml(
            dir.path(),
            &[("tenant.yaml", &tenant), ("objects.yaml", &objects)],
        )
        .await;
    // The widget reading a missing column is reported, the others are valid.
    assert_eq!(applied.problems.len(), 1, "{:?}", applied.problems);
    let admin = server.login(&t, "admin", PW).await;

    // NDJSON: one line per widget; the slow one comes last although it is declared first.
    let (ctype, seen) = get_stream(&server, &admin.token, "application/x-ndjson").await;
    assert_eq!(ctype, "application/x-ndjson");
    let lines: Vec<Value> = seen[0]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let order: Vec<&str> = lines.iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(order.len(), 4, "{order:?}");
    assert_eq!(
        order[3], "slow",
        "the slow widget does not hold the others: {order:?}"
    );
    let by_id = |id: &str| lines.iter().find(|w| w["id"] == id).unwrap().clone();
    assert_eq!(
        by_id("b")["result"]["rows"],
        json!([["n=7"]]),
        "variables apply"
    );
    assert_eq!(by_id("slow")["result"]["rows"], json!([[1]]));
    assert_eq!(
        by_id("c")["error"]["field"],
        "sql",
        "a failing widget carries its problem"
    );
    // The three fast widgets were readable before the slow one arrived.
    let before_slow = seen[1..]
        .iter()
        .find(|partial| !partial.contains("\"slow\""))
        .map(|p| p.lines().count())
        .unwrap_or(0);
    assert!(
        before_slow >= 1,
        "at least one widget arrived before the slow one"
    );

    // Server-sent events: a `widget` event each, then `end`.
    let (ctype, seen) = get_stream(&server, &admin.token, "text/event-stream").await;
    assert_eq!(ctype, "text/event-stream");
    let events: Vec<&str> = seen[0].split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(events[..4]
        .iter()
        .all(|e| e.starts_with("event: widget\ndata: {")));
    assert!(events[3].contains("\"slow\""), "{events:?}");
    assert_eq!(events[4], "event: end\ndata: {}");

    // Without a streaming Accept header the whole dashboard comes as one document, as before.
    let (s, whole) = admin.get("/api/v1/dashboards/mixed/data").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(whole["widgets"].as_array().unwrap().len(), 4);

    // One widget alone, with the same variables and cache as the dashboard.
    let (s, w) = admin
        .get("/api/v1/dashboards/mixed/widgets/b/data?n=5")
        .await;
    assert_eq!(
        (s, w["result"]["rows"].clone()),
        (StatusCode::OK, json!([["n=5"]])),
        "{w}"
    );
    let (_, again) = admin
        .get("/api/v1/dashboards/mixed/widgets/b/data?n=5")
        .await;
    assert_eq!(again["result"]["cached"], true);
    let (s, _) = admin.get("/api/v1/dashboards/mixed/widgets/zz/data").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
