//! Query fingerprints: the statement with its literals replaced by `?` (lists of literals
//! collapsed to one), so `… WHERE id = 1` and `… WHERE id = 2` are the same query.
use std::{hash::Hasher, ops::ControlFlow, sync::Arc};

use serde_json::Value;
use sqlparser::{
    ast::{visit_expressions_mut, Expr, Value as SqlValue},
    dialect::Dialect,
    parser::Parser,
};

/// Longest fingerprint text kept (longer ones are cut, the hash still covers all of it).
pub const MAX_TEXT: usize = 2_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// Stable hash of the text (SipHash-1-3 with fixed keys).
    pub hash: u64,
    pub text: Arc<str>,
}

impl Fingerprint {
    fn of_text(text: String) -> Self {
        let mut h = siphasher::sip::SipHasher13::new_with_keys(0x6e65_7862, 0x6969_6670);
        h.write(text.as_bytes());
        let mut text = text;
        if text.len() > MAX_TEXT {
            let mut cut = MAX_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        Self {
            hash: h.finish(),
            text: text.into(),
        }
    }

    /// The id shown in the API: 16 hex digits.
    pub fn id(&self) -> String {
        format!("{:016x}", self.hash)
    }
}

/// Fingerprint of one SQL statement. Text that does not parse is kept as it is (whitespace
/// collapsed): it was accepted by the guard, so this does not happen in practice.
pub fn of_sql(sql: &str, dialect: &dyn Dialect) -> Fingerprint {
    let text = match Parser::parse_sql(dialect, sql) {
        Ok(mut stmts) => {
            let _ = visit_expressions_mut(&mut stmts, |e: &mut Expr| {
                match e {
                    Expr::Value(v) if !matches!(v.value, SqlValue::Null) => {
                        v.value = SqlValue::Placeholder("?".into());
                    }
                    Expr::InList { list, .. } if list.iter().all(is_placeholder) => {
                        list.truncate(1);
                    }
                    _ => {}
                }
                ControlFlow::<()>::Continue(())
            });
            stmts
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        }
        Err(_) => sql.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    Fingerprint::of_text(text)
}

fn is_placeholder(e: &Expr) -> bool {
    matches!(e, Expr::Value(v) if matches!(&v.value, SqlValue::Placeholder(p) if p == "?"))
}

/// Fingerprint of a MongoDB query (JSON): every scalar becomes `"?"`, except strings starting
/// with `$` (field paths and operators' names) and object keys.
pub fn of_json(text: &str) -> Fingerprint {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => m.values_mut().for_each(strip),
            Value::Array(a) => {
                a.iter_mut().for_each(strip);
                if a.len() > 1 && a.iter().all(|x| x == &Value::from("?")) {
                    a.truncate(1);
                }
            }
            Value::String(s) if s.starts_with('$') => {}
            Value::Null => {}
            other => *other = Value::from("?"),
        }
    }
    let text = match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            // The collection name is not a literal.
            let coll = v.get("c").cloned();
            strip(&mut v);
            if let (Some(c), Some(m)) = (coll, v.as_object_mut()) {
                m.insert("c".into(), c);
            }
            v.to_string()
        }
        Err(_) => text.to_string(),
    };
    Fingerprint::of_text(text)
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};

    use super::*;

    #[test]
    fn literals_are_stripped() {
        let d = PostgreSqlDialect {};
        let a = of_sql("SELECT * FROM t WHERE id = 1", &d);
        let b = of_sql("select *  from t where id = 2", &d);
        assert_eq!(a, b);
        assert_eq!(&*a.text, "SELECT * FROM t WHERE id = ?");
        let c = of_sql(
            "SELECT * FROM t WHERE name = 'x' AND id IN (1, 2, 3) LIMIT 10",
            &d,
        );
        let e = of_sql("SELECT * FROM t WHERE name = 'y' AND id IN (7) LIMIT 5", &d);
        assert_eq!(c, e);
        assert_eq!(
            &*c.text,
            "SELECT * FROM t WHERE name = ? AND id IN (?) LIMIT ?"
        );
        // Bound parameters and literals give the same fingerprint; other columns do not.
        assert_eq!(of_sql("SELECT * FROM t WHERE id = $1", &d), a);
        assert_ne!(of_sql("SELECT * FROM t WHERE other = 1", &d), a);
        assert_ne!(of_sql("SELECT x FROM t WHERE id = 1", &d), a);
        assert_eq!(a.id().len(), 16);
        // NULL stays (IS NULL and = NULL differ in meaning from a value).
        let n = of_sql("SELECT coalesce(x, NULL) FROM t", &SQLiteDialect {});
        assert!(n.text.contains("NULL"), "{}", n.text);
    }

    #[test]
    fn mongo_scalars_are_stripped() {
        let a =
            of_json(r#"{"c":"orders","p":[{"$match":{"n":1,"s":"EU"}},{"$project":{"x":"$y"}}]}"#);
        let b =
            of_json(r#"{"c":"orders","p":[{"$match":{"n":2,"s":"US"}},{"$project":{"x":"$y"}}]}"#);
        assert_eq!(a, b);
        assert!(
            a.text.contains("\"orders\"") && a.text.contains("\"$y\""),
            "{}",
            a.text
        );
        let c = of_json(r#"{"c":"people","p":[{"$match":{"n":2,"s":"US"}}]}"#);
        assert_ne!(a, c);
    }

    #[test]
    fn long_text_is_cut_but_hashed_in_full() {
        let d = PostgreSqlDialect {};
        let cols: Vec<String> = (0..600).map(|i| format!("c{i}")).collect();
        let a = of_sql(&format!("SELECT {}, a FROM t", cols.join(", ")), &d);
        let b = of_sql(&format!("SELECT {}, b FROM t", cols.join(", ")), &d);
        assert!(a.text.len() <= MAX_TEXT + '…'.len_utf8());
        assert_ne!(a.hash, b.hash);
    }
}
