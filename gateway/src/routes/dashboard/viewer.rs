//! Who a dashboard request is ([`Viewer`]): the session its cookie names, found in the store,
//! and the merchant the page shows.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use paymux_domain::{AuditActor, AuditChannel};
use paymux_providers::signing::{constant_time_eq, hex_sha256};
use paymux_schema::db::session::DashboardSession;

use super::DashboardError;
use crate::auth::client_of;
use crate::domain::audit::Actor;
use crate::live::LiveConfig;
use crate::merchants::Merchant;
use crate::state::AppState;

/// The cookie holding the session's token.
pub const COOKIE: &str = "paymux_session";

/// A signed-in request: its session, the config snapshot it was checked against, and the
/// merchant whose objects the page shows: a merchant session's own, or for ops the one
/// `?merchant=` names (the first configured one by default).
#[derive(Clone)]
pub struct Viewer {
    session: DashboardSession,
    pub config: Arc<LiveConfig>,
    pub merchant: Arc<Merchant>,
    client_address: Option<IpAddr>,
}

impl Viewer {
    /// Signed in with the admin token: sees every merchant.
    pub fn is_ops(&self) -> bool {
        self.session.merchant.is_none()
    }

    /// This viewer acting on the merchant the page shows, as the audit log names them.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: match self.is_ops() {
                true => AuditActor::Ops,
                false => AuditActor::Merchant,
            },
            merchant: Some(self.merchant.id.clone()),
            channel: AuditChannel::Dashboard,
            client_address: self.client_address,
        }
    }

    /// The session's key in the store.
    pub fn token_hash(&self) -> &str {
        &self.session.token_hash
    }

    /// The token every form of this session carries.
    pub fn csrf_token(&self) -> &str {
        &self.session.csrf_token
    }

    /// `path` as this viewer links to it: ops keep looking at the same merchant.
    pub fn link(&self, path: &str) -> String {
        if !self.is_ops() {
            return path.to_owned();
        }
        let separator = if path.contains('?') { '&' } else { '?' };
        let merchant: String =
            url::form_urlencoded::byte_serialize(self.merchant.id.as_bytes()).collect();
        format!("{path}{separator}merchant={merchant}")
    }

    /// Refuses a form posted from another site, or without this session's CSRF token.
    pub fn check_form(&self, request: &HttpRequest, form: &CsrfForm) -> Result<(), DashboardError> {
        same_origin(request, &self.config)?;
        let expected = self.session.csrf_token.as_bytes();
        if constant_time_eq(expected, form.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(DashboardError::Forbidden(
                "This form has expired or did not come from the dashboard; reload the page and \
                 try again."
                    .to_owned(),
            ))
        }
    }
}

/// The session token of the request's cookie.
fn token_of(request: &HttpRequest) -> Option<String> {
    let cookies = request.headers().get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|cookie| {
        let (name, value) = cookie.trim().split_once('=')?;
        (name == COOKIE && !value.is_empty()).then(|| value.to_owned())
    })
}

/// The query's `merchant`, which ops choose the merchant they look at with.
fn chosen_merchant(request: &HttpRequest) -> Option<String> {
    url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(name, _)| name == "merchant")
        .map(|(_, value)| value.into_owned())
}

async fn viewer(request: HttpRequest) -> Result<Viewer, DashboardError> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| DashboardError::internal("application state is missing"))?
        .clone();
    let token_hash = hex_sha256(token_of(&request).ok_or(DashboardError::SignIn)?.as_bytes());
    let now = paymux_schema::db::now();
    let session = state
        .store(move |conn| {
            DashboardSession::find_live(conn, &token_hash, now).map_err(DashboardError::from)
        })
        .await?
        .ok_or(DashboardError::SignIn)?;
    let config = state.config();
    // The credential must still sign this session in: a revoked key or token ends it.
    let mut credential = [0u8; 32];
    hex::decode_to_slice(&session.credential_hash, &mut credential)
        .map_err(|_| DashboardError::SignIn)?;
    let merchant =
        match &session.merchant {
            Some(own) => config
                .merchants
                .authenticate_hash(&credential)
                .filter(|merchant| merchant.id == *own)
                .ok_or(DashboardError::SignIn)?,
            None if !config.admin_hash_granted(&credential) => return Err(DashboardError::SignIn),
            None => match chosen_merchant(&request) {
                Some(id) => config.merchants.get(&id).ok_or_else(|| {
                    DashboardError::NotFound(format!("No merchant `{id}` is configured."))
                })?,
                None => config.merchants.iter().next().cloned().ok_or_else(|| {
                    DashboardError::NotFound("No merchant is configured.".to_owned())
                })?,
            },
        };
    let viewer = Viewer {
        session,
        config,
        merchant,
        client_address: client_of(&request),
    };
    // Kept on the request, so that a page failing after this shows its error within the
    // dashboard's navigation (`super::with_navigation`).
    request.extensions_mut().insert(viewer.clone());
    Ok(viewer)
}

impl FromRequest for Viewer {
    type Error = DashboardError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(viewer(request.clone()))
    }
}

/// Refuses a form that does not say it comes from this site: the sign-in form has no session
/// to carry a CSRF token yet, and a browser says where a POST comes from (`Origin`, or
/// `Sec-Fetch-Site`). This site is `public_url`'s origin when it is set, else the request's.
pub fn same_origin(request: &HttpRequest, config: &LiveConfig) -> Result<(), DashboardError> {
    let here = match &config.settings.server.public_url {
        Some(url) => url.origin().ascii_serialization(),
        None => {
            let info = request.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    };
    let headers = request.headers();
    let same = match headers.get(header::ORIGIN) {
        Some(origin) => origin.as_bytes() == here.as_bytes(),
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes() == b"same-origin"),
    };
    if same {
        Ok(())
    } else {
        Err(DashboardError::Forbidden(
            "This form did not come from the dashboard's own site.".to_owned(),
        ))
    }
}

/// A form that changes nothing but what its button says: it carries the session's CSRF token.
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    /// Absent is refused like a wrong one, with the page that says why.
    #[serde(default)]
    csrf: String,
}
