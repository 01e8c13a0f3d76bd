//! TOTP (RFC 6238 with the `totp-rs` crate): SHA-1, 6 digits, 30-second steps, one step of
//! clock skew either way — what every authenticator app reads from an `otpauth://` URI.
//! Pure functions over the secret and the time; replay is refused by remembering the newest
//! step a code was accepted for.
use chrono::{DateTime, Utc};
use rand::{rngs::OsRng, RngCore};
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// The second factor as stored on the user.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MfaRecord {
    /// The TOTP secret (base32), sealed with the instance key and bound to tenant and user.
    pub secret: String,
    pub enrolled_at: DateTime<Utc>,
    /// Set once the first code confirmed the enrolment; until then logins do not ask for it.
    #[serde(default)]
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The newest time step a code was accepted for: codes of that step or older are refused.
    #[serde(default)]
    pub last_step: u64,
    /// Keyed digests of the recovery codes not used yet.
    #[serde(default)]
    pub recovery_codes: Vec<String>,
}

impl MfaRecord {
    pub fn confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }
}

/// 160 random bits, the length RFC 4226 recommends.
pub fn new_secret() -> Vec<u8> {
    let mut b = vec![0u8; 20];
    OsRng.fill_bytes(&mut b);
    b
}

pub fn to_base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

pub fn from_base32(b32: &str) -> Option<Vec<u8>> {
    Secret::try_from_base32(b32.trim())
        .ok()
        .map(|s| s.as_ref().to_vec())
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(secret.to_vec())
        .with_issuer(Some(issuer.replace(':', "-")))
        .with_account_name(account.replace(':', "-"))
        .build_noncompliant()
}

/// The `otpauth://totp/…` URI an authenticator app reads (as a QR code or pasted).
pub fn uri(secret: &[u8], issuer: &str, account: &str) -> String {
    totp(secret, issuer, account).to_url().unwrap_or_default()
}

/// The code of `time` (tests and tools).
pub fn code_at(secret: &[u8], time: u64) -> String {
    totp(secret, "x", "x").generate(time).to_string()
}

/// What a code is worth at `time`, given the newest step already used.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: the step it belongs to (to remember as used).
    Accepted(u64),
    /// Valid, but its step (or a newer one) was used already.
    Replayed,
    Wrong,
}

pub fn check(secret: &[u8], code: &str, time: u64, last_step: u64) -> Verdict {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    match totp(secret, "x", "x").check(&code, time) {
        Some(step) if step > last_step => Verdict::Accepted(step),
        Some(_) => Verdict::Replayed,
        None => Verdict::Wrong,
    }
}

/// Whether `code` has the shape of a TOTP code (six digits) rather than a recovery code.
pub fn looks_like_totp(code: &str) -> bool {
    let c: Vec<char> = code.chars().filter(|c| !c.is_whitespace()).collect();
    c.len() == 6 && c.iter().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (8-digit codes there; the last six digits here).
    #[test]
    fn codes_follow_rfc_6238() {
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59), "287082");
        assert_eq!(code_at(secret, 1111111109), "081804");
        assert_eq!(code_at(secret, 1234567890), "005924");
        assert_eq!(code_at(secret, 2000000000), "279037");
    }

    #[test]
    fn a_code_is_good_for_its_window_once() {
        let s = new_secret();
        let t = 1_800_000_000;
        let code = code_at(&s, t);
        let step = t / 30;
        assert_eq!(check(&s, &code, t, 0), Verdict::Accepted(step));
        assert_eq!(
            check(&s, &code, t + 30, 0),
            Verdict::Accepted(step),
            "one step of skew"
        );
        assert_eq!(check(&s, &code, t + 90, 0), Verdict::Wrong, "too late");
        assert_eq!(check(&s, &code, t, step), Verdict::Replayed);
        assert_eq!(
            check(&s, &code_at(&s, t - 30), t, step),
            Verdict::Replayed,
            "older step"
        );
        assert_eq!(check(&s, "000000x", t, 0), Verdict::Wrong);
        let next = code_at(&s, t + 30);
        assert_eq!(check(&s, &next, t + 30, step), Verdict::Accepted(step + 1));
    }

    #[test]
    fn secrets_round_trip_and_uris_name_the_account() {
        let s = new_secret();
        assert_eq!(from_base32(&to_base32(&s)).unwrap(), s);
        let u = uri(&s, "NexBII acme", "ann@acme");
        assert!(u.starts_with("otpauth://totp/"), "{u}");
        assert!(u.contains(&format!("secret={}", to_base32(&s))), "{u}");
        assert!(u.contains("issuer=NexBII"), "{u}");
        assert!(looks_like_totp("123 456") && !looks_like_totp("abcde-12345"));
    }
}
