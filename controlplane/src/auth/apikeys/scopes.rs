//! API-key scopes and the one table that says which scope each route needs. Pure: no I/O.
//!
//! A scope is `<area>:<access>` (`datasources:read`, `queries:write`), with `*` for any area
//! (`*:read`) or any access (`admin:*`), or `*` alone for everything. `write` includes `read`
//! (a key that may change a dashboard may also read it, as it needs its `ETag`).
//!
//! Which scope a request needs is decided in one place, [`route_rule`], from the matched route
//! template and the method: the template's first segments name the area ([`ROUTE_AREAS`]);
//! `GET`/`HEAD`/`OPTIONS` need `read`, every other method `write`. A route the table does not
//! know is refused to keys (fail closed), and a unit test fails when a route of the OpenAPI
//! document has no entry.
use std::fmt;

use axum::http::Method;

use crate::auth::Role;

/// The areas a key's scopes are granted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    Datasources,
    Queries,
    Dashboards,
    Catalog,
    Lineage,
    Approvals,
    Admin,
    Audit,
    /// Minting embed tokens (`embed:write`): a host application's backend.
    Embed,
}

impl Area {
    pub const ALL: [Area; 9] = [
        Self::Datasources,
        Self::Queries,
        Self::Dashboards,
        Self::Catalog,
        Self::Lineage,
        Self::Approvals,
        Self::Admin,
        Self::Audit,
        Self::Embed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Datasources => "datasources",
            Self::Queries => "queries",
            Self::Dashboards => "dashboards",
            Self::Catalog => "catalog",
            Self::Lineage => "lineage",
            Self::Approvals => "approvals",
            Self::Admin => "admin",
            Self::Audit => "audit",
            Self::Embed => "embed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub const ALL: [Access; 2] = [Self::Read, Self::Write];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }

    /// `read` for methods that change nothing, `write` for the others.
    pub fn of(method: &Method) -> Self {
        if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
            Self::Read
        } else {
            Self::Write
        }
    }
}

/// What a request needs: an area's scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Need {
    pub area: Area,
    pub access: Access,
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.area.as_str(), self.access.as_str())
    }
}

/// One parsed scope; `None` is the wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    pub area: Option<Area>,
    pub access: Option<Access>,
}

impl Scope {
    /// Parses `area:access`, `*:access`, `area:*` or `*`.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "*" {
            return Some(Self {
                area: None,
                access: None,
            });
        }
        let (area, access) = s.split_once(':')?;
        let area = match area {
            "*" => None,
            a => Some(Area::parse(a)?),
        };
        let access = match access {
            "*" => None,
            "read" => Some(Access::Read),
            "write" => Some(Access::Write),
            _ => return None,
        };
        Some(Self { area, access })
    }

    pub fn grants(&self, need: Need) -> bool {
        self.area.is_none_or(|a| a == need.area)
            && match self.access {
                None => true,
                Some(Access::Write) => true,
                Some(Access::Read) => need.access == Access::Read,
            }
    }
}

/// Whether any of `scopes` grants `need`.
pub fn granted(scopes: &[Scope], need: Need) -> bool {
    scopes.iter().any(|s| s.grants(need))
}

/// Every (area, access) pair.
fn every_need() -> impl Iterator<Item = Need> {
    Area::ALL.into_iter().flat_map(|area| {
        Access::ALL
            .into_iter()
            .map(move |access| Need { area, access })
    })
}

/// The most a role can use: a key's scopes are checked against this when it is created, and
/// intersected with it on every request (a key whose owner was demoted loses what the new role
/// lacks). The role still decides inside each endpoint, so this only keeps keys honest about
/// what they can do.
pub fn role_allows(role: Role, need: Need) -> bool {
    use Access::*;
    use Area::*;
    match role {
        Role::Admin => true,
        Role::Editor => !matches!(need.area, Admin | Audit),
        // Viewers read; they also run and export saved queries and take part in approvals,
        // which are `POST`s. Lineage is for editors.
        Role::Viewer => matches!(
            (need.area, need.access),
            (
                Datasources | Queries | Dashboards | Catalog | Approvals,
                Read
            ) | (Queries | Approvals, Write)
        ),
    }
}

