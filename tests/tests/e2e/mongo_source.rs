//! A MongoDB data source against the real MongoDB-wire test server: aggregation queries with
//! structurally bound parameters, schema sampling, and refusal of writing stages.
use mongodb::bson::doc;
use nexbii_tests::{mongo_url, unique, TestServer};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_source_end_to_end() {
    let dbname = unique("nexbii_src_");
    let client = mongodb::Client::with_uri_str(mongo_url()).await.unwrap();
    let db = client.database(&dbname);
    let docs: Vec<_> = (1..=30)
        .map(|i| {
            let region = ["north", "south", "east"][i as usize % 3];
            doc! {"_id": i, "region": region, "amount": i * 10}
        })
        .collect();
    db.collection("orders")
        .insert_many(docs)
        .await
        .unwrap_or_else(|e| nexbii_tests::env::MONGO.missing(&mongo_url(), e));

    let server = TestServer::start().await;
    let admin = server.tenant(&unique("t"), "admin-password-123").await;
    let (s, b) = admin
        .post(
            "/api/v1/datasources",
            json!({"name": "mongo", "spec": {"type": "mongodb", "host": "127.0.0.1", "port": 27017, "database": dbname, "tls": {"mode": "disable"}}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = admin
        .post("/api/v1/datasources/mongo/test", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(b["serverVersion"].as_str().unwrap().starts_with("MongoDB"));
    let (s, schema) = admin.get("/api/v1/datasources/mongo/schema").await;
    assert_eq!(s, StatusCode::OK, "{schema}");
    assert_eq!(schema["tables"][0]["name"], json!("orders"));
    let cols: Vec<&str> = schema["tables"][0]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["_id", "region", "amount"]);

    let pipeline = json!({"collection": "orders", "pipeline": [
        {"$match": {"amount": {"$gt": {"$param": 0}}}},
        {"$group": {"_id": "$region", "total": {"$sum": "$amount"}, "n": {"$sum": 1}}},
        {"$sort": {"_id": 1}}
    ]});
    let (s, r) = admin
        .run("mongo", &pipeline.to_string(), json!([150]))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        r["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].clone())
            .collect::<Vec<_>>(),
        [json!("_id"), json!("total"), json!("n")]
    );
    // amount > 150: ids 16..=30; east = i%3==2 -> 17,20,23,26,29
    assert_eq!(r["rows"][0], json!(["east", 1150, 5]));
    assert_eq!(r["rowCount"], json!(3));

    let (s, r) = admin
        .post("/api/v1/queries/run", json!({"dataSource": "mongo", "sql": json!({"collection": "orders"}).to_string(), "limit": 4}))
        .await;
    assert_eq!(
        (s, r["rowCount"].clone(), r["truncated"].clone()),
        (StatusCode::OK, json!(4), json!(true)),
        "{r}"
    );

    for bad in [
        json!({"collection": "orders", "pipeline": [{"$out": "stolen"}]}),
        json!({"collection": "orders", "pipeline": [{"$merge": {"into": "x"}}]}),
        json!({"collection": "orders", "pipeline": [{"$match": {"$where": "sleep(1000)"}}]}),
    ] {
        let (s, b) = admin.run("mongo", &bad.to_string(), json!([])).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {b}");
        assert_eq!(b["type"], json!("https://nexbii.io/problems/query-refused"));
    }
    let (s, _) = admin.run("mongo", "SELECT * FROM orders", json!([])).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let names = db.list_collection_names().await.unwrap();
    assert_eq!(names, ["orders"], "refused stages wrote nothing");
    db.drop().await.unwrap();
}
