//! Tokens: minting, hashing, authenticating, and what a caller may do.
//!
//! A token is `ptry_` followed by 64 random hex digits. It is shown once when created; the store
//! keeps only its SHA-256, looked up by that hash and then compared in constant time. The
//! `auth.admin_token` setting (env `PANTRY_REGISTRY_TOKEN`) is accepted as an admin token of the
//! user `admin`, so existing Pantry CLI and CI setups keep working.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::core::names::PackageName;
use crate::store::{MetadataStore, StoreError, TokenRecord, TokenScope};

pub const TOKEN_PREFIX: &str = "ptry_";
/// The user the configured admin token acts as. The `$` keeps it out of the user namespace, so
/// no token created for a real user can ever act as (or own packages as) the admin token.
pub const ADMIN_USER: &str = "$admin";

/// Checks a user name: 1 to 64 characters of `a-z 0-9 - _ .`, starting with a letter or digit.
pub fn validate_user_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid user name {name:?}: use 1 to 64 characters of a-z, 0-9, `-`, `_` and `.`, starting with a letter or digit"
        ))
    }
}

/// Who is making a request, once their token checked out.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: String,
    pub scope: TokenScope,
    pub restriction: Option<String>,
    /// SHA-256 of the token used, when a stored token was used.
    pub token_hash: Option<String>,
    /// The public id of the token used, when a stored token was used.
    pub token_id: Option<String>,
    /// The client's address, as the edge determined it.
    pub address: Option<std::net::IpAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Authorization required")]
    Missing,
    #[error("Invalid token")]
    Invalid,
    #[error("Token expired")]
    Expired,
    #[error("This account is disabled")]
    Disabled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotAllowed(pub String);

/// Lowercase hex SHA-256 of a secret token.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A freshly minted token: the secret (show it once) and the record to store.
pub struct NewToken {
    pub secret: String,
    pub record: TokenRecord,
}

/// Mints a random token for `user`.
pub fn mint(
    user: &str,
    name: &str,
    scope: TokenScope,
    restriction: Option<String>,
    expires_at: Option<OffsetDateTime>,
) -> NewToken {
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    let id = hex::encode(rand::random::<[u8; 6]>());
    let record = TokenRecord {
        id,
        hash: hash_token(&secret),
        name: name.to_string(),
        user: user.to_string(),
        scope,
        restriction,
        created_at: OffsetDateTime::now_utc(),
        expires_at,
        last_used: None,
    };
    NewToken { secret, record }
}

/// Checks a restriction's syntax: a package name, or `@scope/*`.
pub fn parse_restriction(text: &str) -> Result<String, String> {
    let expected = "expected a package name (left-pad, @team/widget) or a whole scope (@team/*)";
    if let Some(scope) = text.strip_suffix("/*") {
        if !scope.starts_with('@') {
            return Err(format!(
                "invalid restriction {text:?}: a scope starts with @ (did you mean @{text}?); {expected}"
            ));
        }
        PackageName::parse(&format!("{scope}/x"), 214)
            .map(|_| text.to_string())
            .map_err(|e| {
                format!(
                    "invalid scope restriction {text:?}: {}; {expected}",
                    e.reason
                )
            })
    } else {
        PackageName::parse(text, 214)
            .map(|n| n.to_string())
            .map_err(|e| {
                format!(
                    "invalid package restriction {text:?}: {}; {expected}",
                    e.reason
                )
            })
    }
}

/// Takes the token out of an `Authorization` header value: `Bearer <t>`, or the bare token
/// (the seed accepted both).
pub fn token_from_header(value: &str) -> Option<&str> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None => value,
    };
    (!token.is_empty()).then_some(token)
}

/// When tokens were used, not yet written to the store: (token SHA-256, when), the latest per
/// token. Written with the download counts.
#[derive(Default)]
pub struct TokenUses(std::sync::Mutex<std::collections::HashMap<String, OffsetDateTime>>);

impl TokenUses {
    fn note(&self, hash: &str) {
        let mut uses = self.0.lock().expect("token uses lock");
        uses.insert(hash.to_string(), OffsetDateTime::now_utc());
    }

    /// Writes the pending uses; on failure they are kept for the next flush.
    pub async fn flush(&self, store: &dyn MetadataStore) -> Result<(), StoreError> {
        let uses: Vec<(String, OffsetDateTime)> =
            std::mem::take(&mut *self.0.lock().expect("token uses lock"))
                .into_iter()
                .collect();
        if uses.is_empty() {
            return Ok(());
        }
        if let Err(e) = store.touch_tokens(uses.clone()).await {
            let mut pending = self.0.lock().expect("token uses lock");
            for (hash, at) in uses {
                pending.entry(hash).or_insert(at);
            }
            return Err(e);
        }
        Ok(())
    }
}

