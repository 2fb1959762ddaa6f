//! The admin API, `/-/admin/…`: accounts, tokens, package ownership, maintenance jobs and the
//! audit log, on the running server. Every route needs an admin: the configured admin token, a
//! token with admin scope, or the local admin socket (which the command line uses while a server
//! holds the database). No token is 401; any other token is 403.

use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::ApiTags;
use super::auth::AdminCaller;
use crate::api_error_variants;
use crate::core::Core;
use crate::core::admin::{self, TokenFor, UserChange};
use crate::core::audit::{Actor, AuditFilter};
use crate::core::jobs::{self, Job, JobKind};
use crate::core::timestamps::iso;
use crate::error::{ApiError, ErrorBody};
use crate::store::{AuditRecord, TokenRecord, TokenScope, UserRecord};

/// An account, as an admin sees it (never its password hash).
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct AdminUser {
    pub name: String,
    pub email: String,
    pub admin: bool,
    pub disabled: bool,
    /// An invitation to set the first password is outstanding.
    pub invited: bool,
    /// A service account: no password, it cannot log in; it owns tokens.
    pub service: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl Example for AdminUser {
    fn example() -> Self {
        AdminUser {
            name: "alice".into(),
            email: "alice@example.com".into(),
            admin: false,
            disabled: false,
            invited: false,
            service: false,
            created_at: "2025-06-02T14:03:27.512Z".into(),
            updated_at: "2025-06-02T14:03:27.512Z".into(),
        }
    }
}

impl AdminUser {
    fn of(u: &UserRecord) -> Self {
        Self {
            name: u.name.clone(),
            email: u.email.clone(),
            admin: u.admin,
            disabled: u.disabled,
            invited: u.invite_hash.is_some(),
            service: u.password_hash.is_empty() && u.invite_hash.is_none(),
            created_at: iso(u.created_at),
            updated_at: iso(u.updated_at),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct AdminUsers {
    pub users: Vec<AdminUser>,
}

impl Example for AdminUsers {
    fn example() -> Self {
        AdminUsers {
            users: vec![AdminUser::example()],
        }
    }
}

/// A new account: with a password, or without one to get an invitation.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    /// At least 8 characters. Leave it out to get an invitation instead.
    pub password: Option<String>,
    /// Make the account an admin.
    #[oai(default)]
    pub admin: bool,
}

impl Example for NewUser {
    fn example() -> Self {
        NewUser {
            name: "carol".into(),
            email: "carol@example.com".into(),
            password: None,
            admin: false,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct CreatedUser {
    pub user: AdminUser,
    /// The invitation (shown once): `POST /-/invite` with it and a password sets the first
    /// password, within 7 days.
    pub invite: Option<String>,
}

impl Example for CreatedUser {
    fn example() -> Self {
        CreatedUser {
            user: AdminUser {
                name: "carol".into(),
                email: "carol@example.com".into(),
                invited: true,
                ..AdminUser::example()
            },
            invite: Some("pinv_0123456789abcdef0123456789abcdef0123456789abcdef".into()),
        }
    }
}

/// What to change about an account; absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct UserPatch {
    pub email: Option<String>,
    /// A new password (an admin's reset).
    pub password: Option<String>,
    pub disabled: Option<bool>,
    pub admin: Option<bool>,
}

impl Example for UserPatch {
    fn example() -> Self {
        UserPatch {
            email: Some("carol@acme.example".into()),
            password: None,
            disabled: Some(false),
            admin: None,
        }
    }
}

/// What deleting an account did.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase")]
pub struct DeletedUser {
    pub name: String,
    pub tokens_revoked: u64,
}

impl Example for DeletedUser {
    fn example() -> Self {
        DeletedUser {
            name: "carol".into(),
            tokens_revoked: 2,
        }
    }
}

/// An invitation redeemed.
#[derive(Debug, Object)]
#[oai(example)]
pub struct InviteAcceptance {
    pub name: String,
    pub invite: String,
    pub password: String,
}

impl Example for InviteAcceptance {
    fn example() -> Self {
        InviteAcceptance {
            name: "carol".into(),
            invite: "pinv_0123456789abcdef0123456789abcdef0123456789abcdef".into(),
            password: "correct-horse-battery-staple".into(),
        }
    }
}

/// A token's record (never its secret).
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct AdminToken {
    pub id: String,
    pub user: String,
    pub name: String,
    pub scope: String,
    pub restriction: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    /// When it last authenticated a request (recorded a few seconds late).
    pub last_used: Option<String>,
}

impl Example for AdminToken {
    fn example() -> Self {
        AdminToken {
            id: "5ef026232b74".into(),
            user: "alice".into(),
            name: "ci".into(),
            scope: "publish".into(),
            restriction: Some("@acme/widget".into()),
            created_at: "2025-06-02T14:03:27.512Z".into(),
            expires_at: Some("2025-08-31T14:03:27.508Z".into()),
            last_used: Some("2025-06-03T08:41:10.077Z".into()),
        }
    }
}

impl AdminToken {
    fn of(t: &TokenRecord) -> Self {
        Self {
            id: t.id.clone(),
            user: t.user.clone(),
            name: t.name.clone(),
            scope: t.scope.to_string(),
            restriction: t.restriction.clone(),
            created_at: iso(t.created_at),
            expires_at: t.expires_at.map(iso),
            last_used: t.last_used.map(iso),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct AdminTokens {
    pub tokens: Vec<AdminToken>,
}

impl Example for AdminTokens {
    fn example() -> Self {
        AdminTokens {
            tokens: vec![AdminToken::example()],
        }
    }
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ScopeName {
    Read,
    Publish,
    Admin,
}

impl From<ScopeName> for TokenScope {
    fn from(s: ScopeName) -> Self {
        match s {
            ScopeName::Read => TokenScope::Read,
            ScopeName::Publish => TokenScope::Publish,
            ScopeName::Admin => TokenScope::Admin,
        }
    }
}

/// A token to make.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct NewToken {
    /// The account it acts as.
    pub user: String,
    /// A label (default: the user name).
    pub name: Option<String>,
    /// Default `publish`. `admin` only for an admin account.
    pub scope: Option<ScopeName>,
    /// Restrict it to one package (`name`, `@scope/name`) or a scope (`@scope/*`).
    pub package: Option<String>,
    /// It stops working after this many days (1 to 3650).
    #[oai(validator(minimum(value = "1"), maximum(value = "3650")))]
    pub expires_in_days: Option<i64>,
    /// Create `user` as a service account (no password) if there is no such account.
    #[oai(default)]
    pub service: bool,
}

impl Example for NewToken {
    fn example() -> Self {
        NewToken {
            user: "alice".into(),
            name: Some("ci".into()),
            scope: Some(ScopeName::Publish),
            package: Some("@acme/widget".into()),
            expires_in_days: Some(90),
            service: false,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct CreatedToken {
    /// The secret (shown once: only its hash is kept).
    pub token: String,
    #[oai(flatten)]
    pub record: AdminToken,
}

impl Example for CreatedToken {
    fn example() -> Self {
        CreatedToken {
            token: "ptry_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
            record: AdminToken {
                last_used: None,
                ..AdminToken::example()
            },
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct Owners {
    pub package: String,
    pub owners: Vec<String>,
}

impl Example for Owners {
    fn example() -> Self {
        Owners {
            package: "@acme/widget".into(),
            owners: vec!["alice".into(), "bob".into()],
        }
    }
}

/// A change of owners.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct OwnersChange {
    pub package: String,
    #[oai(default)]
    pub add: Vec<String>,
    #[oai(default)]
    pub remove: Vec<String>,
    /// Hand the package to this user alone (before `add` and `remove` apply).
    pub transfer_to: Option<String>,
}

impl Example for OwnersChange {
    fn example() -> Self {
        OwnersChange {
            package: "@acme/widget".into(),
            add: vec!["bob".into()],
            remove: Vec::new(),
            transfer_to: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "kebab-case")]
pub enum JobName {
    Gc,
    Reindex,
    CachePrune,
    Verify,
    Import,
}

/// Where an `import` job reads from.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ImportFrom {
    /// The seed registry's `.registry` folder (or the folder holding it).
    Seed,
    /// A Verdaccio storage directory.
    Verdaccio,
}

/// A maintenance job to start.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct NewJob {
    pub kind: JobName,
    /// gc: only list what would be deleted.
    #[oai(default)]
    pub dry_run: bool,
    /// cache-prune: remove what was not used within this many seconds.
    pub older_than_secs: Option<u64>,
    /// cache-prune: then remove least recently used tarballs down to this many bytes.
    pub max_bytes: Option<u64>,
    /// import: the kind of storage directory to read.
    pub from: Option<ImportFrom>,
    /// import: the directory, an absolute path on the server's machine (the server process
    /// reads it, with its own permissions).
    pub dir: Option<String>,
}

impl Example for NewJob {
    fn example() -> Self {
        NewJob {
            kind: JobName::Gc,
            dry_run: true,
            older_than_secs: None,
            max_bytes: None,
            from: None,
            dir: None,
        }
    }
}

/// A job as it stands.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct JobBody {
    pub id: String,
    pub kind: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub progress: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// The job's report, when done.
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
}

impl Example for JobBody {
    fn example() -> Self {
        JobBody {
            id: "96d6c29d9d5c7e94".into(),
            kind: "gc".into(),
            state: "done".into(),
            progress: "done".into(),
            started_at: "2025-06-02T14:03:27.512Z".into(),
            finished_at: Some("2025-06-02T14:03:27.514Z".into()),
            result: Some(serde_json::json!({
                "dryRun": true,
                "unreferenced": [],
                "bytes": 0,
                "missing": []
            })),
            error: None,
        }
    }
}

impl JobBody {
    fn of(j: &Job) -> Self {
        Self {
            id: j.id.clone(),
            kind: j.kind.name().to_string(),
            state: serde_json::to_value(j.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            progress: j.progress.clone(),
            started_at: iso(j.started_at),
            finished_at: j.finished_at.map(iso),
            result: j.result.clone(),
            error: j.error.clone(),
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct JobList {
    pub jobs: Vec<JobBody>,
}

impl Example for JobList {
    fn example() -> Self {
        JobList {
            jobs: vec![JobBody::example()],
        }
    }
}

/// What the npm fallback's cache holds.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase")]
pub struct CacheStats {
    /// Upstream packuments kept.
    pub packuments: u64,
    /// Their bodies' size, compressed.
    pub packument_bytes: u64,
    /// Remembered upstream 404s.
    pub negative: u64,
    /// Upstream tarballs kept.
    pub tarballs: u64,
    pub tarball_bytes: u64,
}

impl Example for CacheStats {
    fn example() -> Self {
        CacheStats {
            packuments: 412,
            packument_bytes: 9_437_184,
            negative: 17,
            tarballs: 1_830,
            tarball_bytes: 734_003_200,
        }
    }
}

/// One audit log entry.
#[derive(Debug, Object)]
#[oai(example, rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub action: String,
    pub target: String,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    pub detail: Option<String>,
    pub user: Option<String>,
    pub token_id: Option<String>,
    pub address: Option<String>,
}

impl Example for AuditEntry {
    fn example() -> Self {
        AuditEntry {
            id: "000661b764ff23be-777e2a1b".into(),
            at: "2025-06-02T14:03:27.512Z".into(),
            action: "npm.publish".into(),
            target: "npm:@acme/widget@2.0.1".into(),
            outcome: "ok".into(),
            detail: None,
            user: Some("alice".into()),
            token_id: Some("5ef026232b74".into()),
            address: Some("203.0.113.7".into()),
        }
    }
}

impl AuditEntry {
    fn of(r: AuditRecord) -> Self {
        Self {
            id: r.id,
            at: iso(r.at),
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            detail: r.detail,
            user: r.user,
            token_id: r.token_id,
            address: r.address,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct AuditPage {
    /// Oldest first.
    pub entries: Vec<AuditEntry>,
    /// Pass as `after` for the next page; absent on the last.
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
}

impl Example for AuditPage {
    fn example() -> Self {
        AuditPage {
            entries: vec![AuditEntry::example()],
            next: Some("000661b764ff23be-777e2a1b".into()),
        }
    }
}

macro_rules! admin_response {
    ($name:ident, $ok_status:literal, $ok:ty, $ok_doc:literal, [$($variant:ident = $status:literal : $doc:literal),* $(,)?]) => {
        #[derive(ApiResponse)]
        #[allow(clippy::large_enum_variant)]
        pub enum $name {
            #[doc = $ok_doc]
            #[oai(status = $ok_status)]
            Ok(Json<$ok>),
            /// No token.
            #[oai(status = 401)]
            Unauthorized(Json<ErrorBody>),
            /// Not an admin.
            #[oai(status = 403)]
            Forbidden(Json<ErrorBody>),
            $(
                #[doc = $doc]
                #[oai(status = $status)]
                $variant(Json<ErrorBody>),
            )*
            /// A server fault.
            #[oai(status = 500)]
            Internal(Json<ErrorBody>),
            /// The store is unavailable; try again.
            #[oai(status = 503)]
            Unavailable(Json<ErrorBody>),
        }
        api_error_variants!($name { Unauthorized, Forbidden, $($variant,)* Internal, Unavailable });
    };
}

admin_response!(
    UsersResponse,
    200,
    AdminUsers,
    "Every account, by name.",
    []
);
admin_response!(CreateUserResponse, 201, CreatedUser, "Created.", [
    BadRequest = 400: "An invalid name, email or password.",
    UnsupportedMediaType = 415: "The body is not JSON.",
    Conflict = 409: "The name is taken.",
]);
admin_response!(UserResponse, 200, AdminUser, "The account as it is now.", [
    BadRequest = 400: "An invalid email or password.",
    UnsupportedMediaType = 415: "The body is not JSON.",
    NotFound = 404: "No such user.",
]);
admin_response!(DeleteUserResponse, 200, DeletedUser, "Deleted, with its tokens.", [
    NotFound = 404: "No such user.",
]);
admin_response!(
    TokensResponse,
    200,
    AdminTokens,
    "Tokens, oldest first (never their secrets).",
    []
);
admin_response!(CreateTokenResponse, 201, CreatedToken, "Created; the secret is shown once.", [
    BadRequest = 400: "An invalid user name or restriction, or an admin token for a non-admin.",
    UnsupportedMediaType = 415: "The body is not JSON.",
    NotFound = 404: "No such user (and no `service`).",
]);
admin_response!(RevokeTokenResponse, 200, AdminToken, "Revoked: it stops working at once.", [
    NotFound = 404: "No such token.",
]);
admin_response!(OwnersResponse, 200, Owners, "The package's owners.", [
    BadRequest = 400: "The change would leave no owner, or too many.",
    UnsupportedMediaType = 415: "The body is not JSON.",
    NotFound = 404: "No such package, or no such user to add.",
]);
admin_response!(JobResponse, 200, JobBody, "The job as it stands.", [
    NotFound = 404: "No such job.",
]);
admin_response!(StartJobResponse, 202, JobBody, "Started; read it back by its id.", [
    BadRequest = 400: "Options that do not fit the job.",
    UnsupportedMediaType = 415: "The body is not JSON.",
]);
admin_response!(
    JobsResponse,
    200,
    JobList,
    "The jobs remembered, oldest first.",
    []
);
admin_response!(CacheResponse, 200, CacheStats, "What the cache holds.", []);

#[derive(ApiResponse)]
pub enum BackupResponse {
    /// The archive, streamed as it is written. It ends early (without tar's end-of-archive
    /// blocks) if the backup fails part-way: the server's log says why.
    #[oai(status = 200, content_type = "application/x-tar")]
    Ok(
        Binary<poem::Body>,
        /// `attachment; filename="pantry-backup-<time>.tar"`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
    /// No token.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Not an admin.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// A server fault.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
}
api_error_variants!(BackupResponse {
    Unauthorized,
    Forbidden,
    Internal
});
admin_response!(AuditResponse, 200, AuditPage, "Entries, oldest first.", [
    BadRequest = 400: "An invalid `since`.",
]);

#[derive(ApiResponse)]
pub enum InviteResponse {
    /// The password is set; log in with it.
    #[oai(status = 200)]
    Ok(Json<AdminUser>),
    /// The invitation is not valid (used, expired or mistyped), or the password is too short.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// The body is not JSON.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}
api_error_variants!(InviteResponse {
    BadRequest,
    UnsupportedMediaType,
    Internal,
    Unavailable
});

pub struct AdminApi {
    pub core: Arc<Core>,
}

fn store_error(e: crate::store::StoreError) -> ApiError {
    e.into()
}

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminApi {
    /// List accounts
    #[oai(
        path = "/-/admin/users",
        method = "get",
        operation_id = "adminListUsers"
    )]
    async fn list_users(&self, _admin: AdminCaller) -> UsersResponse {
        match self.core.store.list_users().await {
            Ok(users) => UsersResponse::Ok(Json(AdminUsers {
                users: users.iter().map(AdminUser::of).collect(),
            })),
            Err(e) => store_error(e).into(),
        }
    }

    /// Create an account
    ///
    /// With a password, or without one to get an invitation (shown once) that lets its holder
    /// set the first password through `POST /-/invite`.
    #[oai(
        path = "/-/admin/users",
        method = "post",
        operation_id = "adminCreateUser"
    )]
    async fn create_user(&self, admin: AdminCaller, body: Json<NewUser>) -> CreateUserResponse {
        let b = body.0;
        match admin::create_user(
            &self.core,
            &admin.actor(),
            &b.name,
            &b.email,
            b.password.as_deref(),
            b.admin,
        )
        .await
        {
            Ok((user, invite)) => CreateUserResponse::Ok(Json(CreatedUser {
                user: AdminUser::of(&user),
                invite,
            })),
            Err(e) => ApiError::from(e).into(),
        }
    }

    /// Change an account
    ///
    /// Disable or enable it (a disabled account cannot log in and its tokens are refused),
    /// make it an admin or not, change its email, or reset its password.
    #[oai(
        path = "/-/admin/users/:name",
        method = "patch",
        operation_id = "adminUpdateUser"
    )]
    async fn update_user(
        &self,
        admin: AdminCaller,
        name: Path<String>,
        body: Json<UserPatch>,
    ) -> UserResponse {
        let b = body.0;
        let change = UserChange {
            email: b.email,
            password: b.password,
            disabled: b.disabled,
            admin: b.admin,
        };
        match admin::update_user(&self.core, &admin.actor(), &name, change).await {
            Ok(user) => UserResponse::Ok(Json(AdminUser::of(&user))),
            Err(e) => ApiError::from(e).into(),
        }
    }

    /// Delete an account
    ///
    /// Its tokens are revoked. Packages it owns keep their other owners; transfer the rest
    /// first.
    #[oai(
        path = "/-/admin/users/:name",
        method = "delete",
        operation_id = "adminDeleteUser"
    )]
    async fn delete_user(&self, admin: AdminCaller, name: Path<String>) -> DeleteUserResponse {
        match admin::delete_user(&self.core, &admin.actor(), &name).await {
            Ok(n) => DeleteUserResponse::Ok(Json(DeletedUser {
                name: name.0,
                tokens_revoked: n as u64,
            })),
            Err(e) => ApiError::from(e).into(),
        }
    }

    /// List tokens
    ///
    /// Every token (or one user's), oldest first, with when each was last used.
    #[oai(
        path = "/-/admin/tokens",
        method = "get",
        operation_id = "adminListTokens"
    )]
    async fn list_tokens(
        &self,
        _admin: AdminCaller,
        user: Query<Option<String>>,
    ) -> TokensResponse {
        match self.core.store.list_tokens().await {
            Ok(mut tokens) => {
                tokens.sort_by_key(|t| t.created_at);
                TokensResponse::Ok(Json(AdminTokens {
                    tokens: tokens
                        .iter()
                        .filter(|t| user.0.as_ref().is_none_or(|u| &t.user == u))
                        .map(AdminToken::of)
                        .collect(),
                }))
            }
            Err(e) => store_error(e).into(),
        }
    }

    /// Create a token
    ///
    /// For any account (or a new service account with `service`), with a scope, an optional
    /// package restriction and an optional expiry. The secret is in the answer only.
    #[oai(
        path = "/-/admin/tokens",
        method = "post",
        operation_id = "adminCreateToken"
    )]
    async fn create_token(&self, admin: AdminCaller, body: Json<NewToken>) -> CreateTokenResponse {
        let b = body.0;
        let expires_at = b
            .expires_in_days
            .map(|d| time::OffsetDateTime::now_utc() + time::Duration::days(d));
        let for_whom = if b.service {
            TokenFor::AccountOrService
        } else {
            TokenFor::Account
        };
        let label = b.name.clone().unwrap_or_else(|| b.user.clone());
        match admin::create_token(
            &self.core,
            &admin.actor(),
            &b.user,
            &label,
            b.scope.map_or(TokenScope::Publish, TokenScope::from),
            b.package.as_deref(),
            expires_at,
            for_whom,
        )
        .await
        {
            Ok(minted) => CreateTokenResponse::Ok(Json(CreatedToken {
                token: minted.secret,
                record: AdminToken::of(&minted.record),
            })),
            Err(e) => ApiError::from(e).into(),
        }
    }

    /// Revoke a token
    ///
    /// By its public id; the very next request with it is refused.
    #[oai(
        path = "/-/admin/tokens/:id",
        method = "delete",
        operation_id = "adminRevokeToken"
    )]
    async fn revoke_token(&self, admin: AdminCaller, id: Path<String>) -> RevokeTokenResponse {
        let record = match self.core.store.token_by_id(&id).await {
            Ok(record) => record,
            Err(e) => return store_error(e).into(),
        };
        let Some(record) = record else {
            return ApiError::not_found(format!("no such token: {}", id.0)).into();
        };
        match crate::core::users::revoke_token(&self.core, &admin.actor(), &id).await {
            Ok(true) => RevokeTokenResponse::Ok(Json(AdminToken::of(&record))),
            Ok(false) => ApiError::not_found(format!("no such token: {}", id.0)).into(),
            Err(e) => store_error(e).into(),
        }
    }

    /// A package's owners
    #[oai(
        path = "/-/admin/owners",
        method = "get",
        operation_id = "adminListOwners"
    )]
    async fn owners(&self, _admin: AdminCaller, package: Query<String>) -> OwnersResponse {
        match self.core.store.package(&package).await {
            Ok(Some(p)) => OwnersResponse::Ok(Json(Owners {
                package: p.name,
                owners: p.owners,
            })),
            Ok(None) => ApiError::not_found(format!("no such package: {}", package.0)).into(),
            Err(e) => store_error(e).into(),
        }
    }

    /// Change a package's owners
    ///
    /// Add and remove owners, or transfer the package to one user. Owners must be accounts; a
    /// package keeps at least one.
    #[oai(
        path = "/-/admin/owners",
        method = "post",
        operation_id = "adminChangeOwners"
    )]
    async fn change_owners(&self, admin: AdminCaller, body: Json<OwnersChange>) -> OwnersResponse {
        let b = body.0;
        match admin::change_owners(
            &self.core,
            &admin.actor(),
            &b.package,
            b.add,
            b.remove,
            b.transfer_to,
        )
        .await
        {
            Ok(p) => OwnersResponse::Ok(Json(Owners {
                package: p.name,
                owners: p.owners,
            })),
            Err(e) => ApiError::from(e).into(),
        }
    }

    /// Start a maintenance job
    ///
    /// `gc` (delete unreferenced blobs; `dryRun` lists them), `reindex` (rebuild the search
    /// index), `verify` (re-hash every blob, check every record), `cache-prune` (the npm
    /// fallback's cache, by `olderThanSecs` and/or to `maxBytes`) or `import` (`from` `seed` or
    /// `verdaccio`, `dir` an absolute path on the server's machine: publishes the packages that
    /// directory holds; the result lists what was imported and what was skipped, and why).
    /// The server keeps serving; one job runs at a time.
    #[oai(
        path = "/-/admin/jobs",
        method = "post",
        operation_id = "adminStartJob"
    )]
    async fn start_job(&self, admin: AdminCaller, body: Json<NewJob>) -> StartJobResponse {
        let b = body.0;
        let kind = match b.kind {
            JobName::Gc => JobKind::Gc { dry_run: b.dry_run },
            JobName::Reindex => JobKind::Reindex,
            JobName::Verify => JobKind::Verify,
            JobName::Import => {
                let (Some(from), Some(dir)) = (b.from, b.dir) else {
                    return ApiError::bad_request(
                        "import needs from (seed or verdaccio) and dir (an absolute path on the server)",
                    )
                    .into();
                };
                let dir = std::path::PathBuf::from(dir);
                if !dir.is_absolute() {
                    return ApiError::bad_request(
                        "dir must be an absolute path on the server's machine",
                    )
                    .into();
                }
                JobKind::Import {
                    from: match from {
                        ImportFrom::Seed => crate::core::import::Source::Seed,
                        ImportFrom::Verdaccio => crate::core::import::Source::Verdaccio,
                    },
                    dir,
                }
            }
            JobName::CachePrune => {
                if b.older_than_secs.is_none() && b.max_bytes.is_none() {
                    return ApiError::bad_request(
                        "cache-prune needs olderThanSecs, maxBytes, or both",
                    )
                    .into();
                }
                JobKind::CachePrune {
                    older_than: b
                        .older_than_secs
                        .map(|s| time::Duration::seconds(s.min(i64::MAX as u64) as i64)),
                    max_bytes: b.max_bytes,
                }
            }
        };
        let job = jobs::start(&self.core, &admin.actor(), kind);
        StartJobResponse::Ok(Json(JobBody::of(&job)))
    }

    /// Download a backup
    ///
    /// The whole registry as one tar archive, streamed as it is written, while the server
    /// keeps serving and publishing: `pantry-backup.json` (the manifest: counts, the records'
    /// SHA-256, every blob with its size), `records.ndjson.zst` (every metadata record, from
    /// one read snapshot on redb, each package at one revision on DynamoDB), then
    /// `blobs/<sha256>` for every blob the records name. Maintenance jobs wait while it runs.
    /// `pantry-registry backup FILE` saves it, checking every hash as it arrives, and
    /// `pantry-registry restore FILE` restores it into an empty registry.
    #[oai(path = "/-/admin/backup", method = "get", operation_id = "adminBackup")]
    async fn backup(&self, admin: AdminCaller) -> BackupResponse {
        let (writer, reader) = tokio::io::duplex(256 * 1024);
        let (core, actor) = (self.core.clone(), admin.actor());
        tokio::spawn(async move {
            let written = crate::core::backup::backup_registry(
                &core,
                &actor,
                writer,
                &crate::core::backup::Unwatched,
            )
            .await;
            if let Err(e) = written {
                tracing::warn!(error = %e, "the backup stopped before its end");
            }
        });
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]-[hour][minute][second]"
            ))
            .unwrap_or_default();
        BackupResponse::Ok(
            Binary(poem::Body::from_async_read(reader)),
            format!("attachment; filename=\"pantry-backup-{stamp}.tar\""),
        )
    }

    /// What the npm fallback's cache holds
    #[oai(
        path = "/-/admin/cache",
        method = "get",
        operation_id = "adminCacheStats"
    )]
    async fn cache_stats(&self, _admin: AdminCaller) -> CacheResponse {
        match crate::core::proxy::cache::stats(&self.core.clone_parts()).await {
            Ok(s) => CacheResponse::Ok(Json(CacheStats {
                packuments: s.packuments as u64,
                packument_bytes: s.packument_bytes,
                negative: s.negative as u64,
                tarballs: s.tarballs as u64,
                tarball_bytes: s.tarball_bytes,
            })),
            Err(e) => store_error(e).into(),
        }
    }

    /// List jobs
    #[oai(path = "/-/admin/jobs", method = "get", operation_id = "adminListJobs")]
    async fn list_jobs(&self, _admin: AdminCaller) -> JobsResponse {
        JobsResponse::Ok(Json(JobList {
            jobs: self.core.jobs.list().iter().map(JobBody::of).collect(),
        }))
    }

    /// One job
    #[oai(
        path = "/-/admin/jobs/:id",
        method = "get",
        operation_id = "adminGetJob"
    )]
    async fn job(&self, _admin: AdminCaller, id: Path<String>) -> JobResponse {
        match self.core.jobs.get(&id) {
            Some(j) => JobResponse::Ok(Json(JobBody::of(&j))),
            None => ApiError::not_found(format!("no such job: {}", id.0)).into(),
        }
    }

    /// Read the audit log
    ///
    /// Every state change and login, oldest first: from `since` (RFC 3339), by one acting
    /// `actor`, about one `package`; `limit` per page (default 100, at most 1000), `after` the
    /// last page's `next`.
    #[oai(path = "/-/admin/audit", method = "get", operation_id = "adminAudit")]
    async fn audit(
        &self,
        _admin: AdminCaller,
        since: Query<Option<String>>,
        actor: Query<Option<String>>,
        package: Query<Option<String>>,
        after: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))] limit: Query<Option<u32>>,
    ) -> AuditResponse {
        let since = match since.0.as_deref().map(crate::core::timestamps::parse) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => return ApiError::bad_request(e).into(),
            None => None,
        };
        let limit = limit.0.unwrap_or(100) as usize;
        let filter = AuditFilter {
            since,
            actor: actor.0,
            package: package.0,
            after: after.0,
            limit,
        };
        match crate::core::audit::read(&self.core.store, &self.core.audit, &filter).await {
            Ok(entries) => {
                let next = (entries.len() == limit)
                    .then(|| entries.last().map(|e| e.id.clone()))
                    .flatten();
                AuditResponse::Ok(Json(AuditPage {
                    entries: entries.into_iter().map(AuditEntry::of).collect(),
                    next,
                }))
            }
            Err(e) => store_error(e).into(),
        }
    }

    /// Accept an invitation
    ///
    /// Sets the first password of an invited account; the invitation is the credential.
    #[oai(path = "/-/invite", method = "post", operation_id = "acceptInvite")]
    async fn accept_invite(
        &self,
        request: &poem::Request,
        body: Json<InviteAcceptance>,
    ) -> InviteResponse {
        let b = body.0;
        let actor = Actor::claiming(&b.name, crate::http::edge::ClientAddress::of(request));
        match admin::accept_invite(&self.core, &actor, &b.invite, &b.name, &b.password).await {
            Ok(user) => InviteResponse::Ok(Json(AdminUser::of(&user))),
            Err(e) => ApiError::from(e).into(),
        }
    }
}
