//! Value validators: each says whether one sampled value is a `Strong` match (its format alone
//! identifies the kind of data, e.g. a Luhn-valid number in a card issuer's range) or a `Weak`
//! one (plausible, but only meaningful when the column name points the same way, e.g. nine plain
//! digits for a US SSN).
use std::{
    net::{IpAddr, SocketAddr},
    sync::LazyLock,
};

use chrono::{Datelike, NaiveDate};
use regex::Regex;

use super::first_names::is_first_name;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Match {
    No,
    Weak,
    Strong,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in pattern compiles")
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}$",
    )
});

pub(crate) fn email(v: &str) -> Match {
    if v.len() <= 254 && EMAIL.is_match(v) {
        Match::Strong
    } else {
        Match::No
    }
}

/// Luhn checksum over decimal digits.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let v = u32::from(d) * if i % 2 == 1 { 2 } else { 1 };
            if v > 9 {
                v - 9
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The digits of `v` when it is only digits, spaces and dashes (as card numbers are written).
fn separated_digits(v: &str) -> Option<Vec<u8>> {
    if !v.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut digits = Vec::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '0'..='9' => digits.push(c as u8 - b'0'),
            ' ' | '-' => {}
            _ => return None,
        }
    }
    Some(digits)
}

/// Issuer ranges: (prefix length, low, high, min length, max length).
const IIN_RANGES: &[(usize, u32, u32, usize, usize)] = &[
    (1, 4, 4, 13, 13),           // Visa
    (1, 4, 4, 16, 16),           // Visa
    (1, 4, 4, 19, 19),           // Visa
    (2, 51, 55, 16, 16),         // Mastercard
    (4, 2221, 2720, 16, 16),     // Mastercard 2-series
    (2, 34, 34, 15, 15),         // American Express
    (2, 37, 37, 15, 15),         // American Express
    (4, 6011, 6011, 16, 19),     // Discover
    (3, 644, 649, 16, 19),       // Discover
    (2, 65, 65, 16, 19),         // Discover
    (4, 3528, 3589, 16, 19),     // JCB
    (3, 300, 305, 14, 19),       // Diners Club
    (2, 36, 36, 14, 19),         // Diners Club
    (2, 38, 39, 16, 19),         // Diners Club
    (2, 62, 62, 16, 19),         // UnionPay
    (4, 2200, 2204, 16, 19),     // Mir
    (4, 5018, 5018, 13, 19),     // Maestro
    (4, 5020, 5020, 13, 19),     // Maestro
    (4, 5038, 5038, 13, 19),     // Maestro
    (4, 5893, 5893, 13, 19),     // Maestro
    (4, 6304, 6304, 13, 19),     // Maestro
    (4, 6759, 6759, 13, 19),     // Maestro
    (4, 6761, 6763, 13, 19),     // Maestro
    (6, 622126, 622925, 16, 19), // Discover co-branded UnionPay
];

pub(crate) fn in_issuer_range(digits: &[u8]) -> bool {
    IIN_RANGES.iter().any(|&(plen, lo, hi, min, max)| {
        if digits.len() < min || digits.len() > max {
            return false;
        }
        let prefix = digits[..plen]
            .iter()
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d));
        (lo..=hi).contains(&prefix)
    })
}

/// Strong: 13–19 digits, Luhn-valid and in a known issuer range. Weak: Luhn-valid only (an
/// order number with a check digit looks like that, so it needs a card-like column name).
pub(crate) fn credit_card(v: &str) -> Match {
    let Some(digits) = separated_digits(v) else {
        return Match::No;
    };
    if !(13..=19).contains(&digits.len()) || !luhn(&digits) {
        return Match::No;
    }
    if in_issuer_range(&digits) {
        Match::Strong
    } else {
        Match::Weak
    }
}