/// Finds the caller a presented token belongs to: the configured admin token, or a stored token
/// that has not expired and whose user (if it is an account) is not disabled.
pub async fn authenticate(core: &crate::core::Core, presented: &str) -> Result<Caller, AuthError> {
    let store = core.store.as_ref();
    let admin_token = core.settings.admin_token.as_deref();
    let presented_hash = Sha256::digest(presented.as_bytes());
    if let Some(admin) = admin_token {
        let admin_hash = Sha256::digest(admin.as_bytes());
        if bool::from(presented_hash.as_slice().ct_eq(admin_hash.as_slice())) {
            return Ok(Caller {
                user: ADMIN_USER.to_string(),
                scope: TokenScope::Admin,
                restriction: None,
                token_hash: None,
                token_id: None,
                address: None,
            });
        }
    }
    if !presented.starts_with(TOKEN_PREFIX) {
        return Err(AuthError::Invalid);
    }
    let hex_hash = hex::encode(presented_hash);
    let record = store
        .token_by_hash(&hex_hash)
        .await?
        .ok_or(AuthError::Invalid)?;
    if !bool::from(record.hash.as_bytes().ct_eq(hex_hash.as_bytes())) {
        return Err(AuthError::Invalid);
    }
    if record
        .expires_at
        .is_some_and(|at| at <= OffsetDateTime::now_utc())
    {
        return Err(AuthError::Expired);
    }
    if store.user(&record.user).await?.is_some_and(|u| u.disabled) {
        return Err(AuthError::Disabled);
    }
    core.token_uses.note(&record.hash);
    Ok(Caller {
        user: record.user,
        scope: record.scope,
        restriction: record.restriction,
        token_hash: Some(record.hash),
        token_id: Some(record.id),
        address: None,
    })
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.scope == TokenScope::Admin
    }

    /// Whether this caller may create or revoke the user's other tokens: a read-only or
    /// package-restricted token (say, a leaked CI token) must not be able to.
    pub fn may_manage_tokens(&self) -> bool {
        self.scope >= TokenScope::Publish && self.restriction.is_none()
    }

    /// Whether the token's scope and restriction allow publishing `name` (ownership is checked
    /// separately, against the stored package).
    pub fn check_publish(&self, name: &PackageName) -> Result<(), NotAllowed> {
        if self.scope < TokenScope::Publish {
            return Err(NotAllowed(
                "This token has read scope and cannot publish".into(),
            ));
        }
        if let Some(r) = &self.restriction {
            let allowed = match r.strip_suffix("/*") {
                Some(scope) => name.scope() == Some(scope),
                None => r == name.as_str(),
            };
            if !allowed {
                return Err(NotAllowed(format!(
                    "This token is restricted to {r} and cannot publish {name}"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        assert_eq!(token_from_header("Bearer abc"), Some("abc"));
        assert_eq!(token_from_header("bearer  abc "), Some("abc"));
        assert_eq!(token_from_header("abc"), Some("abc"));
        assert_eq!(token_from_header("Basic abc"), None);
        assert_eq!(token_from_header("Bearer "), None);
        assert_eq!(token_from_header(""), None);
    }

    #[test]
    fn restrictions() {
        let name = |n| PackageName::parse(n, 214).unwrap();
        let caller = |scope, r: Option<&str>| Caller {
            user: "u".into(),
            scope,
            restriction: r.map(String::from),
            token_hash: None,
            token_id: None,
            address: None,
        };
        assert!(
            caller(TokenScope::Read, None)
                .check_publish(&name("a"))
                .is_err()
        );
        assert!(
            caller(TokenScope::Publish, None)
                .check_publish(&name("a"))
                .is_ok()
        );
        let scoped = caller(TokenScope::Publish, Some("@team/*"));
        assert!(scoped.check_publish(&name("@team/x")).is_ok());
        assert!(scoped.check_publish(&name("@other/x")).is_err());
        assert!(scoped.check_publish(&name("team")).is_err());
        let one = caller(TokenScope::Publish, Some("left-pad"));
        assert!(one.check_publish(&name("left-pad")).is_ok());
        assert!(one.check_publish(&name("left-pads")).is_err());
        assert!(parse_restriction("@team/*").is_ok());
        assert!(parse_restriction("Bad Name").is_err());
    }

    #[test]
    fn user_names() {
        assert!(validate_user_name("alice").is_ok());
        assert!(validate_user_name("ci-bot.2").is_ok());
        for bad in ["", "$admin", "Alice", "-x", "a b", &"a".repeat(65)] {
            assert!(validate_user_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn minted_tokens_are_unique_and_hashed() {
        let a = mint("u", "t", TokenScope::Publish, None, None);
        let b = mint("u", "t", TokenScope::Publish, None, None);
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(TOKEN_PREFIX) && a.secret.len() == 69);
        assert_eq!(a.record.hash, hash_token(&a.secret));
        assert!(!a.record.hash.contains(&a.secret[5..]));
    }
}
