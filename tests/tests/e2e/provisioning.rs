//! The operator-facing provisioning API: token auth, idempotent upserts with sync results,
//! read-only provisioned objects, idempotent deletes.
use nexbii_controlplane::sample_data;
use nexbii_tests::{unique, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn operator_provisions_objects_into_a_tenant() {
    let token = unique("op-token-");
    let server = TestServer::start_with_operator_token(Some(&token)).await;
    let t = unique("t");
    let admin = server.tenant(&t, "admin-password-123").await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sales.db");
    sample_data::generate(&db).await.unwrap();
    let ds_path = format!("/api/v1/provisioning/{t}/datasources/sales");
    let ds_body =
        json!({"spec": {"tenantRef": {"name": t}, "type": "sqlite", "path": db.to_str().unwrap()}});

    // Only the operator token opens the provisioning API; user tokens do not.
    let (s, _) = server
        .call(None, Method::PUT, &ds_path, Some(ds_body.clone()))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = server
        .call(Some("wrong"), Method::PUT, &ds_path, Some(ds_body.clone()))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = server
        .call(
            Some(&admin.token),
            Method::PUT,
            &ds_path,
            Some(ds_body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let (s, r) = server
        .call(Some(&token), Method::PUT, &ds_path, Some(ds_body.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (
            r["connected"].clone(),
            r["tables"].clone(),
            r["columns"].clone()
        ),
        (json!(true), json!(4), json!(19)),
        "{r}"
    );
    let rev = r["revision"].clone();
    let (_, r) = server
        .call(Some(&token), Method::PUT, &ds_path, Some(ds_body.clone()))
        .await;
    assert_eq!(r["revision"], rev, "unchanged spec keeps the revision");

    // Unreachable sources are synced but reported.
    let bad = json!({"spec": {"tenantRef": {"name": t}, "type": "postgresql", "host": "127.0.0.1", "port": 1,
        "database": "x", "username": "u", "tls": {"mode": "disable"}, "pool": {"connectTimeoutSeconds": 2}}, "password": "pw-not-shown"});
    let (s, r) = server
        .call(
            Some(&token),
            Method::PUT,
            &format!("/api/v1/provisioning/{t}/datasources/down"),
            Some(bad),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["connected"], json!(false));
    assert!(r["error"].as_str().unwrap().contains("connect"), "{r}");
    assert!(!r.to_string().contains("pw-not-shown"));

    // Foreign tenantRef, unknown tenant and invalid specs are refused.
    let (s, b) = server
        .call(
            Some(&token),
            Method::PUT,
            &ds_path,
            Some(json!({"spec": {"tenantRef": {"name": "other"}, "type": "sqlite", "path": "x"}})),
        )
        .await;
    assert_eq!(
        (s, b["field"].clone()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!("spec.tenantRef.name")
        )
    );
    let (s, _) = server
        .call(
            Some(&token),
            Method::PUT,
            "/api/v1/provisioning/nosuchtenant/datasources/x",
            Some(ds_body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Dashboards come back with the instance's validation errors.
    let dash = json!({"spec": {"tenantRef": {"name": t}, "title": "Ops", "widgets": [
        {"id": "ok", "chart": "number", "query": {"dataSource": "sales", "sql": "SELECT count(*) FROM orders"}},
        {"id": "bad", "chart": "table", "query": {"dataSource": "sales", "sql": "DELETE FROM orders"}}]}});
    let (s, r) = server
        .call(
            Some(&token),
            Method::PUT,
            &format!("/api/v1/provisioning/{t}/dashboards/ops"),
            Some(dash),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["validationErrors"].as_array().unwrap().len(), 1);
    assert!(
        r["validationErrors"][0]
            .as_str()
            .unwrap()
            .starts_with("bad: "),
        "{r}"
    );

    let policy = json!({"spec": {"tenantRef": {"name": t}, "audit": {"retentionDays": 30}}});
    let (s, e) = server
        .call(
            Some(&token),
            Method::PUT,
            &format!("/api/v1/provisioning/{t}/governancepolicies/default"),
            Some(policy),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(
        (e["maskingRules"].as_u64(), e["approvals"].clone()),
        (Some(0), json!([])),
        "{e}"
    );
    let (_, list) = admin.get("/api/v1/governance/policies").await;
    assert_eq!(list[0]["spec"]["audit"]["retentionDays"], json!(30));

    // Under a policy that asks for approval of publications, a published dashboard reports
    // that it waits and for whom (the operator puts this in the Dashboard's status).
    let policy = json!({"spec": {"tenantRef": {"name": t}, "approvals": {"dashboardPublication":
        {"levels": 1, "approvers": ["role:admin"]}}}});
    let (s, e) = server
        .call(
            Some(&token),
            Method::PUT,
            &format!("/api/v1/provisioning/{t}/governancepolicies/default"),
            Some(policy),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(e["approvals"], json!(["dashboardPublication"]), "{e}");
    let published = json!({"spec": {"tenantRef": {"name": t}, "title": "Board", "publication": "published",
        "widgets": [{"id": "ok", "chart": "number", "query": {"dataSource": "sales", "sql": "SELECT count(*) FROM orders"}}]}});
    let path = format!("/api/v1/provisioning/{t}/dashboards/board");
    let (s, r) = server
        .call(Some(&token), Method::PUT, &path, Some(published.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["approvalState"].clone(), r["approvers"].clone()),
        (json!("Pending"), json!(["role:admin"]))
    );
    let (_, pending) = admin.get("/api/v1/approvals?assigned=true").await;
    let id = pending[0]["id"].as_str().unwrap().to_string();
    assert_eq!(pending[0]["requester"], "operator");
    let (s, _) = admin
        .post(
            &format!("/api/v1/approvals/{id}/approve"),
            json!({"comment": "ok"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, r) = server
        .call(Some(&token), Method::PUT, &path, Some(published))
        .await;
    assert_eq!(
        r["approvalState"], "Approved",
        "a resync keeps the approval of unchanged content: {r}"
    );
    assert!(r.get("approvers").is_none());

    // Provisioned objects are visible to users but read-only for them.
    let (_, ds) = admin.get("/api/v1/datasources/sales").await;
    assert_eq!(ds["origin"], json!("operator"));
    assert_eq!(
        admin.delete("/api/v1/datasources/sales").await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        admin.delete("/api/v1/dashboards/ops").await.0,
        StatusCode::CONFLICT
    );
    let (s, r) = admin
        .run("sales", "SELECT count(*) AS n FROM customers", json!([]))
        .await;
    assert_eq!((s, r["rows"][0][0].clone()), (StatusCode::OK, json!(400)));

    // The operator's writes are in the tenant's audit log, as the operator.
    let (s, log) = admin.get("/api/v1/audit?actor=operator").await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let entries = log.as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["via"] == "operator"
            && e["target"] == format!("/api/v1/provisioning/{t}/dashboards/board")
            && e["outcome"] == "success"),
        "{log}"
    );

    // Deletes are idempotent.
    for _ in 0..2 {
        let (s, _) = server
            .call(Some(&token), Method::DELETE, &ds_path, None)
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }
    assert_eq!(
        admin.get("/api/v1/datasources/sales").await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _) = server
        .call(
            Some(&token),
            Method::DELETE,
            &format!("/api/v1/provisioning/{t}/widgets/x"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = server
        .call(Some(&token), Method::POST, &ds_path, Some(json!({})))
        .await;
    assert_eq!(
        (s, b["type"].clone()),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!("https://nexbii.io/problems/method-not-allowed")
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioning_is_off_without_a_token() {
    let server = TestServer::start().await;
    let t = unique("t");
    server.tenant(&t, "admin-password-123").await;
    let (s, b) = server
        .call(
            Some("anything"),
            Method::DELETE,
            &format!("/api/v1/provisioning/{t}/dashboards/x"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
}
