//! The admin API, for ops: `POST /v1/admin/reload`, `GET /v1/admin/providers` and, with the
//! sandbox, `POST|DELETE /v1/admin/sandbox/faults/{provider}`. Every call needs
//! `Authorization: Bearer <admin.token>`; with `admin.enabled = false` they all answer 404.

use std::collections::BTreeMap;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use chrono::{DateTime, Utc};
use paymux_domain::{AuditAction, AuditActor, AuditChannel, ErrorBody};
use paymux_schema::db::activity::{self, ProviderActivity};
use paymux_schema::db::node::Node;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{bearer_token, client_of, state_of};
use crate::breaker::{Breakers, CircuitView, Policy};
use crate::domain::audit::{self, Actor};
use crate::error::ApiError;
use crate::live::{AdminAccess, LiveConfig, ReloadError};
use crate::merchants::Merchants;
use crate::routes::json::parse_body;
use crate::routes::list::ListOut;
use crate::settings::FaultSettings;
use crate::state::AppState;

/// A request that presented the admin token, with the config snapshot it was checked against,
/// which the request then uses throughout.
pub struct Admin(pub Arc<LiveConfig>);

fn check_admin(request: &HttpRequest) -> Result<Admin, ApiError> {
    let config = state_of(request)?.config();
    match config.admin_access(bearer_token(request)?) {
        AdminAccess::Granted => Ok(Admin(config)),
        AdminAccess::Denied => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_admin_token",
            "the admin API needs `Authorization: Bearer <admin token>` (config `admin.token`)",
        )),
        AdminAccess::Disabled => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the admin API is disabled (config `admin.enabled`)",
        )),
    }
}

impl Admin {
    /// Ops acting through the admin API, as the audit log names them.
    pub fn actor(&self, request: &HttpRequest) -> Actor {
        Actor {
            kind: AuditActor::Ops,
            merchant: None,
            channel: AuditChannel::AdminApi,
            client_address: client_of(request),
        }
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check_admin(request))
    }
}

fn refused(error: ReloadError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_config",
        format!("the configuration was not applied; the running one stays:\n{error}"),
    )
}

/// What a reload answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reloaded {
    pub reloaded: bool,
    /// The merchants now served.
    pub merchants: Vec<String>,
    /// Changed settings that only take effect at the next start.
    pub restart_required: Vec<&'static str>,
}

/// `POST /v1/admin/reload`: reads the config again; a valid one replaces the running one at
/// once, an invalid one is refused with every reason.
#[utoipa::path(
    post,
    path = "/v1/admin/reload",
    tag = "Admin",
    summary = "Reload the configuration",
    description = "Reads the configuration again and applies it whole, or not at all.",
    responses(
        (status = 200, description = "Applied.", body = Reloaded),
        (status = 400, description = "Refused: the running configuration stays \
            (`invalid_config`, with the reasons).", body = ErrorBody),
        (status = 404, description = "The admin API is disabled.", body = ErrorBody),
    ),
)]
pub async fn reload(
    state: web::Data<AppState>,
    admin: Admin,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let report = audit::reload(&state, &admin.actor(&request))
        .await
        .map_err(refused)?;
    Ok(HttpResponse::Ok().json(Reloaded {
        reloaded: true,
        merchants: report.merchants,
        restart_required: report.restart_required,
    }))
}

/// One merchant's provider as the admin view shows it: its config, circuit and use.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderStatus {
    pub merchant: String,
    pub provider: String,
    pub enabled: bool,
    pub priority: u32,
    pub currencies: Vec<&'static str>,
    /// This process's circuit breaker (absent where no server runs: the CLI).
    pub circuit: Option<CircuitView>,
    pub checkouts: i64,
    pub events: i64,
    pub last_checkout_at: Option<DateTime<Utc>>,
    pub last_event_at: Option<DateTime<Utc>>,
}

/// Every configured merchant provider with its activity in the store and, in a server, its
/// circuit: the one table behind `GET /v1/admin/providers` and `paymux providers`.
pub fn provider_statuses(
    merchants: &Merchants,
    activity: &BTreeMap<(String, String), ProviderActivity>,
    circuits: Option<(&Breakers, Policy)>,
) -> Vec<ProviderStatus> {
    let now = Instant::now();
    let mut statuses = vec![];
    for merchant in merchants.iter() {
        for (provider_id, provider) in &merchant.providers {
            let used = activity
                .get(&(merchant.id.clone(), provider_id.clone()))
                .cloned()
                .unwrap_or_default();
            statuses.push(ProviderStatus {
                merchant: merchant.id.clone(),
                provider: provider_id.clone(),
                enabled: provider.enabled,
                priority: provider.priority,
                currencies: provider.currencies.iter().map(|c| c.code()).collect(),
                circuit: circuits.map(|(breakers, policy)| {
                    breakers.view(&merchant.id, provider_id, policy, now)
                }),
                checkouts: used.checkouts,
                events: used.events,
                last_checkout_at: used.last_checkout_at.map(|at| at.and_utc()),
                last_event_at: used.last_event_at.map(|at| at.and_utc()),
            });
        }
    }
    statuses
}

