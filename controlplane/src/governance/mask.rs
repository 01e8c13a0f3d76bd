//! Masking decisions and masking itself, as pure functions: which action applies to a caller
//! for a column of a given level, and what a value becomes under it.
use std::hash::Hasher;

use nexbii_crds::{MaskAction, MaskingRule, SensitivityLevel};
use serde_json::Value;
use sha2::{Digest, Sha256};
use siphasher::sip::SipHasher24;

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
    keyed: SipHasher24,
}

impl Masker {
    /// `key` makes hashes stable per tenant and unguessable elsewhere (its SHA-256 digest keys
    /// the hash, so any key length works and every byte of it counts).
    pub fn new(key: &[u8]) -> Self {
        let digest = Sha256::digest(key);
        let mut k = [0u8; 16];
        k.copy_from_slice(&digest[..16]);
        Self {
            keyed: SipHasher24::new_with_key(&k),
        }
    }

    /// What a value becomes. Arrays and documents (MongoDB `$push`, PostgreSQL `array_agg`,
    /// JSON columns) are masked element by element, so no clear value survives in a container.
    pub fn apply(&self, action: MaskAction, value: &Value) -> Value {
        let mut v = value.clone();
        self.apply_in_place(action, &mut v);
        v
    }

    /// [`Masker::apply`] in place: a masked string reuses the clear value's buffer, so masking a
    /// large result allocates (almost) nothing per cell.
    pub fn apply_in_place(&self, action: MaskAction, value: &mut Value) {
        let keep_shape = action != MaskAction::Nullify && action != MaskAction::Refuse;
        match value {
            Value::Null => {}
            Value::Array(items) if keep_shape => {
                for v in items {
                    self.apply_in_place(action, v);
                }
            }
            Value::Object(fields) if keep_shape => {
                for (_, v) in fields.iter_mut() {
                    self.apply_in_place(action, v);
                }
            }
            Value::String(s) => match action {
                MaskAction::None => {}
                MaskAction::Partial => partial_in_place(s),
                MaskAction::Hash => {
                    let h = self.digest(s.as_bytes());
                    s.clear();
                    push_hex(s, h);
                }
                MaskAction::Redact => {
                    s.clear();
                    s.push_str("***");
                }
                MaskAction::Nullify | MaskAction::Refuse => *value = Value::Null,
            },
            other => *other = self.scalar(action, other),
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

    /// A keyed digest (SipHash-2-4 with a 128-bit per-tenant key, 16 hex characters): equal
    /// values give equal digests, so joins, group-bys and distinct counts over masked values
    /// still work. SipHash is a pseudorandom function built for short inputs: without the key
    /// the digest tells nothing of the value, and it costs a few nanoseconds per cell where
    /// HMAC-SHA256 cost ten times more (the benchmark `policy/mask_hash_*` shows both).
    pub fn hash(&self, s: &str) -> String {
        let mut out = String::with_capacity(16);
        push_hex(&mut out, self.digest(s.as_bytes()));
        out
    }

    fn digest(&self, bytes: &[u8]) -> u64 {
        let mut h = self.keyed;
        h.write(bytes);
        h.finish()
    }
}

fn push_hex(out: &mut String, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Written into a buffer and appended at once: one capacity check instead of sixteen.
    let mut buf = [0u8; 16];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = HEX[((v >> ((15 - i) * 4)) & 0xf) as usize];
    }
    out.push_str(std::str::from_utf8(&buf).expect("hex digits are ASCII"));
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

/// [`partial`] rewriting the string in its own buffer (the result is never longer than the
/// value, except for an e-mail with a one-letter local part).
pub fn partial_in_place(s: &mut String) {
    const STARS: &str = "****************************************************************";
    if let Some(at) = s.find('@') {
        let first = s.chars().next().map_or(0, char::len_utf8).min(at);
        s.replace_range(first..at, "***");
        return;
    }
    // Most masked values are ASCII (numbers, codes): characters are bytes, no counting walk.
    let (n, cut) = if s.is_ascii() {
        (s.len(), s.len().saturating_sub(4))
    } else {
        let n = s.chars().count();
        (
            n,
            s.char_indices()
                .nth(n.saturating_sub(4))
                .map_or(0, |(i, _)| i),
        )
    };
    if n > 8 && n - 4 <= STARS.len() {
        s.replace_range(..cut, &STARS[..n - 4]);
    } else {
        *s = partial(s);
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
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn masking_in_place_matches_masking_by_copy() {
        let m = Masker::new(b"tenant key");
        let long = "x".repeat(100);
        for value in [
            "jane.doe@example.com",
            "j@x.org",
            "@nolocal.org",
            "4111111111111111",
            "123-45-6789",
            "Bob",
            "Zoë Åberg-Ørsted",
            "ünïcödé@例え.jp",
            long.as_str(),
            "",
        ] {
            let mut s = value.to_string();
            partial_in_place(&mut s);
            assert_eq!(s, partial(value), "{value}");
            for action in [
                MaskAction::Partial,
                MaskAction::Hash,
                MaskAction::Redact,
                MaskAction::Nullify,
            ] {
                let mut v = json!(value);
                m.apply_in_place(action, &mut v);
                assert_eq!(v, m.scalar(action, &json!(value)), "{value} {action:?}");
            }
        }
    }
}
