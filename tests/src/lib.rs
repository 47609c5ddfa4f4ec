//! The end-to-end harness: [`spawn_app`] starts the real paymux server on port 0 with a
//! database of its own, on SQLite or on PostgreSQL, and [`on_both_backends!`] writes each test
//! once for both. The PostgreSQL twins are `#[ignore]`d, so a run without a server reports them
//! as ignored rather than passed; `cargo test -- --ignored` with `PAYMUX_TEST_DATABASE_URL`
//! naming a server paymux may create databases on runs them (each test creates its own
//! database and drops it afterwards), and fails if the variable is not set.

// Test support: panicking on a broken fixture is the right way to fail a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod fake;
pub mod webdriver;

use diesel::{Connection, RunQueryDsl};
use std::sync::Arc;

use paymux_gateway::live::ConfigSource;
use paymux_gateway::{Application, Overlay, Settings};
use paymux_providers::Registry;
use paymux_schema::db::{self, Pool, PoolOptions};

/// The demo merchant's API key in `config/default.toml`.
pub const DEMO_KEY: &str = "pmx_test_demo";
/// The sandbox admin token in `config/default.toml`.
pub const ADMIN_TOKEN: &str = "pmx_admin_demo";

/// Where a test's database lives.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// A PostgreSQL server, by the URL of a database to connect to while creating test ones.
    Postgres {
        admin_url: String,
    },
}

impl Backend {
    /// PostgreSQL if `PAYMUX_TEST_DATABASE_URL` is set.
    pub fn postgres() -> Option<Backend> {
        std::env::var("PAYMUX_TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())
            .map(|admin_url| Backend::Postgres { admin_url })
    }
}

/// Writes each test twice, in modules `sqlite` and `postgres`; the PostgreSQL one is ignored
/// unless asked for, and then needs `PAYMUX_TEST_DATABASE_URL`.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let $backend = $crate::Backend::Sqlite;
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL: run with --ignored and PAYMUX_TEST_DATABASE_URL"]
                async fn $name() {
                    let $backend = $crate::Backend::postgres().expect(
                        "PostgreSQL twins need PAYMUX_TEST_DATABASE_URL (a server paymux may create databases on)",
                    );
                    $body
                }
            )*
        }
    };
}

/// A database made for one test, removed when dropped.
pub enum TestDatabase {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// Creates an empty database; returns it with its URL.
    pub async fn create(backend: &Backend) -> (TestDatabase, String) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("paymux.db").display());
                (TestDatabase::Sqlite { _dir: dir }, url)
            }
            Backend::Postgres { admin_url } => {
                let name = format!(
                    "paymux_test_{}",
                    ulid::Ulid::new().to_string().to_ascii_lowercase()
                );
                let admin = admin_url.clone();
                let create = format!("CREATE DATABASE {name}");
                tokio::task::spawn_blocking(move || {
                    let mut conn = diesel::PgConnection::establish(&admin).unwrap_or_else(|error| {
                        panic!("PAYMUX_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {error}")
                    });
                    diesel::sql_query(create).execute(&mut conn).unwrap();
                })
                .await
                .unwrap();
                let mut url = url::Url::parse(admin_url).unwrap();
                url.set_path(&format!("/{name}"));
                (
                    TestDatabase::Postgres {
                        admin_url: admin_url.clone(),
                        name,
                    },
                    url.to_string(),
                )
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            // FORCE ends the server's pooled connections, which may still be open.
            if let Ok(mut conn) = diesel::PgConnection::establish(admin_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

/// A running paymux and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    /// A pool on the server's database, for arranging and inspecting rows directly.
    pub db: Pool,
    /// The server's database URL.
    pub database_url: String,
    pub server: actix_web::dev::ServerHandle,
    /// The server's simulated providers, when its sandbox is on.
    pub sandbox: Option<Arc<paymux_sandbox::Sandbox>>,
    /// What the server's handlers share, for running its background jobs on demand.
    pub state: paymux_gateway::state::AppState,
    /// The overlay file the server reads at start and on every reload.
    pub config_path: std::path::PathBuf,
    _config_dir: tempfile::TempDir,
    // Dropped last: the database outlives the pool above.
    _database: TestDatabase,
}

/// Options of [`spawn_app_with`].
#[derive(Default)]
pub struct SpawnOptions {
    /// TOML layered over `config/default.toml`.
    pub overlay: String,
    /// Provider registry; the standard one plus the fake provider when `None`.
    pub registry: Option<Registry>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, SpawnOptions::default()).await
}

/// The overlay of a sandbox whose simulated providers retry their webhooks in milliseconds
/// instead of minutes. It ends inside `[sandbox]`, so more keys of that table may follow it.
pub const FAST_SANDBOX: &str = "[sandbox]\nretry_speedup = 60000\n";

