//! Row filters against a real SQLite database: planned for a caller, rewritten, run, and the
//! rows returned are exactly the caller's.
use std::collections::BTreeMap;

use nexbii_controlplane::governance::rowfilter::{plan, rewrite, Subject};
use nexbii_crds::{DataSourceType, RowFilter, RowFilterKind, RowFiltersSpec};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqlitePoolOptions},
    Row, SqlitePool,
};

fn filter(
    name: &str,
    table: &str,
    kind: RowFilterKind,
    subjects: &[&str],
    clause: &str,
) -> RowFilter {
    RowFilter {
        name: name.into(),
        data_source: "shop".into(),
        table: table.into(),
        kind,
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        clause: clause.into(),
        group_key: None,
    }
}

fn policy() -> RowFiltersSpec {
    RowFiltersSpec {
        default_deny: true,
        exempt_roles: vec!["auditor".into()],
        filters: vec![
            filter(
                "tenant",
                "orders",
                RowFilterKind::Base,
                &[],
                "tenant = {{user.attributes.tenant}}",
            ),
            filter(
                "own",
                "orders",
                RowFilterKind::Regular,
                &["role:sales"],
                "owner = {{user.username}}",
            ),
            filter(
                "region",
                "main.customers",
                RowFilterKind::Base,
                &[],
                "region = {{user.attributes.region}}",
            ),
        ],
    }
}

async fn database(dir: &tempfile::TempDir) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("shop.db"))
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    for stmt in [
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, region TEXT)",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, cid INTEGER, tenant TEXT, owner TEXT, amount INTEGER)",
        "INSERT INTO customers VALUES (1, 'Ann', 'EU'), (2, 'Bob', 'US'), (3, 'Cid', 'EU')",
        "INSERT INTO orders VALUES (1, 1, 'acme', 'ann', 10), (2, 1, 'acme', 'bob', 20), \
         (3, 2, 'globex', 'ann', 30), (4, 3, 'acme', 'o''neil', 40), (5, 2, 'acme', 'ann', 50)",
    ] {
        sqlx::query(stmt).execute(&pool).await.unwrap();
    }
    pool
}

/// Runs `sql` as `user` (role, attributes) after planning and rewriting; first column as i64.
async fn run(
    pool: &SqlitePool,
    user: &str,
    role: &str,
    attrs: &[(&str, &str)],
    sql: &str,
    binds: &[i64],
) -> Vec<i64> {
    let attributes: BTreeMap<String, String> = attrs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let subject = Subject {
        username: user,
        role,
        attributes: &attributes,
    };
    let filters = plan(&policy(), "shop", DataSourceType::Sqlite, &subject).unwrap();
    let rewritten = rewrite(sql, DataSourceType::Sqlite, &filters).unwrap();
    let mut q = sqlx::query(&rewritten);
    for b in binds {
        q = q.bind(*b);
    }
    q.fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{rewritten}: {e}"))
        .iter()
        .map(|r| r.get::<i64, _>(0))
        .collect()
}

#[tokio::test]
async fn rewritten_statements_return_only_the_callers_rows() {
    let dir = tempfile::tempdir().unwrap();
    let pool = database(&dir).await;
    let ann = [("tenant", "acme"), ("region", "EU")];
    let as_ann =
        |sql: &'static str, binds: &'static [i64]| run(&pool, "ann", "sales", &ann, sql, binds);

    // ann (sales): acme orders she owns (1, 5); EU customers (1, 3).
    assert_eq!(
        as_ann("SELECT id FROM orders ORDER BY id", &[]).await,
        [1, 5]
    );
    assert_eq!(
        as_ann(
            "SELECT o.id FROM orders o JOIN customers c ON c.id = o.cid ORDER BY o.id",
            &[]
        )
        .await,
        [1]
    );
    assert_eq!(
        as_ann(
            "SELECT count(*) FROM customers WHERE id IN (SELECT cid FROM orders)",
            &[]
        )
        .await,
        [1]
    );
    assert_eq!(
        as_ann(
            "WITH x AS (SELECT * FROM orders WHERE amount > ?) SELECT id FROM x ORDER BY id",
            &[15]
        )
        .await,
        [5]
    );
    assert_eq!(
        as_ann(
            "SELECT id FROM orders UNION SELECT id + 100 FROM main.orders ORDER BY 1",
            &[]
        )
        .await,
        [1, 5, 101, 105]
    );
    assert_eq!(
        as_ann("SELECT (SELECT sum(amount) FROM orders) AS s", &[]).await,
        [60]
    );
    assert_eq!(
        as_ann("SELECT c.id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.cid = c.id)", &[]).await,
        [3]
    );
    // A CTE named like the table is the CTE.
    assert_eq!(
        as_ann(
            "WITH orders AS (SELECT 99 AS id) SELECT id FROM orders",
            &[]
        )
        .await,
        [99]
    );
    assert_eq!(
        as_ann(
            "WITH RECURSIVE r(n) AS (SELECT min(id) FROM orders UNION ALL SELECT n + 1 FROM r WHERE n < 3) \
             SELECT n FROM r",
            &[]
        )
        .await,
        [1, 2, 3]
    );

    // An analyst sees every acme order; without a region attribute, no customers.
    let acme = [("tenant", "acme")];
    assert_eq!(
        run(
            &pool,
            "o'neil",
            "analyst",
            &acme,
            "SELECT id FROM orders ORDER BY id",
            &[]
        )
        .await,
        [1, 2, 4, 5]
    );
    assert_eq!(
        run(
            &pool,
            "o'neil",
            "analyst",
            &acme,
            "SELECT count(*) FROM customers",
            &[]
        )
        .await,
        [0]
    );
    // A value crafted to widen the predicate is just a tenant name that matches nothing.
    let crafted = [("tenant", "acme' OR '1'='1")];
    assert_eq!(
        run(
            &pool,
            "eve",
            "analyst",
            &crafted,
            "SELECT count(*) FROM orders",
            &[]
        )
        .await,
        [0]
    );
    // Exempt roles read everything.
    assert_eq!(
        run(
            &pool,
            "aud",
            "auditor",
            &[],
            "SELECT count(*) FROM orders",
            &[]
        )
        .await,
        [5]
    );
}
