//! Signing in and out of the dashboard, and who a request is ([`Viewer`]).
//!
//! A sign-in with the admin token (ops) or a merchant's API key makes a session row in the
//! store, holding the SHA-256 of a random token; the browser keeps the token in a cookie that
//! scripts cannot read (`HttpOnly`), that no other site's request carries (`SameSite=Strict`),
//! and that travels only over https when paymux is served over https (`Secure`). Any node
//! finds the row, and signing out deletes it. Attempts are limited per client address; a
//! posted form must come from this origin, and once signed in it must carry the session's
//! CSRF token.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use paymux_domain::{AuditAction, AuditActor, AuditChannel};
use paymux_providers::signing::hex_sha256;
use paymux_schema::db::audit::AuditEntry;
use paymux_schema::db::session::DashboardSession;
use serde::Deserialize;

use super::viewer::{COOKIE, CsrfForm, Viewer, same_origin};
use super::{DashboardError, SIGN_IN_PATH, html, layout, see_other};
use crate::auth::client_of;
use crate::domain::audit::{self, Actor};
use crate::live::{AdminAccess, LiveConfig};
use crate::merchants::key_hash;
use crate::settings::RateLimitSettings;
use crate::state::AppState;
/// How long a session lasts: a working day.
const SESSION_LENGTH: TimeDelta = TimeDelta::hours(12);
/// Sign-in attempts per client address: ten at once, then one every ten seconds.
const SIGN_IN_LIMIT: RateLimitSettings = RateLimitSettings {
    requests_per_second: 0.1,
    burst: 10,
};

/// `GET /dashboard/sign-in`.
pub async fn sign_in_page() -> HttpResponse {
    html(StatusCode::OK, layout::sign_in_page(None))
}

#[derive(Deserialize)]
pub struct SignIn {
    token: String,
}

/// `POST /dashboard/sign-in`: the admin token signs ops in, a merchant's API key that merchant.
pub async fn sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    form: web::Form<SignIn>,
) -> Result<HttpResponse, DashboardError> {
    let config = state.config();
    same_origin(&request, &config)?;
    let address = client_of(&request);
    take_attempt(&state, address)?;
    let token = form.token.trim();
    let merchant = if config.admin_access(Some(token)) == AdminAccess::Granted {
        None
    } else if let Some((merchant, _)) = config.merchants.authenticate(token) {
        Some(merchant.id.clone())
    } else {
        tracing::info!(client = ?address, "a dashboard sign-in was refused");
        let refused = at_sign_in(AuditActor::Unknown, None, address);
        let detail = "a token that signs nobody in";
        audit::record(
            &state,
            refused.entry(AuditAction::SignInRefused, None, detail),
        )
        .await;
        let message = "That token signs nobody in: use the admin token or a merchant's API key.";
        return Ok(html(
            StatusCode::UNAUTHORIZED,
            layout::sign_in_page(Some(message)),
        ));
    };
    let cookie_token = start_session(&state, token, merchant, address).await?;
    let cookie = format!(
        "{COOKIE}={cookie_token}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_LENGTH.num_seconds(),
        if served_over_https(&request, &config) {
            "; Secure"
        } else {
            ""
        }
    );
    let mut response = see_other("/dashboard");
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::try_from(cookie).map_err(DashboardError::internal)?,
    );
    Ok(response)
}

/// Takes a sign-in attempt from the bucket of the client's address, or says how long to wait.
/// An IPv6 client holds a /64: counting each of its addresses apart would multiply its tries.
fn take_attempt(state: &AppState, address: Option<IpAddr>) -> Result<(), DashboardError> {
    let counted = address.map(|address| match address {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    });
    let bucket = key_hash(&format!("{counted:?}"));
    state
        .sign_ins
        .take(bucket, SIGN_IN_LIMIT, Instant::now())
        .map_err(|wait| DashboardError::TooManyAttempts(wait.as_secs().max(1)))
}

/// Someone at the sign-in form, as the audit log names them.
fn at_sign_in(kind: AuditActor, merchant: Option<String>, address: Option<IpAddr>) -> Actor {
    Actor {
        kind,
        merchant,
        channel: AuditChannel::Dashboard,
        client_address: address,
    }
}

/// Stores a session for whoever `token` signed in (`merchant`, or ops when `None`) with its
/// audit entry, in one write; the cookie's token.
async fn start_session(
    state: &AppState,
    token: &str,
    merchant: Option<String>,
    address: Option<IpAddr>,
) -> Result<String, DashboardError> {
    let (cookie_token, csrf_token) = (random_token()?, random_token()?);
    let now = paymux_schema::db::now();
    let kind = match &merchant {
        Some(_) => AuditActor::Merchant,
        None => AuditActor::Ops,
    };
    let signed_in =
        at_sign_in(kind, merchant.clone(), address).entry(AuditAction::SignIn, None, "signed in");
    let session = DashboardSession {
        token_hash: hex_sha256(cookie_token.as_bytes()),
        merchant,
        csrf_token,
        created_at: now,
        expires_at: now + SESSION_LENGTH,
        credential_hash: hex_sha256(token.as_bytes()),
    };
    tracing::info!(merchant = ?session.merchant, "signed in to the dashboard");
    state
        .write(move |conn| {
            DashboardSession::insert(conn, &session)?;
            AuditEntry::insert(conn, &signed_in).map_err(DashboardError::from)
        })
        .await?;
    Ok(cookie_token)
}

/// `POST /dashboard/sign-out`: ends the session on every node.
pub async fn sign_out(
    state: web::Data<AppState>,
    request: HttpRequest,
    viewer: Viewer,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, DashboardError> {
    viewer.check_form(&request, &form)?;
    let token_hash = viewer.token_hash().to_owned();
    let mut actor = viewer.actor();
    if viewer.is_ops() {
        actor = actor.on_every_merchant();
    }
    let signed_out = actor.entry(AuditAction::SignOut, None, "signed out");
    state
        .write(move |conn| {
            DashboardSession::delete(conn, &token_hash)?;
            AuditEntry::insert(conn, &signed_out).map_err(DashboardError::from)
        })
        .await?;
    let mut response = see_other(SIGN_IN_PATH);
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::try_from(format!(
            "{COOKIE}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0"
        ))
        .map_err(DashboardError::internal)?,
    );
    Ok(response)
}

/// Whether the browser reached paymux over https: then the cookie is `Secure`.
fn served_over_https(request: &HttpRequest, config: &LiveConfig) -> bool {
    let public = config.settings.server.public_url.as_ref();
    public.is_some_and(|url| url.scheme() == "https")
        || request.connection_info().scheme() == "https"
}

/// 32 random bytes, URL-safe base64.
fn random_token() -> Result<String, DashboardError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(DashboardError::internal)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
