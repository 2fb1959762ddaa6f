//! User accounts: creation, passwords (Argon2id), and logging in to get a token.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use time::OffsetDateTime;

use crate::core::Core;
use crate::core::audit::{Actor, AuditedError, Outcome};
use crate::core::auth::{self, Caller};
use crate::store::{StoreError, TokenScope, UserRecord};

/// Shortest password accepted for a new account.
pub const MIN_PASSWORD_LEN: usize = 8;

/// At most this many password hashes run at once: each takes about 19 MiB and real CPU time,
/// so a flood of logins must queue rather than exhaust memory or the blocking pool.
static HASHING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Failed logins allowed per user name within [`FAILURE_WINDOW`] before further attempts are
/// refused outright (without checking the password) until the window passes.
pub const MAX_FAILURES: u32 = 10;
pub const FAILURE_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

/// Counts failed password checks per user name.
#[derive(Default)]
pub struct LoginThrottle {
    failures: std::sync::Mutex<std::collections::HashMap<String, (u32, std::time::Instant)>>,
}

impl LoginThrottle {
    fn blocked(&self, name: &str) -> bool {
        let map = self.failures.lock().expect("throttle lock");
        map.get(name)
            .is_some_and(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < FAILURE_WINDOW)
    }

    fn record(&self, name: &str, ok: bool) {
        let mut map = self.failures.lock().expect("throttle lock");
        if ok {
            map.remove(name);
            return;
        }
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let entry = map
            .entry(name.to_string())
            .or_insert((0, std::time::Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, std::time::Instant::now());
        }
        entry.0 += 1;
    }
}

async fn hash_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, UserError> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|e| UserError::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| UserError::Hash(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    Invalid(String),
    #[error("user {0} already exists")]
    Exists(String),
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("too many failed logins for this user; try again later")]
    Throttled,
    #[error("this account is disabled; ask an administrator")]
    Disabled,
    #[error(transparent)]
    Store(StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl AuditedError for UserError {
    fn is_fault(&self) -> bool {
        matches!(self, UserError::Store(_) | UserError::Hash(_))
    }
}

impl AuditedError for StoreError {
    fn is_fault(&self) -> bool {
        !matches!(
            self,
            StoreError::Denied(_) | StoreError::Conflict(_) | StoreError::UserExists(_)
        )
    }
}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UserExists(name) => UserError::Exists(name),
            other => UserError::Store(other),
        }
    }
}

fn hash_password(password: &str) -> Result<String, UserError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

fn password_matches(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Checks a new password's length and hashes it on the blocking pool.
pub(crate) async fn new_password_hash(password: &str) -> Result<String, UserError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(UserError::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let password = password.to_string();
    hash_blocking(move || hash_password(&password)).await?
}

pub(crate) fn validate_email(email: &str) -> Result<(), UserError> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace)
        });
    if ok {
        Ok(())
    } else {
        Err(UserError::Invalid(format!(
            "invalid email address {email:?}"
        )))
    }
}

/// Creates an account. Hashing runs on the blocking pool: Argon2 is slow on purpose. Audited
/// as `user.create`.
pub async fn create_user(
    core: &Core,
    actor: &Actor,
    name: &str,
    email: &str,
    password: &str,
) -> Result<UserRecord, UserError> {
    let result = create_user_checked(core, name, email, password).await;
    core.audit
        .result(actor, "user.create", format!("user:{name}"), &result);
    result
}

async fn create_user_checked(
    core: &Core,
    name: &str,
    email: &str,
    password: &str,
) -> Result<UserRecord, UserError> {
    auth::validate_user_name(name).map_err(UserError::Invalid)?;
    validate_email(email)?;
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(UserError::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let password = password.to_string();
    let password_hash = hash_blocking(move || hash_password(&password)).await??;
    let user = UserRecord::new(name, email, password_hash);
    core.store.insert_user(user.clone()).await?;
    tracing::info!(user = %name, "user created");
    Ok(user)
}

/// Checks a user's password; the same error whether the user or the password is wrong.
pub async fn verify(core: &Core, name: &str, password: &str) -> Result<UserRecord, UserError> {
    if core.login_failures.blocked(name) {
        return Err(UserError::Throttled);
    }
    let user = core.store.user(name).await?;
    let password = password.to_string();
    // Hash even for an unknown user, so timing does not tell which names exist.
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_string());
    let ok = hash_blocking(move || password_matches(&password, &phc)).await?;
    core.login_failures.record(name, ok && user.is_some());
    match user {
        Some(user) if ok && user.disabled => Err(UserError::Disabled),
        Some(user) if ok => Ok(user),
        _ => Err(UserError::BadCredentials),
    }
}

