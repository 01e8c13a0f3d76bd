//! Placeholders in the source's own style. Users may write `?` or `$1, $2, …` on any SQL source;
//! the statement is tokenized in the source's dialect (so a `?` inside a string, a comment or a
//! quoted name is left alone) and each placeholder token is rewritten in place: `?` becomes
//! `$k` on PostgreSQL, `$n` becomes `?` on MySQL/MariaDB and SQLite with the parameters
//! reordered (and repeated) to match. On PostgreSQL `?` is also the jsonb key-exists operator:
//! it counts as a placeholder only where an operand is expected (after an operator, `(`, `,` or
//! an expression keyword), never right after a column, literal or `)`.
use nexbii_crds::DataSourceType;
use serde_json::Value;
use sqlparser::{
    keywords::Keyword,
    tokenizer::{Token, TokenWithSpan, Tokenizer},
};

use super::guard::{dialect_for, ByteOffsets, Refused};

/// A statement in the source's placeholder style.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Native {
    pub sql: String,
    /// Which given parameter each placeholder binds, in order; `None`: as given.
    pub order: Option<Vec<usize>>,
}

impl Native {
    /// The parameters in the order the rewritten statement binds them.
    pub fn params(&self, given: &[Value]) -> Vec<Value> {
        match &self.order {
            None => given.to_vec(),
            Some(order) => order
                .iter()
                .map(|&i| given.get(i).cloned().unwrap_or(Value::Null))
                .collect(),
        }
    }
}

enum Mark {
    /// `?`
    Question,
    /// `$n` (or SQLite's `?n`), 1-based.
    Numbered(usize),
}

/// Keywords after which an operand (so a `?` placeholder) is expected.
const OPERAND_AFTER: &[Keyword] = &[
    Keyword::SELECT,
    Keyword::WHERE,
    Keyword::AND,
    Keyword::OR,
    Keyword::NOT,
    Keyword::IN,
    Keyword::LIKE,
    Keyword::ILIKE,
    Keyword::BETWEEN,
    Keyword::CASE,
    Keyword::WHEN,
    Keyword::THEN,
    Keyword::ELSE,
    Keyword::LIMIT,
    Keyword::OFFSET,
    Keyword::IS,
    Keyword::ON,
    Keyword::HAVING,
    Keyword::VALUES,
    Keyword::BY,
    Keyword::DISTINCT,
    Keyword::ANY,
    Keyword::ALL,
    Keyword::SOME,
];

/// Whether a PostgreSQL `?` after `prev` is a placeholder (an operand is expected there).
fn operand_expected(prev: Option<&Token>) -> bool {
    match prev {
        None => true,
        Some(Token::Word(w)) => w.quote_style.is_none() && OPERAND_AFTER.contains(&w.keyword),
        Some(
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::DollarQuotedString(_)
            | Token::RParen
            | Token::RBracket,
        ) => false,
        Some(_) => true,
    }
}