/// IBAN lengths by country (SWIFT IBAN registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// ISO 13616: country code, the country's length, check digits making the number ≡ 1 mod 97.
pub(crate) fn iban(v: &str) -> Match {
    let s: String = v
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if s.len() < 15 || !s.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Match::No;
    }
    let expected = IBAN_LENGTHS
        .iter()
        .find(|(cc, _)| s.starts_with(cc))
        .map(|(_, len)| *len);
    if expected != Some(s.len()) || !s[2..4].chars().all(|c| c.is_ascii_digit()) {
        return Match::No;
    }
    let rotated = s[4..].chars().chain(s[..4].chars());
    let rem = rotated.fold(0u32, |acc, c| {
        let v = c.to_digit(36).expect("alphanumeric");
        if v >= 10 {
            (acc * 100 + v) % 97
        } else {
            (acc * 10 + v) % 97
        }
    });
    if rem == 1 {
        Match::Strong
    } else {
        Match::No
    }
}

/// A real address parse (std::net), with an optional port or CIDR suffix.
pub(crate) fn ip_address(v: &str) -> Match {
    let host = match v.split_once('/') {
        Some((addr, bits))
            if !bits.is_empty() && bits.len() <= 3 && bits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            addr
        }
        Some(_) => return Match::No,
        None => v,
    };
    if host.parse::<IpAddr>().is_ok() || host.parse::<SocketAddr>().is_ok() {
        Match::Strong
    } else {
        Match::No
    }
}

static PHONE_SHAPE: LazyLock<Regex> = LazyLock::new(|| re(r"^\+?[0-9(][0-9 ()./-]*[0-9]$"));
static PHONE_EXTENSION: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\s*(?:x|ext\.?|extension|;ext=)\s*[0-9]{1,5}$"));
static DATE_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:[0-9]{4}[-./][0-9]{1,2}[-./][0-9]{1,2}|[0-9]{1,2}[-./][0-9]{1,2}[-./][0-9]{2,4})$")
});
static THOUSANDS: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9]{1,3}(?:[ .,][0-9]{3})+$"));
static AMOUNT: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9]+[.,][0-9]{1,2}$"));
static AREA_CODE: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:\+[0-9]{1,3}[ -]?)?\([0-9]{2,5}\)"));

/// Strong: E.164 (`+` and 8–15 digits) or a grouped national format (`(415) 555-0132`,
/// `030 1234567`, `01 23 45 67 89`). Weak: 7–15 plain digits or an ambiguous grouping.
pub(crate) fn phone(v: &str) -> Match {
    let core = PHONE_EXTENSION.replace(v, "");
    let core = core.as_ref();
    if !PHONE_SHAPE.is_match(core) {
        return Match::No;
    }
    let digits = core.bytes().filter(u8::is_ascii_digit).count();
    if !(7..=15).contains(&digits)
        || DATE_LIKE.is_match(core)
        || AMOUNT.is_match(core)
        || ssn_dashed(core)
        || core.parse::<IpAddr>().is_ok()
        || credit_card(core) == Match::Strong
    {
        return Match::No;
    }
    if core.starts_with('+') {
        return if digits >= 8 {
            Match::Strong
        } else {
            Match::No
        };
    }
    if AREA_CODE.is_match(core) {
        return Match::Strong;
    }
    if THOUSANDS.is_match(core) {
        return Match::Weak;
    }
    phone_groups(core)
}

fn phone_groups(core: &str) -> Match {
    let groups: Vec<&str> = core
        .split([' ', '-', '.', '/'])
        .filter(|g| !g.is_empty())
        .collect();
    if groups
        .iter()
        .any(|g| !g.bytes().all(|b| b.is_ascii_digit()))
    {
        return Match::No;
    }
    match groups.as_slice() {
        [_] => Match::Weak,
        [first, _] if first.starts_with('0') && (2..=5).contains(&first.len()) => Match::Strong,
        [_, _] => Match::Weak,
        gs if gs.iter().all(|g| (2..=5).contains(&g.len())) => Match::Strong,
        _ => Match::No,
    }
}

static SSN_DASHED: LazyLock<Regex> = LazyLock::new(|| re(r"^([0-9]{3})-([0-9]{2})-([0-9]{4})$"));

