//! One behavioural suite every [`Store`] implementation must pass; the integration tests run it
//! against the embedded store and against a real MongoDB-wire server.
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Map, Value};

use futures::TryStreamExt;

use super::{
    Collection, CollectionState, Delta, Expect, ListQuery, Page, Put, RawRecord, Store, StoreError,
    TenantScope, WriteAccess,
};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// Writes through the raw interface (the write path does this in the product).
struct Raw<'a>(&'a dyn Store);

impl Raw<'_> {
    #[allow(clippy::too_many_arguments)]
    async fn put_at(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        doc: &Value,
        revision: u64,
        at: DateTime<Utc>,
        f: Value,
        expect: Expect,
    ) -> Result<(), StoreError> {
        let f = fields(f);
        let put = Put {
            id,
            doc,
            revision,
            updated_at: at,
            fields: &f,
        };
        self.0.put(&WriteAccess(()), scope, coll, put, expect).await
    }

    async fn insert(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        doc: &Value,
    ) -> Result<(), StoreError> {
        self.put_at(scope, coll, id, doc, 1, t(0), json!({}), Expect::Absent)
            .await
    }

    async fn update(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
        doc: &Value,
        from: u64,
    ) -> Result<(), StoreError> {
        self.put_at(
            scope,
            coll,
            id,
            doc,
            from + 1,
            t(1),
            json!({}),
            Expect::Revision(from),
        )
        .await
    }

    async fn delete(
        &self,
        scope: &TenantScope,
        coll: Collection,
        id: &str,
    ) -> Result<bool, StoreError> {
        self.0.remove(&WriteAccess(()), scope, coll, id, None).await
    }
}

