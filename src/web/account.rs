//! Signing in to the web UI, and the pages of a signed-in user: their packages and tokens
//! (create with scope, package and expiry; last use; revoke), and for admins the accounts and
//! the audit log (the admin API's use cases, through a page).
//!
//! A sign-in (password, or a token) mints a session token of its own, kept only as its hash
//! like every token, expiring after [`SESSION_HOURS`]; the browser holds it in an `HttpOnly`,
//! `SameSite=Strict` cookie. Every form that changes something carries a token derived from
//! the session (so another site cannot forge it) and is refused unless its `Origin`, when
//! sent, is this registry's.

use std::fmt::Write;
use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::web::{Data, Form};
use poem::{Request, Response, handler};
use sha2::Digest;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::html::{copyable, day, esc, layout, path_name};
use super::page_response;
use super::pages::WebState;
use crate::core::Core;
use crate::core::admin::{self, TokenFor};
use crate::core::audit::{Actor, AuditFilter};
use crate::core::auth::{self, Caller};
use crate::store::TokenScope;

/// The session cookie's name.
pub const COOKIE: &str = "pantry_session";
/// How long a web session lasts.
pub const SESSION_HOURS: i64 = 12;
/// The label session tokens carry (they show in the token list, and can be revoked there).
const SESSION_LABEL: &str = "web session";

/// The session secret the request's cookie carries.
fn session_secret(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// The signed-in caller of a request, and its session secret.
pub async fn session(core: &Core, req: &Request) -> Option<(Caller, String)> {
    let secret = session_secret(req)?;
    let caller = auth::authenticate(core, &secret).await.ok()?;
    Some((caller, secret))
}

/// The form token of a session: a hash of its secret, which another site cannot know.
fn form_token(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(
        format!("pantry-form:{secret}").as_bytes(),
    ))[..32]
        .to_string()
}

fn hidden_form_token(secret: &str) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        form_token(secret)
    )
}

/// Whether a form post is this session's own: its form token matches, and its `Origin`, when
/// the browser sends one, is this registry's.
fn same_site_post(core: &Core, req: &Request, secret: &str, sent: &str) -> bool {
    let expected = form_token(secret);
    let token_ok = bool::from(expected.as_bytes().ct_eq(sent.as_bytes()));
    let origin_ok = match req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(origin) => core.url_base().trim_end_matches('/') == origin.trim_end_matches('/'),
    };
    token_ok && origin_ok
}

