//! What the provider folders' tests share: the checks every factory and every HTTP adapter must
//! pass, each run by a provider's tests with that provider's own settings, statuses and bodies,
//! and the fixtures those tests start from (a checkout id, a port nothing listens on).
//!
//! A check asserts what the provider promises, never how the adapter gets there; a provider
//! whose behaviour differs (Pakhi Pay's replies, SpankPay's absent API) keeps its own test.

use std::fmt::Debug;
use std::sync::Arc;

use paymux_domain::Currency;
use serde_json::{Value, json};
use wiremock::matchers::{any, body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::ConfigError;
use crate::factory::{AdapterContext, ProviderFactory};
use crate::http::Endpoint;
use crate::model::{CheckoutRequest, WebhookOutcome, WebhookReply};
pub(crate) use crate::testing::{CHECKOUT_ID, test_context};
use crate::{Operation, Provider, ProviderError};

/// What no config error, webhook reason or transport error may show: test secrets and refused
/// values carry it.
const HIDDEN: &str = "zq";

/// Every operation a provider may support.
const OPERATIONS: [Operation; 6] = [
    Operation::Create,
    Operation::Retrieve,
    Operation::Cancel,
    Operation::Refund,
    Operation::PartialRefund,
    Operation::Webhooks,
];

/// `http://127.0.0.1:{port}{path}` on a port nothing listens on (a listener was bound there
/// and dropped): a connect is refused at once.
pub(crate) fn refused_url(path: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free port: {error}"));
    format!("http://127.0.0.1:{port}{path}")
}

/// The `param` of a refused request, failing when it was accepted.
pub(crate) fn refused_param<T: Debug>(result: Result<T, ProviderError>) -> String {
    match result {
        Err(ProviderError::InvalidRequest {
            param: Some(param), ..
        }) => param,
        other => panic!("expected an InvalidRequest with a param, got {other:?}"),
    }
}

/// How tests build one provider's adapter: its id and its `from_context`, with the test
/// context ([`test_context`]: merchant `demo`, literal secrets).
pub(crate) struct AdapterBuilder<A> {
    pub(crate) id: &'static str,
    pub(crate) from_context: fn(AdapterContext<'_>) -> Result<A, ConfigError>,
}

impl<A> AdapterBuilder<A> {
    pub(crate) fn build(&self, settings: Value, base_url: Option<&str>) -> Result<A, ConfigError> {
        (self.from_context)(test_context(self.id, &settings, base_url))
    }

    /// The adapter of `settings` at `base_url`, failing the test when it cannot be built.
    pub(crate) fn adapter(&self, settings: Value, base_url: &str) -> A {
        self.build(settings, Some(base_url))
            .unwrap_or_else(|error| panic!("{}: {error}", self.id))
    }

    /// The config error of `settings`, failing the test when they build.
    pub(crate) fn refusal(&self, settings: Value) -> ConfigError {
        match self.build(settings, None) {
            Ok(_) => panic!("{}: the settings were accepted", self.id),
            Err(error) => error,
        }
    }

    /// Settings are strict and every error names its key: `valid` builds, and the build fails
    /// naming the key with an unknown key added (`apikey`), with each of `required` removed,
    /// and with each of `secrets` naming an unset environment variable.
    pub(crate) fn check_strict_settings(&self, valid: &Value, required: &[&str], secrets: &[&str]) {
        if let Err(error) = self.build(valid.clone(), None) {
            panic!("{}: the valid settings were refused: {error}", self.id);
        }
        let mut unknown = valid.clone();
        unknown["apikey"] = json!("x");
        assert_eq!(self.refusal(unknown).key, "apikey");
        for key in required {
            let mut missing = valid.clone();
            if let Some(settings) = missing.as_object_mut() {
                settings.remove(*key);
            }
            assert_eq!(self.refusal(missing).key, *key, "without {key}");
        }
        for key in secrets {
            let mut unset = valid.clone();
            unset[*key] = json!("env:PAYMUX_TEST_SURELY_UNSET");
            assert_eq!(self.refusal(unset).key, *key, "{key} unset");
        }
    }

    /// Each of `values` at `key` in otherwise `valid` settings is refused naming `key`, and the
    /// message shows none of [`HIDDEN`], which the secret ones carry.
    pub(crate) fn check_refused(&self, valid: &Value, key: &str, values: &[&str]) {
        for value in values {
            let mut settings = valid.clone();
            settings[key] = json!(value);
            let error = self.refusal(settings);
            assert_eq!(error.key, key, "{value:?}");
            assert!(!error.to_string().contains(HIDDEN), "{error}");
        }
    }

    /// Without a configured base URL the adapter's API (`api` of an adapter) is at `default`;
    /// each configured URL becomes its expected one, in the mode each case names. A URL that
    /// is not http(s) is refused naming `base_url`.
    pub(crate) fn check_base_urls(
        &self,
        settings: &Value,
        api: fn(&A) -> &Endpoint,
        default: (&str, bool),
        configured: &[(&str, &str, bool)],
    ) {
        let cases = std::iter::once((None, default.0, default.1)).chain(
            configured
                .iter()
                .map(|(from, url, live)| (Some(*from), *url, *live)),
        );
        for (from, expected, live) in cases {
            let adapter = self
                .build(settings.clone(), from)
                .unwrap_or_else(|error| panic!("{from:?}: {error}"));
            let api = api(&adapter);
            let found = (api.base_url().as_str(), api.livemode());
            assert_eq!(found, (expected, live), "{from:?}");
        }
        let error = self.build(settings.clone(), Some("mailto:ops@example.com"));
        assert_eq!(
            error.err().map(|error| error.key).as_deref(),
            Some("base_url")
        );
    }
}

/// `factory` is the standard registry's for its provider, and builds from `settings` an
/// adapter that supports exactly `operations` ([`check_operations`]) in exactly `currencies`.
pub(crate) fn check_factory(
    factory: ProviderFactory,
    settings: &Value,
    operations: &[Operation],
    currencies: &[Currency],
) -> Arc<dyn Provider> {
    let id = factory.id();
    let registered = crate::Registry::standard().get(id).map(ProviderFactory::id);
    assert_eq!(registered, Some(id));
    let provider = factory
        .build(test_context(id, settings, None))
        .unwrap_or_else(|error| panic!("{id}: {error}"));
    assert_eq!(provider.id(), id);
    check_operations(provider.as_ref(), operations);
    assert_eq!(provider.capabilities().currencies, currencies);
    provider
}

/// `provider` has the parts of exactly `operations` (a lookup for retrieve, …), and its
/// capabilities, derived from those parts, say the same.
pub(crate) fn check_operations(provider: &dyn Provider, operations: &[Operation]) {
    let offers = |operation| operations.contains(&operation);
    assert_eq!(provider.lookups().is_some(), offers(Operation::Retrieve));
    assert_eq!(provider.cancels().is_some(), offers(Operation::Cancel));
    assert_eq!(provider.refunds().is_some(), offers(Operation::Refund));
    let partial = provider
        .refunds()
        .is_some_and(|refunds| refunds.allows_partial());
    assert_eq!(partial, offers(Operation::PartialRefund));
    let capabilities = provider.capabilities();
    for operation in OPERATIONS {
        assert_eq!(
            capabilities.supports(operation),
            offers(operation),
            "{operation:?}"
        );
    }
}

/// An adapter's `Debug` output shows none of `secrets`, and each of `shown`.
pub(crate) fn check_debug(adapter: &impl Debug, secrets: &[&str], shown: &[&str]) {
    let debug = format!("{adapter:?}");
    for secret in secrets {
        assert!(!debug.contains(secret), "{debug}");
    }
    for text in shown {
        assert!(debug.contains(text), "{debug}");
    }
}

/// A mock of a provider's API, and the adapter `adapter` builds with the mock's root followed
/// by `path` as its base URL.
pub(crate) async fn mock_api<A>(path: &str, adapter: impl FnOnce(&str) -> A) -> (MockServer, A) {
    let server = MockServer::start().await;
    let adapter = adapter(&format!("{}{path}", server.uri()));
    (server, adapter)
}

/// Mounts `answer` to the one call `server` expects: `route` (method and path), carrying each
/// of `headers` and, when given, exactly the JSON `body`.
pub(crate) async fn expect_once(
    server: &MockServer,
    route: (&str, &str),
    headers: &[(&str, &str)],
    body: Option<Value>,
    answer: ResponseTemplate,
) {
    let mut mock = Mock::given(method(route.0)).and(path(route.1));
    for (name, value) in headers {
        mock = mock.and(header(*name, *value));
    }
    if let Some(body) = body {
        mock = mock.and(body_json(body));
    }
    mock.respond_with(answer).expect(1).mount(server).await;
}

/// Each request of `refused` is refused with its error, and `server` sees no call.
pub(crate) async fn check_refused_before_any_call(
    server: &MockServer,
    adapter: &dyn Provider,
    refused: Vec<(CheckoutRequest, ProviderError)>,
) {
    expect_no_call(server).await;
    for (request, expected) in refused {
        let error = adapter.create_checkout(&request).await.err();
        assert_eq!(error, Some(expected), "{request:?}");
    }
}

/// Mounts an answer to any call that fails the test when `server` is called at all.
pub(crate) async fn expect_no_call(server: &MockServer) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(server)
        .await;
}

/// For each of `statuses`, a provider answering the `route` (method and path) of `call` with
/// `error_body(message)` makes the call fail with that message: an invalid request for the
/// statuses in `invalid`, the provider's failure for the others.
pub(crate) async fn check_error_answers<A>(
    start: impl AsyncFn() -> (MockServer, A),
    route: (&str, &str),
    error_body: impl Fn(&str) -> Value,
    statuses: &[u16],
    invalid: &[u16],
    call: impl AsyncFn(&A) -> ProviderError,
) {
    for &status in statuses {
        let (server, adapter) = start().await;
        let message = format!("refused with {status}");
        Mock::given(method(route.0))
            .and(path(route.1))
            .respond_with(ResponseTemplate::new(status).set_body_json(error_body(&message)))
            .expect(1)
            .mount(&server)
            .await;
        let expected = if invalid.contains(&status) {
            ProviderError::InvalidRequest {
                message,
                param: None,
            }
        } else {
            ProviderError::Upstream { status, message }
        };
        assert_eq!(call(&adapter).await, expected, "{status}");
    }
}

/// An empty body, an HTML page and each of the provider's `bodies`, answered with a 200 at
/// `route`, make `call` fail as a malformed payload.
pub(crate) async fn check_malformed_answers<A>(
    start: impl AsyncFn() -> (MockServer, A),
    route: (&str, &str),
    bodies: &[&str],
    call: impl AsyncFn(&A) -> ProviderError,
) {
    for body in ["", "<html>ok</html>"].iter().chain(bodies) {
        let (server, adapter) = start().await;
        Mock::given(method(route.0))
            .and(path(route.1))
            .respond_with(ResponseTemplate::new(200).set_body_string(*body))
            .mount(&server)
            .await;
        let error = call(&adapter).await;
        assert!(
            matches!(error, ProviderError::MalformedPayload(_)),
            "{body}: {error:?}"
        );
    }
}

/// A call to an API nothing listens at ([`refused_url`]) is unreachable: nothing was sent, so
/// routing may fail over. Its message shows none of `secrets`.
pub(crate) fn assert_unreachable(error: &ProviderError, secrets: &[&str]) {
    assert!(matches!(error, ProviderError::Unreachable(_)), "{error:?}");
    for secret in secrets {
        assert!(!error.to_string().contains(secret), "{error}");
    }
}

/// The replies of a provider that wants `{"received": true}` for every delivery paymux accepts
/// (a refused payment too: it has no way to act on a refusal), and the error body for a
/// rejected one: each of `rejected` pairs an error with the status and message of its reply.
pub(crate) fn check_received_replies(
    adapter: &dyn Provider,
    rejected: &[(ProviderError, u16, &str)],
) {
    let received = WebhookReply::json(200, json!({ "received": true }));
    assert_eq!(received.content_type, "application/json");
    for outcome in [
        WebhookOutcome::Stored,
        WebhookOutcome::Duplicate,
        WebhookOutcome::Refused {
            reason: "checkout canceled",
        },
    ] {
        assert_eq!(adapter.webhook_reply(&outcome), received, "{outcome:?}");
    }
    for (error, status, message) in rejected {
        let reply = adapter.webhook_reply(&WebhookOutcome::Rejected(error));
        assert_eq!(reply.status, *status, "{error:?}");
        let body: Value = serde_json::from_str(&reply.body)
            .unwrap_or_else(|parse| panic!("{}: {parse}", reply.body));
        let expected =
            json!({ "error": { "code": error.code(), "message": message, "param": null } });
        assert_eq!(body, expected, "{error:?}");
    }
}
