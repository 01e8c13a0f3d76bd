//! Names of generated objects. Each kind has its own rule (Services are DNS-1035 labels, most
//! other kinds DNS-1123 subdomains, label values their own 63-character form); a name that
//! breaks its rule is shortened to `<valid prefix>-<8 hex of sha256(full name)>`, so it is
//! stable, unique in practice, and still says whose it is. Names that are already valid are
//! kept exactly, so objects made by earlier operator versions keep their names.
use sha2::{Digest, Sha256};

/// Length of the hash suffix in hex digits (32 bits).
const HASH_LEN: usize = 8;
/// Prefix for names that must start with a letter but do not (DNS-1035).
const LETTER_PREFIX: &str = "nx-";

/// The name syntaxes Kubernetes validates against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63: Services.
    Dns1035Label,
    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63.
    Dns1123Label,
    /// Dot-separated DNS-1123 labels, at most 253: Deployments, Secrets, ConfigMaps, claims, …
    Dns1123Subdomain,
    /// Empty, or `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63.
    LabelValue,
}

impl NameRule {
    pub fn max_len(self) -> usize {
        match self {
            Self::Dns1123Subdomain => 253,
            _ => 63,
        }
    }

    fn allowed(self, c: char) -> bool {
        match self {
            Self::Dns1035Label | Self::Dns1123Label => {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
            }
            Self::Dns1123Subdomain => {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
            }
            Self::LabelValue => c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
        }
    }

    /// Whether `s` satisfies the rule, exactly as the apiserver checks it.
    pub fn is_valid(self, s: &str) -> bool {
        if s.len() > self.max_len() || !s.chars().all(|c| self.allowed(c)) {
            return false;
        }
        let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        match self {
            Self::LabelValue => {
                s.is_empty() || (alnum(s.chars().next()) && alnum(s.chars().last()))
            }
            Self::Dns1035Label => {
                s.chars().next().is_some_and(|c| c.is_ascii_lowercase()) && alnum(s.chars().last())
            }
            Self::Dns1123Label => alnum(s.chars().next()) && alnum(s.chars().last()),
            Self::Dns1123Subdomain => {
                !s.is_empty()
                    && s.split('.').all(|l| {
                        !l.is_empty() && alnum(l.chars().next()) && alnum(l.chars().last())
                    })
            }
        }
    }
}

fn hash8(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))[..HASH_LEN].to_string()
}

/// `full` if it satisfies `rule`, else a valid, stable stand-in ending in a hash of `full`.
pub fn fit(rule: NameRule, full: &str) -> String {
    if rule.is_valid(full) {
        return full.to_string();
    }
    let mut head: String = full
        .chars()
        .map(|c| {
            let c = if rule == NameRule::LabelValue {
                c
            } else {
                c.to_ascii_lowercase()
            };
            if rule.allowed(c) && c != '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if rule == NameRule::Dns1035Label && !head.starts_with(|c: char| c.is_ascii_lowercase()) {
        head.insert_str(0, LETTER_PREFIX);
    }
    head.truncate(rule.max_len().min(63) - HASH_LEN - 1);
    let head = head.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let hash = hash8(full);
    if head.is_empty() {
        // Only the hash is left; DNS-1035 still needs a leading letter.
        return format!("{}{hash}", LETTER_PREFIX);
    }
    format!("{head}-{hash}")
}

/// Names of everything made for one Tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// Deployment, Service, ConfigMap, ServiceAccount, NetworkPolicy, Ingress and
    /// PodDisruptionBudget: one name valid for all of them (the Service's rule is the strictest).
    pub base: String,
    pub keys_secret: String,
    pub bootstrap_secret: String,
    pub data_pvc: String,
    /// The Tenant's name as a label value.
    pub label: String,
    /// `<tenant>-nexbii` as earlier operator versions named the base objects even when it was
    /// not a valid Service name; objects under it are removed once `base` differs.
    pub legacy_base: String,
}

impl Names {
    pub fn for_tenant(tenant: &str) -> Self {
        let legacy_base = format!("{tenant}-nexbii");
        Names {
            base: fit(NameRule::Dns1035Label, &legacy_base),
            keys_secret: fit(NameRule::Dns1123Subdomain, &format!("{legacy_base}-keys")),
            bootstrap_secret: fit(
                NameRule::Dns1123Subdomain,
                &format!("{legacy_base}-bootstrap"),
            ),
            data_pvc: fit(NameRule::Dns1123Subdomain, &format!("{legacy_base}-data")),
            label: fit(NameRule::LabelValue, tenant),
            legacy_base,
        }
    }
}

/// Generators of the names Kubernetes accepts, for the property tests here and in `builders`.
#[cfg(test)]
pub(crate) mod gen {
    use rand::{rngs::StdRng, Rng};