fn ssn_dashed(v: &str) -> bool {
    SSN_DASHED.is_match(v)
}

/// US SSN validity: area not 000, 666 or 9xx; group not 00; serial not 0000; not a famous
/// specimen number.
fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    let specimen = [(78, 5, 1120), (219, 9, 9999), (123, 45, 6789)];
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && !specimen.contains(&(area, group, serial))
}

fn us_ssn(v: &str) -> Match {
    let (a, g, s, strong) = if let Some(c) = SSN_DASHED.captures(v) {
        let part = |i: usize| c.get(i).map_or("", |m| m.as_str());
        (part(1), part(2), part(3), true)
    } else if v.len() == 9 && v.bytes().all(|b| b.is_ascii_digit()) {
        (&v[..3], &v[3..5], &v[5..], false)
    } else {
        return Match::No;
    };
    let num = |x: &str| x.parse::<u32>().unwrap_or(0);
    match (ssn_valid(num(a), num(g), num(s)), strong) {
        (true, true) => Match::Strong,
        (true, false) => Match::Weak,
        _ => Match::No,
    }
}

static NINO: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]$")
});

/// UK National Insurance number (prefixes BG, GB, KN, NK, NT, TN and ZZ are never issued).
fn uk_nino(v: &str) -> Match {
    let upper = v.to_ascii_uppercase();
    match NINO.captures(&upper) {
        Some(c) if !["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].contains(&&c[1]) => Match::Strong,
        _ => Match::No,
    }
}

/// French NIR (numéro de sécurité sociale): 13 digits and a key = 97 − (number mod 97);
/// Corsican départements 2A/2B count as 19/18 for the key.
fn french_nir(v: &str) -> Match {
    let s: String = v
        .chars()
        .filter(|c| *c != ' ')
        .collect::<String>()
        .to_ascii_uppercase();
    if s.len() != 15 || !s.is_ascii() || !matches!(s.as_bytes()[0], b'1' | b'2') {
        return Match::No;
    }
    let body = s[..13].replacen("2A", "19", 1).replacen("2B", "18", 1);
    let (Ok(n), Ok(key)) = (body.parse::<u64>(), s[13..].parse::<u64>()) else {
        return Match::No;
    };
    let month = &s[3..5];
    let month_ok = matches!(month.parse::<u32>(), Ok(1..=12 | 20 | 30..=42 | 50..=99));
    if month_ok && key == 97 - n % 97 {
        Match::Strong
    } else {
        Match::No
    }
}

/// Spanish DNI (8 digits + check letter) and NIE (X/Y/Z + 7 digits + check letter).
fn spanish_id(v: &str) -> Match {
    const LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let s: String = v
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .collect::<String>()
        .to_ascii_uppercase();
    if s.len() != 9 || !s.is_ascii() {
        return Match::No;
    }
    let (num, letter) = s.split_at(8);
    let num = match num.as_bytes()[0] {
        b'X' => format!("0{}", &num[1..]),
        b'Y' => format!("1{}", &num[1..]),
        b'Z' => format!("2{}", &num[1..]),
        _ => num.to_string(),
    };
    match num.parse::<usize>() {
        Ok(n)
            if num.bytes().all(|b| b.is_ascii_digit())
                && letter.as_bytes()[0] == LETTERS[n % 23] =>
        {
            Match::Strong
        }
        _ => Match::No,
    }
}

static RVNR: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9]{2} ?[0-9]{6} ?[A-Z] ?[0-9]{3}$"));
/// Passport and identity-card numbers: 6–9 letters and digits with at least 4 digits.
static DOCUMENT_NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"^[A-Z0-9]{6,9}$"));

fn document_number(v: &str) -> bool {
    DOCUMENT_NUMBER.is_match(v) && v.bytes().filter(u8::is_ascii_digit).count() >= 4
}

