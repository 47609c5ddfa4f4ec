//! What the domain layer's tests share: the handlers' state on a SQLite file of its own under
//! the default settings, a provider double, and the orders, checkouts and events they start
//! from. Nothing here listens on a port or calls a network.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use paymux_domain::{
    CheckoutId, CheckoutStatus, Currency, EventSource, EventType, Money, NormalizedEvent,
    RefundStatus,
};
use paymux_providers::model::{
    CheckoutRequest, CreatedCheckout, ProviderCheckout, ProviderRefund, RefundRequest,
    WebhookOutcome, WebhookReply, WebhookRequest,
};
use paymux_providers::sknpay::signature::{SIGNATURE_HEADER, sign};
use paymux_providers::{
    ClosedCheckout, Lookups, Operation, Provider, ProviderError, Refunds, Registry, WebhookPolicy,
};
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::event::{Event, EventFilter};
use paymux_schema::db::{self, DatabaseUrl, DbConnection, PoolOptions, PooledConnection};
use serde_json::json;
use url::Url;

use super::checkouts::new_row;
use super::events::{self, Handling, Recorded, Recording};
use super::ingest::Inbound;
use super::routing::{Order, Routed};
use crate::live::{Addresses, ConfigSource, Live, LiveConfig};
use crate::merchants::{ConfiguredProvider, Merchant};
use crate::settings::{Overlay, RateLimitSettings, Settings};
use crate::startup::assemble_state;
use crate::state::AppState;

/// Every test's merchant: the demo merchant of `config/default.toml`.
pub const MERCHANT: &str = "demo";

/// The state the handlers share, on a migrated SQLite database removed when dropped.
pub struct TestState {
    pub state: AppState,
    _dir: tempfile::TempDir,
}

impl TestState {
    /// Under the default settings: the demo merchant and its simulated providers, which
    /// nothing here calls (their simulators are not running).
    pub fn new() -> TestState {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("paymux.db").display());
        let db = db::connect(&url, PoolOptions::default()).unwrap();
        db::run_migrations(&mut db.get().unwrap()).unwrap();
        let source: ConfigSource = Arc::new(|| Settings::load(Overlay::Toml(String::new())));
        let addresses = Addresses {
            public_url: Url::parse("http://127.0.0.1:9/").unwrap(),
            refusing_url: None,
        };
        let config = LiveConfig::build(source().unwrap(), &Registry::standard(), &addresses);
        let live = Live::new(config.unwrap(), source, Registry::standard(), addresses);
        let url = DatabaseUrl::parse(&url).unwrap();
        let max_connections = PoolOptions::default().max_connections;
        let state = assemble_state(db, &url, max_connections, live, None).unwrap();
        TestState { state, _dir: dir }
    }

    pub fn conn(&self) -> PooledConnection {
        self.state.db.get().unwrap()
    }
}

/// A provider double, `fake` to paymux. It takes checkouts of `min_amount` and more and
/// creates them (unless it fails with `create_failure`), reports `reported` when asked about
/// one, and refunds whatever it is asked to, after failing with each of `refund_failures` in
/// turn; `refunds_asked` keeps every refund request.
pub struct Fake {
    pub min_amount: i64,
    pub create_failure: Option<ProviderError>,
    pub reported: CheckoutStatus,
    pub refund_failures: Mutex<Vec<ProviderError>>,
    pub refunds_asked: Mutex<Vec<RefundRequest>>,
}

impl Default for Fake {
    fn default() -> Fake {
        Fake {
            min_amount: 0,
            create_failure: None,
            reported: CheckoutStatus::Open,
            refund_failures: Mutex::default(),
            refunds_asked: Mutex::default(),
        }
    }
}