/// Runs every check; panics with a message naming the failed property.
pub async fn run(store: &dyn Store) {
    let raw = Raw(store);
    let a = TenantScope::new("conf-a").unwrap();
    let b = TenantScope::new("conf-b").unwrap();
    let c = Collection::Scratch;
    let all = ListQuery::default();

    store.ping().await.expect("ping");

    // Missing records read as None and delete reports false.
    assert!(
        store.get(&a, c, "nope").await.unwrap().is_none(),
        "missing get"
    );
    assert!(!raw.delete(&a, c, "nope").await.unwrap(), "missing delete");

    // Round trip keeps the document exactly, including awkward keys and unicode.
    let doc = json!({"name": "x", "n": 42, "f": 1.5, "nested": {"a.b": [1, "two", null], "$k": true}, "u": "Zürich ✓"});
    raw.insert(&a, c, "r1", &doc).await.expect("insert");
    assert_eq!(
        store.get(&a, c, "r1").await.unwrap(),
        Some(doc.clone()),
        "round trip"
    );

    // Duplicate insert is a Conflict and leaves the first document untouched.
    let err = raw
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
    raw.insert(&b, c, "r1", &json!({"owner": "b"}))
        .await
        .expect("same id, other tenant");
    assert_eq!(
        store.get(&a, c, "r1").await.unwrap(),
        Some(doc.clone()),
        "b's insert must not touch a"
    );
    assert!(!raw.delete(&b, c, "zzz").await.unwrap());

    // Conditional update replaces at the expected revision only.
    raw.update(&a, c, "r1", &json!({"v": 2}), 1)
        .await
        .expect("update at revision 1");
    assert_eq!(
        store.get(&a, c, "r1").await.unwrap(),
        Some(json!({"v": 2})),
        "update replaces"
    );
    let stale = raw
        .update(&a, c, "r1", &json!({"v": "lost"}), 1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            stale,
            StoreError::Stale {
                expected: 1,
                actual: 2,
                ..
            }
        ),
        "an update based on an old revision is refused, got {stale:?}"
    );
    assert_eq!(
        store.get(&a, c, "r1").await.unwrap(),
        Some(json!({"v": 2})),
        "a stale update changes nothing"
    );
    let missing = raw.update(&a, c, "gone", &json!({}), 1).await.unwrap_err();
    assert!(
        matches!(missing, StoreError::Missing(_)),
        "updating a missing record, got {missing:?}"
    );
    assert!(store.get(&a, c, "gone").await.unwrap().is_none());
    raw.insert(&a, c, "r0", &json!({"v": 0})).await.unwrap();

    // List is scoped and ordered by id.
    let listed = store.list(&a, c, &all).await.unwrap();
    assert_eq!(
        listed.items,
        vec![json!({"v": 0}), json!({"v": 2})],
        "list ordered by id, tenant a only"
    );
    assert!(listed.next.is_none(), "an unlimited list has no next page");
    assert_eq!(
        store.list(&b, c, &all).await.unwrap().items,
        vec![json!({"owner": "b"})]
    );
    assert!(
        store
            .list(&a, Collection::Dashboards, &all)
            .await
            .unwrap()
            .items
            .is_empty(),
        "collections are separate"
    );

    // Concurrent inserts of one id: exactly one wins.
    let docs: Vec<_> = (0..8).map(|i| json!({"writer": i})).collect();
    let results =
        futures::future::join_all(docs.iter().map(|d| raw.insert(&a, c, "race", d))).await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one concurrent insert wins");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, StoreError::Conflict(_))));

    // Concurrent updates from one revision: exactly one wins, the rest are stale.
    let results =
        futures::future::join_all(docs.iter().map(|d| raw.update(&a, c, "race", d, 1))).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "exactly one concurrent update wins"
    );
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, StoreError::Stale { .. })));

    // Conditional delete refuses another revision and keeps the record.
    let err = store
        .remove(&WriteAccess(()), &a, c, "race", Some(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Stale { actual: 2, .. }),
        "{err:?}"
    );
    assert!(store.get(&a, c, "race").await.unwrap().is_some());
    assert!(store
        .remove(&WriteAccess(()), &a, c, "race", Some(2))
        .await
        .unwrap());

    // Delete removes only the scoped record.
    assert!(raw.delete(&a, c, "r1").await.unwrap());
    assert!(store.get(&a, c, "r1").await.unwrap().is_none());
    assert_eq!(
        store.get(&b, c, "r1").await.unwrap(),
        Some(json!({"owner": "b"})),
        "delete is scoped"
    );

    // Tenant listing sees tenants with a tenant record.
    raw.insert(&a, Collection::Tenants, "tenant", &json!({}))
        .await
        .unwrap();
    let tenants = store.tenants().await.unwrap();
    assert!(
        tenants.contains(&a) && !tenants.contains(&b),
        "tenants() lists tenant records only"
    );

    for id in ["r0"] {
        raw.delete(&a, c, id).await.unwrap();
    }
    raw.delete(&b, c, "r1").await.unwrap();
    raw.delete(&a, Collection::Tenants, "tenant").await.unwrap();

    listing(&raw, &a, &b).await;
    snapshots_and_swaps(&raw, &a, &b).await;
}

fn staged(coll: Collection, id: &str, revision: u64, at: i64, doc: Value, f: Value) -> RawRecord {
    RawRecord {
        collection: coll,
        id: id.to_string(),
        revision,
        updated_at: t(at),
        doc: doc.to_string(),
        fields: f.to_string(),
    }
}

async fn snapshot_of(
    store: &dyn Store,
    scope: &TenantScope,
    colls: &[Collection],
) -> Vec<RawRecord> {
    store
        .snapshot(scope, colls)
        .await
        .expect("snapshot")
        .records
        .try_collect()
        .await
        .expect("snapshot records")
}