fn redirect(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

fn cookie(core: &Core, value: &str, max_age: i64) -> String {
    let secure = if core.url_base().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

fn login_page(status: StatusCode, message: Option<&str>) -> Response {
    let mut main = String::from("<h1>Sign in</h1>");
    if let Some(m) = message {
        main.push_str(&alert(m));
    }
    main.push_str(
        r#"<div class="columns"><form class="stacked" method="post" action="/login"><h2>With your password</h2><label for="login-name">User name</label><input id="login-name" name="name" autocomplete="username" required><label for="login-password">Password</label><input id="login-password" name="password" type="password" autocomplete="current-password" required><button type="submit">Sign in</button></form><form class="stacked" method="post" action="/login"><h2>With a token</h2><label for="login-token">Token</label><input id="login-token" name="token" type="password" autocomplete="off" required><button type="submit">Sign in with the token</button></form></div>"#,
    );
    let mut resp = page_response(status, layout("Sign in", "", &main));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /login`: the sign-in forms.
#[handler]
pub async fn login_form() -> Response {
    login_page(StatusCode::OK, None)
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    name: Option<String>,
    password: Option<String>,
    token: Option<String>,
}

/// `POST /login`: signs in with a user name and password, or a token, and sets the session
/// cookie.
#[handler]
pub async fn login(
    state: Data<&Arc<WebState>>,
    req: &Request,
    Form(form): Form<LoginForm>,
) -> Response {
    let core = &state.core;
    let address = crate::http::edge::ClientAddress::of(req);
    let user = match (&form.name, &form.password, &form.token) {
        (Some(name), Some(password), _) if !name.is_empty() => {
            let actor = Actor::claiming(name, address);
            match crate::core::users::login(core, &actor, name.trim(), password).await {
                Ok(user) => (user.name.clone(), user.admin),
                Err(e) => return login_page(StatusCode::UNAUTHORIZED, Some(&e.to_string())),
            }
        }
        (_, _, Some(token)) if !token.is_empty() => {
            match auth::authenticate(core, token.trim()).await {
                Ok(caller) => (caller.user.clone(), caller.is_admin()),
                Err(e) => return login_page(StatusCode::UNAUTHORIZED, Some(&e.to_string())),
            }
        }
        _ => {
            return login_page(
                StatusCode::BAD_REQUEST,
                Some("Give a user name and password, or a token."),
            );
        }
    };
    let (name, is_admin) = user;
    let scope = if is_admin {
        TokenScope::Admin
    } else {
        TokenScope::Publish
    };
    let expires = OffsetDateTime::now_utc() + time::Duration::hours(SESSION_HOURS);
    let minted = auth::mint(&name, SESSION_LABEL, scope, None, Some(expires));
    let actor = Actor::claiming(&name, address);
    if let Err(e) = crate::core::users::create_token(core, &actor, &minted).await {
        tracing::warn!(error = %e, "a web session could not be stored");
        return login_page(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("The registry could not sign you in just now; try again."),
        );
    }
    let mut resp = redirect("/account");
    if let Ok(v) = HeaderValue::from_str(&cookie(core, &minted.secret, SESSION_HOURS * 3600)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[derive(serde::Deserialize)]
pub struct PostedForm {
    #[serde(default)]
    csrf: String,
    id: Option<String>,
    name: Option<String>,
    scope: Option<String>,
    package: Option<String>,
    expires_days: Option<String>,
}

/// `POST /logout`: ends the session (its token is revoked) and clears the cookie.
#[handler]
pub async fn logout(
    state: Data<&Arc<WebState>>,
    req: &Request,
    Form(form): Form<PostedForm>,
) -> Response {
    let core = &state.core;
    if let Some((caller, secret)) = session(core, req).await
        && same_site_post(core, req, &secret, &form.csrf)
        && let Some(id) = &caller.token_id
    {
        let _ = crate::core::users::revoke_token(core, &Actor::of(&caller), id).await;
    }
    let mut resp = redirect("/");
    if let Ok(v) = HeaderValue::from_str(&cookie(core, "", 0)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

fn account_page(title: &str, main: &str) -> Response {
    let mut resp = page_response(StatusCode::OK, layout(title, "", main));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The account navigation and sign-out form.
fn account_nav(caller: &Caller, secret: &str) -> String {
    let admin = if caller.is_admin() {
        r#" · <a href="/account/users">Users</a> · <a href="/account/audit">Audit log</a>"#
    } else {
        ""
    };
    format!(
        r#"<nav class="account" aria-label="Account"><span>Signed in as <strong id="signed-in-as">{user}</strong></span> <a href="/account">Packages and tokens</a>{admin} <form class="inline" method="post" action="/logout">{csrf}<button type="submit">Sign out</button></form></nav>"#,
        user = esc(&caller.user),
        csrf = hidden_form_token(secret),
    )
}

async fn account_body(
    core: &Core,
    caller: &Caller,
    secret: &str,
    created: Option<&str>,
) -> Result<String, crate::store::StoreError> {
    let mut main = account_nav(caller, secret);
    let _ = write!(main, "<h1>Your account</h1>");
    if let Some(token) = created {
        let _ = write!(
            main,
            r#"<section class="notice" id="created-token" role="status"><h2>Your new token</h2><p>It is shown only this once: copy it now.</p>{}</section>"#,
            copyable("new-token", "Token", token)
        );
    }
    let owned: Vec<_> = core
        .store
        .list_packages()
        .await?
        .into_iter()
        .filter(|p| p.owners.contains(&caller.user))
        .collect();
    let _ = write!(
        main,
        r#"<section id="your-packages"><h2>Your packages ({})</h2><ul class="packages">"#,
        owned.len()
    );
    for p in &owned {
        let _ = write!(
            main,
            r#"<li><a href="/package/{}">{}</a> <span class="version">{}</span></li>"#,
            path_name(&p.name),
            esc(&p.name),
            esc(p.dist_tags.get("latest").map(String::as_str).unwrap_or("")),
        );
    }
    if owned.is_empty() {
        main.push_str("<li class=\"none\">None yet.</li>");
    }
    main.push_str("</ul></section>");

    let mut tokens: Vec<_> = core
        .store
        .list_tokens()
        .await?
        .into_iter()
        .filter(|t| t.user == caller.user)
        .collect();
    tokens.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    let _ = write!(
        main,
        r#"<section id="tokens"><h2>Your tokens ({})</h2><table><thead><tr><th scope="col">Name</th><th scope="col">Id</th><th scope="col">Scope</th><th scope="col">Package</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Revoke</span></th></tr></thead><tbody>"#,
        tokens.len()
    );
    let csrf = hidden_form_token(secret);
    for t in &tokens {
        let this_session = caller.token_id.as_deref() == Some(t.id.as_str());
        let _ = write!(
            main,
            r#"<tr data-token-id="{id}"><td>{name}{current}</td><td><code>{id}</code></td><td>{scope}</td><td>{package}</td><td>{expires}</td><td>{used}</td><td>{revoke}</td></tr>"#,
            id = esc(&t.id),
            name = esc(&t.name),
            current = if this_session { " (this session)" } else { "" },
            scope = t.scope,
            package = esc(t.restriction.as_deref().unwrap_or("any")),
            expires = t
                .expires_at
                .map(|e| day(&crate::core::timestamps::iso(e)).to_string())
                .unwrap_or_else(|| "never".into()),
            used = t
                .last_used
                .map(|e| day(&crate::core::timestamps::iso(e)).to_string())
                .unwrap_or_else(|| "never".into()),
            revoke = if this_session {
                String::new()
            } else {
                format!(
                    r#"<form class="inline" method="post" action="/account/tokens/revoke">{csrf}<input type="hidden" name="id" value="{id}"><button type="submit" class="danger" aria-label="Revoke {name}">Revoke</button></form>"#,
                    id = esc(&t.id),
                    name = esc(&t.name),
                )
            },
        );
    }
    main.push_str("</tbody></table></section>");
    let admin_option = if caller.is_admin() {
        r#"<option value="admin">admin</option>"#
    } else {
        ""
    };
    let _ = write!(
        main,
        r#"<section id="new-token-form"><h2>Create a token</h2><form class="stacked" method="post" action="/account/tokens">{csrf}<label for="token-name">Name</label><input id="token-name" name="name" required maxlength="64" placeholder="ci"><label for="token-scope">Scope</label><select id="token-scope" name="scope"><option value="publish">publish</option><option value="read">read</option>{admin_option}</select><label for="token-package">Only this package or scope (optional)</label><input id="token-package" name="package" placeholder="@team/*"><label for="token-expires">Expires after (days, optional)</label><input id="token-expires" name="expires_days" inputmode="numeric" pattern="[0-9]*"><button type="submit">Create the token</button></form></section>"#
    );
    Ok(main)
}

/// `GET /account`: the signed-in user's packages and tokens.
#[handler]
pub async fn account(state: Data<&Arc<WebState>>, req: &Request) -> Response {
    let core = &state.core;
    let Some((caller, secret)) = session(core, req).await else {
        return redirect("/login");
    };
    match account_body(core, &caller, &secret, None).await {
        Ok(main) => account_page("Your account", &main),
        Err(e) => {
            tracing::warn!(error = %e, "the account page could not be built");
            super::pages::unavailable()
        }
    }
}

/// `POST /account/tokens`: creates a token for the signed-in user and shows it once.
#[handler]
pub async fn create_token(
    state: Data<&Arc<WebState>>,
    req: &Request,
    Form(form): Form<PostedForm>,
) -> Response {
    let core = &state.core;
    let (caller, secret) = match session_post(core, req, &form.csrf).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let scope = match form
        .scope
        .as_deref()
        .unwrap_or("publish")
        .parse::<TokenScope>()
    {
        Ok(s) if s <= caller.scope => s,
        Ok(_) => {
            return refused(
                core,
                &caller,
                &secret,
                "You may not make a token with more rights than your own.",
            )
            .await;
        }
        Err(e) => return refused(core, &caller, &secret, &e).await,
    };
    let expires = match form
        .expires_days
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        None => None,
        Some(days) => match days.parse::<i64>() {
            Ok(d) if (1..=3650).contains(&d) => {
                Some(OffsetDateTime::now_utc() + time::Duration::days(d))
            }
            _ => {
                return refused(
                    core,
                    &caller,
                    &secret,
                    "Expiry: a whole number of days from 1 to 3650.",
                )
                .await;
            }
        },
    };
    let name = form
        .name
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    if name.is_empty() || name.len() > 64 {
        return refused(
            core,
            &caller,
            &secret,
            "Give the token a name of 1 to 64 characters.",
        )
        .await;
    }
    let package = form
        .package
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let made = admin::create_token(
        core,
        &Actor::of(&caller),
        &caller.user,
        &name,
        scope,
        package,
        expires,
        TokenFor::Account,
    )
    .await;
    match made {
        Ok(minted) => match account_body(core, &caller, &secret, Some(&minted.secret)).await {
            Ok(main) => account_page("Your account", &main),
            Err(_) => super::pages::unavailable(),
        },
        Err(e) => refused(core, &caller, &secret, &e.to_string()).await,
    }
}

/// The account page again, with why a form was refused.
async fn refused(core: &Core, caller: &Caller, secret: &str, why: &str) -> Response {
    match account_body(core, caller, secret, None).await {
        Ok(main) => {
            let main = format!("{}{main}", alert(why));
            let mut resp = account_page("Your account", &main);
            resp.set_status(StatusCode::BAD_REQUEST);
            resp
        }
        Err(_) => super::pages::unavailable(),
    }
}

fn forbidden() -> Response {
    page_response(
        StatusCode::FORBIDDEN,
        layout(
            "Refused",
            "",
            r#"<h1>Refused</h1><p class="lead">This form did not come from this registry's own page. Reload the page and try again.</p>"#,
        ),
    )
}

/// `POST /account/tokens/revoke`: revokes one of the user's tokens (an admin's: anyone's).
#[handler]
pub async fn revoke_token(
    state: Data<&Arc<WebState>>,
    req: &Request,
    Form(form): Form<PostedForm>,
) -> Response {
    let core = &state.core;
    let (caller, secret) = match session_post(core, req, &form.csrf).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let Some(id) = form.id.as_deref() else {
        return refused(core, &caller, &secret, "Which token?").await;
    };
    match core.store.token_by_id(id).await {
        Ok(Some(t)) if t.user == caller.user || caller.is_admin() => {
            match crate::core::users::revoke_token(core, &Actor::of(&caller), id).await {
                Ok(_) => redirect("/account"),
                Err(_) => super::pages::unavailable(),
            }
        }
        Ok(_) => refused(core, &caller, &secret, "There is no such token of yours.").await,
        Err(_) => super::pages::unavailable(),
    }
}

/// The accounts page's body: a form to invite a new account, then every account with the
/// actions on it.
async fn users_body(
    core: &Core,
    caller: &Caller,
    secret: &str,
    notice: Option<String>,
) -> Result<String, crate::store::StoreError> {
    let users = core.store.list_users().await?;
    let csrf = hidden_form_token(secret);
    let mut main = account_nav(caller, secret);
    if let Some(n) = notice {
        main.push_str(&n);
    }
    let _ = write!(
        main,
        r#"<h1>Users ({})</h1><section id="invite-user"><h2>Invite someone</h2><form class="stacked" method="post" action="/account/users">{csrf}<label for="user-name">User name</label><input id="user-name" name="name" required maxlength="64"><label for="user-email">Email</label><input id="user-email" name="email" type="email" required><label class="check"><input type="checkbox" name="admin" value="true"> An admin</label><button type="submit">Create and invite</button></form></section><table id="users"><thead><tr><th scope="col">Name</th><th scope="col">Email</th><th scope="col">Admin</th><th scope="col">State</th><th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead><tbody>"#,
        users.len()
    );
    for u in &users {
        let action = |action: &str, label: &str| {
            format!(
                r#"<form class="inline" method="post" action="/account/users/change">{csrf}<input type="hidden" name="name" value="{name}"><input type="hidden" name="action" value="{action}"><button type="submit" class="danger" aria-label="{label} {name}">{label}</button></form>"#,
                name = esc(&u.name),
            )
        };
        let actions = if u.name == caller.user {
            String::new()
        } else {
            [
                if u.disabled {
                    action("enable", "Enable")
                } else {
                    action("disable", "Disable")
                },
                if u.admin {
                    action("unadmin", "Remove admin")
                } else {
                    action("admin", "Make admin")
                },
            ]
            .join(" ")
        };
        let _ = write!(
            main,
            r#"<tr data-user="{name}"><td>{name}</td><td>{email}</td><td>{admin}</td><td>{state}</td><td>{created}</td><td>{actions}</td></tr>"#,
            name = esc(&u.name),
            email = esc(&u.email),
            admin = if u.admin { "yes" } else { "" },
            state = if u.disabled {
                "disabled"
            } else if u.invite_hash.is_some() {
                "invited"
            } else {
                "active"
            },
            created = day(&crate::core::timestamps::iso(u.created_at)),
        );
    }
    main.push_str("</tbody></table>");
    Ok(main)
}

/// The signed-in admin of a request, or the response that refuses it.
async fn admin_session(core: &Core, req: &Request) -> Result<(Caller, String), Response> {
    let Some((caller, secret)) = session(core, req).await else {
        return Err(redirect("/login"));
    };
    if !caller.is_admin() {
        return Err(forbidden());
    }
    Ok((caller, secret))
}

/// The signed-in admin of a form post that is the session's own, or the response that
/// refuses it.
async fn admin_post(core: &Core, req: &Request, csrf: &str) -> Result<(Caller, String), Response> {
    let (caller, secret) = admin_session(core, req).await?;
    if !same_site_post(core, req, &secret, csrf) {
        return Err(forbidden());
    }
    Ok((caller, secret))
}

/// The signed-in user of a form post that is the session's own, or the response that refuses
/// it (to the sign-in page without a session).
async fn session_post(
    core: &Core,
    req: &Request,
    csrf: &str,
) -> Result<(Caller, String), Response> {
    let Some((caller, secret)) = session(core, req).await else {
        return Err(redirect("/login"));
    };
    if !same_site_post(core, req, &secret, csrf) {
        return Err(forbidden());
    }
    Ok((caller, secret))
}

/// Why a form was refused, as the alert above a page.
fn alert(why: &str) -> String {
    format!(r#"<p class="problem" role="alert">{}</p>"#, esc(why))
}

/// `GET /account/users`: every account (admins only).
#[handler]
pub async fn users_page(state: Data<&Arc<WebState>>, req: &Request) -> Response {
    let core = &state.core;
    let (caller, secret) = match admin_session(core, req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match users_body(core, &caller, &secret, None).await {
        Ok(main) => account_page("Users", &main),
        Err(_) => super::pages::unavailable(),
    }
}

#[derive(serde::Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    name: Option<String>,
    email: Option<String>,
    admin: Option<String>,
    action: Option<String>,
}

/// The users page again, after an action, with what happened.
async fn users_after(
    core: &Core,
    caller: &Caller,
    secret: &str,
    status: StatusCode,
    notice: String,
) -> Response {
    match users_body(core, caller, secret, Some(notice)).await {
        Ok(main) => {
            let mut resp = account_page("Users", &main);
            resp.set_status(status);
            resp
        }
        Err(_) => super::pages::unavailable(),
    }
}

/// `POST /account/users`: creates an account with an invitation (shown once) that lets its
/// holder set the password (admins only).
#[handler]
pub async fn create_user(
    state: Data<&Arc<WebState>>,
    req: &Request,
    Form(form): Form<UserForm>,
) -> Response {
    let core = &state.core;
    let (caller, secret) = match admin_post(core, req, &form.csrf).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let name = form.name.as_deref().unwrap_or("").trim().to_string();
    let email = form.email.as_deref().unwrap_or("").trim().to_string();
    let admin = form.admin.as_deref() == Some("true");
    match admin::create_user(core, &Actor::of(&caller), &name, &email, None, admin).await {
        Ok((_, invite)) => {
            let notice = format!(
                r#"<section class="notice" id="created-user" role="status"><h2>{name} is invited</h2><p>Send them this invitation (shown only this once). It sets their password with <code>POST /-/invite</code> within 7 days.</p>{}</section>"#,
                copyable("new-invite", "Invitation", invite.as_deref().unwrap_or("")),
                name = esc(&name),
            );
            users_after(core, &caller, &secret, StatusCode::OK, notice).await
        }
        Err(e) => {
            let notice = alert(&e.to_string());
            users_after(core, &caller, &secret, StatusCode::BAD_REQUEST, notice).await
        }
    }
}

/// `POST /account/users/change`: disables, enables, makes or unmakes an admin (admins only;
/// not on one's own account).
#[handler]
pub async fn change_user(
    state: Data<&Arc<WebState>>,
    req: &Request,
    Form(form): Form<UserForm>,
) -> Response {
    use crate::core::admin::UserChange;
    let core = &state.core;
    let (caller, secret) = match admin_post(core, req, &form.csrf).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let name = form.name.as_deref().unwrap_or("").to_string();
    let change = match form.action.as_deref() {
        Some("disable") => UserChange {
            disabled: Some(true),
            ..Default::default()
        },
        Some("enable") => UserChange {
            disabled: Some(false),
            ..Default::default()
        },
        Some("admin") => UserChange {
            admin: Some(true),
            ..Default::default()
        },
        Some("unadmin") => UserChange {
            admin: Some(false),
            ..Default::default()
        },
        _ => {
            let notice = alert("Unknown action.");
            return users_after(core, &caller, &secret, StatusCode::BAD_REQUEST, notice).await;
        }
    };
    if name == caller.user {
        let notice = alert("Not on your own account.");
        return users_after(core, &caller, &secret, StatusCode::BAD_REQUEST, notice).await;
    }
    match admin::update_user(core, &Actor::of(&caller), &name, change).await {
        Ok(_) => redirect("/account/users"),
        Err(e) => {
            let notice = alert(&e.to_string());
            users_after(core, &caller, &secret, StatusCode::BAD_REQUEST, notice).await
        }
    }
}

/// `GET /account/audit`: the newest entries of the audit log (admins only).
#[handler]
pub async fn audit(state: Data<&Arc<WebState>>, req: &Request) -> Response {
    let core = &state.core;
    let (caller, secret) = match admin_session(core, req).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let since = OffsetDateTime::now_utc() - time::Duration::days(7);
    let filter = AuditFilter {
        since: Some(since),
        actor: None,
        package: None,
        after: None,
        limit: 1000,
    };
    let Ok(mut entries) = crate::core::audit::read(&core.store, &core.audit, &filter).await else {
        return super::pages::unavailable();
    };
    entries.reverse();
    entries.truncate(200);
    let mut main = account_nav(&caller, &secret);
    main.push_str(r#"<h1>Audit log</h1><p class="lead">The last 7 days, newest first (at most 200 entries; <code>pantry-registry audit</code> reads it all).</p><table id="audit"><thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Outcome</th><th scope="col">Who</th></tr></thead><tbody>"#);
    for e in &entries {
        let _ = write!(
            main,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&crate::core::timestamps::iso(e.at)),
            esc(&e.action),
            esc(&e.target),
            esc(&e.outcome),
            esc(e.user.as_deref().unwrap_or("-")),
        );
    }
    main.push_str("</tbody></table>");
    account_page("Audit log", &main)
}