/// Dutch BSN (nine digits passing the 11-test) — digits only, so weak.
fn dutch_bsn(v: &str) -> bool {
    if v.len() != 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: i64 = v
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let w = if i == 8 { -1 } else { 9 - i as i64 };
            w * i64::from(b - b'0')
        })
        .sum();
    sum % 11 == 0 && sum != 0
}

/// US SSN, UK NINO, French NIR and Spanish DNI/NIE are strong; German
/// Rentenversicherungsnummer shapes, Dutch BSNs (digits only) and passport-like document
/// numbers are weak.
pub(crate) fn national_id(v: &str) -> Match {
    let best = [us_ssn(v), uk_nino(v), french_nir(v), spanish_id(v)]
        .into_iter()
        .max()
        .unwrap_or(Match::No);
    let upper = v.to_ascii_uppercase();
    if best == Match::No && (RVNR.is_match(&upper) || dutch_bsn(v) || document_number(&upper)) {
        return Match::Weak;
    }
    best
}

/// Particles allowed in lower case inside a name (`Ludwig van Beethoven`).
const PARTICLES: &[&str] = &[
    "van", "von", "de", "der", "den", "da", "di", "del", "della", "du", "la", "le", "dos", "das",
    "y", "zu", "ten", "ter", "bin", "al",
];

fn name_word(w: &str) -> bool {
    if PARTICLES.contains(&w) {
        return true;
    }
    let mut chars = w.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let rest: Vec<char> = chars.collect();
    let initial = rest == ['.'];
    // `Dupont` and `DUPONT` (surnames are often upper-cased), not `dUPONT` or `X2`.
    first.is_uppercase()
        && (initial
            || (!rest.is_empty()
                && rest
                    .iter()
                    .all(|c| c.is_alphabetic() || matches!(c, '\'' | '-' | '’'))))
}

/// Strong: capitalised words (`Anna-Lena O'Brien`, `Smith, John`) one of which is a common
/// first name. Weak: the same shape without a known first name (surnames, but also cities).
pub(crate) fn person_name(v: &str) -> Match {
    let words: Vec<&str> = v
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() || words.len() > 4 || !words.iter().all(|w| name_word(w)) {
        return Match::No;
    }
    if words.first().is_some_and(|w| PARTICLES.contains(w)) {
        return Match::No;
    }
    let known = words
        .iter()
        .any(|w| w.split('-').any(|part| is_first_name(&part.to_lowercase())));
    if known {
        Match::Strong
    } else {
        Match::Weak
    }
}

const DATE_FORMATS: &[&str] = &[
    "%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%d/%m/%Y", "%Y/%m/%d", "%d-%m-%Y",
];

pub(crate) fn parse_date(v: &str) -> Option<NaiveDate> {
    // A timestamp at midnight (`1984-03-07T00:00:00Z`) is a date as stored by many drivers.
    let v = match v.get(..10) {
        Some(head) if v.len() > 10 && matches!(v.as_bytes()[10], b'T' | b' ') => head,
        _ => v,
    };
    DATE_FORMATS
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(v, f).ok())
}

/// A date implying an age of 0–120 on `today`.
pub(crate) fn birth_date(v: &str, today: NaiveDate) -> Match {
    match parse_date(v) {
        Some(d) if d <= today && today.year() - d.year() <= 120 => Match::Strong,
        _ => Match::No,
    }
}

static STREET_EN: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:^|,\s*)[0-9]{1,5}[a-z]?,?\s+(?:[\p{L}'.-]+\s+){1,4}(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|square|sq|terrace|parkway|pkwy|highway|hwy|circle|cir|crescent|close|row|gardens|grove|walk|trail)\b",
    )
});
static STREET_DE_NL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)[\p{L}-]*(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer|chaussee|straat|laan|plein|gracht|kade|steeg)\s+[0-9]{1,4}[a-z]?\b",
    )
});
static STREET_FR: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:^|,\s*)[0-9]{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|allee|impasse|quai|route|cours)\b",
    )
});
static STREET_ES_IT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:calle|c/|avenida|avda\.?|plaza|paseo|camino|carrer|via|viale|piazza|corso|vicolo|largo)\s+[\p{L} .'-]+,?\s*[0-9]{1,4}\b",
    )
});

