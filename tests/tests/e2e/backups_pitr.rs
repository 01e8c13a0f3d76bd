//! Point-in-time recovery: the change journal, its shipping to the backup destination, the
//! replay on top of a backup, and journal retention — on the embedded store and on a
//! MongoDB-wire server, on a backup volume and in an S3-compatible bucket (moto, as in
//! `backups`). Recovery to a time between two changes must give back exactly the records as
//! they were at that time (compared record by record, revisions and times included).
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, SecondsFormat, Utc};
use nexbii_controlplane::{
    admin::backups::{destination::S3Bucket, domain, journal},
    state::Settings,
    store::{mongo::MongoStore, TenantScope},
};
use nexbii_tests::{s3_url, unique, Client2, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::backups::{
    backup, completed, populated, problem_says, records, s3_bucket, same_records, settled, stored,
    BACKUPS, PW, RESTORES,
};

/// Short enough that tests see segments shipped without waiting long.
pub(crate) const SHIP: Duration = Duration::from_millis(500);

pub(crate) async fn embedded(s3: Option<Arc<S3Bucket>>, ship: Duration) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store =
        nexbii_controlplane::store::open(dir.path().join("nexbii.db").to_str().unwrap(), "unused")
            .await
            .unwrap();
    let settings = Settings {
        sqlite_root: dir.path().join("sources"),
        backup_dir: dir.path().join("backups"),
        backup_s3: s3,
        journal_ship_interval: ship,
        ..Default::default()
    };
    TestServer::with_store(store, dir, settings).await
}

