//! Administration while the server runs: accounts (create with a password or an invitation,
//! disable, make admin, reset the password, delete), tokens for any account, and package
//! ownership. The admin API, the admin socket and the command line all call these; every call
//! is audited with its actor.

use time::OffsetDateTime;

use crate::core::Core;
use crate::core::audit::{Actor, AuditedError, Outcome};
use crate::core::auth::{self, NewToken};
use crate::core::packages::MAX_OWNERS;
use crate::core::users::{self, UserError};
use crate::store::{PackageEdit, PackageRecord, StoreError, TokenScope, UserRecord};

/// How long an invitation to set a first password stays valid.
pub const INVITE_VALIDITY: time::Duration = time::Duration::days(7);

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UserExists(name) => {
                AdminError::Conflict(format!("user {name} already exists"))
            }
            StoreError::NoSuchPackage => AdminError::NotFound("no such package".into()),
            StoreError::Denied(d) => AdminError::Invalid(d.message),
            StoreError::Conflict(m) => AdminError::Conflict(m),
            other => AdminError::Store(other),
        }
    }
}

impl AuditedError for AdminError {
    fn is_fault(&self) -> bool {
        match self {
            AdminError::Store(_) => true,
            AdminError::User(e) => e.is_fault(),
            _ => false,
        }
    }
}

fn audited<T>(
    core: &Core,
    actor: &Actor,
    action: &str,
    target: String,
    detail: Option<String>,
    result: Result<T, AdminError>,
) -> Result<T, AdminError> {
    match (&result, detail) {
        (Ok(_), Some(d)) => core.audit.record(actor, action, target, Outcome::OkWith(d)),
        _ => core.audit.result(actor, action, target, &result),
    }
    result
}

/// A new account: with a password, or with an invitation (returned once) that lets its holder
/// set one within [`INVITE_VALIDITY`]. Audited as `user.create`.
pub async fn create_user(
    core: &Core,
    actor: &Actor,
    name: &str,
    email: &str,
    password: Option<&str>,
    admin: bool,
) -> Result<(UserRecord, Option<String>), AdminError> {
    let result = async {
        auth::validate_user_name(name).map_err(AdminError::Invalid)?;
        users::validate_email(email)?;
        let (password_hash, invite) = match password {
            Some(p) => (users::new_password_hash(p).await?, None),
            None => {
                let secret = format!("pinv_{}", hex::encode(rand::random::<[u8; 24]>()));
                (String::new(), Some(secret))
            }
        };
        let user = UserRecord {
            admin,
            invite_hash: invite.as_deref().map(auth::hash_token),
            invite_expires_at: invite
                .as_ref()
                .map(|_| OffsetDateTime::now_utc() + INVITE_VALIDITY),
            ..UserRecord::new(name, email, password_hash)
        };
        core.store.insert_user(user.clone()).await?;
        Ok((user, invite))
    }
    .await;
    let detail = result.as_ref().ok().map(|(u, invite)| {
        let how = if invite.is_some() {
            "invited"
        } else {
            "with a password"
        };
        format!("{how}{}", if u.admin { ", admin" } else { "" })
    });
    audited(
        core,
        actor,
        "user.create",
        format!("user:{name}"),
        detail,
        result,
    )
}

/// Sets the first password with an invitation (no other credentials: the invitation is one).
/// Audited as `user.invite.accept`.
pub async fn accept_invite(
    core: &Core,
    actor: &Actor,
    invite: &str,
    name: &str,
    password: &str,
) -> Result<UserRecord, AdminError> {
    let result = async {
        let refused = || {
            AdminError::Invalid("this invitation is not valid (used, expired or mistyped)".into())
        };
        let mut user = core.store.user(name).await?.ok_or_else(refused)?;
        let presented = auth::hash_token(invite);
        let matches = user.invite_hash.as_deref().is_some_and(|h| {
            use subtle::ConstantTimeEq;
            bool::from(h.as_bytes().ct_eq(presented.as_bytes()))
        });
        let current = user
            .invite_expires_at
            .is_some_and(|at| at > OffsetDateTime::now_utc());
        if !matches || !current {
            return Err(refused());
        }
        user.password_hash = users::new_password_hash(password).await?;
        user.invite_hash = None;
        user.invite_expires_at = None;
        user.updated_at = OffsetDateTime::now_utc();
        core.store.update_user(user.clone()).await?;
        Ok(user)
    }
    .await;
    audited(
        core,
        actor,
        "user.invite.accept",
        format!("user:{name}"),
        None,
        result,
    )
}

/// What an admin changes about an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub email: Option<String>,
    pub password: Option<String>,
    pub disabled: Option<bool>,
    pub admin: Option<bool>,
}

impl UserChange {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.email.is_some() {
            parts.push("email".to_string());
        }
        if self.password.is_some() {
            parts.push("password reset".to_string());
        }
        if let Some(d) = self.disabled {
            parts.push(if d { "disabled" } else { "enabled" }.to_string());
        }
        if let Some(a) = self.admin {
            parts.push(if a { "made admin" } else { "admin removed" }.to_string());
        }
        parts.join(", ")
    }
}

/// Changes an account. Audited as `user.update`, with what changed (never the password).
pub async fn update_user(
    core: &Core,
    actor: &Actor,
    name: &str,
    change: UserChange,
) -> Result<UserRecord, AdminError> {
    let detail = Some(change.describe());
    let result = async {
        let mut user = core
            .store
            .user(name)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no such user: {name}")))?;
        if let Some(email) = &change.email {
            users::validate_email(email)?;
            user.email = email.clone();
        }
        if let Some(password) = &change.password {
            user.password_hash = users::new_password_hash(password).await?;
            user.invite_hash = None;
            user.invite_expires_at = None;
        }
        if let Some(d) = change.disabled {
            user.disabled = d;
        }
        if let Some(a) = change.admin {
            user.admin = a;
        }
        user.updated_at = OffsetDateTime::now_utc();
        core.store.update_user(user.clone()).await?;
        // Packuments show maintainers' and publishers' e-mail addresses.
        core.rendered.invalidate_all();
        Ok(user)
    }
    .await;
    audited(
        core,
        actor,
        "user.update",
        format!("user:{name}"),
        detail,
        result,
    )
}

