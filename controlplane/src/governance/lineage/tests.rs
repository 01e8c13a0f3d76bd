//! Unit tests for the tricky parts; the corpus (`tests/lineage_corpus.yaml`) covers breadth.
use nexbii_crds::DataSourceType::{self, Mongodb, Mysql, Postgresql, Sqlite};

use super::*;
use crate::engine::{ColumnDef, TableInfo};

fn schema() -> MapSchema {
    MapSchema::new()
        .table(
            "public.people",
            &["id", "name", "ssn", "manager_id", "profile"],
        )
        .table("public.orders", &["id", "person_id", "amount", "status"])
        .table("hr.people", &["id", "salary"])
        .table("hr.salaries", &["person_id", "amount"])
}

fn run(t: DataSourceType, text: &str) -> Lineage {
    analyze(t, text, &schema()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn names(cols: &[ColumnRef]) -> Vec<String> {
    cols.iter().map(ToString::to_string).collect()
}

fn sources(l: &Lineage, i: usize) -> Vec<String> {
    names(&l.outputs[i].sources)
}

#[test]
fn count_reveals_nothing_but_is_recorded() {
    let l = run(
        Postgresql,
        "SELECT count(ssn) || name, count(*) FROM people GROUP BY name",
    );
    let o = &l.outputs[0];
    assert_eq!(
        (o.transform, names(&o.sources), names(&o.counted)),
        (
            Transform::Derived,
            vec!["public.people.name".to_string()],
            vec!["public.people.ssn".to_string()]
        )
    );
    assert_eq!(l.outputs[1].transform, Transform::Aggregated);
    assert!(l.outputs[1].sources.is_empty() && l.outputs[1].counted.is_empty());
}

#[test]
fn a_column_both_counted_and_read_is_a_source_only() {
    let l = run(
        Postgresql,
        "SELECT count(ssn) || ssn FROM people GROUP BY ssn",
    );
    assert_eq!(sources(&l, 0), ["public.people.ssn"]);
    assert!(l.outputs[0].counted.is_empty());
}

#[test]
fn non_lateral_derived_table_cannot_see_its_siblings() {
    let l = run(
        Postgresql,
        "SELECT x.s FROM people p, (SELECT p.ssn AS s) x",
    );
    assert!(!l.outputs[0].resolved);
    assert!(l.unresolved.iter().any(|m| m.contains("unknown table p")));
    let lateral = run(
        Postgresql,
        "SELECT x.s FROM people p, LATERAL (SELECT p.ssn AS s) x",
    );
    assert!(lateral.fully_resolved());
    assert_eq!(sources(&lateral, 0), ["public.people.ssn"]);
}

#[test]
fn correlated_references_reach_outer_levels() {
    let l = run(
        Postgresql,
        "SELECT (SELECT max(x.a) FROM (SELECT o.amount AS a FROM orders o WHERE o.person_id = p.id) x) \
         FROM people p",
    );
    assert!(l.fully_resolved(), "{:?}", l.unresolved);
    assert_eq!(sources(&l, 0), ["public.orders.amount"]);
    assert_eq!(l.outputs[0].transform, Transform::Aggregated);
    assert_eq!(
        names(&l.filters),
        ["public.orders.person_id", "public.people.id"]
    );
}

#[test]
fn order_by_prefers_outputs_and_group_by_prefers_inputs() {
    let l = run(Postgresql, "SELECT ssn AS name FROM people ORDER BY name");
    assert_eq!(names(&l.filters), ["public.people.ssn"]);
    let l = run(
        Postgresql,
        "SELECT ssn AS name FROM people GROUP BY name, ssn",
    );
    assert_eq!(
        names(&l.filters),
        ["public.people.name", "public.people.ssn"]
    );
    let l = run(Mysql, "SELECT upper(ssn) AS u FROM people GROUP BY u");
    assert_eq!(names(&l.filters), ["public.people.ssn"]);
}

#[test]
fn using_merges_both_sides_and_keeps_qualified_access() {
    let l = run(
        Postgresql,
        "SELECT person_id, s.amount, o.amount AS paid FROM hr.salaries s JOIN orders o USING (person_id)",
    );
    assert!(l.fully_resolved(), "{:?}", l.unresolved);
    assert_eq!(
        sources(&l, 0),
        ["hr.salaries.person_id", "public.orders.person_id"]
    );
    assert_eq!(sources(&l, 1), ["hr.salaries.amount"]);
    assert_eq!(sources(&l, 2), ["public.orders.amount"]);
}

#[test]
fn a_using_column_is_ambiguous_with_a_third_table() {
    let l = run(
        Postgresql,
        "SELECT id FROM people p JOIN orders o USING (id) JOIN hr.people h ON h.id = p.id",
    );
    assert!(!l.outputs[0].resolved);
    assert_eq!(
        sources(&l, 0),
        ["hr.people.id", "public.orders.id", "public.people.id"]
    );
    assert!(l.unresolved[0].contains("ambiguous"), "{:?}", l.unresolved);
    let l = run(
        Postgresql,
        "SELECT id FROM people p JOIN orders o USING (id) JOIN hr.people h USING (id)",
    );
    assert!(l.fully_resolved(), "{:?}", l.unresolved);
    assert_eq!(l.outputs[0].sources.len(), 3);
}

#[test]
fn columns_behind_an_unexpandable_star_stay_unresolved_with_their_sources() {
    let l = run(
        Postgresql,
        "WITH t AS (SELECT * FROM people p, jsonb_each(p.profile) j) SELECT t.key, t.ssn, x FROM t",
    );
    let o: Vec<(bool, Vec<String>)> = l
        .outputs
        .iter()
        .map(|o| (o.resolved, names(&o.sources)))
        .collect();
    let profile = vec!["public.people.profile".to_string()];
    assert_eq!(
        o,
        [
            (false, profile.clone()),
            (true, vec!["public.people.ssn".to_string()]),
            (false, profile),
        ]
    );
}

#[test]
fn recursive_cte_reaches_a_fixpoint() {
    let l = run(
        Postgresql,
        "WITH RECURSIVE r(a, b, c) AS (SELECT id, name, ssn FROM people \
         UNION ALL SELECT b, c, a FROM r) SELECT a FROM r",
    );
    assert_eq!(
        sources(&l, 0),
        [
            "public.people.id",
            "public.people.name",
            "public.people.ssn"
        ]
    );
}

#[test]
fn unresolved_parts_keep_what_was_found() {
    let l = run(
        Postgresql,
        "SELECT coalesce(p.ssn, x.y) FROM people p, nosuch x",
    );
    let o = &l.outputs[0];
    assert!(!o.resolved);
    assert_eq!(names(&o.sources), ["public.people.ssn"]);
    assert_eq!(l.unresolved.len(), 2, "{:?}", l.unresolved);
}

#[test]
fn unqualified_table_prefers_public_then_a_unique_schema() {
    let l = run(Postgresql, "SELECT id FROM people");
    assert_eq!(sources(&l, 0), ["public.people.id"]);
    let l = run(Postgresql, "SELECT amount FROM salaries");
    assert_eq!(sources(&l, 0), ["hr.salaries.amount"]);
    let l = run(Postgresql, "SELECT salary FROM hr.people");
    assert_eq!(sources(&l, 0), ["hr.people.salary"]);
}

#[test]
fn schema_info_resolves_like_the_databases() {
    let col = |n: &str| ColumnDef {
        name: n.into(),
        type_name: "text".into(),
        nullable: true,
    };
    let table = |schema: Option<&str>, name: &str| TableInfo {
        schema: schema.map(Into::into),
        name: name.into(),
        columns: vec![col("id"), col("ssn")],
    };
    let info = SchemaInfo {
        tables: vec![
            table(Some("a"), "t"),
            table(Some("b"), "t"),
            table(Some("public"), "u"),
            table(Some("b"), "u"),
            table(Some("b"), "Only"),
        ],
    };
    let find = |schema: Option<&str>, name: &str| {
        info.columns(&TableRef::new(schema, name))
            .map(|(t, cols)| (t.to_string(), cols.len()))
    };
    assert_eq!(find(None, "t"), None, "ambiguous without public");
    assert_eq!(find(Some("b"), "t"), Some(("b.t".into(), 2)));
    assert_eq!(find(None, "u"), Some(("public.u".into(), 2)));
    assert_eq!(find(None, "only"), Some(("b.Only".into(), 2)));
    assert_eq!(find(Some("c"), "t"), None);
    let sqlite = SchemaInfo {
        tables: vec![table(None, "t")],
    };
    let hit = sqlite.columns(&TableRef::new(Some("main"), "t"));
    assert_eq!(hit.map(|(t, _)| t), Some(TableRef::new(None, "t")));
}

#[test]
fn errors_are_typed() {
    let s = schema();
    assert!(matches!(
        analyze(Postgresql, "SELEC 1", &s),
        Err(LineageError::Parse(_))
    ));
    assert!(matches!(
        analyze(Postgresql, "DELETE FROM people", &s),
        Err(LineageError::Unsupported(_))
    ));
    assert!(matches!(
        analyze(Sqlite, "SELECT 1; SELECT 2", &s),
        Err(LineageError::Unsupported(_))
    ));
    assert!(matches!(
        analyze(Mongodb, "{not json", &s),
        Err(LineageError::Parse(_))
    ));
    assert!(matches!(
        analyze(
            Mongodb,
            r#"{"collection": "people", "pipeline": [{"$out": "x"}]}"#,
            &s
        ),
        Err(LineageError::Unsupported(_))
    ));
}

#[test]
fn mysql_with_rollup_is_a_parse_error_like_in_the_guard() {
    // sqlparser 0.55's MySQL dialect does not parse `WITH ROLLUP`; the query guard refuses it
    // for the same reason, so such a statement never runs.
    let r = analyze(
        Mysql,
        "SELECT status, sum(amount) FROM orders GROUP BY status WITH ROLLUP",
        &schema(),
    );
    assert!(matches!(r, Err(LineageError::Parse(_))));
}

#[test]
fn deep_nesting_is_analyzed() {
    // Up to the parser's recursion limit (sqlparser refuses deeper nesting).
    let mut sql = "ssn".to_string();
    for i in 0..40 {
        sql = if i % 4 == 0 {
            format!("lower({sql})")
        } else {
            format!("({sql} || 'x')")
        };
    }
    let l = run(Postgresql, &format!("SELECT {sql} FROM people"));
    assert_eq!(sources(&l, 0), ["public.people.ssn"]);
    assert_eq!(l.outputs[0].transform, Transform::Derived);
}

#[test]
fn mongo_lookup_subdocuments_and_variables() {
    let text = r#"{"collection": "orders", "pipeline": [
        {"$lookup": {"from": "people", "let": {"pid": "$person_id"},
                     "pipeline": [{"$match": {"$expr": {"$eq": ["$id", "$$pid"]}}}], "as": "p"}},
        {"$project": {"_id": 0, "who": "$p.name", "all": "$p"}}]}"#;
    let catalog = MapSchema::new()
        .table("orders", &["_id", "person_id", "amount"])
        .table("people", &["id", "name", "ssn", "manager_id", "profile"]);
    let l = analyze(Mongodb, text, &catalog).expect("analyzes");
    assert!(l.fully_resolved(), "{:?}", l.unresolved);
    assert_eq!(sources(&l, 0), ["people.name"]);
    assert_eq!(l.outputs[1].sources.len(), 5);
    assert_eq!(names(&l.filters), ["orders.person_id", "people.id"]);
}

#[test]
fn serializes_camel_case_with_lowercase_transforms() {
    let l = run(Postgresql, "SELECT max(ssn) FROM people");
    let v = serde_json::to_value(&l).expect("serializes");
    assert_eq!(v["outputs"][0]["transform"], "aggregated");
    assert_eq!(
        v["outputs"][0]["sources"][0],
        serde_json::json!({"table": {"schema": "public", "name": "people"}, "column": "ssn"})
    );
    assert!(v["unresolved"].as_array().is_some_and(Vec::is_empty));
    let back: Lineage = serde_json::from_value(v).expect("round trip");
    assert_eq!(back, l);
}
