//! Building and running the server. [`Application::build`] reads the config source, binds
//! the listener first (port 0 works, for tests), then validates the config against the real
//! address, opens and migrates the database, and only then serves.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::middleware::{ErrorHandlers, Next, from_fn};
use actix_web::{App, HttpServer, web};
use paymux_providers::Registry;
use paymux_schema::db::{self, DatabaseUrl, PoolOptions};
use secrecy::ExposeSecret;
use tokio::net::TcpSocket;
use tokio::signal::unix::{SignalKind, signal};
use tracing_actix_web::TracingLogger;
use url::Url;

use crate::breaker::Breakers;
use crate::domain::outbound::Senders;
use crate::error::{ApiError, json_error_bodies};
use crate::live::{Addresses, ConfigSource, Live, LiveConfig};
use crate::merchants::ConfigErrors;
use crate::metrics::Metrics;
use crate::nodes::NodeIdentity;
use crate::ratelimit::RateLimiter;
use crate::routes::{self, metrics};
use crate::settings::{Role, Settings};
use crate::shared::Redis;
use crate::state::AppState;
use crate::telemetry::{self, RequestSpan};
use crate::writer::{Writer, WriterOptions};

/// Most client addresses whose rejected webhooks are counted apart (see [`RateLimiter`]).
const REJECTION_BUCKETS: usize = 100_000;
/// Most client addresses whose dashboard sign-in attempts are counted apart.
const SIGN_IN_BUCKETS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("invalid configuration:\n{0}")]
    Config(#[from] ConfigErrors),
    #[error("invalid configuration: {0}")]
    Setting(String),
    #[error(transparent)]
    Database(#[from] db::DbError),
    #[error("{0}")]
    Other(String),
}

pub struct Application {
    address: SocketAddr,
    public_url: Url,
    backend: &'static str,
    server: Server,
    state: AppState,
    /// Deliver the webhooks merchants are sent, while the server runs.
    senders: Arc<Senders>,
    #[cfg(feature = "sandbox")]
    sandbox: Option<Arc<paymux_sandbox::Sandbox>>,
    /// Held for as long as the server runs; see [`refusing_socket`].
    _refusing: Option<TcpSocket>,
}

/// The public base URL: the configured one, or the bound address.
pub fn public_url(settings: &Settings, bound: SocketAddr) -> Result<Url, StartupError> {
    let url = match &settings.server.public_url {
        Some(url) => url.clone(),
        None => Url::parse(&format!("http://{bound}/"))
            .map_err(|error| StartupError::Setting(format!("server.bind: {error}")))?,
    };
    // `join` treats a base without a trailing slash as a file: keep it a directory.
    if url.path().ends_with('/') {
        Ok(url)
    } else {
        let mut url = url;
        let path = format!("{}/", url.path());
        url.set_path(&path);
        Ok(url)
    }
}

/// The listener on `server.bind`, and the address it got (the port, when 0 was asked).
fn listen(settings: &Settings) -> Result<(SocketAddr, TcpListener), StartupError> {
    let bind = settings
        .bind_address()
        .map_err(|e| StartupError::Setting(format!("server.bind: {e}")))?;
    TcpListener::bind(bind)
        .and_then(|listener| Ok((listener.local_addr()?, listener)))
        .map_err(|source| StartupError::Bind {
            address: settings.server.bind.clone(),
            source,
        })
}

/// What the handlers share, over the store brought up to date and its writers started (as
/// many as its backend takes).
async fn shared_state(
    settings: &Settings,
    url: &DatabaseUrl,
    live: Live,
) -> Result<AppState, StartupError> {
    let db = open_store(settings).await?;
    let redis = connect_redis(settings).await?;
    assemble_state(db, url, settings.database.max_connections, live, redis)
}

/// The link to Redis when `[redis] url` is set. It connects on first use: a node starts and
/// serves whether Redis answers or not, and says at start which it is.
async fn connect_redis(settings: &Settings) -> Result<Option<Arc<Redis>>, StartupError> {
    let refused = |why: String| StartupError::Setting(format!("redis.url: {why}"));
    let Some(url) = crate::live::redis_url(settings).map_err(|error| refused(error.message))?
    else {
        return Ok(None);
    };
    let redis = Redis::connect(
        url.expose_secret(),
        &settings.redis.prefix,
        std::time::Duration::from_millis(settings.redis.answer_within_ms.max(1)),
    )
    .map_err(|error| refused(error.to_string()))?;
    match redis.ping().await {
        true => tracing::info!("Redis answers: limits and circuits are shared by every node"),
        false => tracing::warn!(
            "Redis does not answer yet: this node counts limits and circuits on its own until it does"
        ),
    }
    Ok(Some(Arc::new(redis)))
}

/// The shared state on `db`, a migrated store at `url` of `max_connections`: its metrics and
/// its writers started.
pub(crate) fn assemble_state(
    db: db::Pool,
    url: &DatabaseUrl,
    max_connections: u32,
    live: Live,
    redis: Option<Arc<Redis>>,
) -> Result<AppState, StartupError> {
    let metrics = Metrics::new().map_err(|error| StartupError::Other(error.to_string()))?;
    let options = WriterOptions::for_store(url, max_connections);
    let writer = Writer::start(db.clone(), options, metrics.registry())
        .map_err(|error| StartupError::Other(error.to_string()))?;
    if let Some(redis) = &redis {
        redis
            .register(metrics.registry())
            .map_err(|error| StartupError::Other(error.to_string()))?;
    }
    let role = live.started().server.role;
    Ok(AppState {
        node: Arc::new(NodeIdentity::new(role)),
        db,
        writer,
        live: Arc::new(live),
        breakers: Arc::new(Breakers::shared_by(redis.clone())),
        limiter: Arc::new(RateLimiter::shared_by(redis.clone())),
        redis,
        rejections: Arc::new(RateLimiter::with_capacity(REJECTION_BUCKETS)),
        sign_ins: Arc::new(RateLimiter::with_capacity(SIGN_IN_BUCKETS)),
        metrics,
    })
}

/// Connects to the store and brings its schema up to date.
async fn open_store(settings: &Settings) -> Result<db::Pool, StartupError> {
    let database_url = settings.database.url.clone();
    let pool_options = PoolOptions {
        max_connections: settings.database.max_connections,
        ..PoolOptions::default()
    };
    let pool = tokio::task::spawn_blocking(move || -> Result<db::Pool, db::DbError> {
        let pool = db::connect(&database_url, pool_options)?;
        let applied = db::run_migrations(&mut *pool.get()?)?;
        if applied > 0 {
            tracing::info!(applied, "database migrations applied");
        }
        Ok(pool)
    })
    .await
    .map_err(|error| StartupError::Other(error.to_string()))??;
    Ok(pool)
}

impl Application {
    /// Builds from `source`, which is read now and again on every reload.
    pub async fn build(source: ConfigSource) -> Result<Application, StartupError> {
        Application::build_with(source, Registry::standard()).await
    }

    /// Builds with a given provider registry (tests add provider doubles).
    pub async fn build_with(
        source: ConfigSource,
        registry: Registry,
    ) -> Result<Application, StartupError> {
        let settings = source().map_err(|error| StartupError::Setting(error.to_string()))?;
        let (address, listener) = listen(&settings)?;
        let public_url = public_url(&settings, address)?;
        // A port held without listening refuses every connection: where sandboxed providers
        // with a `refuse_connections` fault are pointed.
        let refusing = match settings.sandbox.enabled {
            true => Some(refusing_socket().map_err(|source| StartupError::Bind {
                address: "127.0.0.1:0".to_owned(),
                source,
            })?),
            false => None,
        };
        let addresses = Addresses {
            public_url: public_url.clone(),
            refusing_url: refusing.as_ref().map(|(_, url)| url.clone()),
        };
        let config = LiveConfig::build(settings.clone(), &registry, &addresses)?;
        let url = DatabaseUrl::parse(&settings.database.url)?;
        let backend = url.backend_name();
        let live = Live::new(config, source, registry, addresses);
        let state = shared_state(&settings, &url, live).await?;
        #[cfg(feature = "sandbox")]
        let sandbox = crate::sandbox::start(&settings, &public_url, &state)?;
        #[cfg(feature = "sandbox")]
        let mounts = SandboxMounts::start(sandbox.clone(), &state, &public_url).await?;
        let server = http_server(
            &settings,
            listener,
            address,
            state.clone(),
            #[cfg(feature = "sandbox")]
            mounts,
        )?;
        let senders = Senders::new(state.clone())
            .map_err(|error| StartupError::Other(format!("webhook senders: {error}")))?;
        Ok(Application {
            address,
            public_url,
            backend,
            server,
            senders,
            state,
            #[cfg(feature = "sandbox")]
            sandbox,
            _refusing: refusing.map(|(socket, _)| socket),
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The settings it started with.
    pub fn settings(&self) -> &Settings {
        self.state.live.started()
    }

    /// What the handlers share: tests run background jobs with it.
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The simulated providers, when `sandbox.enabled`: tests look into them.
    #[cfg(feature = "sandbox")]
    pub fn sandbox(&self) -> Option<Arc<paymux_sandbox::Sandbox>> {
        self.sandbox.clone()
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Reloads the config on every SIGHUP, for as long as the process runs. Only the binary
    /// asks for this: in a test process a signal would reach every server at once.
    pub fn reload_on_sighup(&self) -> std::io::Result<()> {
        let mut hangups = signal(SignalKind::hangup())?;
        let state = self.state.clone();
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the configuration");
                // The outcome is logged by `reload`; a refused one leaves the old config.
                let _ = state.reload().await;
            }
        });
        Ok(())
    }

    /// Serves, writes this node's heartbeat and, unless its role is `api`, runs the
    /// background jobs and sends webhooks, until SIGINT/SIGTERM (or a stop through the
    /// handle); then lets in-flight requests finish within the shutdown timeout.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mut background = vec![tokio::spawn(crate::jobs::beat_forever(self.state.clone()))];
        if self.state.node.role.works() {
            background.push(tokio::spawn(crate::jobs::run_forever(self.state.clone())));
            background.push(tokio::spawn(self.senders.clone().run_forever()));
        }
        let served = self.server.await;
        for task in background {
            task.abort();
        }
        served
    }
}

/// What the sandbox serves beside the API: its simulators, and the receiver standing in for
/// the demo merchant's server (given an endpoint at start-up).
#[cfg(feature = "sandbox")]
#[derive(Clone, Default)]
struct SandboxMounts {
    simulators: Option<Arc<paymux_sandbox::Sandbox>>,
    receiver: Option<Arc<crate::sandbox::MerchantReceiver>>,
}

#[cfg(feature = "sandbox")]
impl SandboxMounts {
    async fn start(
        simulators: Option<Arc<paymux_sandbox::Sandbox>>,
        state: &AppState,
        public_url: &Url,
    ) -> Result<SandboxMounts, StartupError> {
        if simulators.is_none() {
            return Ok(SandboxMounts::default());
        }
        // A worker serves no sandbox: the demo's receiver is on the nodes that do.
        if state.node.role.serves_api() {
            crate::sandbox::ensure_demo_endpoint(state, public_url)
                .await
                .map_err(StartupError::Other)?;
        }
        Ok(SandboxMounts {
            simulators,
            receiver: Some(Arc::default()),
        })
    }

    fn routes(&self, config: &mut web::ServiceConfig) {
        // The receiver first: the simulators' `/sandbox/{provider}` would take its path.
        if let Some(receiver) = &self.receiver {
            crate::sandbox::receiver_routes(receiver.clone(), config);
        }
        if let Some(simulators) = &self.simulators {
            paymux_sandbox::http::routes(simulators.clone(), config);
        }
    }
}

/// The HTTP server on `listener`: the API, and the sandbox's routes where it runs.
fn http_server(
    settings: &Settings,
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    #[cfg(feature = "sandbox")] mounts: SandboxMounts,
) -> Result<Server, StartupError> {
    let max_body = settings.server.max_body_bytes;
    let role = settings.server.role;
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .app_data(json_config(max_body))
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(
                web::PathConfig::default()
                    .error_handler(|error, _| ApiError::invalid("path", error.to_string()).into()),
            )
            .wrap(from_fn(reject_oversize_bodies))
            .wrap(from_fn(metrics::record))
            .wrap(ErrorHandlers::new().default_handler(json_error_bodies))
            .wrap(from_fn(telemetry::echo_request_id))
            .wrap(TracingLogger::<RequestSpan>::new())
            .configure(|config| {
                #[cfg(feature = "sandbox")]
                if role.serves_api() {
                    mounts.routes(config);
                }
                routes(config, role);
            })
    })
    .listen(listener)
    .map_err(|source| StartupError::Bind {
        address: address.to_string(),
        source,
    })?
    .shutdown_timeout(settings.server.shutdown_timeout_secs);
    if let Some(workers) = settings.server.workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// A socket bound to a free local port but not listening: connections to it are refused, and
