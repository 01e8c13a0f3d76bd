//! Recovery codes: ten single-use codes shown once when MFA is confirmed (or regenerated),
//! stored only as keyed digests (HMAC-SHA256 with a key derived per tenant from the instance
//! key, over tenant, user and code), so a copy of the store does not give them away. Each code
//! has 50 random bits; a used one is removed.
use hmac::{Hmac, Mac};
use rand::{rngs::OsRng, RngCore};
use sha2::Sha256;

pub const COUNT: usize = 10;
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Ten new codes, `xxxxx-xxxxx`.
pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let mut b = [0u8; 10];
            OsRng.fill_bytes(&mut b);
            let s: String = b
                .iter()
                .map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char)
                .collect();
            format!("{}-{}", &s[..5], &s[5..])
        })
        .collect()
}

/// The code as typed, without case, spaces or dashes.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

pub fn digest(key: &[u8; 32], tenant: &str, username: &str, code: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(format!("nexbii-recovery\n{tenant}\n{username}\n{}", normalise(code)).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Removes the code's digest from `stored` when it is there; `true` when it was (used now).
pub fn take(stored: &mut Vec<String>, digest: &str) -> bool {
    match stored.iter().position(|d| d == digest) {
        Some(i) => {
            stored.remove(i);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_single_use_and_bound_to_the_user() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), COUNT);
        assert!(codes
            .iter()
            .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
        let key = [3u8; 32];
        let mut stored: Vec<String> = codes
            .iter()
            .map(|c| digest(&key, "acme", "ann", c))
            .collect();
        assert!(!stored
            .iter()
            .any(|d| codes.iter().any(|c| d.contains(c.as_str()))));
        let typed = codes[3].to_uppercase().replace('-', " ");
        assert!(take(&mut stored, &digest(&key, "acme", "ann", &typed)));
        assert!(
            !take(&mut stored, &digest(&key, "acme", "ann", &codes[3])),
            "used once"
        );
        assert!(
            !take(&mut stored, &digest(&key, "acme", "bob", &codes[4])),
            "another user"
        );
        assert!(
            !take(&mut stored, &digest(&[4u8; 32], "acme", "ann", &codes[4])),
            "another key"
        );
        assert_eq!(stored.len(), COUNT - 1);
    }
}
