//! User accounts: creation, passwords (Argon2id), and logging in to get a token.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use time::OffsetDateTime;

use crate::core::Core;
use crate::core::auth::{self, Caller};
use crate::store::{StoreError, TokenScope, UserRecord};

/// Shortest password accepted for a new account.
pub const MIN_PASSWORD_LEN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    Invalid(String),
    #[error("user {0} already exists")]
    Exists(String),
    #[error("wrong user name or password")]
    BadCredentials,
    #[error(transparent)]
    Store(StoreError),
    #[error("password hashing failed: {0}")]
    Hash(String),
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

fn validate_email(email: &str) -> Result<(), UserError> {
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

/// Creates an account. Hashing runs on the blocking pool: Argon2 is slow on purpose.
pub async fn create_user(
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
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| UserError::Hash(e.to_string()))??;
    let now = OffsetDateTime::now_utc();
    let user = UserRecord {
        name: name.to_string(),
        email: email.to_string(),
        password_hash,
        created_at: now,
        updated_at: now,
    };
    core.store.insert_user(user.clone()).await?;
    tracing::info!(user = %name, "user created");
    Ok(user)
}

/// Checks a user's password; the same error whether the user or the password is wrong.
pub async fn verify(core: &Core, name: &str, password: &str) -> Result<UserRecord, UserError> {
    let user = core.store.user(name).await?;
    let password = password.to_string();
    // Hash even for an unknown user, so timing does not tell which names exist.
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_string());
    let ok = tokio::task::spawn_blocking(move || password_matches(&password, &phc))
        .await
        .map_err(|e| UserError::Hash(e.to_string()))?;
    match user {
        Some(user) if ok => Ok(user),
        _ => Err(UserError::BadCredentials),
    }
}

/// A valid Argon2id hash of a random password, compared against for unknown users.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2nK4lvJ4Z1+7QxLBBKqcHGHF9ufL5Jm+EU3AfmRUqW0";

/// Mints a token for a user who just proved their password (npm login, npm token create).
pub async fn issue_token(
    core: &Core,
    user: &str,
    label: &str,
    scope: TokenScope,
) -> Result<auth::NewToken, StoreError> {
    let minted = auth::mint(user, label, scope, None, None);
    core.store.insert_token(minted.record.clone()).await?;
    Ok(minted)
}

/// Changes a user's password after checking the old one.
pub async fn change_password(
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
    user.password_hash = tokio::task::spawn_blocking(move || hash_password(&new))
        .await
        .map_err(|e| UserError::Hash(e.to_string()))??;
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
