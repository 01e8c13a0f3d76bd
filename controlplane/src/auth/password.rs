//! The password policy: what a new password must be (the tenant's `settings.password`), and
//! what it must not be — one of the 10,000 most common passwords (the list zxcvbn ships,
//! compiled in), such a password dressed up with digits, symbols or letter-for-digit swaps
//! (`P@ssw0rd!2024`), a run of one character, or something containing the username or the
//! tenant's name. Pure functions: the handlers turn the broken rules into one 422 naming the
//! field `password` once per rule.
use std::{collections::HashSet, sync::LazyLock};

use nexbii_crds::{settings::PasswordPolicy, FieldError};

use crate::http::{ApiError, ApiResult};

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common_passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// Whether `pw` is a common password (case-insensitively), or one with digits and symbols
/// added around it or letters swapped for look-alike digits and symbols.
pub fn is_common(pw: &str) -> bool {
    let lower = pw.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return true;
    }
    let unleet = |s: &str| -> String {
        s.chars()
            .map(|c| match c {
                '@' | '4' => 'a',
                '0' => 'o',
                '1' | '!' => 'i',
                '3' => 'e',
                '$' | '5' => 's',
                '7' => 't',
                c => c,
            })
            .collect()
    };
    // The letters at the core: what is left once digits and symbols around it are cut off.
    let core = |s: &str| -> String {
        s.trim_matches(|c: char| !c.is_alphabetic())
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    };
    let trimmed = core(&lower);
    [unleet(&trimmed), trimmed, core(&unleet(&lower))]
        .iter()
        .any(|c| c.chars().count() >= 4 && COMMON.contains(c.as_str()))
}

/// Every rule of `policy` (and of the common-password checks) that `pw` breaks, as messages.
pub fn broken_rules(
    policy: &PasswordPolicy,
    pw: &str,
    username: &str,
    tenant: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let len = pw.chars().count();
    if len < policy.min_length as usize {
        out.push(format!("must be at least {} characters", policy.min_length));
    }
    if len > 1024 {
        out.push("must be at most 1024 characters".into());
    }
    let has = |f: fn(char) -> bool| pw.chars().any(f);
    if policy.require_uppercase && !has(char::is_uppercase) {
        out.push("must contain an uppercase letter".into());
    }
    if policy.require_lowercase && !has(char::is_lowercase) {
        out.push("must contain a lowercase letter".into());
    }
    if policy.require_digit && !has(|c| c.is_ascii_digit()) {
        out.push("must contain a digit".into());
    }
    if policy.require_symbol && !has(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
        out.push("must contain a symbol".into());
    }
    if is_common(pw) {
        out.push("is a common password (or one made from it); choose another".into());
    }
    let mut chars = pw.chars();
    if let Some(first) = chars.next() {
        if len > 1 && chars.all(|c| c == first) {
            out.push("must not repeat a single character".into());
        }
    }
    let lower = pw.to_lowercase();
    for (what, name) in [("username", username), ("tenant's name", tenant)] {
        let name = name.to_lowercase();
        if name.chars().count() >= 3 && lower.contains(&name) {
            out.push(format!("must not contain the {what}"));
        }
    }
    out
}

/// `Ok` when `pw` satisfies the policy, else a 422 listing every broken rule under `password`.
pub fn check(policy: &PasswordPolicy, pw: &str, username: &str, tenant: &str) -> ApiResult<()> {
    let broken = broken_rules(policy, pw, username, tenant);
    if broken.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid(
        broken
            .into_iter()
            .map(|m| FieldError::new("password", m))
            .collect(),
    ))
}

/// `Ok` unless the tenant's `maxAgeDays` is set and the user's password is older (counted from
/// the last change, else from the account's creation): then 403, naming who can renew it.
pub fn check_age(
    policy: &PasswordPolicy,
    user: &super::model::UserRecord,
    now: chrono::DateTime<chrono::Utc>,
) -> ApiResult<()> {
    if policy.max_age_days == 0 {
        return Ok(());
    }
    let since = user
        .security
        .password_changed_at
        .unwrap_or(user.meta.created_at);
    if now - since <= chrono::Duration::days(policy.max_age_days as i64) {
        return Ok(());
    }
    Err(ApiError::Forbidden(format!(
        "this password is more than {} days old and has expired; an admin sets a new one \
         (PATCH /api/v1/users/{{username}})",
        policy.max_age_days
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 12,
            require_uppercase: true,
            require_lowercase: true,
            require_digit: true,
            require_symbol: true,
            max_age_days: 0,
        }
    }

    #[test]
    fn the_list_is_compiled_in() {
        assert!(COMMON.len() >= 9_900, "{}", COMMON.len());
        assert!(is_common("password") && is_common("PASSWORD") && is_common("qwerty123456"));
    }

    #[test]
    fn dressed_up_common_passwords_are_refused() {
        for pw in [
            "P@ssw0rd!2024",
            "Password123!",
            "!!Dragon2026",
            "1qaz2wsx3edc",
            "M0nk3y!!!!!!",
        ] {
            assert!(is_common(pw), "{pw}");
        }
        for pw in [
            "admin-password-123",
            "user-password-123",
            "Tr0ub4dor&3-horse",
            "correct horse battery",
        ] {
            assert!(!is_common(pw), "{pw}");
        }
    }

    #[test]
    fn every_broken_rule_is_named() {
        let p = strict();
        let b = broken_rules(&p, "short", "ann", "acme");
        assert_eq!(
            b,
            vec![
                "must be at least 12 characters",
                "must contain an uppercase letter",
                "must contain a digit",
                "must contain a symbol",
            ],
            "{b:?}"
        );
        assert!(broken_rules(&p, "Zebra-Lantern-42", "ann", "acme").is_empty());
        let b = broken_rules(&p, "Ann-Lantern-42x", "ann", "acme");
        assert_eq!(b, vec!["must not contain the username"]);
        let b = broken_rules(&p, "Acme-Lantern-42x", "bo", "acme");
        assert_eq!(b, vec!["must not contain the tenant's name"]);
        let b = broken_rules(&PasswordPolicy::default(), "aaaaaaaaaaaaaa", "bo", "acme");
        assert_eq!(b, vec!["must not repeat a single character"]);
        let b = broken_rules(&PasswordPolicy::default(), "Password1234!", "bo", "acme");
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(b[0].contains("common"));
    }

    #[test]
    fn check_answers_422_naming_password_per_rule() {
        let Err(ApiError::Invalid(errs)) = check(&strict(), "abc", "ann", "acme") else {
            panic!("refused");
        };
        assert!(
            errs.len() >= 4 && errs.iter().all(|e| e.field == "password"),
            "{errs:?}"
        );
        assert!(check(&strict(), "Zebra-Lantern-42", "ann", "acme").is_ok());
    }
}
