//! Backup and restore throughput on a tenant with about 100 MB of metadata, side by side with
//! `tar | zstd` of the same store file in the same run, the rise of the process's peak RSS
//! during each, and the recovery point (journal lag) under a steady write load with the
//! journal's shipping interval scaled down.
//!
//! `cargo bench -p nexbii-controlplane --bench backup_pitr` (no server needed; `tar` and `zstd`
//! on the PATH). Knobs (environment): `BENCH_MB` (metadata to write, default 100),
//! `BENCH_SHIP_SECONDS` (shipping interval, default 6: the default 60 s scaled by 1/10),
//! `BENCH_LOAD_SECONDS` (length of the write load, default 30) and `BENCH_WRITES_PER_SECOND`
//! (default 20). The figures are printed; nothing is asserted (they depend on the machine).
use std::{
    process::Command,
    time::{Duration, Instant},
};

use chrono::Utc;
use futures::StreamExt;
use nexbii_controlplane::{
    admin::backups::{
        domain,
        model::{BackupRecord, BackupState, BackupTrigger, RestoreRequest},
        restore,
    },
    bi::queries::model::SavedQuery,
    config::Settings,
    crypto::Keys,
    state::{AppState, SharedState},
    store::{self, write::Actor, Expect, Origin, Store, TenantScope},
};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Text that compresses about as well as real SQL with comments (not to nothing).
fn text(seed: u64, len: usize) -> String {
    let words = [
        "SELECT",
        "customer_id",
        "SUM(amount)",
        "FROM",
        "orders",
        "JOIN",
        "regions",
        "ON",
        "WHERE",
        "created_at",
        ">",
        "GROUP BY",
        "ORDER BY",
        "LIMIT",
        "revenue",
        "--",
    ];
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = String::with_capacity(len + 32);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(words[(x % words.len() as u64) as usize]);
        out.push(' ');
        if x.is_multiple_of(5) {
            out.push_str(&format!("{:x} ", x >> 20));
        }
    }
    out
}

fn query(i: u64, sql: String) -> SavedQuery {
    SavedQuery {
        id: format!("q{i:06}"),
        name: format!("query {i}"),
        description: None,
        data_source: "sales".into(),
        sql,
        params: Vec::new(),
        owner: "admin".into(),
        origin: Origin::default(),
        meta: Default::default(),
    }
}

fn size(path: &std::path::Path) -> u64 {
    let mut total = 0;
    for suffix in ["", "-wal", "-shm"] {
        let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        total += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
    }
    total
}

async fn backup(state: &SharedState, scope: &TenantScope) -> (BackupRecord, f64) {
    let rec = BackupRecord::pending(
        format!("{}-bench", Utc::now().format("%Y%m%d-%H%M%S%3f")),
        BackupTrigger::Manual,
        "bench".into(),
    );
    let rec = state
        .writer
        .save(scope, &Actor::System, rec, Expect::Absent)
        .await
        .unwrap();
    let began = Instant::now();
    domain::run(state.clone(), scope.clone(), rec.id.clone()).await;
    let secs = began.elapsed().as_secs_f64();
    let done = domain::load(state, scope, &rec.id).await.unwrap();
    assert_eq!(done.state, BackupState::Completed, "{:?}", done.error);
    (done, secs)
}

/// Starts a new peak-RSS measurement: Linux resets the process's high-water mark to its
/// current RSS (`clear_refs`, value 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak RSS (MB) since [`reset_peak_rss`], and the RSS now.
fn peak_rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1e3
    };
    (kb("VmHWM:"), kb("VmRSS:"))
}