/// A server with `overlay` over `config/default.toml` and the standard registry.
pub async fn spawn_with_overlay(backend: Backend, overlay: impl Into<String>) -> TestApp {
    let overlay = overlay.into();
    spawn_app_with(
        backend,
        SpawnOptions {
            overlay,
            ..SpawnOptions::default()
        },
    )
    .await
}

/// A server whose simulators retry at once ([`FAST_SANDBOX`]), with `extra_overlay` after it.
pub async fn spawn_sandboxed(backend: Backend, extra_overlay: &str) -> TestApp {
    spawn_with_overlay(backend, format!("{FAST_SANDBOX}{extra_overlay}")).await
}

/// The demo merchant's setting `key` of `provider`, read from `config/default.toml` as a user
/// would read it.
pub fn demo_provider_setting(provider: &str, key: &str) -> String {
    let settings = Settings::load(Overlay::Toml(String::new())).unwrap();
    let value = &settings.merchants["demo"].providers[provider].specific[key];
    value.as_str().unwrap().to_owned()
}

/// HMAC-SHA256 of `message` keyed with `key`, in hex: the providers' signing schemes built
/// here on their own, independently of paymux's code.
pub fn hmac_sha256_hex(key: &str, message: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Stripe's scheme, which SKN Pay uses: `t=…,v1=hex(HMAC-SHA256(secret, "t.body"))`.
pub fn stripe_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let signed = [format!("{timestamp}.").as_bytes(), body].concat();
    format!("t={timestamp},v1={}", hmac_sha256_hex(secret, &signed))
}

/// Where a test server reads its settings, at start and on every reload: the defaults, the
/// overlay file, and the test's database on a free port with one worker.
pub fn test_source(overlay_file: std::path::PathBuf, database_url: &str) -> ConfigSource {
    let database_url = database_url.to_owned();
    Arc::new(move || {
        let mut settings = Settings::load(Overlay::File(overlay_file.clone()))?;
        settings.server.bind = "127.0.0.1:0".to_owned();
        settings.server.workers = Some(1);
        settings.database.url = database_url.clone();
        settings.database.max_connections = 4;
        Ok(settings)
    })
}

pub async fn spawn_app_with(backend: Backend, options: SpawnOptions) -> TestApp {
    let (database, url) = TestDatabase::create(&backend).await;
    let config_dir = tempfile::tempdir().unwrap();
    let config_path = config_dir.path().join("paymux.toml");
    std::fs::write(&config_path, &options.overlay).unwrap();
    let registry = options
        .registry
        .unwrap_or_else(|| Registry::standard().with(fake::FACTORY));
    let app = Application::build_with(test_source(config_path.clone(), &url), registry)
        .await
        .unwrap();
    let port = app.port();
    let server = app.handle();
    let sandbox = app.sandbox();
    let state = app.state();
    tokio::spawn(app.run_until_stopped());
    let database_url = url.clone();
    let db = tokio::task::spawn_blocking(move || {
        db::connect(
            &url,
            PoolOptions {
                max_connections: 2,
                ..PoolOptions::default()
            },
        )
        .unwrap()
    })
    .await
    .unwrap();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::new(),
        db,
        database_url,
        server,
        sandbox,
        state,
        config_path,
        _config_dir: config_dir,
        _database: database,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `GET path` as the demo merchant.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_as(DEMO_KEY, path).await
    }

    pub async fn get_as(&self, api_key: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(api_key)
            .send()
            .await
            .unwrap()
    }

    /// `POST path` with a JSON body as the demo merchant, with an Idempotency-Key if given.
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        self.post_as(DEMO_KEY, path, body, idempotency_key).await
    }

    /// `POST path` with a JSON body as merchant `api_key`, with an Idempotency-Key if given.
    pub async fn post_as(
        &self,
        api_key: &str,
        path: &str,
        body: &serde_json::Value,
        idempotency_key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(path))
            .bearer_auth(api_key)
            .json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.unwrap()
    }

    /// Replaces the overlay file the server reloads from.
    pub fn write_config(&self, overlay: &str) {
        std::fs::write(&self.config_path, overlay).unwrap();
    }

    /// An admin call (`method` on `path`) with the sandbox admin token and an optional body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// Presses a sandbox hosted-page button through the simulators' control endpoint
    /// (`pay`, `decline`, `cancel`, `expire`, with the provider's options); returns its JSON
    /// answer: which webhook was sent and what paymux replied, or the error of a refused press.
    pub async fn press(
        &self,
        provider: &str,
        provider_checkout_id: &str,
        outcome: &str,
        options: &serde_json::Value,
    ) -> serde_json::Value {
        let path = format!("/sandbox/{provider}/checkouts/{provider_checkout_id}/{outcome}");
        let response = self.client.post(self.url(&path)).json(options).send();
        response.await.unwrap().json().await.unwrap()
    }

    /// Submits a payer page's form at `page_url` as a browser does: the `outcome` of the
    /// button pressed and the form's `fields`. The redirect it may answer is not followed, so
    /// a test sees where the payer is sent.
    pub async fn submit(
        &self,
        page_url: &str,
        outcome: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut form = vec![("outcome", outcome)];
        form.extend_from_slice(fields);
        client.post(page_url).form(&form).send().await.unwrap()
    }

    /// `GET path` as the demo merchant, as JSON, asserting a 200.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get_json_as(DEMO_KEY, path).await
    }

    /// `GET path` as merchant `api_key`, as JSON, asserting a 200.
    pub async fn get_json_as(&self, api_key: &str, path: &str) -> serde_json::Value {
        assert_json(self.get_as(api_key, path).await, 200).await
    }

    /// Creates a checkout as the demo merchant, asserting a 201; returns it.
    pub async fn create_checkout(&self, body: &serde_json::Value) -> serde_json::Value {
        self.create_checkout_as(DEMO_KEY, body).await
    }

    /// Creates a checkout as merchant `api_key`, asserting a 201; returns it.
    pub async fn create_checkout_as(
        &self,
        api_key: &str,
        body: &serde_json::Value,
    ) -> serde_json::Value {
        let response = self.post_as(api_key, "/v1/checkouts", body, None).await;
        assert_json(response, 201).await
    }

    /// A webhook delivery: `body` posted to `path` (`/webhooks/{merchant}/{provider}`) with
    /// `headers` and no credentials, as a provider sends it.
    pub async fn post_webhook(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// Replaces the overlay file with `overlay` and asks the server to reload it; returns the
    /// answer of `POST /v1/admin/reload`.
    pub async fn reload(&self, overlay: &str) -> reqwest::Response {
        self.write_config(overlay);
        self.admin(reqwest::Method::POST, "/v1/admin/reload", None)
            .await
    }

    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }

    /// The events of `checkout` (an API checkout object), newest first.
    pub async fn events_of(&self, checkout: &serde_json::Value) -> Vec<serde_json::Value> {
        let id = checkout["id"].as_str().unwrap();
        self.get_json(&format!("/v1/events?checkout_id={id}")).await["data"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// [`eventually`], for effects that happen after a response, such as a webhook a simulated
    /// provider sends in the background.
    pub async fn eventually<T, F, Fut>(&self, what: &str, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        eventually(what, probe).await
    }

    /// Runs blocking database work on a pooled connection of the server's database.
    pub async fn with_db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut db::DbConnection) -> T + Send + 'static,
    ) -> T {
        let pool = self.db.clone();
        tokio::task::spawn_blocking(move || work(&mut pool.get().unwrap()))
            .await
            .unwrap()
    }
}