/// `GET /v1/admin/providers`.
#[utoipa::path(
    get,
    path = "/v1/admin/providers",
    tag = "Admin",
    summary = "Every merchant's providers",
    responses(
        (status = 200, description = "Each merchant's providers with their circuit and use.", body = ListOut<ProviderStatus>),
        (status = 404, description = "The admin API is disabled.", body = ErrorBody),
    ),
)]
pub async fn providers(
    state: web::Data<AppState>,
    Admin(config): Admin,
) -> Result<HttpResponse, ApiError> {
    let activity = state
        .db(|conn| Ok(activity::by_merchant_and_provider(conn)?))
        .await?;
    let statuses = provider_statuses(
        &config.merchants,
        &activity,
        Some((&state.breakers, config.policy())),
    );
    Ok(HttpResponse::Ok().json(ListOut {
        object: "list",
        data: statuses,
        has_more: false,
    }))
}

/// One gateway process sharing the store, as its heartbeat left it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeOut {
    /// Made at the process's start (`node_…`): a restarted process is a new node.
    pub id: String,
    pub host: String,
    /// `api`, `worker` or `all` (`paymux serve --role`).
    #[schema(example = "all")]
    pub role: String,
    pub version: String,
    /// SHA-256 of the configuration it runs: nodes that differ missed a reload.
    pub config_hash: String,
    /// Whether its heartbeat is recent (within 15 seconds).
    pub alive: bool,
    /// This node: the one that answered.
    pub this_node: bool,
    pub started_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// `GET /v1/admin/nodes`: every gateway process sharing the store, by its heartbeat.
#[utoipa::path(
    get,
    path = "/v1/admin/nodes",
    tag = "Admin",
    summary = "The gateway's nodes",
    description = "Every process sharing this store, seen last first: its role, version and \
        the hash of the configuration it runs, so that a node that missed a reload or died \
        shows. A node not seen for a day is forgotten.",
    responses(
        (status = 200, description = "The nodes.", body = ListOut<NodeOut>),
        (status = 404, description = "The admin API is disabled.", body = ErrorBody),
    ),
)]
pub async fn nodes(state: web::Data<AppState>, _: Admin) -> Result<HttpResponse, ApiError> {
    crate::jobs::beat(&state).await?;
    let (nodes, now) = state
        .db(|conn| Ok((Node::list(conn)?, paymux_schema::db::store_now(conn)?)))
        .await?;
    let data = nodes
        .into_iter()
        .map(|node| NodeOut {
            alive: now - node.last_seen <= crate::nodes::ALIVE_WITHIN,
            this_node: node.id == state.node.id,
            id: node.id,
            host: node.host,
            role: node.role,
            version: node.version,
            config_hash: node.config_hash,
            started_at: node.started_at.and_utc(),
            last_seen: node.last_seen.and_utc(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(ListOut {
        object: "list",
        data,
        has_more: false,
    }))
}

/// `POST /v1/admin/sandbox/faults/{provider}` with `{"mode": …, "delay_ms": …}`: the simulated
/// provider shows this fault until it is cleared or the config is reloaded.
#[utoipa::path(
    post,
    path = "/v1/admin/sandbox/faults/{provider}",
    tag = "Admin",
    summary = "Make a simulated provider fail",
    description = "Sandbox only: the simulated provider's API fails as asked, so that failover \
        and circuits can be tried.",
    params(("provider" = String, Path, description = "The simulated provider's id.")),
    request_body = FaultSettings,
    responses(
        (status = 200, description = "The faults now set.", body = Faults),
        (status = 404, description = "The admin API or the sandbox is disabled.", body = ErrorBody),
    ),
)]
pub async fn set_fault(
    state: web::Data<AppState>,
    admin: Admin,
    request: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let fault: FaultSettings = parse_body(&body)?;
    change_fault(&state, &admin.actor(&request), &path, Some(fault)).await
}

/// `DELETE /v1/admin/sandbox/faults/{provider}`: the simulated provider works again.
#[utoipa::path(
    delete,
    path = "/v1/admin/sandbox/faults/{provider}",
    tag = "Admin",
    summary = "Clear a simulated provider's fault",
    params(("provider" = String, Path, description = "The simulated provider's id.")),
    responses(
        (status = 200, description = "The faults now set.", body = Faults),
        (status = 400, description = "No such simulated provider (`param`: `provider`).", body = ErrorBody),
        (status = 404, description = "The admin API or the sandbox is disabled.", body = ErrorBody),
    ),
)]
pub async fn clear_fault(
    state: web::Data<AppState>,
    admin: Admin,
    request: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    change_fault(&state, &admin.actor(&request), &path, None).await
}

/// The sandbox faults set, by provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct Faults {
    pub faults: BTreeMap<String, FaultSettings>,
}

async fn change_fault(
    state: &AppState,
    by: &Actor,
    provider: &str,
    fault: Option<FaultSettings>,
) -> Result<HttpResponse, ApiError> {
    if !state.live.started().sandbox.enabled {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the sandbox is disabled",
        ));
    }
    let (action, detail) = match &fault {
        Some(fault) => (
            AuditAction::FaultSet,
            serde_json::to_string(fault).map_err(ApiError::internal)?,
        ),
        None => (AuditAction::FaultCleared, "cleared".to_owned()),
    };
    state
        .live
        .set_fault(provider, fault)
        .await
        .map_err(|error| ApiError::invalid("provider", error.to_string()))?;
    let entry = by.entry(action, Some(provider.to_owned()), detail);
    audit::record(state, entry).await;
    let faults = state.config().settings.sandbox.faults.clone();
    Ok(HttpResponse::Ok().json(Faults { faults }))
}
