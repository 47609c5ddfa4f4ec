//! What the simulators' tests share: a merchant's account as the sandbox opens it, a
//! simulator's API served over HTTP as the sandbox's routes serve it, an adapter calling it,
//! a press of the hosted page's buttons, what paymux makes of the webhook it sends, and the
//! check of every simulator's bounded memory.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use paymux_domain::NormalizedEvent;
use paymux_providers::model::WebhookRequest;
use paymux_providers::testing::test_context;
use paymux_providers::{AdapterContext, ConfigError, Provider, ProviderError, SecretResolver};
use serde_json::Value;
use url::Url;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::simulator::{
    ApiCall, ControlResult, Method, Outcome, OutgoingWebhook, Press, SandboxAccount, SandboxError,
    Simulator,
};

/// The moment the simulators' tests happen at, unless their dates say otherwise.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_778_276_991, 0).unwrap_or_else(|| panic!("a valid timestamp"))
}

/// A merchant's account at `provider`'s simulator, opened from `settings` as the sandbox opens
/// it: literal secrets allowed, webhooks sent to the URL the adapter's [`test_context`] has
/// (`https://paymux.example/webhooks/{merchant}/{provider}`), the hosted pages below
/// `https://paymux.example/sandbox/{provider}/pay/`.
pub fn account<'a>(provider: &str, merchant: &'a str, settings: &'a Value) -> SandboxAccount<'a> {
    let url = |text: String| Url::parse(&text).unwrap_or_else(|error| panic!("{text}: {error}"));
    SandboxAccount {
        merchant,
        settings,
        secrets: SecretResolver {
            allow_literals: true,
        },
        webhook_url: url(format!(
            "https://paymux.example/webhooks/{merchant}/{provider}"
        )),
        pay_page_base: url(format!("https://paymux.example/sandbox/{provider}/pay/")),
    }
}

/// Answers every call with the simulator's API at `now`; webhooks the calls trigger are not
/// sent.
struct Served {
    provider: &'static str,
    simulator: Arc<dyn Simulator>,
    now: DateTime<Utc>,
}

impl Respond for Served {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let method = match request.method.as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            _ => Method::Other,
        };
        let root = format!("/sandbox/{}/", self.provider);
        let call = ApiCall {
            method,
            path: request.url.path().strip_prefix(&root).unwrap_or_default(),
            headers: &headers,
            body: &request.body,
        };
        let answer = self.simulator.api(&call, self.now);
        ResponseTemplate::new(answer.response.status).set_body_json(answer.response.body)
    }
}

/// A simulator's API served over HTTP, as long as this lives.
pub struct ServedApi {
    _server: MockServer,
    /// What a sandboxed adapter's base URL is: `…/sandbox/{provider}/{api_path}`.
    pub base_url: String,
}

/// Serves the API of `provider`'s simulator below `/sandbox/{provider}/`, as the sandbox
/// does, at `now`.
pub async fn serve(
    provider: &'static str,
    simulator: Arc<dyn Simulator>,
    now: DateTime<Utc>,
) -> ServedApi {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Served {
            provider,
            simulator,
            now,
        })
        .mount(&server)
        .await;
    let api_path = crate::api_path(provider).unwrap_or_default();
    ServedApi {
        base_url: format!("{}/sandbox/{provider}/{api_path}", server.uri()),
        _server: server,
    }
}

/// `provider`'s adapter of merchant `demo` (see [`test_context`]) with `settings`, calling
/// the simulated API at `base_url`.
pub fn adapter<A>(
    from_context: impl FnOnce(AdapterContext<'_>) -> Result<A, ConfigError>,
    provider: &str,
    settings: &Value,
    base_url: &str,
) -> A {
    from_context(test_context(provider, settings, Some(base_url)))
        .unwrap_or_else(|error| panic!("{provider} adapter: {error}"))
}

/// Presses `outcome` on checkout `id` at `now`, the page's fields left empty.
pub fn press(
    simulator: &dyn Simulator,
    id: &str,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Result<ControlResult, SandboxError> {
    simulator.control(Press::new(id, outcome, now))
}

/// The webhook pressing `outcome` on checkout `id` at `now` sends.
pub fn webhook(
    simulator: &dyn Simulator,
    id: &str,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> OutgoingWebhook {
    let result = press(simulator, id, outcome, now).unwrap_or_else(|error| panic!("{error}"));
    result
        .webhook
        .unwrap_or_else(|| panic!("{} sends no webhook", outcome.as_str()))
}

/// What paymux makes of `webhook` delivered at `at`: `adapter` verifies it with the headers
/// the simulator signs it with (their names in lower case, as paymux's server hands them
/// over), then parses its body.
pub fn receive(
    adapter: &impl Provider,
    webhook: &OutgoingWebhook,
    at: DateTime<Utc>,
) -> Result<Vec<NormalizedEvent>, ProviderError> {
    let headers: Vec<(String, String)> = (webhook.sign)(at, &webhook.body)
        .into_iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    let request = WebhookRequest {
        headers: &headers,
        body: &webhook.body,
    };
    adapter.verify_webhook(&request, at)?;
    adapter.parse_webhook(&webhook.body)
}

/// Checks the memory of a simulator made to keep at most four checkouts, holding one,
/// `finished` (paid): four open ones made by `open` push `finished` out first and are all
/// kept; three more push out the oldest open one. `held` counts the checkouts it holds.
pub fn assert_finished_go_first(
    simulator: &dyn Simulator,
    finished: &str,
    mut open: impl FnMut() -> String,
    held: impl Fn() -> usize,
    now: DateTime<Utc>,
) {
    let opened: Vec<String> = (0..4).map(|_| open()).collect();
    assert_eq!(held(), 4);
    assert_eq!(
        simulator.page(finished, now),
        None,
        "the finished checkout went first"
    );
    assert!(opened.iter().all(|id| simulator.page(id, now).is_some()));
    for _ in 0..3 {
        open();
    }
    assert_eq!(held(), 4);
    assert_eq!(
        simulator.page(&opened[0], now),
        None,
        "then the oldest open one"
    );
}
