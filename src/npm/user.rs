//! Accounts and tokens the npm way: login/adduser (the CouchDB user document), whoami, logout,
//! profile, and `npm token list|create|revoke`.

use poem::Request;
use poem::http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::packument::iso;
use super::{Credentials, NpmEndpoint, NpmResult, credentials, json};
use crate::core::audit::Actor;
use crate::core::auth::{self, Caller, hash_token};
use crate::core::users::{self, UserError};
use crate::error::ApiError;
use crate::store::{TokenRecord, TokenScope};

pub fn user_error(e: UserError) -> ApiError {
    e.into()
}

fn couch_id(name: &str) -> String {
    format!("org.couchdb.user:{name}")
}

/// `PUT /-/user/org.couchdb.user:{name}` (and `/-rev/{rev}`): log in, or sign up if allowed.
/// A known user with the right password gets a fresh token (201), like the public registry; the
/// `-rev` form (npm's and yarn's retry after a 409) authenticates with Basic.
pub async fn put_user(
    ep: &NpmEndpoint,
    req: &mut Request,
    name: &str,
    with_rev: bool,
) -> NpmResult {
    let basic = match credentials(req) {
        Credentials::Basic { user, password } => Some((user, password)),
        _ => None,
    };
    let body = ep.json_body(req, 64 * 1024).await?;
    let body_name = body.get("name").and_then(Value::as_str).unwrap_or(name);
    if body_name != name {
        return Err(ApiError::bad_request(
            "the user name in the body does not match the URL",
        ));
    }
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            basic
                .as_ref()
                .filter(|(u, _)| u == name)
                .map(|(_, p)| p.clone())
        })
        .ok_or_else(|| ApiError::bad_request("a password is required"))?;
    let address = crate::http::edge::ClientAddress::of(req);
    let actor = Actor::claiming(name, address);
    // `npm adduser` run by an admin (whose token npm sends along) creates the account.
    let admin = match credentials(req) {
        Credentials::Bearer(token) if !token.is_empty() => auth::authenticate(&ep.core, &token)
            .await
            .ok()
            .filter(Caller::is_admin)
            .map(|mut c| {
                c.address = address;
                c
            }),
        _ => None,
    };
    let existing = ep.core.store.user(name).await.map_err(ApiError::internal)?;
    let user = match existing {
        Some(_) => users::login(&ep.core, &actor, name, &password)
            .await
            .map_err(user_error)?,
        None if with_rev => return Err(ApiError::unauthorized("wrong user name or password")),
        None if ep.core.settings.allow_signup || admin.is_some() => {
            let email = body
                .get("email")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request("an email address is required to sign up"))?;
            let creator = admin.as_ref().map_or_else(|| actor.clone(), Actor::of);
            users::create_user(&ep.core, &creator, name, email, &password)
                .await
                .map_err(user_error)?
        }
        None => {
            // Same answer (and the same hashing time) as a wrong password, so the answer does
            // not tell which user names exist.
            let _ = users::login(&ep.core, &actor, name, &password).await;
            return Err(ApiError::unauthorized(
                "wrong user name or password (accounts are created by an administrator: \
                 `pantry-registry user create`, or `npm adduser` with an admin's token)",
            ));
        }
    };
    let actor = Actor {
        user: Some(user.name.clone()),
        ..actor
    };
    let minted = users::issue_token(
        &ep.core,
        &actor,
        &user.name,
        "npm login",
        TokenScope::Publish,
    )
    .await
    .map_err(ApiError::internal)?;
    Ok(json(
        StatusCode::CREATED,
        &json!({
            "ok": true,
            "id": couch_id(&user.name),
            "rev": format!("1-{}", minted.record.id),
            "token": minted.secret,
        }),
    ))
}

/// `GET /-/user/org.couchdb.user:{name}`: the user document `npm owner add` reads.
pub async fn get_user(ep: &NpmEndpoint, req: &Request, name: &str) -> NpmResult {
    // yarn's login reads the user document with Basic credentials.
    ep.caller_with_password(req)
        .await?
        .ok_or_else(|| ApiError::unauthorized("authentication required"))?;
    let user = ep
        .core
        .store
        .user(name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no such user: {name}")))?;
    Ok(json(
        StatusCode::OK,
        &json!({"_id": couch_id(&user.name), "name": user.name, "email": user.email, "type": "user", "roles": []}),
    ))
}

pub async fn whoami(ep: &NpmEndpoint, req: &Request) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    Ok(json(StatusCode::OK, &json!({"username": caller.user})))
}

/// `DELETE /-/user/token/{token}` (npm logout): the token really stops working.
pub async fn logout(ep: &NpmEndpoint, req: &Request, token: &str) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    let record = ep
        .core
        .store
        .token_by_hash(&hash_token(token))
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("no such token"))?;
    may_revoke(&caller, &record)?;
    users::revoke_token(&ep.core, &Actor::of(&caller), &record.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(json(StatusCode::OK, &json!({"ok": "Logged out"})))
}

/// `GET /-/npm/v1/user` (npm profile get).
pub async fn profile(ep: &NpmEndpoint, req: &Request) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    let user = ep
        .core
        .store
        .user(&caller.user)
        .await
        .map_err(ApiError::internal)?;
    let (email, created, updated) = match &user {
        Some(u) => (u.email.clone(), iso(u.created_at), iso(u.updated_at)),
        None => (String::new(), String::new(), String::new()),
    };
    Ok(json(
        StatusCode::OK,
        &json!({
            "name": caller.user, "email": email, "email_verified": false, "tfa": false,
            "created": created, "updated": updated, "cidr_whitelist": null, "fullname": "",
        }),
    ))
}