/// Whether everything `scope` grants is within what `role` allows.
pub fn within_role(scope: &Scope, role: Role) -> bool {
    every_need()
        .filter(|n| scope.grants(*n))
        .all(|n| role_allows(role, n))
}

/// Whether everything `scope` grants is granted by `by` too (a key making a key).
pub fn within_scopes(scope: &Scope, by: &[Scope]) -> bool {
    every_need()
        .filter(|n| scope.grants(*n))
        .all(|n| granted(by, n))
}

/// What a route asks of a caller, as far as API keys are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteRule {
    /// No authentication (login, health, the OpenAPI document, share links): a key sent
    /// along is ignored.
    Public,
    /// Any valid key of the caller (who am I).
    AnyKey,
    /// The operator's token only: keys are refused.
    OperatorOnly,
    /// A key needs this scope.
    Scoped(Area),
}

/// Route template prefixes (whole segments) and what they need; the longest match wins.
pub const ROUTE_AREAS: &[(&str, RouteRule)] = {
    use Area::*;
    use RouteRule::*;
    &[
        ("/healthz", Public),
        ("/readyz", Public),
        ("/metrics", Public),
        ("/api/v1/openapi.json", Public),
        // The password step and the second step of a login (a challenge, not a credential).
        ("/api/v1/auth/login", Public),
        ("/api/v1/auth/login/mfa", Public),
        // Single sign-on: the redirects and the grant exchange happen before any credential.
        ("/api/v1/auth/oidc", Public),
        ("/api/v1/shared", Public),
        // Embedded dashboards: the embed token is the credential, checked by the handler.
        ("/api/v1/embed", Public),
        ("/embed/{tenant}", Public),
        // Shown on the login page, before anyone signs in.
        ("/api/v1/branding", Public),
        // What a problem body's `type` URI names: public like the errors themselves.
        ("/problems", Public),
        ("/api/v1/auth/me", AnyKey),
        // What is on for the caller: every client may ask.
        ("/api/v1/features", AnyKey),
        // Sessions and logout: account security, like users and keys themselves.
        ("/api/v1/auth", Scoped(Admin)),
        ("/api/v1/apikeys", Scoped(Admin)),
        ("/api/v1/users", Scoped(Admin)),
        ("/api/v1/tenant", Scoped(Admin)),
        ("/api/v1/admin", Scoped(Admin)),
        ("/api/v1/backup", Scoped(Admin)),
        ("/api/v1/webhooks", Scoped(Admin)),
        ("/api/v1/audit", Scoped(Audit)),
        ("/api/v1/datasources", Scoped(Datasources)),
        ("/api/v1/queries", Scoped(Queries)),
        // Insights run a statement like a query run does.
        ("/api/v1/insights", Scoped(Queries)),
        ("/api/v1/dashboards", Scoped(Dashboards)),
        // Share links of dashboards and saved queries: how dashboards reach other people.
        ("/api/v1/shares", Scoped(Dashboards)),
        ("/api/v1/embed/tokens", Scoped(Embed)),
        ("/api/v1/catalog", Scoped(Catalog)),
        ("/api/v1/governance", Scoped(Catalog)),
        ("/api/v1/lineage", Scoped(Lineage)),
        ("/api/v1/approvals", Scoped(Approvals)),
        // The inbox carries approval requests and decisions first of all.
        ("/api/v1/notifications", Scoped(Approvals)),
        ("/api/v1/provisioning", OperatorOnly),
    ]
};

/// The rule of a route template; `None` when the table has no entry (keys are refused).
pub fn route_rule(template: &str) -> Option<RouteRule> {
    ROUTE_AREAS
        .iter()
        .filter(|(prefix, _)| {
            template
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, rule)| *rule)
}