#[async_trait]
impl Provider for Fake {
    fn id(&self) -> &'static str {
        "fake"
    }

    fn currencies(&self) -> &[Currency] {
        &[Currency::Usd, Currency::Eur]
    }

    fn idempotent_create(&self) -> bool {
        true
    }

    fn validate_checkout(&self, request: &CheckoutRequest) -> Result<(), ProviderError> {
        match request.amount.minor < self.min_amount {
            true => Err(ProviderError::invalid("below the fake's minimum", "amount")),
            false => Ok(()),
        }
    }

    async fn create_checkout(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CreatedCheckout, ProviderError> {
        self.validate_checkout(request)?;
        match &self.create_failure {
            Some(error) => Err(error.clone()),
            None => Ok(created(request.checkout_id)),
        }
    }

    fn verify_webhook(
        &self,
        _: &WebhookRequest<'_>,
        _: DateTime<Utc>,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::unsupported("fake", Operation::Webhooks))
    }

    fn parse_webhook(&self, _: &[u8]) -> Result<Vec<NormalizedEvent>, ProviderError> {
        Err(ProviderError::unsupported("fake", Operation::Webhooks))
    }

    fn webhook_reply(&self, outcome: &WebhookOutcome<'_>) -> WebhookReply {
        WebhookReply::received_or(outcome, |_| 400)
    }

    fn webhook_policy(&self) -> WebhookPolicy<'_> {
        WebhookPolicy::signature_suffices(ClosedCheckout::ApplyAndFlag)
    }

    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    fn refunds(&self) -> Option<&dyn Refunds> {
        Some(self)
    }
}

#[async_trait]
impl Lookups for Fake {
    async fn retrieve(
        &self,
        provider_checkout_id: &str,
    ) -> Result<ProviderCheckout, ProviderError> {
        Ok(ProviderCheckout {
            provider_checkout_id: provider_checkout_id.to_owned(),
            status: self.reported,
            livemode: false,
        })
    }
}

#[async_trait]
impl Refunds for Fake {
    fn allows_partial(&self) -> bool {
        true
    }

    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        self.refunds_asked.lock().unwrap().push(request.clone());
        let mut failures = self.refund_failures.lock().unwrap();
        if !failures.is_empty() {
            return Err(failures.remove(0));
        }
        Ok(ProviderRefund {
            provider_refund_id: Some(format!("fake_{}", request.refund_id)),
            status: RefundStatus::Succeeded,
        })
    }
}

/// What a provider creates for checkout `id`: an open payment `pay_<id>`.
fn created(id: CheckoutId) -> CreatedCheckout {
    CreatedCheckout {
        provider_checkout_id: Some(format!("pay_{id}")),
        status: CheckoutStatus::Open,
        redirect_url: Some(format!("https://pay.example/{id}")),
        client_action: None,
        livemode: false,
        expires_at: None,
    }
}

/// `adapter` as the merchant configures it: enabled, at `priority`, for `currencies`.
pub fn configured(
    adapter: Arc<dyn Provider>,
    priority: u32,
    currencies: &[Currency],
) -> ConfiguredProvider {
    ConfiguredProvider {
        adapter,
        enabled: true,
        priority,
        currencies: currencies.to_vec(),
    }
}

/// The test merchant with these providers, by id.
pub fn merchant(providers: Vec<(&str, ConfiguredProvider)>) -> Merchant {
    Merchant {
        id: MERCHANT.to_owned(),
        providers: providers
            .into_iter()
            .map(|(id, provider)| (id.to_owned(), provider))
            .collect(),
        rate_limit: RateLimitSettings {
            requests_per_second: 1.0,
            burst: 1,
        },
    }
}

/// An order of `minor` US cents and nothing else.
pub fn order(minor: i64) -> Order {
    Order {
        amount: Money::new(minor, Currency::Usd),
        provider: None,
        reference: None,
        description: None,
        customer: None,
        success_url: None,
        cancel_url: None,
        expires_at: None,
        metadata: None,
        items: vec![],
        provider_options: None,
    }
}

/// Stores the open checkout `order` becomes when `provider` creates it ([`created`]).
pub fn insert_checkout(conn: &mut DbConnection, provider: &str, order: &Order) -> Checkout {
    let id = CheckoutId::generate();
    let routed = Routed {
        provider_id: provider.to_owned(),
        created: created(id),
        tried: vec![provider.to_owned()],
    };
    let checkout = new_row(&merchant(vec![]), id, order, routed, TimeDelta::hours(1));
    Checkout::insert(conn, &checkout).unwrap();
    checkout
}