/// Logs a user in with their password (npm login): the account, audited as `user.login`
/// whether it succeeds or not.
pub async fn login(
    core: &Core,
    actor: &Actor,
    name: &str,
    password: &str,
) -> Result<UserRecord, UserError> {
    let result = verify(core, name, password).await;
    core.audit
        .result(actor, "user.login", format!("user:{name}"), &result);
    result
}

/// Stores a new token. Audited as `token.create`, with its user, scope and restriction (never
/// the secret).
pub async fn create_token(
    core: &Core,
    actor: &Actor,
    minted: &auth::NewToken,
) -> Result<(), StoreError> {
    let r = &minted.record;
    let result = core.store.insert_token(r.clone()).await;
    let detail = format!(
        "for {} with scope {}{}",
        r.user,
        r.scope,
        r.restriction
            .as_deref()
            .map(|p| format!(", restricted to {p}"))
            .unwrap_or_default()
    );
    let target = format!("token:{}", r.id);
    match &result {
        Ok(()) => core
            .audit
            .record(actor, "token.create", target, Outcome::OkWith(detail)),
        Err(_) => core.audit.result(actor, "token.create", target, &result),
    }
    result
}

/// Revokes the token with public id `id`; `false` if there was none. Audited as
/// `token.revoke`.
pub async fn revoke_token(core: &Core, actor: &Actor, id: &str) -> Result<bool, StoreError> {
    let result = core.store.revoke_token(id).await;
    let target = format!("token:{id}");
    match &result {
        Ok(false) => core.audit.record(
            actor,
            "token.revoke",
            target,
            Outcome::Denied("no such token".into()),
        ),
        _ => core.audit.result(actor, "token.revoke", target, &result),
    }
    result
}

/// A valid Argon2id hash of a random password, compared against for unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2nK4lvJ4Z1+7QxLBBKqcHGHF9ufL5Jm+EU3AfmRUqW0";

/// Mints a token for a user who just proved their password (npm login).
pub async fn issue_token(
    core: &Core,
    actor: &Actor,
    user: &str,
    label: &str,
    scope: TokenScope,
) -> Result<auth::NewToken, StoreError> {
    let minted = auth::mint(user, label, scope, None, None);
    create_token(core, actor, &minted).await?;
    Ok(minted)
}

/// Changes a user's password after checking the old one. Audited as `user.password`.
pub async fn change_password(
    core: &Core,
    caller: &Caller,
    old: &str,
    new: &str,
) -> Result<(), UserError> {
    let result = change_password_checked(core, caller, old, new).await;
    let actor = Actor::of(caller);
    core.audit.result(
        &actor,
        "user.password",
        format!("user:{}", caller.user),
        &result,
    );
    result
}

async fn change_password_checked(
    core: &Core,
    caller: &Caller,
    old: &str,
    new: &str,
) -> Result<(), UserError> {
    let mut user = verify(core, &caller.user, old).await?;
    if new.chars().count() < MIN_PASSWORD_LEN {
        return Err(UserError::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let new = new.to_string();
    user.password_hash = hash_blocking(move || hash_password(&new)).await??;
    user.updated_at = OffsetDateTime::now_utc();
    core.store.update_user(user).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(password_matches("correct horse", &a));
        assert!(!password_matches("wrong horse", &a));
        assert!(!password_matches("x", "not a phc string"));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn emails() {
        assert!(validate_email("a@b.co").is_ok());
        for bad in ["", "a", "@b.co", "a@b", "a b@c.d"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }
}