/// The scope a key needs for `method` on `template`, when the route is scoped.
pub fn need_of(template: &str, method: &Method) -> Option<Need> {
    match route_rule(template)? {
        RouteRule::Scoped(area) => Some(Need {
            area,
            access: Access::of(method),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Scope {
        Scope::parse(x).unwrap()
    }
    fn need(area: Area, access: Access) -> Need {
        Need { area, access }
    }

    #[test]
    fn scopes_parse_and_match_with_wildcards() {
        for bad in [
            "",
            "datasource:read",
            "queries",
            "queries:",
            ":read",
            "queries:delete",
            "**",
            "*:*:*",
        ] {
            assert!(Scope::parse(bad).is_none(), "{bad}");
        }
        let dr = need(Area::Datasources, Access::Read);
        let dw = need(Area::Datasources, Access::Write);
        let qr = need(Area::Queries, Access::Read);
        assert!(s("datasources:read").grants(dr) && !s("datasources:read").grants(dw));
        assert!(s("datasources:write").grants(dr) && s("datasources:write").grants(dw));
        assert!(!s("datasources:write").grants(qr));
        assert!(s("*:read").grants(dr) && s("*:read").grants(qr) && !s("*:read").grants(dw));
        assert!(s("datasources:*").grants(dw) && !s("datasources:*").grants(qr));
        assert!(s("*").grants(dw) && s("*:*").grants(need(Area::Audit, Access::Write)));
        assert!(granted(&[s("queries:read"), s("datasources:write")], dw));
        assert!(!granted(&[], dr));
    }

    #[test]
    fn roles_bound_what_a_key_may_hold() {
        assert!(within_role(&s("*"), Role::Admin));
        assert!(!within_role(&s("*"), Role::Editor));
        assert!(within_role(&s("dashboards:*"), Role::Editor));
        assert!(!within_role(&s("admin:read"), Role::Editor));
        assert!(
            !within_role(&s("*:read"), Role::Viewer),
            "admin:read is in *:read"
        );
        assert!(within_role(&s("queries:write"), Role::Viewer));
        assert!(!within_role(&s("dashboards:write"), Role::Viewer));
        assert!(!within_role(&s("lineage:read"), Role::Viewer));
        assert!(within_role(&s("embed:write"), Role::Editor));
        assert!(!within_role(&s("embed:write"), Role::Viewer));
        let by = [s("dashboards:write"), s("queries:read")];
        assert!(within_scopes(&s("dashboards:read"), &by));
        assert!(!within_scopes(&s("queries:write"), &by));
        assert!(!within_scopes(&s("*:read"), &by));
    }

    #[test]
    fn routes_map_by_whole_segments_longest_first() {
        use RouteRule::*;
        assert_eq!(route_rule("/api/v1/auth/login"), Some(Public));
        assert_eq!(route_rule("/api/v1/auth/me"), Some(AnyKey));
        assert_eq!(
            route_rule("/api/v1/auth/sessions/{id}"),
            Some(Scoped(Area::Admin))
        );
        assert_eq!(
            route_rule("/api/v1/catalog/datasources/{name}/sync"),
            Some(Scoped(Area::Catalog))
        );
        assert_eq!(route_rule("/api/v1/shared/{token}/data"), Some(Public));
        assert_eq!(
            route_rule("/api/v1/shares/{id}"),
            Some(Scoped(Area::Dashboards))
        );
        assert_eq!(
            route_rule("/api/v1/embed/tokens"),
            Some(Scoped(Area::Embed))
        );
        assert_eq!(
            route_rule("/api/v1/embed/{tenant}/dashboard/data"),
            Some(Public)
        );
        assert_eq!(route_rule("/api/v1/queriesx"), None, "whole segments only");
        assert_eq!(route_rule("/api/v1/something-new"), None);
        assert_eq!(
            need_of("/api/v1/queries/{id}/run", &Method::POST),
            Some(need(Area::Queries, Access::Write))
        );
        assert_eq!(
            need_of("/api/v1/dashboards/{name}", &Method::GET),
            Some(need(Area::Dashboards, Access::Read))
        );
        assert_eq!(need_of("/healthz", &Method::GET), None);
    }

    /// Every operation of the OpenAPI document has an entry in the table: a new route under a
    /// new prefix fails here until it is given an area (and, undocumented, keys are refused on
    /// it at run time).
    #[test]
    fn every_documented_route_has_a_rule() {
        let doc = crate::http::openapi::document();
        let mut missing = Vec::new();
        for path in doc.paths.paths.keys() {
            if route_rule(path).is_none() {
                missing.push(path.clone());
            }
        }
        for ops in ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
            assert!(route_rule(ops).is_some(), "{ops}");
        }
        assert!(
            missing.is_empty(),
            "routes without an API-key area: {missing:?}"
        );
    }
}
