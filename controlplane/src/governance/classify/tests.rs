use nexbii_crds::CustomRule as RuleSpec;

use super::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()
}

fn classifier(spec: &ClassificationSpec) -> Classifier {
    Classifier::new(spec).unwrap().with_reference_date(today())
}

fn col<'a>(table: &'a str, name: &'a str, values: &'a [String]) -> ColumnSample<'a> {
    ColumnSample {
        table,
        name,
        type_name: "text",
        values,
    }
}

fn strings(vs: &[&str]) -> Vec<String> {
    vs.iter().map(|s| s.to_string()).collect()
}

fn repeat(vs: &[&str], n: usize) -> Vec<String> {
    vs.iter().cycle().take(n).map(|s| s.to_string()).collect()
}

fn top(c: &Classifier, table: &str, name: &str, values: &[String]) -> Option<String> {
    c.classify(&col(table, name, values)).map(|c| c.detector)
}

fn rule(name: &str, column: Option<&str>, value: Option<&str>) -> RuleSpec {
    RuleSpec {
        name: name.into(),
        column_name_pattern: column.map(Into::into),
        value_pattern: value.map(Into::into),
        level: SensitivityLevel::Restricted,
        tags: vec!["hr".into()],
    }
}

#[test]
fn levels_follow_the_documented_mapping() {
    use BuiltinDetector::*;
    for d in [CreditCard, NationalId, Iban] {
        assert_eq!(builtin_level(d), SensitivityLevel::Restricted);
    }
    for d in [Email, Phone, PersonName, DateOfBirth, PostalAddress] {
        assert_eq!(builtin_level(d), SensitivityLevel::Confidential);
    }
    assert_eq!(builtin_level(IpAddress), SensitivityLevel::Internal);
    // Ids match the CRD's serde names, so policies and results use one vocabulary.
    for d in ALL_DETECTORS {
        let serde = serde_json::to_value(d).unwrap();
        assert_eq!(serde.as_str(), Some(detector_id(d)));
    }
}

#[test]
fn email_column_is_classified_with_evidence_but_no_values() {
    let c = classifier(&ClassificationSpec::default());
    let values = repeat(&["anna.mueller@example.com", "j.smith@example.org"], 500);
    let got = c
        .classify(&col("customers", "customer_email", &values))
        .unwrap();
    assert_eq!(got.detector, "email");
    assert_eq!(got.level, SensitivityLevel::Confidential);
    assert_eq!(got.tags, ["pii", "email"]);
    assert!(got.confidence > 0.95, "{got:?}");
    assert_eq!(
        got.evidence,
        "name matches email; 100% of 500 values are e-mail addresses"
    );
    assert!(!got.evidence.contains('@'));
}

#[test]
fn names_decide_when_values_are_few_or_missing() {
    let c = classifier(&ClassificationSpec::default());
    assert_eq!(top(&c, "t", "ssn", &[]).as_deref(), Some("nationalId"));
    assert_eq!(top(&c, "t", "EmailAddress", &[]).as_deref(), Some("email"));
    // Nine plain digits are an SSN only in a column named like one.
    let digits = strings(&["536221234", "412558890"]);
    assert_eq!(top(&c, "t", "ssn", &digits).as_deref(), Some("nationalId"));
    assert_eq!(top(&c, "t", "reading", &digits), None);
    // A weak hint alone is not enough.
    assert_eq!(top(&c, "t", "contact", &[]), None);
}

#[test]
fn values_dominate_a_misleading_name() {
    let c = classifier(&ClassificationSpec::default());
    let flags = repeat(&["yes", "no"], 200);
    assert_eq!(top(&c, "t", "email", &flags), None);
    let emails = repeat(&["a@example.com", "b@example.net"], 200);
    assert_eq!(top(&c, "t", "col_17", &emails).as_deref(), Some("email"));
}

#[test]
fn decoys_stay_unclassified() {
    let c = classifier(&ClassificationSpec::default());
    // Luhn-valid numbers with a card prefix, named like an order number.
    let visa_like = repeat(&["4111111111111111", "4012888888881881"], 100);
    assert_eq!(top(&c, "orders", "invoice_no", &visa_like), None);
    assert_eq!(
        top(&c, "payments", "card_number", &visa_like).as_deref(),
        Some("creditCard")
    );
    // Luhn-valid without issuer range or card-like name.
    let luhn_only = repeat(&["9000000000000001", "7000000000000002"], 100);
    assert_eq!(top(&c, "orders", "reference_code", &luhn_only), None);
    let versions = repeat(&["1.2.3.4", "2.0.10.1"], 100);
    assert_eq!(top(&c, "apps", "app_version", &versions), None);
    assert_eq!(
        top(&c, "logins", "client_ip", &versions).as_deref(),
        Some("ipAddress")
    );
    let ints = repeat(&["4155550132", "3125550199"], 100);
    assert_eq!(top(&c, "orders", "id", &ints), None);
    assert_eq!(
        top(&c, "orders", "quantity", &repeat(&["10115", "80331"], 100)),
        None
    );
    let cities = repeat(&["Paris", "London", "Berlin"], 100);
    assert_eq!(top(&c, "stores", "city", &cities), None);
    let created = repeat(&["2024-03-01T10:00:00Z", "2023-11-20T08:30:00Z"], 100);
    assert_eq!(top(&c, "orders", "created_at", &created), None);
    assert_eq!(
        top(&c, "people", "birth_date", &created).as_deref(),
        Some("dateOfBirth")
    );
}

