//! What a request did, gathered while it runs, and the middleware that appends one audit
//! entry per audited request once it is answered.
//!
//! Audited: every request with a mutating method (POST, PUT, PATCH, DELETE), the reads that
//! show or export data ([`AUDITED_READS`]), and any request that ran a query. The actor is
//! whoever the request authenticated as (the `Caller` extractor, or the login and share-link
//! handlers, tell [`actor`]); a request nobody could be identified for has no tenant and so no
//! log to go to (the request metrics still count it).
//!
//! The context travels in a task-local, so the query pipeline can add what it ran without
//! every handler passing it along.
use std::sync::{Arc, Mutex};

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderValue, Method},
    middleware::Next,
    response::Response,
};
use sha2::{Digest, Sha256};

use super::model::{EntryBody, Outcome, QueryNote};
use crate::{state::SharedState, store::TenantScope};

/// Reads that are audited although they change nothing: data shown or taken away.
pub const AUDITED_READS: &[(&str, &str)] = &[
    ("/api/v1/dashboards/{name}/data", "dashboards.view"),
    ("/api/v1/shared/{token}", "shares.open"),
    ("/api/v1/shared/{token}/data", "shares.view"),
    ("/api/v1/embed/{tenant}/dashboard", "embed.open"),
    ("/api/v1/embed/{tenant}/dashboard/data", "embed.view"),
    ("/api/v1/catalog/dictionary", "catalog.dictionary.export"),
    ("/api/v1/audit/export", "audit.export"),
    // The browser's return from the OpenID provider: where a single sign-on is decided.
    ("/api/v1/auth/oidc/callback", "auth.login"),
];

/// Queries listed per entry at most (a dashboard with more widgets notes how many were left
/// out), so one request cannot make an entry of unbounded size.
const MAX_QUERIES: usize = 50;

/// Who the request is from, once known.
#[derive(Clone, Debug)]
struct Who {
    tenant: TenantScope,
    actor: String,
    via: String,
}

#[derive(Default)]
struct Captured {
    who: Option<Who>,
    /// The admin acting as the actor (an impersonation session).
    impersonator: Option<String>,
    queries: Vec<QueryNote>,
    left_out: usize,
    /// The status the entry records when it is not the answer's (see [`refused`]).
    status: Option<u16>,
}

#[derive(Default)]
pub struct RequestAudit(Mutex<Captured>);