async fn mongo(s3: Option<Arc<S3Bucket>>) -> (TestServer, Arc<MongoStore>) {
    let (server, store, _) = TestServer::on_mongo("nexbii_pitr_", |s| {
        s.backup_s3 = s3;
        s.journal_ship_interval = SHIP;
    })
    .await;
    (server, store)
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Waits until every journal entry of the tenant is in the destination; returns the segments.
pub(crate) async fn all_shipped(server: &TestServer, tenant: &str) -> Vec<String> {
    let scope = TenantScope::new(tenant).unwrap();
    for _ in 0..200 {
        let local = server.state.journal.local_after(&scope, 0).await.unwrap();
        if local.is_empty() {
            return domain::destination(&server.state)
                .segments(tenant)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the journal of {tenant} was not shipped in 20 s");
}

/// The first change: a new saved query and a user's new role.
pub(crate) async fn first_change(admin: &Client2) -> String {
    let (s, q) = admin
        .post(
            "/api/v1/queries",
            json!({"name": "alpha", "dataSource": "sales", "sql": "SELECT 1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let (s, b) = admin
        .call(
            reqwest::Method::PATCH,
            "/api/v1/users/erin",
            Some(json!({"role": "editor"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    q["id"].as_str().unwrap().to_string()
}

/// The second change: the new query renamed (a new configuration version too), a user
/// deleted and one created.
pub(crate) async fn second_change(admin: &Client2, alpha: &str) {
    let (s, b) = admin
        .put(
            &format!("/api/v1/queries/{alpha}"),
            json!({"name": "alpha, renamed", "dataSource": "sales", "sql": "SELECT 2"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _) = admin.delete("/api/v1/users/carol").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = admin
        .post(
            "/api/v1/users",
            json!({"username": "zed", "role": "viewer", "password": "a-long-password-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

/// A time strictly after everything written so far and strictly before anything written
/// next (stored times are whole milliseconds).
pub(crate) async fn a_moment() -> DateTime<Utc> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    // As sent (microseconds), so the report's `targetTime` compares equal.
    let t = DateTime::parse_from_rfc3339(&rfc3339(Utc::now()))
        .unwrap()
        .with_timezone(&Utc);
    tokio::time::sleep(Duration::from_millis(20)).await;
    t
}

fn metric(text: &str, name: &str, tenant: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{tenant=\"{tenant}\"}}")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Backup, change, a moment, change again; recovery to the moment keeps the first change and
/// not the second, exactly; a dry run changes nothing; bad times are refused by name.
async fn recovers_between_two_changes(server: &TestServer) {
    let tenant = unique("pt");
    let (admin, _) = populated(server, &tenant).await;
    let b = completed(&admin, None).await;
    let position = b["manifest"]["journalSequence"].as_u64().unwrap();
    assert!(position > 0, "the tenant's setup was journaled: {b}");
    let alpha = first_change(&admin).await;
    let target = a_moment().await;
    let at_target = records(server, &tenant).await;
    // The first change's entries reach the destination before the second change.
    let segments = all_shipped(server, &tenant).await;
    assert!(!segments.is_empty());
    for name in &segments {
        assert!(
            journal::parse_segment(name).is_some(),
            "{name} is a segment"
        );
    }
    let last_shipped = segments
        .iter()
        .filter_map(|n| journal::parse_segment(n))
        .map(|(_, last)| last)
        .max()
        .unwrap();
    assert!(last_shipped > position);
    let (_, text) = server.get_text("/metrics").await;
    assert!(
        metric(&text, "nexbii_journal_last_shipped_sequence", &tenant).unwrap()
            >= last_shipped as f64,
        "{text}"
    );
    assert!(metric(&text, "nexbii_journal_lag_seconds", &tenant).is_some());
    assert!(
        metric(
            &text,
            "nexbii_journal_last_shipped_timestamp_seconds",
            &tenant
        )
        .unwrap()
            > 0.0
    );
    second_change(&admin, &alpha).await;
    let now = records(server, &tenant).await;
    assert_ne!(now, at_target);

    // Refused by name, nothing changed.
    let future = rfc3339(Utc::now() + chrono::Duration::hours(1));
    let bad: [(Value, &str, &str); 4] = [
        (json!({"targetTime": "yesterday"}), "targetTime", "RFC 3339"),
        (json!({"targetTime": future}), "targetTime", "future"),
        (
            json!({"targetTime": "2001-01-01T00:00:00Z"}),
            "targetTime",
            "before the oldest backup",
        ),
        (
            json!({"targetTime": rfc3339(target), "only": ["sessions"]}),
            "only[0]",
            "not in backups",
        ),
    ];
    for (body, field, words) in bad {
        let (s, r) = admin.post(RESTORES, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {r}");
        problem_says(&r, field, words);
    }
    let later = completed(&admin, None).await;
    let (s, r) = admin
        .post(
            RESTORES,
            json!({"targetTime": rfc3339(target), "backup": later["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    problem_says(&r, "targetTime", "before backup");
    same_records(
        &records(server, &tenant).await,
        &now,
        "after refused requests",
    );

    // A dry run reports and changes nothing.
    let (s, dry) = admin
        .post(
            RESTORES,
            json!({"targetTime": rfc3339(target), "dryRun": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{dry}");
    assert_eq!(dry["restored"], false);
    assert_eq!(dry["backup"], b["id"], "the newest backup before the time");
    assert!(dry["replayedChanges"].as_u64().unwrap() >= 2, "{dry}");
    assert_eq!(
        DateTime::parse_from_rfc3339(dry["targetTime"].as_str().unwrap()).unwrap(),
        target
    );
    let users = dry["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["collection"] == "users")
        .unwrap();
    assert_eq!(
        (
            users["added"].clone(),
            users["removed"].clone(),
            users["modified"].clone()
        ),
        (json!(1), json!(1), json!(0)),
        "carol comes back and zed goes; erin was an editor at the time as now: {users}"
    );
    same_records(&records(server, &tenant).await, &now, "after a dry run");

    // The recovery: exactly the records as they were at the target time.
    let (s, r) = admin
        .post(RESTORES, json!({"targetTime": rfc3339(target)}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["restored"], true);
    assert_eq!(r["replayedChanges"], dry["replayedChanges"]);
    same_records(
        &records(server, &tenant).await,
        &at_target,
        "recovered to the time between the changes",
    );
    let (s, q) = admin.get(&format!("/api/v1/queries/{alpha}")).await;
    assert_eq!((s, q["name"].clone()), (StatusCode::OK, json!("alpha")));
}

/// Entries not shipped yet are replayed from the local journal, also by an instance started
/// after the changes (the journal survives a restart); shipping then moves them to the
/// destination.
async fn recovers_from_unshipped_entries(server: &TestServer) {
    let tenant = unique("pu");
    let (admin, _) = populated(server, &tenant).await;
    let scope = TenantScope::new(&tenant).unwrap();
    let b = completed(&admin, None).await;
    let alpha = first_change(&admin).await;
    let target = a_moment().await;
    let at_target = records(server, &tenant).await;
    second_change(&admin, &alpha).await;
    assert!(
        domain::destination(&server.state)
            .segments(&tenant)
            .await
            .unwrap()
            .is_empty(),
        "nothing shipped within the hour-long interval"
    );
    let position = server.state.journal.position(&scope).await.unwrap();
    let restarted = server.another_instance().await;
    assert_eq!(
        restarted.state.journal.position(&scope).await.unwrap(),
        position,
        "the sequence survives a restart"
    );
    let admin2 = restarted.login(&tenant, "admin", PW).await;
    let (s, r) = admin2
        .post(RESTORES, json!({"targetTime": rfc3339(target)}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["backup"], b["id"]);
    assert!(r["replayedChanges"].as_u64().unwrap() >= 2, "{r}");
    same_records(
        &records(server, &tenant).await,
        &at_target,
        "recovered from local entries",
    );
    let dest = domain::destination(&restarted.state);
    let key = domain::archive_key(&restarted.state);
    let last = restarted
        .state
        .journal
        .ship(&dest, &key, &scope)
        .await
        .unwrap()
        .unwrap();
    assert!(last > position, "the restore's own marker is journaled too");
    assert!(restarted
        .state
        .journal
        .local_after(&scope, 0)
        .await
        .unwrap()
        .is_empty());
    let segments = dest.segments(&tenant).await.unwrap();
    assert_eq!(
        segments
            .iter()
            .filter_map(|n| journal::parse_segment(n))
            .map(|(_, l)| l)
            .max(),
        Some(last)
    );
    // The archives' listing is not confused by the journal folder.
    assert_eq!(
        stored(&restarted, &tenant).await,
        [format!("{}.nxbk", b["id"].as_str().unwrap())]
    );
}

/// Retention removes the segments older than the oldest backup it keeps, and no others.
async fn retention_prunes_segments(server: &TestServer) {
    let tenant = unique("pr");
    let admin = server.tenant_with_sales(&tenant, PW).await;
    completed(&admin, None).await;
    let (s, _) = admin
        .post(
            "/api/v1/queries",
            json!({"name": "one", "dataSource": "sales", "sql": "SELECT 1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let early = all_shipped(server, &tenant).await;
    assert!(!early.is_empty());
    let kept = completed(&admin, Some(json!({"retention": {"keepLast": 1}}))).await;
    let upto = kept["manifest"]["journalSequence"].as_u64().unwrap();
    for name in &early {
        let (_, last) = journal::parse_segment(name).unwrap();
        assert!(
            last <= upto,
            "{name} was shipped before the backup's position {upto}"
        );
    }
    let mut left = Vec::new();
    for _ in 0..100 {
        left = domain::destination(&server.state)
            .segments(&tenant)
            .await
            .unwrap();
        if !left.iter().any(|n| early.contains(n)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for name in &left {
        assert!(!early.contains(name), "{name} should be pruned: {left:?}");
        let (_, last) = journal::parse_segment(name).unwrap();
        assert!(last > upto, "{name} is older than the kept backup ({upto})");
    }
    let (_, list) = admin.get(BACKUPS).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // Recovery still works from the kept backup on.
    let (s, q) = admin
        .post(
            "/api/v1/queries",
            json!({"name": "two", "dataSource": "sales", "sql": "SELECT 2"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let target = a_moment().await;
    let (s, r) = admin
        .post(
            RESTORES,
            json!({"targetTime": rfc3339(target), "dryRun": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["backup"], kept["id"]);
    assert!(r["replayedChanges"].as_u64().unwrap() >= 1, "{r}");
}

/// A missing segment in the window is refused by name (nothing is silently skipped).
async fn a_gap_is_refused(server: &TestServer) {
    let tenant = unique("pg");
    let admin = server.tenant_with_sales(&tenant, PW).await;
    // The source's first catalog crawl writes in the background: not between the two reads.
    settled(&admin, "sales").await;
    completed(&admin, None).await;
    let (s, _) = admin
        .post(
            "/api/v1/queries",
            json!({"name": "one", "dataSource": "sales", "sql": "SELECT 1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let segments = all_shipped(server, &tenant).await;
    let dest = domain::destination(&server.state);
    let before = records(server, &tenant).await;
    for name in &segments {
        dest.remove(&dest.segment_location(&tenant, name))
            .await
            .unwrap();
    }
    let target = a_moment().await;
    let (s, r) = admin
        .post(RESTORES, json!({"targetTime": rfc3339(target)}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    problem_says(&r, "targetTime", "missing entry");
    same_records(
        &records(server, &tenant).await,
        &before,
        "after a refused recovery",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_recovers_between_two_changes() {
    recovers_between_two_changes(&embedded(None, SHIP).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_recovers_between_two_changes() {
    let (server, store) = mongo(None).await;
    recovers_between_two_changes(&server).await;
    store.drop_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_s3_recovers_between_two_changes() {
    recovers_between_two_changes(&embedded(Some(s3_bucket(&s3_url()).await), SHIP).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_s3_recovers_between_two_changes() {
    let (server, store) = mongo(Some(s3_bucket(&s3_url()).await)).await;
    recovers_between_two_changes(&server).await;
    store.drop_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn embedded_recovers_from_unshipped_entries_after_a_restart() {
    recovers_from_unshipped_entries(&embedded(None, Duration::from_secs(3600)).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn journal_retention_on_the_volume_and_in_a_bucket() {
    retention_prunes_segments(&embedded(None, SHIP).await).await;
    retention_prunes_segments(&embedded(Some(s3_bucket(&s3_url()).await), SHIP).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_gap_is_refused() {
    a_gap_is_refused(&embedded(None, SHIP).await).await;
}

/// With `targetTime`, a named `backup` must exist.
#[tokio::test(flavor = "multi_thread")]
async fn the_named_backup_must_exist() {
    let server = embedded(None, SHIP).await;
    let tenant = unique("pn");
    let admin = server.tenant(&tenant, PW).await;
    let b = backup(&admin, None).await;
    assert_eq!(b["state"], "Completed", "{b}");
    let (s, r) = admin
        .post(
            RESTORES,
            json!({"targetTime": rfc3339(a_moment().await), "backup": "20200101-000000-deadbeef"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{r}");
    problem_says(&r, "backup", "no backup");
}