/// `POST /-/npm/v1/user` (npm profile set password): `{"password": {"old", "new"}}`.
pub async fn update_profile(ep: &NpmEndpoint, req: &mut Request) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    let body = ep.json_body(req, 64 * 1024).await?;
    let Some(pw) = body.get("password").and_then(Value::as_object) else {
        return Err(ApiError::bad_request(
            "only the password can be changed here",
        ));
    };
    let (Some(old), Some(new)) = (
        pw.get("old").and_then(Value::as_str),
        pw.get("new").and_then(Value::as_str),
    ) else {
        return Err(ApiError::bad_request("password change needs old and new"));
    };
    users::change_password(&ep.core, &caller, old, new)
        .await
        .map_err(user_error)?;
    profile(ep, req).await
}

/// A token may be revoked by itself, by an unrestricted publish token of the same user (a leaked
/// read-only CI token must not be able to lock its owner out), or by an admin.
fn may_revoke(caller: &Caller, token: &TokenRecord) -> Result<(), ApiError> {
    let own = caller.token_hash.as_deref() == Some(token.hash.as_str());
    let same_user = token.user == caller.user && caller.may_manage_tokens();
    if caller.is_admin() || own || same_user {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only an unrestricted publish token of the same user (or an admin) can revoke that token",
        ))
    }
}

fn token_object(t: &crate::store::TokenRecord) -> Value {
    json!({
        "token": format!("ptry_…{}", t.id),
        "key": t.id,
        "name": t.name,
        "readonly": t.scope == TokenScope::Read,
        "automation": false,
        "cidr_whitelist": [],
        "created": iso(t.created_at),
        "updated": iso(t.created_at),
        "expires": t.expires_at.map(iso),
    })
}

/// `GET /-/npm/v1/tokens`: the caller's tokens (never their secrets).
pub async fn list_tokens(ep: &NpmEndpoint, req: &Request) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    let tokens = ep
        .core
        .store
        .list_tokens()
        .await
        .map_err(ApiError::internal)?;
    let mine: Vec<Value> = tokens
        .iter()
        .filter(|t| t.user == caller.user)
        .map(token_object)
        .collect();
    Ok(json(
        StatusCode::OK,
        &json!({"objects": mine, "total": mine.len(), "urls": {}}),
    ))
}

/// `POST /-/npm/v1/tokens` (npm token create): needs the account password.
pub async fn create_token(ep: &NpmEndpoint, req: &mut Request) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    if !caller.may_manage_tokens() {
        return Err(ApiError::forbidden(
            "a read-only or restricted token cannot create tokens",
        ));
    }
    let body = ep.json_body(req, 64 * 1024).await?;
    if caller.user != auth::ADMIN_USER {
        let password = body.get("password").and_then(Value::as_str).unwrap_or("");
        users::verify(&ep.core, &caller.user, password)
            .await
            .map_err(user_error)?;
    }
    let readonly = body
        .get("readonly")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // A token never has more power than the one that made it.
    let scope = if readonly {
        TokenScope::Read
    } else {
        caller.scope.min(TokenScope::Publish).max(TokenScope::Read)
    };
    let label = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("npm token create");
    let expires_at = body
        .get("expires")
        .and_then(Value::as_i64)
        .filter(|d| *d > 0 && *d <= 3650)
        .map(|days| OffsetDateTime::now_utc() + time::Duration::days(days));
    let minted = auth::mint(
        &caller.user,
        label,
        scope,
        caller.restriction.clone(),
        expires_at,
    );
    users::create_token(&ep.core, &Actor::of(&caller), &minted)
        .await
        .map_err(ApiError::internal)?;
    let mut obj = token_object(&minted.record);
    obj["token"] = minted.secret.into();
    obj["user"] = caller.user.into();
    Ok(json(StatusCode::OK, &obj))
}

/// `DELETE /-/npm/v1/tokens/token/{key}` (npm token revoke).
pub async fn revoke_token(ep: &NpmEndpoint, req: &Request, key: &str) -> NpmResult {
    let caller = ep.require_caller(req).await?;
    let token = ep
        .core
        .store
        .token_by_id(key)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no such token: {key}")))?;
    may_revoke(&caller, &token)?;
    users::revoke_token(&ep.core, &Actor::of(&caller), key)
        .await
        .map_err(ApiError::internal)?;
    Ok(json(StatusCode::OK, &json!({})))
}

/// `GET /-/_view/starredByUser?key="<user>"` (`npm stars`): the packages the user starred, as
/// the rows of the CouchDB view npm reads (`value` is the package name); only packages the
/// caller may read.
pub async fn starred_by(ep: &NpmEndpoint, req: &Request) -> NpmResult {
    let reader = ep.reader(req).await?;
    let params = super::search::query_params(req);
    let key = params.get("key").map(String::as_str).unwrap_or("");
    let user =
        serde_json::from_str::<String>(key).unwrap_or_else(|_| key.trim_matches('"').to_string());
    if user.is_empty() {
        return Err(ApiError::bad_request(
            "which user's stars? Pass key=\"<user name>\" (npm stars <user> does)",
        ));
    }
    let mut rows = Vec::new();
    for name in crate::core::packages::starred_by(&ep.core, &user).await? {
        if ep.core.access.local(&ep.core, &reader, &name).await.is_ok() {
            rows.push(json!({"id": name, "key": user, "value": name}));
        }
    }
    Ok(super::json(StatusCode::OK, &json!({ "rows": rows })))
}
