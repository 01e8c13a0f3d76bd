//! Pure decisions of a single sign-on: which role the provider's groups give, which username
//! a claim gives, and where the browser may be sent back to.
use nexbii_crds::tenant::{OidcSettings, UserRole};
use serde_json::{Map, Value};

use crate::auth::Role;

pub fn role_of(r: UserRole) -> Role {
    match r {
        UserRole::Viewer => Role::Viewer,
        UserRole::Editor => Role::Editor,
        UserRole::Admin => Role::Admin,
    }
}

/// The groups in a claim: a list of strings, or one string (some providers send a lone group
/// that way); anything else counts as no group.
pub fn groups(claim: Option<&Value>) -> Vec<String> {
    match claim {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The role for these groups: the highest role among the mapped groups the user is in, else the
/// default role; `None` (no login) when neither applies.
pub fn role_for(cfg: &OidcSettings, groups: &[String]) -> Option<Role> {
    cfg.role_mapping
        .iter()
        .filter(|m| groups.iter().any(|g| g == &m.group))
        .map(|m| role_of(m.role))
        .max()
        .or(cfg.default_role.map(role_of))
}

/// The username a claim gives, when it is one the instance accepts (the same rule as users made
/// through the API); a claim that is no string or breaks the rule refuses the login rather than
/// being rewritten into someone else's name.
pub fn username(claims: &Map<String, Value>, claim: &str) -> Option<String> {
    let u = claims.get(claim)?.as_str()?;
    crate::auth::users::check_username(u).ok()?;
    Some(u.to_string())
}

/// Where the console may be sent after the login: a path on this instance only (an absolute
/// or scheme-relative address would make the login an open redirect). Anything else: `/`.
pub fn safe_return_to(r: Option<&str>) -> String {
    match r {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.contains('#')
                && p.len() <= 1000
                && !p.chars().any(char::is_control) =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(default_role: Option<UserRole>) -> OidcSettings {
        serde_json::from_value(json!({
            "issuerUrl": "https://id.example",
            "clientId": "nexbii",
            "clientSecretRef": {"name": "oidc", "key": "secret"},
            "roleMapping": [
                {"group": "bi-admins", "role": "admin"},
                {"group": "analysts", "role": "editor"},
                {"group": "staff", "role": "viewer"},
            ],
            "defaultRole": default_role,
        }))
        .unwrap()
    }

    #[test]
    fn the_highest_mapped_role_wins_and_the_default_applies_only_without_one() {
        let c = cfg(None);
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(role_for(&c, &g(&["staff", "analysts"])), Some(Role::Editor));
        assert_eq!(role_for(&c, &g(&["staff", "bi-admins"])), Some(Role::Admin));
        assert_eq!(role_for(&c, &g(&["staff"])), Some(Role::Viewer));
        // No mapped group and no default role: refused.
        assert_eq!(role_for(&c, &g(&["other"])), None);
        assert_eq!(role_for(&c, &[]), None);
        let c = cfg(Some(UserRole::Viewer));
        assert_eq!(role_for(&c, &g(&["other"])), Some(Role::Viewer));
        // A mapped group is not lowered by the default.
        assert_eq!(role_for(&c, &g(&["analysts"])), Some(Role::Editor));
        // Group names match exactly.
        assert_eq!(role_for(&cfg(None), &g(&["BI-ADMINS"])), None);
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = cfg(None);
        assert_eq!(c.scopes, ["openid", "profile", "email", "groups"]);
        assert_eq!(c.username_claim, "preferred_username");
        assert_eq!(c.groups_claim, "groups");
    }

    #[test]
    fn groups_come_from_a_list_or_one_string() {
        assert_eq!(groups(Some(&json!(["a", 1, "b"]))), ["a", "b"]);
        assert_eq!(groups(Some(&json!("a"))), ["a"]);
        assert!(groups(Some(&json!({"a": 1}))).is_empty());
        assert!(groups(None).is_empty());
    }

    #[test]
    fn usernames_follow_the_instance_rule() {
        let claims = json!({"preferred_username": "ann.lee@acme", "bad": "../x", "n": 5});
        let claims = claims.as_object().unwrap();
        assert_eq!(
            username(claims, "preferred_username").as_deref(),
            Some("ann.lee@acme")
        );
        assert_eq!(username(claims, "bad"), None);
        assert_eq!(username(claims, "n"), None);
        assert_eq!(username(claims, "missing"), None);
    }

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(
            safe_return_to(Some("/dashboards/sales?x=1")),
            "/dashboards/sales?x=1"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "dashboards",
            "/a#grant=x",
            "/a\nb",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}