fn shell(script: &str, dir: &std::path::Path) -> f64 {
    let began = Instant::now();
    let st = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .status()
        .expect("sh");
    assert!(st.success(), "{script}");
    began.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let target_mb = env("BENCH_MB", 100);
    let ship = Duration::from_secs(env("BENCH_SHIP_SECONDS", 6).max(1));
    let load = Duration::from_secs(env("BENCH_LOAD_SECONDS", 30));
    let rate = env("BENCH_WRITES_PER_SECOND", 20).max(1);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nexbii.db");
    let st = store::open(db.to_str().unwrap(), "unused").await.unwrap();
    let settings = Settings {
        sqlite_root: dir.path().join("sources"),
        backup_dir: dir.path().join("backups"),
        journal_ship_interval: ship,
        ..Default::default()
    };
    let state = AppState::new(st, Keys::random(), settings);
    let scope = TenantScope::new("bench").unwrap();
    let shipping = tokio::spawn(nexbii_controlplane::admin::backups::journal::ship_loop(
        state.clone(),
        ship,
    ));

    // About BENCH_MB of metadata: saved queries of 10 kB (each also recorded as a
    // configuration version, as every API write is).
    let began = Instant::now();
    let mut n = 0u64;
    while size(&db) < target_mb * 1_000_000 {
        for _ in 0..200 {
            state
                .writer
                .save(
                    &scope,
                    &Actor::System,
                    query(n, text(n, 10_000)),
                    Expect::Absent,
                )
                .await
                .unwrap();
            n += 1;
        }
    }
    println!(
        "filled: {n} saved queries, store file {:.1} MB, in {:.1} s",
        size(&db) as f64 / 1e6,
        began.elapsed().as_secs_f64()
    );
    let dest = domain::destination(&state);
    let key = domain::archive_key(&state);
    state.journal.ship_all(&dest, &key).await;
    // A checkpoint, so the store file alone holds the data `tar` reads.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store_mb = size(&db) as f64 / 1e6;

    // The floor under a backup: reading the snapshot alone.
    let read_began = Instant::now();
    let mut snap = state
        .store
        .snapshot(&scope, &domain::backed_up())
        .await
        .unwrap();
    let mut read_bytes = 0usize;
    while let Some(r) = snap.records.next().await {
        let r = r.unwrap();
        read_bytes += r.doc.len() + r.fields.len();
    }
    let read_s = read_began.elapsed().as_secs_f64();
    let (_, rss_before_backup) = peak_rss();
    reset_peak_rss();
    let (rec, backup_s) = backup(&state, &scope).await;
    let (backup_peak, _) = peak_rss();
    let m = rec.manifest.as_ref().unwrap();
    let tar_s = shell(
        "tar -cf - nexbii.db | zstd -q -3 -T1 -o store.tar.zst",
        dir.path(),
    );
    let tar_size = std::fs::metadata(dir.path().join("store.tar.zst"))
        .unwrap()
        .len();
    // A second baseline: the same store rewritten in key order (VACUUM), so its records come in
    // the archive's order (by collection, then id) rather than in the order they were written.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::raw_sql(&format!(
        "VACUUM INTO '{}'",
        dir.path().join("vacuumed.db").display()
    ))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let vac_s = shell(
        "tar -cf - vacuumed.db | zstd -q -3 -T1 -o vacuumed.tar.zst",
        dir.path(),
    );
    let vac_size = std::fs::metadata(dir.path().join("vacuumed.tar.zst"))
        .unwrap()
        .len();
    // Backup, then mutate (as the round trip does): 5 % of the saved queries edited,
    // 1 % deleted, 1 % created; the restore puts back exactly the backup.
    let (edited, deleted, created) = (n / 20, n / 100, n / 100);
    for i in 0..edited {
        let id = format!("q{:06}", i * 20);
        state
            .writer
            .modify::<SavedQuery>(&scope, &Actor::System, &id, |q| {
                q.sql = text(i + 2_000_000, 10_000)
            })
            .await
            .unwrap();
    }
    for i in 0..deleted {
        let id = format!("q{:06}", i * 100 + 7);
        state
            .writer
            .delete::<SavedQuery>(&scope, &Actor::System, &id, None)
            .await
            .unwrap();
    }
    for i in 0..created {
        state
            .writer
            .save(
                &scope,
                &Actor::System,
                query(n + i, text(n + i, 10_000)),
                Expect::Absent,
            )
            .await
            .unwrap();
    }
    let (_, rss_before_restore) = peak_rss();
    reset_peak_rss();
    let restore_began = Instant::now();
    let report = restore::restore_as(
        &state,
        &scope,
        &Actor::System,
        RestoreRequest {
            backup: Some(rec.id.clone()),
            dry_run: false,
            only: None,
            target_time: None,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("restore: {e:?}"));
    let restore_s = restore_began.elapsed().as_secs_f64();
    let (restore_peak, _) = peak_rss();
    assert!(report.restored);
    std::fs::create_dir_all(dir.path().join("untar")).unwrap();
    let untar_s = shell(
        "zstd -q -d -c store.tar.zst | tar -xf - -C untar",
        dir.path(),
    );

    println!(
        "\nthroughput on the store file ({store_mb:.1} MB; records {:.1} MB uncompressed)",
        m.bytes as f64 / 1e6
    );
    println!(
        "  backup   {:>7.2} s  {:>7.1} MB/s   archive {:.1} MB (zstd + AES-256-GCM, read back and checked)",
        backup_s,
        store_mb / backup_s,
        rec.size_bytes.unwrap() as f64 / 1e6
    );
    println!(
        "  (reading the snapshot alone: {read_s:.2} s, {:.1} MB of documents)",
        read_bytes as f64 / 1e6
    );
    println!(
        "  tar|zstd {:>7.2} s  {:>7.1} MB/s   archive {:.1} MB   -> backup at {:.0} % of tar|zstd",
        tar_s,
        store_mb / tar_s,
        tar_size as f64 / 1e6,
        100.0 * tar_s / backup_s
    );
    println!(
        "  tar|zstd of the store in key order (VACUUM INTO) {:.2} s  {:.1} MB/s  archive {:.1} MB   -> backup at {:.0} %",
        vac_s,
        store_mb / vac_s,
        vac_size as f64 / 1e6,
        100.0 * vac_s / backup_s
    );
    let t = &report.totals;
    println!(
        "  restore  {:>7.2} s  {:>7.1} MB/s   ({} records compared; {} modified, {} removed, {} added, swapped in) -> at {:.0} % of tar|zstd",
        restore_s,
        store_mb / restore_s,
        t.in_backup,
        t.modified,
        t.removed,
        t.added,
        100.0 * tar_s / restore_s
    );
    println!(
        "  peak RSS: backup +{:.0} MB (from {:.0} MB), restore +{:.0} MB (from {:.0} MB)",
        backup_peak - rss_before_backup,
        rss_before_backup,
        restore_peak - rss_before_restore,
        rss_before_restore
    );
    println!(
        "  untar    {:>7.2} s  {:>7.1} MB/s   -> restore at {:.0} % of zstd -d|tar",
        untar_s,
        store_mb / untar_s,
        100.0 * untar_s / restore_s
    );

    // The recovery point under a steady write load: the journal's lag, sampled.
    let writer = {
        let (state, scope) = (state.clone(), scope.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            let end = Instant::now() + load;
            let mut i = 0u64;
            while Instant::now() < end {
                tick.tick().await;
                let id = format!("q{:06}", i % n);
                state
                    .writer
                    .modify::<SavedQuery>(&scope, &Actor::System, &id, |q| {
                        q.sql = text(i + 1_000_000, 2_000)
                    })
                    .await
                    .unwrap();
                i += 1;
            }
            i
        })
    };
    let mut lags = Vec::new();
    while !writer.is_finished() {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let text = state.metrics.render();
        let lag = text
            .lines()
            .find(|l| l.starts_with("nexbii_journal_lag_seconds{tenant=\"bench\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        lags.push(lag);
    }
    let writes = writer.await.unwrap();
    lags.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lags[((lags.len() - 1) as f64 * p) as usize];
    println!(
        "\nrecovery point under load ({writes} writes at {rate}/s over {} s, shipping every {} s)",
        load.as_secs(),
        ship.as_secs()
    );
    println!(
        "  journal lag: median {:.1} s, p95 {:.1} s, max {:.1} s (target: at most 60 s with the default interval)",
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
    shipping.abort();
}