/// Deletes an account and revokes its tokens; how many tokens went. Packages it owns keep
/// their other owners (an admin transfers the rest). Audited as `user.delete`.
pub async fn delete_user(core: &Core, actor: &Actor, name: &str) -> Result<usize, AdminError> {
    let result = async {
        if !core.store.delete_user(name).await? {
            return Err(AdminError::NotFound(format!("no such user: {name}")));
        }
        core.rendered.invalidate_all();
        let mut revoked = 0;
        for token in core.store.list_tokens().await? {
            if token.user == name && core.store.revoke_token(&token.id).await? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }
    .await;
    let detail = result.as_ref().ok().map(|n| format!("{n} tokens revoked"));
    audited(
        core,
        actor,
        "user.delete",
        format!("user:{name}"),
        detail,
        result,
    )
}

/// An account with no password and no invitation: it cannot log in until an admin sets a
/// password (`user passwd`). A service account that owns CI tokens is one; so is the owner of an
/// imported package, whose password the source could not give. Audited as `user.create`, with
/// `why` as the detail.
pub async fn create_passwordless(
    core: &Core,
    actor: &Actor,
    name: &str,
    email: &str,
    why: &str,
) -> Result<UserRecord, AdminError> {
    auth::validate_user_name(name).map_err(AdminError::Invalid)?;
    let account = UserRecord::new(name, email, String::new());
    core.store.insert_user(account.clone()).await?;
    core.audit.record(
        actor,
        "user.create",
        format!("user:{name}"),
        Outcome::OkWith(why.into()),
    );
    Ok(account)
}

/// Where a token may be made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFor {
    /// An existing account only.
    Account,
    /// An existing account, or a service account created for it now (it has no password and
    /// cannot log in: it exists to own tokens, for CI).
    AccountOrService,
}

/// A token for `user` (an admin token only for an admin account). Audited as `token.create`.
#[allow(clippy::too_many_arguments)]
pub async fn create_token(
    core: &Core,
    actor: &Actor,
    user: &str,
    label: &str,
    scope: TokenScope,
    restriction: Option<&str>,
    expires_at: Option<OffsetDateTime>,
    for_whom: TokenFor,
) -> Result<NewToken, AdminError> {
    auth::validate_user_name(user).map_err(AdminError::Invalid)?;
    let restriction = restriction
        .map(auth::parse_restriction)
        .transpose()
        .map_err(AdminError::Invalid)?;
    let account = core.store.user(user).await?;
    let account = match (account, for_whom) {
        (Some(a), _) => a,
        (None, TokenFor::Account) => {
            return Err(AdminError::NotFound(format!(
                "no such user: {user}; create the account first, or make a service account \
                 for the token (`--service` on the command line, \"service\": true in the API)"
            )));
        }
        (None, TokenFor::AccountOrService) => {
            create_passwordless(core, actor, user, "", "service account").await?
        }
    };
    if scope == TokenScope::Admin && !account.admin {
        return Err(AdminError::Invalid(format!(
            "{user} is not an admin; make the account an admin before giving it an admin token"
        )));
    }
    let minted = auth::mint(user, label, scope, restriction, expires_at);
    users::create_token(core, actor, &minted).await?;
    Ok(minted)
}

/// Changes who owns `name`: adds and removes users, or hands the package to one user alone.
/// Every new owner must be an account; a package keeps at least one owner. Audited as
/// `npm.owners`.
pub async fn change_owners(
    core: &Core,
    actor: &Actor,
    name: &str,
    add: Vec<String>,
    remove: Vec<String>,
    transfer_to: Option<String>,
) -> Result<PackageRecord, AdminError> {
    let detail = format!(
        "add [{}] remove [{}]{}",
        add.join(","),
        remove.join(","),
        transfer_to
            .as_deref()
            .map(|t| format!(" transfer to {t}"))
            .unwrap_or_default()
    );
    let result = async {
        for user in add.iter().chain(transfer_to.iter()) {
            if core.store.user(user).await?.is_none() {
                return Err(AdminError::NotFound(format!("no such user: {user}")));
            }
        }
        let change = Box::new(move |mut pkg: PackageRecord, _versions| {
            let mut owners = match &transfer_to {
                Some(to) => vec![to.clone()],
                None => pkg.owners.clone(),
            };
            for user in &add {
                if !owners.contains(user) {
                    owners.push(user.clone());
                }
            }
            owners.retain(|o| !remove.contains(o));
            if owners.is_empty() {
                return Err(crate::store::Denied::invalid(
                    "a package needs at least one owner",
                ));
            }
            if owners.len() > MAX_OWNERS {
                return Err(crate::store::Denied::invalid(format!(
                    "a package can have at most {MAX_OWNERS} owners"
                )));
            }
            pkg.owners = owners;
            pkg.updated_at = OffsetDateTime::now_utc();
            Ok(PackageEdit {
                package: Some(pkg),
                ..Default::default()
            })
        });
        crate::core::packages::modify_and_index(core, name, change)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no such package: {name}")))
    }
    .await;
    audited(
        core,
        actor,
        "npm.owners",
        format!("npm:{name}"),
        Some(detail),
        result,
    )
}