/// Rewrites `sql`'s placeholders into the style of `source`.
pub fn to_native(sql: &str, source: DataSourceType) -> Result<Native, Refused> {
    if source == DataSourceType::Mongodb {
        return Ok(Native {
            sql: sql.to_string(),
            order: None,
        });
    }
    let dialect = dialect_for(source);
    let tokens = Tokenizer::new(dialect.as_ref(), sql)
        .tokenize_with_location()
        .map_err(|e| Refused(format!("SQL does not tokenize: {e}")))?;
    let offsets = ByteOffsets::new(sql);
    let mut marks: Vec<(std::ops::Range<usize>, Mark)> = Vec::new();
    let mut prev: Option<&Token> = None;
    for TokenWithSpan { token, span } in &tokens {
        if matches!(token, Token::Whitespace(_)) {
            continue;
        }
        let numbered = |p: &str| {
            (p.len() > 1 && (p.starts_with('$') || p.starts_with('?')))
                .then(|| p[1..].parse::<usize>().ok().filter(|n| *n > 0))
                .flatten()
        };
        let mark = match token {
            Token::Placeholder(p) if p == "?" => Some((Mark::Question, 1)),
            Token::Placeholder(p) => numbered(p).map(|n| (Mark::Numbered(n), p.len())),
            // MySQL and SQLite read `$1` as a name (`$` starts identifiers there).
            Token::Word(w) if w.quote_style.is_none() && w.value.starts_with('$') => {
                numbered(&w.value).map(|n| (Mark::Numbered(n), w.value.len()))
            }
            Token::Question if operand_expected(prev) => Some((Mark::Question, 1)),
            _ => None,
        };
        if let Some((m, len)) = mark {
            // The span may run past the token (after `?` the PostgreSQL tokenizer's span takes
            // in one char of lookahead), so the token's own length bounds the edit.
            let start = offsets.at(span.start);
            marks.push((start..start + len, m));
        }
        prev = Some(token);
    }
    let questions = marks
        .iter()
        .filter(|(_, m)| matches!(m, Mark::Question))
        .count();
    if questions > 0 && questions < marks.len() {
        return Err(Refused(
            "use one placeholder style in a statement: ? or $1, $2, …".into(),
        ));
    }
    let postgres = source == DataSourceType::Postgresql;
    let mut order = Vec::new();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut at = 0;
    let mut next = 0;
    for (range, mark) in &marks {
        let replacement = match (mark, postgres) {
            (Mark::Question, true) => {
                next += 1;
                Some(format!("${next}"))
            }
            (Mark::Numbered(n), false) => {
                order.push(n - 1);
                Some("?".to_string())
            }
            _ => None,
        };
        if let Some(r) = replacement {
            out.push_str(&sql[at..range.start]);
            out.push_str(&r);
            at = range.end;
        }
    }
    out.push_str(&sql[at..]);
    Ok(Native {
        sql: out,
        order: (!order.is_empty()).then_some(order),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataSourceType::{Mysql, Postgresql, Sqlite};

    fn native(sql: &str, t: DataSourceType) -> (String, Option<Vec<usize>>) {
        let n = to_native(sql, t).unwrap();
        (n.sql, n.order)
    }

    #[test]
    fn question_marks_become_numbered_on_postgresql() {
        assert_eq!(
            native("SELECT * FROM t WHERE a = ? AND b IN (?, ?)", Postgresql),
            (
                "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)".into(),
                None
            )
        );
        assert_eq!(
            native(
                "SELECT count(*) FROM customers WHERE country = ?",
                Postgresql
            )
            .0,
            "SELECT count(*) FROM customers WHERE country = $1"
        );
    }

    #[test]
    fn jsonb_question_operators_and_quoted_text_stay() {
        let sql = "SELECT '?' AS q, \"a?\" FROM t WHERE data ? 'k' AND x = ? -- why?\n";
        assert_eq!(
            native(sql, Postgresql).0,
            "SELECT '?' AS q, \"a?\" FROM t WHERE data ? 'k' AND x = $1 -- why?\n"
        );
        assert_eq!(
            native("SELECT data ?| array['a'] FROM t", Postgresql).0,
            "SELECT data ?| array['a'] FROM t"
        );
    }

    #[test]
    fn numbered_placeholders_become_question_marks_with_their_order() {
        assert_eq!(
            native("SELECT * FROM t WHERE b = $2 AND a = $1 OR c = $2", Mysql),
            (
                "SELECT * FROM t WHERE b = ? AND a = ? OR c = ?".into(),
                Some(vec![1, 0, 1])
            )
        );
        assert_eq!(
            native("SELECT * FROM t WHERE a = $1", Sqlite),
            ("SELECT * FROM t WHERE a = ?".into(), Some(vec![0]))
        );
        let n = to_native("SELECT $2, $1", Mysql).unwrap();
        assert_eq!(
            n.params(&[Value::from("x"), Value::from(2)]),
            vec![Value::from(2), Value::from("x")]
        );
    }

    #[test]
    fn native_style_is_left_as_written() {
        for (sql, t) in [
            ("SELECT * FROM t WHERE a = $1 AND b = $2", Postgresql),
            ("SELECT * FROM t WHERE a = ? AND b = ?", Mysql),
            ("SELECT * FROM t WHERE a = ? AND b = '$1'", Sqlite),
        ] {
            assert_eq!(native(sql, t), (sql.to_string(), None), "{sql}");
        }
    }

    #[test]
    fn mixed_styles_are_refused() {
        for t in [Postgresql, Mysql, Sqlite] {
            assert!(
                to_native("SELECT * FROM t WHERE a = ? AND b = $1", t).is_err(),
                "{t:?}"
            );
        }
    }
}