/// A provider's event `id` of `event_type` about payment `payment_id`, of `amount` US cents
/// when it names one.
pub fn provider_event(
    event_type: EventType,
    id: &str,
    payment_id: &str,
    amount: Option<i64>,
) -> NormalizedEvent {
    NormalizedEvent {
        event_type,
        provider_event_id: id.to_owned(),
        provider_payment_id: Some(payment_id.to_owned()),
        checkout_hint: None,
        reference: None,
        amount: amount.map(|minor| Money::new(minor, Currency::Usd)),
        fee: None,
        occurred_at: Utc::now(),
        livemode: false,
        details: serde_json::json!({}),
    }
}

/// How a webhook's events from `provider` are recorded now, with `handling`.
pub fn webhook_recording(provider: &str, handling: Handling) -> Recording {
    Recording {
        merchant: MERCHANT.to_owned(),
        provider: provider.to_owned(),
        source: EventSource::Provider,
        receipt: None,
        received_at: db::now(),
        handling,
    }
}

/// Records `event_type` about `checkout`'s payment as its provider's webhook `event_id`
/// reports it: a success pays the whole amount.
pub fn report(
    conn: &mut DbConnection,
    checkout: &Checkout,
    event_type: EventType,
    event_id: &str,
) -> Recorded {
    let payment_id = checkout.provider_checkout_id.as_deref().unwrap_or_default();
    let event = provider_event(event_type, event_id, payment_id, Some(checkout.amount));
    let recording = webhook_recording(&checkout.provider, Handling::default());
    events::record(conn, &recording, &event, Some(checkout.clone())).unwrap()
}

/// [`report`]s `checkout` paid; returns it as it is now.
pub fn pay(conn: &mut DbConnection, checkout: &Checkout) -> Checkout {
    let recorded = report(conn, checkout, EventType::PaymentSucceeded, "evt_paid");
    assert!(
        recorded.stored,
        "a second payment of one provider is a duplicate here"
    );
    recorded.checkout.unwrap()
}

/// Stores the checkout `order` becomes at `provider`, and [`pay`]s it.
pub fn insert_paid(conn: &mut DbConnection, provider: &str, order: &Order) -> Checkout {
    let checkout = insert_checkout(conn, provider, order);
    pay(conn, &checkout)
}

/// The checkout as stored now.
pub fn reload(conn: &mut DbConnection, checkout: &Checkout) -> Checkout {
    Checkout::find(conn, MERCHANT, &checkout.id)
        .unwrap()
        .unwrap()
}

/// The checkout's stored events.
pub fn events_of(conn: &mut DbConnection, checkout: &Checkout) -> Vec<Event> {
    let filter = EventFilter {
        checkout_id: Some(checkout.id),
        ..EventFilter::default()
    };
    Event::export_page(conn, MERCHANT, &filter, None, 100).unwrap()
}

/// The demo merchant's SKN Pay webhook secret, as configured.
pub fn sknpay_secret(state: &AppState) -> String {
    let config = state.config();
    let sknpay = &config.settings.merchants[MERCHANT].providers["sknpay"];
    sknpay.specific["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// SKN Pay's event `id` saying `checkout` was paid, signed with `secret` as SKN Pay signs.
pub fn paid_webhook(checkout: &Checkout, id: &str, secret: &str) -> Inbound {
    let payment = json!({
        "object": "payment", "id": checkout.provider_checkout_id, "livemode": false,
        "amount": checkout.amount, "currency": "USD", "status": "succeeded",
    });
    let now = Utc::now();
    let event = json!({
        "id": id, "object": "event", "type": "payment.succeeded",
        "created": now.timestamp(), "livemode": false, "data": { "object": payment },
    });
    let body = serde_json::to_vec(&event).unwrap();
    let signature = sign(secret.as_bytes(), now.timestamp(), &body);
    Inbound {
        merchant: MERCHANT.to_owned(),
        provider: "sknpay".to_owned(),
        headers: vec![(SIGNATURE_HEADER.to_owned(), signature)],
        body: body.into(),
        received_at: now,
        client: None,
    }
}
