//! Built-in detectors: how each one weighs its column-name signal against the share of sampled
//! values its validator accepts.
//!
//! Confidence: with `n` sampled values of which a fraction `f` match, values carry the weight
//! `w = n / (n + 5)` and the name the rest: `w·f + (1−w)·name`, where a strong name hint scores
//! 0.9 and a weak one 0.55. When both agree (a hint and `f ≥ 0.6`), the confidence moves half of
//! `name` of the way to 1. With no values the name alone gives at most 0.72. So 50 values
//! decide by themselves (w ≈ 0.91), while three values leave the name in charge.
use chrono::NaiveDate;
use nexbii_crds::BuiltinDetector;

use super::{
    names::{self, NameSignal, NameTokens},
    validators::{self, Match},
};

/// What one detector found in one column.
#[derive(Clone, Debug)]
pub(crate) struct Finding {
    pub detector: BuiltinDetector,
    pub confidence: f64,
    pub name: NameSignal,
    /// Values examined and values counted as matches.
    pub sampled: usize,
    pub matched: usize,
}

/// How a detector uses names.
struct Policy {
    /// Whether a name veto stops value-only detection (no veto for e-mail addresses and IBANs,
    /// whose formats are unambiguous).
    honours_veto: bool,
    /// The name signal at which weak value matches start to count.
    weak_values_from: NameSignal,
    /// Without a name hint: `None` = values alone never classify (dates of birth, names);
    /// `Some(f)` = values alone classify only when at least `f` of them match strongly.
    values_alone: Option<f64>,
}

fn policy(d: BuiltinDetector) -> Policy {
    use BuiltinDetector::*;
    let (honours_veto, weak_values_from, values_alone) = match d {
        Email | Iban => (false, NameSignal::Weak, Some(0.0)),
        Phone | CreditCard | NationalId | IpAddress => (true, NameSignal::Weak, Some(0.0)),
        PersonName => (true, NameSignal::Strong, None),
        DateOfBirth => (true, NameSignal::Weak, None),
        PostalAddress => (true, NameSignal::Weak, Some(0.9)),
    };
    Policy {
        honours_veto,
        weak_values_from,
        values_alone,
    }
}

pub(crate) fn matches(d: BuiltinDetector, v: &str, today: NaiveDate) -> Match {
    use BuiltinDetector::*;
    match d {
        Email => validators::email(v),
        Phone => validators::phone(v),
        CreditCard => validators::credit_card(v),
        NationalId => validators::national_id(v),
        IpAddress => validators::ip_address(v),
        Iban => validators::iban(v),
        PersonName => validators::person_name(v),
        DateOfBirth => validators::birth_date(v, today),
        PostalAddress => validators::street_address(v),
    }
}

/// Runs detector `d` over a column: its name signal, then its validator over the values.
pub(crate) fn evaluate(
    d: BuiltinDetector,
    column: &NameTokens,
    table: &NameTokens,
    values: &[&str],
    today: NaiveDate,
) -> Finding {
    let p = policy(d);
    let name = names::signal(d, column, table);
    let threshold = if name >= p.weak_values_from {
        Match::Weak
    } else {
        Match::Strong
    };
    let matched = values
        .iter()
        .filter(|v| matches(d, v, today) >= threshold)
        .count();
    let confidence = confidence(&p, name, values.len(), matched);
    Finding {
        detector: d,
        confidence,
        name,
        sampled: values.len(),
        matched,
    }
}

fn confidence(p: &Policy, name: NameSignal, n: usize, matched: usize) -> f64 {
    let hinted = name >= NameSignal::Weak;
    if name == NameSignal::Veto && p.honours_veto {
        return 0.0;
    }
    let frac = if n == 0 {
        0.0
    } else {
        matched as f64 / n as f64
    };
    if !hinted {
        match p.values_alone {
            None => return 0.0,
            Some(min) if frac < min => return 0.0,
            Some(_) => {}
        }
    }
    let name_score = match name {
        NameSignal::Strong => 0.9,
        NameSignal::Weak => 0.55,
        NameSignal::None | NameSignal::Veto => 0.0,
    };
    if n == 0 {
        return name_score * 0.8;
    }
    let w = n as f64 / (n as f64 + 5.0);
    let mut c = w * frac + (1.0 - w) * name_score;
    if hinted && frac >= 0.6 {
        c += (1.0 - c) * 0.5 * name_score;
    }
    // Values-only postal addresses stay below a hinted column's confidence.
    if !hinted && p.values_alone.is_some_and(|min| min > 0.0) {
        c *= 0.85;
    }
    c.clamp(0.0, 1.0)
}

/// What a detector's validator accepts, for evidence texts.
pub(crate) fn value_noun(d: BuiltinDetector) -> &'static str {
    use BuiltinDetector::*;
    match d {
        Email => "e-mail addresses",
        Phone => "phone numbers",
        CreditCard => "card numbers (Luhn-valid, issuer range)",
        NationalId => "national id numbers",
        IpAddress => "IP addresses",
        Iban => "IBANs (valid checksum)",
        PersonName => "person names",
        DateOfBirth => "dates implying an age of 0-120",
        PostalAddress => "street addresses",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(d: BuiltinDetector, name: NameSignal, n: usize, m: usize) -> f64 {
        confidence(&policy(d), name, n, m)
    }

    #[test]
    fn values_dominate_with_enough_samples() {
        use BuiltinDetector::*;
        // 500 values that are all e-mails classify without any name hint...
        assert!(conf(Email, NameSignal::None, 500, 500) > 0.95);
        // ...and a strong name cannot rescue 50 values that are not.
        assert!(conf(Email, NameSignal::Strong, 50, 0) < 0.1);
        // With no values the name alone is enough, but never certain.
        let named = conf(Email, NameSignal::Strong, 0, 0);
        assert!(named > 0.5 && named < 0.8);
        // Three values: the name still carries the decision.
        assert!(conf(Phone, NameSignal::Strong, 3, 2) > 0.7);
        // Agreement beats either alone.
        assert!(conf(Phone, NameSignal::Strong, 50, 50) > conf(Phone, NameSignal::None, 50, 50));
    }

    #[test]
    fn vetoes_and_name_requirements() {
        use BuiltinDetector::*;
        assert_eq!(conf(IpAddress, NameSignal::Veto, 100, 100), 0.0);
        assert!(conf(Email, NameSignal::Veto, 100, 100) > 0.9);
        assert_eq!(conf(DateOfBirth, NameSignal::None, 100, 100), 0.0);
        assert_eq!(conf(PersonName, NameSignal::None, 100, 100), 0.0);
        assert_eq!(conf(PostalAddress, NameSignal::None, 100, 80), 0.0);
        let alone = conf(PostalAddress, NameSignal::None, 100, 95);
        assert!(alone > 0.5 && alone < conf(PostalAddress, NameSignal::Strong, 100, 95));
    }
}
