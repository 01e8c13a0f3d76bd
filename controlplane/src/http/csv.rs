//! CSV as spreadsheets read it (RFC 4180), for the data dictionary and result exports.
use serde_json::Value;

/// One field: quoted when it needs to be, quotes doubled inside; a text starting with `=`,
/// `+`, `-` or `@` gets a leading `'`, since spreadsheet programs would run it as a formula
/// (CSV injection).
pub fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A result value as a field: null is empty, numbers and booleans as they are (a negative
/// number is not a formula), text defused, arrays and objects as their JSON.
pub fn value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => field(s),
        other => field(&other.to_string()),
    }
}

/// One record, with the line break RFC 4180 asks for.
pub fn line<I: IntoIterator<Item = String>>(fields: I) -> String {
    let mut out = fields.into_iter().collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quotes_and_defuses_formulas() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn values_keep_numbers_and_defuse_text() {
        assert_eq!(value(&json!(-5)), "-5");
        assert_eq!(value(&json!("-5")), "'-5");
        assert_eq!(value(&json!(null)), "");
        assert_eq!(value(&json!(true)), "true");
        assert_eq!(value(&json!([1, "a"])), "\"[1,\"\"a\"\"]\"");
        assert_eq!(line(["a".to_string(), "b".to_string()]), "a,b\r\n");
    }
}