#[test]
fn boolean_columns_are_never_pii() {
    let c = classifier(&ClassificationSpec::default());
    let values = repeat(&["true", "false"], 10);
    let sample = ColumnSample {
        table: "users",
        name: "email",
        type_name: "BOOLEAN",
        values: &values,
    };
    assert_eq!(c.classify(&sample), None);
}

#[test]
fn builtin_detector_list_limits_detection() {
    let spec = ClassificationSpec {
        builtin_detectors: vec![BuiltinDetector::Phone],
        ..Default::default()
    };
    let c = classifier(&spec);
    let emails = repeat(&["a@example.com"], 50);
    assert_eq!(top(&c, "t", "email", &emails), None);
    let phones = repeat(&["+49 30 1234567"], 50);
    assert_eq!(top(&c, "t", "mobile", &phones).as_deref(), Some("phone"));
}

#[test]
fn custom_rules_match_names_values_or_both() {
    let spec = ClassificationSpec {
        custom_rules: vec![
            rule("salary", Some("(?i)salary|gehalt"), None),
            rule("employeeNo", None, Some(r"^EMP-\d{6}$")),
            rule("badge", Some("^badge"), Some(r"^B\d{4}$")),
        ],
        ..Default::default()
    };
    let c = classifier(&spec);
    let got = c.classify(&col("hr", "base_Salary", &[])).unwrap();
    assert_eq!(got.detector, "custom:salary");
    assert_eq!(got.level, SensitivityLevel::Restricted);
    assert_eq!(got.tags, ["hr"]);
    assert_eq!(got.confidence, 0.9);

    // 80% of values must match: 4 of 5 does, 3 of 5 does not.
    let mut emp = repeat(&["EMP-000123"], 4);
    emp.push("n/a".into());
    let got = c.classify(&col("hr", "x", &emp)).unwrap();
    assert_eq!(got.detector, "custom:employeeNo");
    assert_eq!(got.evidence, "80% of 5 values match valuePattern");
    emp[0] = "none".into();
    assert_eq!(c.classify(&col("hr", "x", &emp)), None);
    // A value rule never matches an empty sample.
    assert!(c.classify_all(&col("hr", "x", &[])).is_empty());

    // Both patterns: both must match.
    let badges = repeat(&["B1234"], 10);
    assert_eq!(
        top(&c, "hr", "badge_id", &badges).as_deref(),
        Some("custom:badge")
    );
    assert_eq!(top(&c, "hr", "door", &badges), None);
    assert_eq!(top(&c, "hr", "badge_id", &repeat(&["X"], 10)), None);
}

#[test]
fn classify_all_lists_every_match_best_first() {
    let spec = ClassificationSpec {
        custom_rules: vec![rule("contactEmail", Some("email"), None)],
        ..Default::default()
    };
    let c = classifier(&spec);
    let values = repeat(&["a@example.com"], 100);
    let all = c.classify_all(&col("t", "contact_email", &values));
    let ids: Vec<&str> = all.iter().map(|c| c.detector.as_str()).collect();
    assert_eq!(ids, ["email", "custom:contactEmail"]);
    assert!(all[0].confidence >= all[1].confidence);
}

#[test]
fn bad_rules_are_refused_naming_the_field() {
    let bad = |rules: Vec<RuleSpec>| {
        Classifier::new(&ClassificationSpec {
            custom_rules: rules,
            ..Default::default()
        })
        .err()
        .unwrap()
    };
    let err = bad(vec![
        rule("a", Some("ok"), None),
        rule("b", None, Some("(unclosed")),
    ]);
    assert!(
        matches!(&err, ClassifyError::InvalidPattern { field, rule, .. }
            if field == "spec.classification.customRules[1].valuePattern" && rule == "b"),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .starts_with("spec.classification.customRules[1].valuePattern"));
    let err = bad(vec![rule("a", Some("[z-a]"), None)]);
    assert!(err.to_string().contains("customRules[0].columnNamePattern"));
    let err = bad(vec![rule("a", None, None)]);
    assert_eq!(
        err,
        ClassifyError::EmptyRule {
            field: "spec.classification.customRules[0]".into(),
            rule: "a".into()
        }
    );
    let err = bad(vec![rule("a", Some("x"), None), rule("a", Some("y"), None)]);
    assert!(matches!(err, ClassifyError::DuplicateRule { .. }));
    // A pattern whose program would be huge is refused rather than compiled.
    let err = bad(vec![rule("a", Some(r"\w{1000}{1000}"), None)]);
    assert!(matches!(err, ClassifyError::InvalidPattern { .. }));
}

#[test]
fn classification_serializes_in_camel_case() {
    let c = Classification {
        detector: "creditCard".into(),
        level: SensitivityLevel::Restricted,
        confidence: 0.97,
        tags: vec!["pii".into(), "pci".into()],
        evidence: "x".into(),
    };
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["level"], "restricted");
    assert_eq!(v["detector"], "creditCard");
}
