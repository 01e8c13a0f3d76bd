//! One behavioural suite every [`Store`] implementation must pass; the integration tests run it
//! against the embedded store and against a real MongoDB-wire server.
use serde_json::json;

use super::{Collection, Store, StoreError, TenantScope};

/// Runs every check; panics with a message naming the failed property.
pub async fn run(store: &dyn Store) {
    let a = TenantScope::new("conf-a").unwrap();
    let b = TenantScope::new("conf-b").unwrap();
    let c = Collection::Scratch;

    store.ping().await.expect("ping");

    // Missing records read as None and delete reports false.
    assert!(
        store.get(&a, c, "nope").await.unwrap().is_none(),
        "missing get"
    );
    assert!(
        !store.delete(&a, c, "nope").await.unwrap(),
        "missing delete"
    );

    // Round trip keeps the document exactly, including awkward keys and unicode.
    let doc = json!({"name": "x", "n": 42, "f": 1.5, "nested": {"a.b": [1, "two", null], "$k": true}, "u": "Zürich ✓"});
    store.insert(&a, c, "r1", &doc).await.expect("insert");
    assert_eq!(
        store.get(&a, c, "r1").await.unwrap(),
        Some(doc.clone()),
        "round trip"
    );

    // Duplicate insert is a Conflict and leaves the first document untouched.
    let err = store
        .insert(&a, c, "r1", &json!({"other": 1}))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(_)),
        "duplicate insert must conflict, got {err:?}"
    );
    assert_eq!(
        store.get(&a, c, "r1").await.unwrap(),
        Some(doc.clone()),
        "conflict keeps original"
    );

    // Tenants are isolated: same id in another tenant is a different record.
    assert!(
        store.get(&b, c, "r1").await.unwrap().is_none(),
        "tenant b must not see a's record"
    );
    store
        .insert(&b, c, "r1", &json!({"owner": "b"}))
        .await
        .expect("same id, other tenant");
    assert_eq!(
        store.get(&a, c, "r1").await.unwrap(),
        Some(doc.clone()),
        "b's insert must not touch a"
    );
    assert!(!store.delete(&b, c, "zzz").await.unwrap());

    // Upsert replaces and creates.
    store.upsert(&a, c, "r1", &json!({"v": 2})).await.unwrap();
    assert_eq!(
        store.get(&a, c, "r1").await.unwrap(),
        Some(json!({"v": 2})),
        "upsert replaces"
    );
    store.upsert(&a, c, "r0", &json!({"v": 0})).await.unwrap();

    // List is scoped and ordered by id.
    let listed = store.list(&a, c).await.unwrap();
    assert_eq!(
        listed,
        vec![json!({"v": 0}), json!({"v": 2})],
        "list ordered by id, tenant a only"
    );
    assert_eq!(
        store.list(&b, c).await.unwrap(),
        vec![json!({"owner": "b"})]
    );
    assert!(
        store
            .list(&a, Collection::Dashboards)
            .await
            .unwrap()
            .is_empty(),
        "collections are separate"
    );

    // Concurrent inserts of one id: exactly one wins.
    let docs: Vec<_> = (0..8).map(|i| json!({"writer": i})).collect();
    let results =
        futures::future::join_all(docs.iter().map(|d| store.insert(&a, c, "race", d))).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one concurrent insert wins");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, StoreError::Conflict(_))));

    // Delete removes only the scoped record.
    assert!(store.delete(&a, c, "r1").await.unwrap());
    assert!(store.get(&a, c, "r1").await.unwrap().is_none());
    assert_eq!(
        store.get(&b, c, "r1").await.unwrap(),
        Some(json!({"owner": "b"})),
        "delete is scoped"
    );

    // Tenant listing sees tenants with a tenant record.
    store
        .upsert(&a, Collection::Tenants, "tenant", &json!({}))
        .await
        .unwrap();
    let tenants = store.tenants().await.unwrap();
    assert!(
        tenants.contains(&a) && !tenants.contains(&b),
        "tenants() lists tenant records only"
    );

    for id in ["r0", "race"] {
        store.delete(&a, c, id).await.unwrap();
    }
    store.delete(&b, c, "r1").await.unwrap();
    store
        .delete(&a, Collection::Tenants, "tenant")
        .await
        .unwrap();
}
