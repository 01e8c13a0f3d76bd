//! Masking decisions and masking itself, as pure functions: which action applies to a caller
//! for a column of a given level, and what a value becomes under it.
use hmac::{Hmac, Mac};
use nexbii_crds::{MaskAction, MaskingRule, SensitivityLevel};
use serde_json::Value;
use sha2::Sha256;

/// How strict an action is: when several apply to one output, the strictest wins.
pub fn strictness(a: MaskAction) -> u8 {
    match a {
        MaskAction::None => 0,
        MaskAction::Partial => 1,
        MaskAction::Hash => 2,
        MaskAction::Redact => 3,
        MaskAction::Nullify => 4,
        MaskAction::Refuse => 5,
    }
}

pub fn stricter(a: MaskAction, b: MaskAction) -> MaskAction {
    if strictness(b) > strictness(a) {
        b
    } else {
        a
    }
}

/// The action for `role` on a column of `level`: the rule of the highest level at or below the
/// column's (a column above every rule's level falls under the strictest of them), the
/// strictest if several policies declare that level, and none for its exempt roles. Columns
/// below every rule's level stay clear.
pub fn action_for(rules: &[&MaskingRule], level: SensitivityLevel, role: &str) -> MaskAction {
    let Some(governing) = rules
        .iter()
        .filter(|r| r.level <= level)
        .map(|r| r.level)
        .max()
    else {
        return MaskAction::None;
    };
    rules
        .iter()
        .filter(|r| r.level == governing)
        .map(|r| {
            if r.exempt_roles.iter().any(|e| e == role) {
                MaskAction::None
            } else {
                r.action
            }
        })
        .fold(MaskAction::None, stricter)
}

/// Masks values for one result: the tenant's hash key is prepared once, not per cell.
pub struct Masker {
    keyed: Hmac<Sha256>,
}

impl Masker {
    /// `key` makes hashes stable per tenant and unguessable elsewhere.
    pub fn new(key: &[u8]) -> Self {
        Self {
            keyed: <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length"),
        }
    }

    /// What a value becomes. Arrays and documents (MongoDB `$push`, PostgreSQL `array_agg`,
    /// JSON columns) are masked element by element, so no clear value survives in a container.
    pub fn apply(&self, action: MaskAction, value: &Value) -> Value {
        let keep_shape = action != MaskAction::Nullify && action != MaskAction::Refuse;
        match value {
            Value::Null => Value::Null,
            Value::Array(items) if keep_shape => {
                Value::Array(items.iter().map(|v| self.apply(action, v)).collect())
            }
            Value::Object(fields) if keep_shape => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), self.apply(action, v)))
                    .collect(),
            ),
            _ => self.scalar(action, value),
        }
    }

    fn scalar(&self, action: MaskAction, value: &Value) -> Value {
        match action {
            MaskAction::None => value.clone(),
            MaskAction::Partial => Value::String(partial(&text(value))),
            MaskAction::Hash => Value::String(self.hash(&text(value))),
            MaskAction::Redact => Value::String("***".into()),
            MaskAction::Nullify | MaskAction::Refuse => Value::Null,
        }
    }

    /// A keyed digest (HMAC-SHA256, 16 hex characters): equal values give equal digests, so
    /// joins, group-bys and distinct counts over masked values still work.
    pub fn hash(&self, s: &str) -> String {
        let mut mac = self.keyed.clone();
        mac.update(s.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

/// One value masked with `key` (prefer one [`Masker`] per result).
pub fn apply(action: MaskAction, value: &Value, key: &[u8]) -> Value {
    Masker::new(key).apply(action, value)
}

/// A keyed digest of `s` (see [`Masker::hash`]).
pub fn hash(s: &str, key: &[u8]) -> String {
    Masker::new(key).hash(s)
}

/// Strings are borrowed; other scalars are written out.
fn text(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

/// Keeps what identifies the kind of value, not the value: an e-mail's first letter and domain,
/// else the last four characters of values longer than eight (card and account numbers), else
/// nothing. Built in one allocation (it runs once per masked cell).
pub fn partial(s: &str) -> String {
    if let Some((local, domain)) = s.split_once('@') {
        let mut out = String::with_capacity(domain.len() + 8);
        out.extend(local.chars().next());
        out.push_str("***@");
        out.push_str(domain);
        return out;
    }
    let n = s.chars().count();
    if n > 8 {
        let cut = s.char_indices().nth(n - 4).map_or(0, |(i, _)| i);
        let mut out = String::with_capacity(n - 4 + s.len() - cut);
        out.extend(std::iter::repeat_n('*', n - 4));
        out.push_str(&s[cut..]);
        out
    } else {
        "*".repeat(n.max(3))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(level: SensitivityLevel, action: MaskAction, exempt: &[&str]) -> MaskingRule {
        MaskingRule {
            level,
            action,
            exempt_roles: exempt.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_governing_rule_is_the_highest_at_or_below_the_level() {
        use SensitivityLevel::*;
        let conf = rule(Confidential, MaskAction::Partial, &["admin"]);
        let restr = rule(Restricted, MaskAction::Redact, &[]);
        let rules = [&conf, &restr];
        assert_eq!(action_for(&rules, Internal, "viewer"), MaskAction::None);
        assert_eq!(
            action_for(&rules, Confidential, "viewer"),
            MaskAction::Partial
        );
        assert_eq!(action_for(&rules, Confidential, "admin"), MaskAction::None);
        assert_eq!(action_for(&rules, Restricted, "admin"), MaskAction::Redact);
        let only_conf = [&conf];
        assert_eq!(
            action_for(&only_conf, Restricted, "viewer"),
            MaskAction::Partial,
            "a level above every rule falls under the highest rule"
        );
        let other = rule(Confidential, MaskAction::Refuse, &[]);
        assert_eq!(
            action_for(&[&conf, &other], Confidential, "admin"),
            MaskAction::Refuse,
            "the strictest of two policies wins"
        );
    }

    #[test]
    fn masked_values_never_carry_the_clear_value() {
        let key = b"k";
        assert_eq!(
            apply(MaskAction::Partial, &json!("jane.doe@example.com"), key),
            json!("j***@example.com")
        );
        assert_eq!(
            apply(MaskAction::Partial, &json!("4111111111111111"), key),
            json!("************1111")
        );
        assert_eq!(
            apply(MaskAction::Partial, &json!("123-45-6789"), key),
            json!("*******6789")
        );
        assert_eq!(apply(MaskAction::Partial, &json!("Bob"), key), json!("***"));
        assert_eq!(apply(MaskAction::Redact, &json!(42), key), json!("***"));
        assert_eq!(apply(MaskAction::Nullify, &json!("x"), key), Value::Null);
        assert_eq!(apply(MaskAction::Hash, &Value::Null, key), Value::Null);
        assert_eq!(
            apply(MaskAction::Partial, &json!(["ann@x.org", "bob@y.org"]), key),
            json!(["a***@x.org", "b***@y.org"]),
            "arrays element by element"
        );
        assert_eq!(
            apply(MaskAction::Redact, &json!({"a": ["s"], "b": 1}), key),
            json!({"a": ["***"], "b": "***"})
        );
        assert_eq!(apply(MaskAction::Nullify, &json!([1, 2]), key), Value::Null);
        let (a, b) = (hash("123-45-6789", key), hash("123-45-6789", key));
        assert_eq!(a, b, "stable");
        assert_ne!(a, hash("123-45-6789", b"other key"), "keyed");
        assert_eq!(a.len(), 16);
    }
}