/// Polls `probe` until it returns `Some`, for at most ten seconds, failing the test after.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A stored event for arranging the store directly: a success of 100 (minor units) USD that
/// `merchant`'s `provider` reported now, linked to no checkout. Tests change what they need.
pub fn event_row(
    merchant: &str,
    provider: &str,
    provider_event_id: &str,
) -> paymux_schema::db::event::Event {
    let now = db::truncate_to_micros(chrono::Utc::now());
    paymux_schema::db::event::Event {
        id: paymux_domain::EventId::generate(),
        event_type: paymux_domain::EventType::PaymentSucceeded,
        merchant: merchant.into(),
        provider: provider.into(),
        provider_event_id: provider_event_id.into(),
        checkout_id: None,
        provider_payment_id: None,
        reference: None,
        amount: Some(100),
        currency: Some(paymux_domain::Currency::Usd),
        fee: None,
        occurred_at: now,
        received_at: now,
        livemode: false,
        details: paymux_schema::db::column::Json(serde_json::json!({})),
        receipt_id: None,
        source: paymux_domain::EventSource::Provider,
    }
}

/// Asserts that `response` has `status`; returns its body, which must be JSON.
pub async fn assert_json(response: reqwest::Response, status: u16) -> serde_json::Value {
    let actual = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// What every payer page of the sandbox says across its top.
pub const SANDBOX_RIBBON: &str = "Sandbox — no real money moves";

/// The answer's `Content-Type`, empty when it has none.
fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts a page for a payer: `status`, HTML, the sandbox ribbon, no script and no JSON;
/// returns its text.
pub async fn assert_payer_page(response: reqwest::Response, status: u16) -> String {
    let url = response.url().clone();
    let actual = response.status().as_u16();
    let content_type = content_type(&response);
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{url}: {text}");
    assert!(
        content_type.starts_with("text/html"),
        "{url}: {content_type}"
    );
    assert!(text.contains(SANDBOX_RIBBON), "{url}: {text}");
    assert!(!text.contains("<script"), "{url}: {text}");
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err() && !text.contains("{\""),
        "{url} shows JSON: {text}"
    );
    text
}

/// Asserts the API's error shape and returns the error object.
pub async fn assert_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    let content_type = content_type(&response);
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error.get("param").is_some(), "{body}");
    error
}