/// Snapshots read one consistent state while writers go on; a restore's difference (staged
/// records, removed ids) applies to one tenant in one step, revisions and times as staged, and
/// only while the collections hold what it was compared with.
async fn snapshots_and_swaps(raw: &Raw<'_>, a: &TenantScope, b: &TenantScope) {
    let store = raw.0;
    let access = WriteAccess(());
    let (s, w) = (Collection::Scratch, Collection::Webhooks);
    raw.put_at(
        a,
        s,
        "x2",
        &json!({"n": 2}),
        3,
        t(20),
        json!({"k": "v"}),
        Expect::Absent,
    )
    .await
    .unwrap();
    raw.insert(a, s, "x1", &json!({"n": 1})).await.unwrap();
    raw.insert(a, w, "w1", &json!({"w": 1})).await.unwrap();
    raw.insert(b, s, "x1", &json!({"b": 1})).await.unwrap();

    let snap = store.snapshot(a, &[w, s]).await.expect("snapshot");
    assert!(!snap.position.is_empty(), "a snapshot names its position");
    // Written after the snapshot was taken: not in it.
    raw.insert(a, s, "x3", &json!({"n": 3})).await.unwrap();
    raw.update(a, w, "w1", &json!({"w": "changed"}), 1)
        .await
        .unwrap();
    let got: Vec<RawRecord> = snap.records.try_collect().await.expect("records");
    let keys: Vec<(&str, &str)> = got
        .iter()
        .map(|r| (r.collection.name(), r.id.as_str()))
        .collect();
    assert_eq!(
        keys,
        vec![("scratch", "x1"), ("scratch", "x2"), ("webhooks", "w1")],
        "a snapshot: tenant a only, by collection name then id, as of when it was taken"
    );
    assert_eq!((got[1].revision, got[1].updated_at), (3, t(20)));
    assert_eq!(
        serde_json::from_str::<Value>(&got[1].doc).unwrap(),
        json!({"n": 2})
    );
    assert_eq!(
        serde_json::from_str::<Value>(&got[1].fields).unwrap(),
        json!({"k": "v"})
    );
    assert_eq!(
        serde_json::from_str::<Value>(&got[2].doc).unwrap(),
        json!({"w": 1})
    );

    // Staged records are invisible until swapped; an id staged twice conflicts.
    let records = vec![
        staged(s, "x2", 7, 30, json!({"n": "restored"}), json!({"k": "w"})),
        staged(s, "x9", 2, 31, json!({"n": 9}), json!({})),
        staged(w, "w5", 1, 32, json!({"w": 5}), json!({})),
    ];
    store
        .stage(&access, a, "st1", &records)
        .await
        .expect("stage");
    assert!(
        store.get(a, s, "x9").await.unwrap().is_none(),
        "staged is not stored"
    );
    let dup = store
        .stage(&access, a, "st1", &records[..1])
        .await
        .unwrap_err();
    assert!(
        matches!(dup, StoreError::Conflict(_)),
        "staged twice: {dup:?}"
    );

    // A swap checks that the collection still holds what the restore compared: anything else
    // is a conflict, and nothing changes.
    let before = snapshot_of(store, a, &[s, w]).await;
    let state_of = |coll: Collection, records: &[RawRecord]| {
        let mut st = CollectionState::default();
        for r in records.iter().filter(|r| r.collection == coll) {
            st.add(r.revision, r.updated_at);
        }
        (coll, st)
    };
    let mut stale = state_of(s, &before);
    stale.1.revisions -= 1;
    let removed = vec![(s, "x1".to_string()), (s, "x3".to_string())];
    let refused = store
        .swap_staged(
            &access,
            a,
            "st1",
            &Delta {
                expect: &[stale],
                removed: &removed,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, StoreError::Conflict(m) if m.contains("scratch")),
        "a collection changed since the comparison: {refused:?}"
    );
    assert_eq!(
        snapshot_of(store, a, &[s, w]).await,
        before,
        "a refused swap changes nothing"
    );

    // The difference of one collection: staged records replace or add theirs, removed ones
    // go, the rest stay; other collections and tenants are untouched.
    store
        .swap_staged(
            &access,
            a,
            "st1",
            &Delta {
                expect: &[state_of(s, &before)],
                removed: &removed,
            },
        )
        .await
        .expect("swap");
    let after = snapshot_of(store, a, &[s, w]).await;
    let w1 = RawRecord {
        collection: w,
        id: "w1".into(),
        revision: 2,
        updated_at: t(1),
        doc: json!({"w": "changed"}).to_string(),
        fields: "{}".into(),
    };
    assert_eq!(
        after,
        vec![records[0].clone(), records[1].clone(), w1.clone()],
        "scratch is what was staged, revisions and times kept; webhooks untouched"
    );
    assert_eq!(
        store
            .count(a, s, &ListQuery::default().filter("k", "w"))
            .await
            .unwrap(),
        1,
        "restored list fields are queryable"
    );
    assert_eq!(
        store.get(b, s, "x1").await.unwrap(),
        Some(json!({"b": 1})),
        "another tenant is untouched"
    );

    // The staging is forgotten by the swap, and by drop_staged.
    store
        .swap_staged(
            &access,
            a,
            "st1",
            &Delta {
                expect: &[state_of(w, &after)],
                removed: &[],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        snapshot_of(store, a, &[w]).await,
        vec![w1],
        "nothing staged is left (w5 went with the first swap's staging)"
    );
    store
        .stage(
            &access,
            a,
            "st2",
            &[staged(s, "x1", 9, 40, json!({"n": "dropped"}), json!({}))],
        )
        .await
        .unwrap();
    store.drop_staged(&access, a, "st2").await.unwrap();
    store
        .swap_staged(
            &access,
            a,
            "st2",
            &Delta {
                expect: &[state_of(s, &after)],
                removed: &[],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        snapshot_of(store, a, &[s]).await,
        after[..2].to_vec(),
        "dropped staging is gone"
    );
    raw.delete(b, s, "x1").await.unwrap();
}

/// Filters, time windows, counts and keyset pagination.
async fn listing(raw: &Raw<'_>, a: &TenantScope, b: &TenantScope) {
    let store = raw.0;
    let c = Collection::Scratch;
    for i in 0..25u32 {
        let id = format!("e{i:03}");
        let kind = if i % 3 == 0 { "login" } else { "query" };
        raw.put_at(
            a,
            c,
            &id,
            &json!({"i": i}),
            1,
            t(i as i64 * 60),
            json!({"kind": kind, "n": i, "ok": i % 2 == 0, "user": if i < 5 { Value::Null } else { json!("ann") }}),
            Expect::Absent,
        )
        .await
        .unwrap();
    }
    raw.put_at(
        b,
        c,
        "e000",
        &json!({"i": "b"}),
        1,
        t(0),
        json!({"kind": "login"}),
        Expect::Absent,
    )
    .await
    .unwrap();

    // Pages of 10 walk every record once, in id order, and the last page says so.
    let mut seen = Vec::new();
    let mut q = ListQuery::default().limit(10);
    let mut pages = 0;
    loop {
        let page = store.list(a, c, &q).await.unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|d| d["i"].as_u64().unwrap()));
        match page.next {
            Some(cursor) => q = q.after(Some(cursor)),
            None => break,
        }
    }
    assert_eq!(pages, 3, "25 records in pages of 10");
    assert_eq!(
        seen,
        (0..25).collect::<Vec<u64>>(),
        "every record once, in order"
    );
    // Newest first: the same walk backwards, the cursor counting down.
    let mut back = Vec::new();
    let mut q = ListQuery::default().limit(10).descending();
    loop {
        let page = store.list(a, c, &q).await.unwrap();
        back.extend(page.items.iter().map(|d| d["i"].as_u64().unwrap()));
        match page.next {
            Some(cursor) => q = q.after(Some(cursor)),
            None => break,
        }
    }
    assert_eq!(
        back,
        (0..25).rev().collect::<Vec<u64>>(),
        "descending: every record once, newest id first"
    );
    let top = ListQuery::default()
        .filter("kind", "login")
        .limit(1)
        .descending();
    let page = store.list(a, c, &top).await.unwrap();
    assert_eq!(page.items[0]["i"], 24, "descending with a filter");
    let exact = store
        .list(a, c, &ListQuery::default().limit(25))
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 25);
    assert!(
        exact.next.is_none(),
        "a page that holds the rest is the last"
    );

    // Equality filters on declared fields: strings, numbers, booleans, null; tenant-scoped.
    let logins = ListQuery::default().filter("kind", "login");
    let page = store.list(a, c, &logins).await.unwrap();
    let got: Vec<u64> = page
        .items
        .iter()
        .map(|d| d["i"].as_u64().unwrap())
        .collect();
    assert_eq!(
        got,
        vec![0, 3, 6, 9, 12, 15, 18, 21, 24],
        "filter by string"
    );
    assert_eq!(store.count(a, c, &logins).await.unwrap(), 9);
    assert_eq!(
        store.count(b, c, &logins).await.unwrap(),
        1,
        "count is scoped"
    );
    let both = ListQuery::default()
        .filter("kind", "login")
        .filter("ok", true);
    let got: Vec<u64> = store
        .list(a, c, &both)
        .await
        .unwrap()
        .items
        .iter()
        .map(|d| d["i"].as_u64().unwrap())
        .collect();
    assert_eq!(
        got,
        vec![0, 6, 12, 18, 24],
        "filters combine, booleans match"
    );
    assert_eq!(
        store
            .count(a, c, &ListQuery::default().filter("n", 7))
            .await
            .unwrap(),
        1,
        "filter by number"
    );
    assert_eq!(
        store
            .count(a, c, &ListQuery::default().filter("user", Value::Null))
            .await
            .unwrap(),
        5,
        "filter by null"
    );

    // Time window on the update time: [from, before).
    let window = ListQuery {
        updated_from: Some(t(5 * 60)),
        updated_before: Some(t(10 * 60)),
        ..Default::default()
    };
    let got: Vec<u64> = store
        .list(a, c, &window)
        .await
        .unwrap()
        .items
        .iter()
        .map(|d| d["i"].as_u64().unwrap())
        .collect();
    assert_eq!(got, vec![5, 6, 7, 8, 9], "time window");
    assert_eq!(store.count(a, c, &window).await.unwrap(), 5);
    let recent = ListQuery {
        updated_from: Some(t(24 * 60) - Duration::milliseconds(1)),
        ..Default::default()
    };
    assert_eq!(store.count(a, c, &recent).await.unwrap(), 1);

    // An id prefix is a range of ids: with paging both ways, filters and counts.
    let ids = |page: Page| -> Vec<u64> {
        page.items
            .iter()
            .map(|d| d["i"].as_u64().unwrap())
            .collect()
    };
    let tens = ListQuery::default().id_prefix("e01");
    assert_eq!(
        ids(store.list(a, c, &tens).await.unwrap()),
        (10..20).collect::<Vec<u64>>(),
        "id prefix"
    );
    assert_eq!(store.count(a, c, &tens).await.unwrap(), 10);
    assert_eq!(store.count(b, c, &tens).await.unwrap(), 0, "scoped");
    let down = tens.clone().limit(4).descending();
    let first = store.list(a, c, &down).await.unwrap();
    assert_eq!(first.next.as_deref(), Some("e016"));
    assert_eq!(ids(first), vec![19, 18, 17, 16], "id prefix, newest first");
    let past_end = down.clone().after(Some("e020".into()));
    assert_eq!(
        ids(store.list(a, c, &past_end).await.unwrap()),
        vec![19, 18, 17, 16],
        "a cursor beyond the range leaves the range's end"
    );
    let rest = down.after(Some("e012".into()));
    assert_eq!(ids(store.list(a, c, &rest).await.unwrap()), vec![11, 10]);
    let up = tens.clone().limit(3).after(Some("e015".into()));
    assert_eq!(ids(store.list(a, c, &up).await.unwrap()), vec![16, 17, 18]);
    assert_eq!(
        ids(store
            .list(a, c, &tens.clone().filter("kind", "login"))
            .await
            .unwrap()),
        vec![12, 15, 18],
        "id prefix and a filter"
    );
    assert!(store
        .list(a, c, &ListQuery::default().id_prefix("e03"))
        .await
        .unwrap()
        .items
        .is_empty());

    // Bad queries are refused, not passed to the backend.
    for bad in [
        ListQuery::default().id_prefix(""),
        ListQuery::default().id_prefix("e\u{e9}"),
        ListQuery::default().filter("a.b", 1),
        ListQuery::default().filter("$where", 1),
        ListQuery::default().filter("x", json!({"$gt": 1})),
        ListQuery::default().limit(0),
    ] {
        assert!(
            matches!(store.list(a, c, &bad).await, Err(StoreError::BadQuery(_))),
            "{bad:?} must be refused"
        );
    }

    for i in 0..25u32 {
        raw.delete(a, c, &format!("e{i:03}")).await.unwrap();
    }
    raw.delete(b, c, "e000").await.unwrap();
}

/// Records survive closing and reopening the store (embedded store: a file).
pub async fn write_for_reopen(store: &dyn Store, scope: &TenantScope) {
    Raw(store)
        .insert(scope, Collection::Scratch, "k", &json!({"v": 1}))
        .await
        .unwrap();
}