impl RequestAudit {
    fn with<R>(&self, f: impl FnOnce(&mut Captured) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

tokio::task_local! {
    static CURRENT: Arc<RequestAudit>;
}

/// Names the request's actor (the first call wins: the authenticated identity is never
/// replaced by something a handler learns later).
pub fn actor(tenant: &TenantScope, actor: &str, via: &str) {
    let _ = CURRENT.try_with(|c| {
        c.with(|c| {
            c.who.get_or_insert_with(|| Who {
                tenant: tenant.clone(),
                actor: actor.chars().take(200).collect(),
                via: via.to_string(),
            });
        })
    });
}

/// Records the request as refused with `status` although its answer is another (a browser
/// redirect that carries the refusal to a page, as the single sign-on callback does).
pub fn refused(status: u16) {
    let _ = CURRENT.try_with(|c| c.with(|c| c.status = Some(status)));
}

/// Names the admin acting as the request's actor (an impersonation session): the entry then
/// records both identities. The first call wins, as for [`actor`].
pub fn impersonator(by: &str) {
    let _ = CURRENT.try_with(|c| {
        c.with(|c| {
            c.impersonator
                .get_or_insert_with(|| by.chars().take(200).collect());
        })
    });
}

/// Notes a query the request ran (outside a request — background work — nothing happens, and
/// the note is not even made).
pub fn query(note: impl FnOnce() -> QueryNote) {
    let _ = CURRENT.try_with(|c| {
        c.with(|c| {
            if c.queries.len() < MAX_QUERIES {
                c.queries.push(note());
            } else {
                c.left_out += 1;
            }
        })
    });
}

/// `<area>.<verb>` for a route: the literal path segments after `/api/v1` joined by dots, with
/// the verb from the method — or, for `POST …/{id}/<verb>` and `POST /…/<verb>` routes whose
/// last segment names an action, that segment.
pub fn action_of(method: &Method, template: &str) -> String {
    if let Some((_, a)) = AUDITED_READS.iter().find(|(t, _)| *t == template) {
        return (*a).to_string();
    }
    if template == "/api/v1/auth/login/mfa" {
        // The second step of a login.
        return "auth.login.mfa".into();
    }
    let segs: Vec<&str> = template
        .trim_start_matches("/api/v1/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let literal: Vec<&str> = segs
        .iter()
        .copied()
        .filter(|s| !s.starts_with('{'))
        .collect();
    let last_is_param = segs.last().is_some_and(|s| s.starts_with('{'));
    const VERBS: &[&str] = &[
        "login", "logout", "run", "export", "test", "sync", "verify", "approve", "reject",
        "cancel", "rotate", "read", "read-all", "classify", "analyze", "revoke", "publish",
        "enroll", "confirm", "disable", "unlock", "erase", "import", "bulk", "exchange",
    ];
    let verb = match *method {
        Method::POST if !last_is_param && literal.len() > 1 => {
            match literal.last().filter(|s| VERBS.contains(s)) {
                Some(v) => {
                    let area = literal[..literal.len() - 1].join(".");
                    return format!("{area}.{v}");
                }
                None => "create",
            }
        }
        Method::POST => "create",
        Method::PUT | Method::PATCH => "update",
        Method::DELETE => "delete",
        _ => "read",
    };
    format!("{}.{verb}", literal.join("."))
}

/// The request path with share tokens (bearer secrets) replaced by a digest that tells links
/// apart without opening them.
pub fn target_of(template: &str, path: &str) -> String {
    if !template.contains("{token}") {
        return path.to_string();
    }
    template
        .split('/')
        .zip(path.split('/'))
        .map(|(t, p)| {
            if t == "{token}" {
                format!("token:{}", &hex::encode(Sha256::digest(p.as_bytes()))[..12])
            } else {
                p.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A client-sent request id is kept when it is short and plain; otherwise one is made.
fn request_id(req: &Request) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 100
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        })
        .map(str::to_string)
        .unwrap_or_else(crate::crypto::random_id)
}

/// The middleware: runs the request inside its audit context, then hands the entry to the
/// audit writer (readers of the log on this instance flush its queue first, so a client that
/// saw the answer finds the entry). Every answer carries `X-Request-Id`, the id the entry is
/// filed under.
pub async fn record(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let Some(template) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
    else {
        return next.run(req).await;
    };
    if matches!(template.as_str(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let rid = request_id(&req);
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let client =
        crate::auth::guard::client_addr(&state.settings.trusted_proxies, peer, req.headers());
    let ctx = Arc::new(RequestAudit::default());
    let mut resp = CURRENT.scope(ctx.clone(), next.run(req)).await;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let captured = ctx.with(std::mem::take);
    let mutating = matches!(
        method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let audited = mutating
        || !captured.queries.is_empty()
        || AUDITED_READS.iter().any(|(t, _)| *t == template);
    let Some(who) = captured.who.filter(|_| audited) else {
        return resp;
    };
    let status = captured.status.unwrap_or_else(|| resp.status().as_u16());
    let mut queries = captured.queries;
    if captured.left_out > 0 {
        queries.push(QueryNote {
            datasource: String::new(),
            fingerprint: format!("({} more queries not listed)", captured.left_out),
            rows: None,
            masked: Vec::new(),
            outcome: "omitted".into(),
        });
    }
    let body = EntryBody {
        seq: 0,
        at: chrono::Utc::now(),
        actor: who.actor,
        actor_ref: String::new(),
        via: who.via,
        impersonator: captured.impersonator,
        impersonator_ref: None,
        action: action_of(&method, &template),
        target: crate::auth::privacy::erase_target(&state, &who.tenant, &template, &path)
            .unwrap_or_else(|| target_of(&template, &path)),
        outcome: Outcome::of_status(status),
        status,
        client: client.map(|c| c.to_string()),
        request_id: rid,
        queries,
    };
    // Queued for the instance's audit writer (see `log::start_writer`): the answer does not
    // wait for the store. A failure to append is loud instead (log and
    // `nexbii_audit_append_failures_total`, worth an alert on any increase).
    state.audit.submit(&state, &who.tenant, body).await;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_name_the_area_and_the_verb() {
        let a = |m: Method, t: &str| action_of(&m, t);
        assert_eq!(a(Method::POST, "/api/v1/dashboards"), "dashboards.create");
        assert_eq!(
            a(Method::PUT, "/api/v1/dashboards/{name}"),
            "dashboards.update"
        );
        assert_eq!(
            a(Method::DELETE, "/api/v1/dashboards/{name}"),
            "dashboards.delete"
        );
        assert_eq!(a(Method::POST, "/api/v1/auth/login"), "auth.login");
        assert_eq!(
            a(Method::POST, "/api/v1/approvals/{id}/approve"),
            "approvals.approve"
        );
        assert_eq!(a(Method::POST, "/api/v1/queries/run"), "queries.run");
        assert_eq!(
            a(Method::POST, "/api/v1/queries/{id}/export"),
            "queries.export"
        );
        assert_eq!(
            a(Method::POST, "/api/v1/admin/restores"),
            "admin.restores.create"
        );
        assert_eq!(
            a(
                Method::PATCH,
                "/api/v1/catalog/datasources/{name}/tables/{table}"
            ),
            "catalog.datasources.tables.update"
        );
        assert_eq!(a(Method::GET, "/api/v1/shared/{token}/data"), "shares.view");
        assert_eq!(a(Method::GET, "/api/v1/audit/export"), "audit.export");
    }

    #[test]
    fn share_tokens_never_reach_the_target() {
        let t = target_of(
            "/api/v1/shared/{token}/data",
            "/api/v1/shared/s3cr3t-token/data",
        );
        assert!(!t.contains("s3cr3t"), "{t}");
        assert!(
            t.starts_with("/api/v1/shared/token:") && t.ends_with("/data"),
            "{t}"
        );
        assert_eq!(
            t,
            target_of(
                "/api/v1/shared/{token}/data",
                "/api/v1/shared/s3cr3t-token/data"
            ),
            "stable: the same link gives the same target"
        );
        assert_eq!(
            target_of("/api/v1/dashboards/{name}", "/api/v1/dashboards/x"),
            "/api/v1/dashboards/x"
        );
    }

    #[test]
    fn outcomes_follow_the_status() {
        assert_eq!(Outcome::of_status(201), Outcome::Success);
        assert_eq!(Outcome::of_status(401), Outcome::Denied);
        assert_eq!(Outcome::of_status(429), Outcome::Denied);
        assert_eq!(Outcome::of_status(409), Outcome::Failure);
        assert_eq!(Outcome::of_status(500), Outcome::Failure);
    }
}