    const LABEL_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";

    /// A random DNS-1123 label (what the CRDs accept as a name), biased towards the edges:
    /// maximal length, leading digits, runs of dashes.
    pub fn label(rng: &mut StdRng) -> String {
        let len = match rng.gen_range(0..4) {
            0 => 63,
            1 => rng.gen_range(55..=63),
            _ => rng.gen_range(1..=63),
        };
        let mut s: Vec<u8> = (0..len)
            .map(|_| match rng.gen_range(0..10) {
                0..=2 => b'-',
                3..=5 => b'0' + rng.gen_range(0..10),
                _ => LABEL_CHARS[rng.gen_range(0..26)],
            })
            .collect();
        let alnum = |rng: &mut StdRng| LABEL_CHARS[rng.gen_range(0..36)];
        s[0] = alnum(rng);
        let last = s.len() - 1;
        s[last] = alnum(rng);
        String::from_utf8(s).unwrap()
    }

    /// A random DNS-1123 subdomain of up to 253 characters: what the apiserver itself accepts
    /// when the CRD's name rule is not installed.
    pub fn subdomain(rng: &mut StdRng) -> String {
        let mut s = label(rng);
        while s.len() < 190 && rng.gen_bool(0.7) {
            s.push('.');
            s.push_str(&label(rng));
        }
        s.truncate(253);
        s.trim_end_matches(['-', '.']).to_string()
    }

    /// Every fourth name a subdomain, the others labels.
    pub fn name(rng: &mut StdRng, i: usize) -> String {
        if i % 4 == 3 {
            subdomain(rng)
        } else {
            label(rng)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::gen;
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn rules_match_the_apiserver() {
        use NameRule::*;
        assert!(Dns1035Label.is_valid("acme-nexbii"));
        assert!(!Dns1035Label.is_valid("1acme-nexbii"), "leading digit");
        assert!(Dns1123Label.is_valid("1acme"));
        assert!(!Dns1123Label.is_valid(&"a".repeat(64)));
        assert!(!Dns1123Label.is_valid("a.b"));
        assert!(Dns1123Subdomain.is_valid("a.b-c"));
        assert!(!Dns1123Subdomain.is_valid("a..b"));
        assert!(!Dns1123Subdomain.is_valid("a.-b"));
        assert!(!Dns1123Subdomain.is_valid(&"a".repeat(254)));
        assert!(LabelValue.is_valid(""));
        assert!(LabelValue.is_valid("A_b.c-9"));
        assert!(!LabelValue.is_valid("_a"));
        assert!(!LabelValue.is_valid(&"a".repeat(64)));
    }

    #[test]
    fn valid_names_are_kept_and_others_shortened_stably() {
        assert_eq!(Names::for_tenant("acme").base, "acme-nexbii");
        assert_eq!(Names::for_tenant("acme").keys_secret, "acme-nexbii-keys");
        let long = "a".repeat(63);
        let n = Names::for_tenant(&long);
        assert_eq!(n.base.len(), 63);
        assert!(n.base.starts_with(&"a".repeat(54)), "{}", n.base);
        assert_eq!(n.base, Names::for_tenant(&long).base, "stable");
        // Secrets and claims may be longer than Services: they keep the plain name.
        assert_eq!(n.keys_secret, format!("{long}-nexbii-keys"));
        assert_eq!(n.label, long);
        assert_eq!(
            Names::for_tenant("1a").base,
            format!("nx-1a-nexbii-{}", hash8("1a-nexbii"))
        );
        // Two names sharing the kept prefix still differ.
        let other = format!("{}b", "a".repeat(62));
        assert_ne!(Names::for_tenant(&other).base, n.base);
    }

    #[test]
    fn every_generated_name_is_valid_for_its_kind() {
        let mut rng = StdRng::seed_from_u64(0x6e65_7862_6969);
        let mut seen = std::collections::HashMap::new();
        for i in 0..20_000 {
            let tenant = gen::name(&mut rng, i);
            let n = Names::for_tenant(&tenant);
            assert!(
                NameRule::Dns1035Label.is_valid(&n.base),
                "{tenant} -> {}",
                n.base
            );
            for s in [&n.keys_secret, &n.bootstrap_secret, &n.data_pvc] {
                assert!(NameRule::Dns1123Subdomain.is_valid(s), "{tenant} -> {s}");
            }
            assert!(
                NameRule::LabelValue.is_valid(&n.label),
                "{tenant} -> {}",
                n.label
            );
            assert_eq!(n, Names::for_tenant(&tenant), "deterministic");
            if let Some(prev) = seen.insert(n.base.clone(), tenant.clone()) {
                assert_eq!(prev, tenant, "two tenants share {}", n.base);
            }
        }
    }
}