/// Strong: a house number next to a street word (English, German, Dutch, French, Spanish,
/// Italian conventions); in English and French forms the number opens the value or follows a
/// comma (`Apt 4, 12 Main St`), so prose like `with 3 way straps` is no address.
/// Weak: digits and at least two words.
pub(crate) fn street_address(v: &str) -> Match {
    if [&STREET_EN, &STREET_DE_NL, &STREET_FR, &STREET_ES_IT]
        .iter()
        .any(|r| r.is_match(v))
    {
        return Match::Strong;
    }
    let words = v
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    if words >= 2 && v.chars().any(|c| c.is_ascii_digit()) {
        Match::Weak
    } else {
        Match::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_and_odd_values_never_panic() {
        let today = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        for v in [
            "",
            " ",
            "ü",
            "2RUEJEANJAURèS",
            "€€€€€€€€€",
            "12345678€",
            "X€€€€€€€L",
            "1è3456789012345",
            "DE€9",
            "+",
            "()",
            "--",
            "2024-13-45",
            "٣٤٥٦٧٨٩٠١٢٣",
            "🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂",
        ] {
            let _ = (
                email(v),
                credit_card(v),
                iban(v),
                ip_address(v),
                phone(v),
                national_id(v),
            );
            let _ = (person_name(v), birth_date(v, today), street_address(v));
        }
    }

    #[test]
    fn credit_cards_need_luhn_and_an_issuer_for_a_strong_match() {
        for pan in [
            "4111 1111 1111 1111",
            "5555-5555-5555-4444",
            "378282246310005",
            "6011111111111117",
            "2223003122003222",
            "3530111333300000",
        ] {
            assert_eq!(credit_card(pan), Match::Strong, "{pan}");
        }
        // Luhn-valid, but 9 is no issuer prefix: an order number with a check digit.
        assert_eq!(credit_card("9000000000000001"), Match::Weak);
        assert_eq!(credit_card("4111111111111112"), Match::No);
        assert_eq!(credit_card("411111111111"), Match::No);
        assert_eq!(credit_card("4111x1111111111111"), Match::No);
        // A 15-digit Visa-prefixed number is not a Visa length.
        assert!(!in_issuer_range(&[4; 15]));
    }

    #[test]
    fn iban_checks_country_length_and_mod_97() {
        assert_eq!(iban("DE89 3704 0044 0532 0130 00"), Match::Strong);
        assert_eq!(iban("GB82WEST12345698765432"), Match::Strong);
        assert_eq!(iban("fr1420041010050500013m02606"), Match::Strong);
        assert_eq!(iban("DE89 3704 0044 0532 0130 01"), Match::No);
        assert_eq!(iban("DE89 3704 0044 0532 0130 0"), Match::No);
        assert_eq!(iban("QQ89370400440532013000"), Match::No);
    }

    #[test]
    fn ip_addresses_parse_for_real() {
        for ok in [
            "192.168.1.10",
            "2001:db8::1",
            "::1",
            "10.0.0.1:8080",
            "10.0.0.0/8",
            "[::1]:443",
        ] {
            assert_eq!(ip_address(ok), Match::Strong, "{ok}");
        }
        for no in [
            "1.2.3",
            "256.1.1.1",
            "01.2.3.4",
            "12:30:45",
            "abc",
            "10.0.0.0/x",
        ] {
            assert_eq!(ip_address(no), Match::No, "{no}");
        }
    }

    #[test]
    fn phones_are_formatted_numbers_not_dates_amounts_or_ids() {
        for ok in [
            "+1 415 555 0132",
            "+4915123456789",
            "(415) 555-0132",
            "415-555-0132",
            "030 1234567",
            "01 23 45 67 89",
            "+44 20 7946 0958 ext. 12",
        ] {
            assert_eq!(phone(ok), Match::Strong, "{ok}");
        }
        assert_eq!(phone("4155550132"), Match::Weak);
        assert_eq!(phone("612 345 678"), Match::Weak);
        for no in [
            "2023-01-05",
            "12.05.2021",
            "123-45-6789",
            "1234567.89",
            "12345",
            "192.168.100.200",
            "SKU-555-0132",
            "-4155550132",
            "4111 1111 1111 1111",
        ] {
            assert_eq!(phone(no), Match::No, "{no}");
        }
    }

    #[test]
    fn national_ids_check_ranges_and_check_characters() {
        assert_eq!(national_id("536-22-1234"), Match::Strong);
        assert_eq!(national_id("536221234"), Match::Weak);
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "536-00-1234",
            "536-22-0000",
            "078-05-1120",
        ] {
            assert_eq!(national_id(bad), Match::No, "{bad}");
        }
        assert_eq!(national_id("AB 12 34 56 C"), Match::Strong);
        // Invalid NINO prefixes and DNI letters leave at most a weak document-number shape.
        assert_ne!(national_id("QQ123456C"), Match::Strong);
        assert_ne!(national_id("GB123456A"), Match::Strong);
        assert_eq!(national_id("1 85 05 78 006 084 91"), Match::Strong);
        assert_eq!(national_id("1 85 05 78 006 084 36"), Match::No);
        assert_eq!(national_id("12345678Z"), Match::Strong);
        assert_ne!(national_id("12345678A"), Match::Strong);
        assert_eq!(national_id("X1234567L"), Match::Strong);
        assert_eq!(national_id("65 170839 J 003"), Match::Weak);
        assert_eq!(national_id("111222333"), Match::Weak);
        assert_eq!(national_id("C01X00T47"), Match::Weak);
        assert_eq!(national_id("ABCDEF12"), Match::No);
    }

    #[test]
    fn emails_names_dates_and_addresses() {
        assert_eq!(email("anna.mueller+news@example.co.uk"), Match::Strong);
        for no in ["anna@", "@x.com", "a@b", "a..b@x.com", "john smith@x.com"] {
            assert_eq!(email(no), Match::No, "{no}");
        }
        assert_eq!(person_name("Anna-Lena O'Brien"), Match::Strong);
        assert_eq!(person_name("Smith, John"), Match::Strong);
        assert_eq!(person_name("Maria van der Berg"), Match::Strong);
        assert_eq!(person_name("Müller"), Match::Weak);
        assert_eq!(person_name("DUPONT"), Match::Weak);
        assert_eq!(person_name("dUPONT"), Match::No);
        assert_eq!(person_name("ACME Corp 2"), Match::No);
        assert_eq!(person_name("the quick brown fox"), Match::No);
        let today = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        assert_eq!(birth_date("1984-03-07", today), Match::Strong);
        assert_eq!(birth_date("07.03.1984", today), Match::Strong);
        assert_eq!(birth_date("1984-03-07T00:00:00Z", today), Match::Strong);
        assert_eq!(birth_date("1884-03-07", today), Match::No);
        assert_eq!(birth_date("2030-01-01", today), Match::No);
        assert_eq!(birth_date("1984", today), Match::No);
        for ok in [
            "221B Baker Street, London",
            "1600 Pennsylvania Ave NW",
            "Hauptstraße 12, 10115 Berlin",
            "Berliner Str. 5",
            "12 rue de la Paix, 75002 Paris",
            "Calle Mayor 14, Madrid",
            "Via Roma 3",
            "Keizersgracht 123",
        ] {
            assert_eq!(street_address(ok), Match::Strong, "{ok}");
        }
        assert_eq!(street_address("Apt 4, 12 Main St"), Match::Strong);
        assert_eq!(street_address("Paris"), Match::No);
        assert_eq!(street_address("Lamp with 3 way dimmer"), Match::Weak);
        assert_eq!(street_address("Order 12 shipped late"), Match::Weak);
    }
}