/// no one else can take the port while it is held.
fn refusing_socket() -> std::io::Result<(TcpSocket, Url)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let address = socket.local_addr()?;
    let url = Url::parse(&format!("http://{address}/"))
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    Ok((socket, url))
}

/// Middleware: refuses a request whose declared `Content-Length` is over the limit before any
/// route reads it. Bodies without a length are cut off at the limit by the extractors.
async fn reject_oversize_bodies(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.live.started().server.max_body_bytes);
    let declared = request
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if let (Some(limit), Some(declared)) = (limit, declared)
        && declared > limit
    {
        return Err(ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body ({declared} bytes) is larger than the {limit} bytes allowed"),
        )
        .into());
    }
    next.call(request).await
}

fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|error, _| {
            use actix_web::error::JsonPayloadError;
            let api_error = match &error {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => ApiError::new(
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    error.to_string(),
                ),
                JsonPayloadError::ContentType => ApiError::new(
                    actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as application/json",
                ),
                JsonPayloadError::Deserialize(inner) => ApiError::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "invalid_json",
                    format!("invalid JSON body: {inner}"),
                ),
                _ => ApiError::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "invalid_json",
                    error.to_string(),
                ),
            };
            api_error.into()
        })
}

fn routes(config: &mut web::ServiceConfig, role: Role) {
    routes::mount(config, role);
    config.default_service(web::to(|request: actix_web::HttpRequest| async move {
        Err::<actix_web::HttpResponse, _>(ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {} {}", request.method(), request.path()),
        ))
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{HttpResponse, test as actix_test};

    async fn echo(body: web::Json<serde_json::Value>) -> HttpResponse {
        HttpResponse::Ok().json(body.into_inner())
    }

    async fn error_of(response: ServiceResponse) -> (u16, serde_json::Value) {
        let status = response.status().as_u16();
        let body: serde_json::Value = actix_test::read_body_json(response).await;
        (status, body["error"].clone())
    }

    #[actix_web::test]
    async fn json_bodies_that_are_bad_or_too_big_get_json_errors() {
        let app = actix_test::init_service(
            App::new()
                .app_data(json_config(64))
                .route("/", web::post().to(echo)),
        )
        .await;
        let post = |body: &'static str| {
            actix_test::TestRequest::post()
                .uri("/")
                .insert_header(("content-type", "application/json"))
                .set_payload(body)
                .to_request()
        };
        let ok = actix_test::call_service(&app, post(r#"{"a":1}"#)).await;
        assert_eq!(ok.status(), 200);

        let (status, error) =
            error_of(actix_test::call_service(&app, post(r#"{"a":"#)).await).await;
        assert_eq!(status, 400);
        assert_eq!(error["code"], "invalid_json");

        let big = Box::leak(format!(r#"{{"a":"{}"}}"#, "x".repeat(100)).into_boxed_str());
        let (status, error) = error_of(actix_test::call_service(&app, post(big)).await).await;
        assert_eq!(status, 413);
        assert_eq!(error["code"], "payload_too_large");

        let text = actix_test::TestRequest::post()
            .uri("/")
            .insert_header(("content-type", "text/plain"))
            .set_payload("{}")
            .to_request();
        let (status, error) = error_of(actix_test::call_service(&app, text).await).await;
        assert_eq!(status, 415);
        assert_eq!(error["code"], "unsupported_media_type");
    }

    #[test]
    fn the_public_url_defaults_to_the_bound_address_and_ends_with_a_slash() {
        let mut settings = Settings::load(crate::settings::Overlay::Toml(String::new())).unwrap();
        let bound: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        assert_eq!(
            public_url(&settings, bound).unwrap().as_str(),
            "http://127.0.0.1:4242/"
        );
        settings.server.public_url = Some(Url::parse("https://pay.example.com/paymux").unwrap());
        let url = public_url(&settings, bound).unwrap();
        assert_eq!(
            url.join("webhooks/demo/sknpay").unwrap().as_str(),
            "https://pay.example.com/paymux/webhooks/demo/sknpay"
        );
    }
}
