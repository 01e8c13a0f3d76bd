//! Account lockout (the tenant's `settings.lockout`): after `maxFailedLogins` failed logins or
//! second-step codes in a row, the account refuses logins for `lockoutMinutes`, or until an
//! admin unlocks it (`POST /api/v1/users/{username}/unlock`).
//!
//! The count and the lock live on the user record (written through the write path), so every
//! replica sees the same lock. A name that is no user has no record: its failures are counted
//! in this replica's memory, with the same threshold and the same answer, so the answer does
//! not tell which names exist. A locked account answers 429 whether or not the password was
//! right, and only after the password hash was checked as for any login, so the time taken
//! does not tell either.
use chrono::{DateTime, Duration, Utc};
use nexbii_crds::settings::LockoutSettings;

use super::model::UserRecord;
use crate::{
    http::{ApiError, ApiResult},
    state::AppState,
    store::{write::Actor, TenantScope},
};

/// The answer to a login of a locked account (and of a name locked in memory).
pub fn locked() -> ApiError {
    ApiError::TooManyRequests(
        "too many failed logins: this account is locked for now; try again later or ask an admin to unlock it"
            .into(),
    )
}

/// Whether the user is locked at `now`.
pub fn is_locked(user: &UserRecord, now: DateTime<Utc>) -> bool {
    user.security.locked_until.is_some_and(|t| t > now)
}

/// Counts one failure on `user` (pure): the lock starts when the count reaches the limit, and
/// the count starts again from zero.
pub fn count_failure(user: &mut UserRecord, policy: &LockoutSettings, now: DateTime<Utc>) {
    let s = &mut user.security;
    if s.locked_until.is_some_and(|t| t <= now) {
        s.locked_until = None;
    }
    s.failed_logins = s.failed_logins.saturating_add(1);
    if s.failed_logins >= policy.max_failed_logins.max(1) {
        s.locked_until = Some(now + Duration::minutes(policy.lockout_minutes as i64));
        s.failed_logins = 0;
    }
}

/// Records a failed login of an existing user.
pub async fn failed(
    state: &AppState,
    scope: &TenantScope,
    username: &str,
    policy: &LockoutSettings,
) -> ApiResult<()> {
    let now = Utc::now();
    let locked = state
        .writer
        .modify::<UserRecord>(scope, &Actor::System, username, |u| {
            count_failure(u, policy, now)
        })
        .await?
        .is_some_and(|u| is_locked(&u, now));
    if locked {
        state.metrics.logins.with_label_values(&["locked"]).inc();
        tracing::warn!(
            tenant = scope.tenant(),
            username,
            "account locked after failed logins"
        );
    }
    Ok(())
}

/// Failures of a name that is no user, counted in memory; `true` once it is "locked".
pub async fn unknown_name_failed(
    state: &AppState,
    scope: &TenantScope,
    username: &str,
    policy: &LockoutSettings,
) -> bool {
    let key = (scope.tenant().to_string(), username.to_string());
    let n = state.login_failures.get(&key).await.unwrap_or(0) + 1;
    state.login_failures.insert(key, n).await;
    n >= policy.max_failed_logins
}

/// Whether a name that is no user is "locked" in memory.
pub async fn unknown_name_locked(
    state: &AppState,
    scope: &TenantScope,
    username: &str,
    policy: &LockoutSettings,
) -> bool {
    let key = (scope.tenant().to_string(), username.to_string());
    state.login_failures.get(&key).await.unwrap_or(0) >= policy.max_failed_logins
}

/// Clears the count and any lock (a successful login, or an admin's unlock), on the record.
pub fn clear(user: &mut UserRecord) {
    user.security.failed_logins = 0;
    user.security.locked_until = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserRecord {
        serde_json::from_value(serde_json::json!({
            "username": "ann", "role": "viewer", "passwordHash": "!"
        }))
        .unwrap()
    }

    #[test]
    fn the_lock_starts_at_the_limit_and_ends_after_its_minutes() {
        let p = LockoutSettings {
            max_failed_logins: 3,
            lockout_minutes: 10,
        };
        let now = Utc::now();
        let mut u = user();
        count_failure(&mut u, &p, now);
        count_failure(&mut u, &p, now);
        assert!(!is_locked(&u, now));
        assert_eq!(u.security.failed_logins, 2);
        count_failure(&mut u, &p, now);
        assert!(is_locked(&u, now));
        assert!(is_locked(&u, now + Duration::minutes(9)));
        assert!(!is_locked(&u, now + Duration::minutes(10)));
        assert_eq!(u.security.failed_logins, 0, "counting starts again");
        // A failure after the lock ran out counts from one again.
        count_failure(&mut u, &p, now + Duration::minutes(11));
        assert_eq!(u.security.locked_until, None);
        assert_eq!(u.security.failed_logins, 1);
        clear(&mut u);
        assert_eq!(u.security.failed_logins, 0);
    }
}
