//! The simulated SKN Pay: the documented API (`sk_test_`/`sk_live_` keys, idempotency, mode
//! strictness, validation errors as `{"error": "…"}`), hosted payment links whose test cards pay
//! or decline, and signed webhooks, at `/sandbox/sknpay/api/v1/` with the same paths, headers
//! and bodies as `https://app.sknpay.com/api/v1/`. Webhooks an API call triggers (cancel,
//! refund) are sent after the answer, as SKN Pay does.
//! Payments and idempotency keys are kept in [`BoundedMap`]s: past their capacity the oldest
//! finished payments (and the oldest keys) are forgotten.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use paymux_domain::{Currency, Money};
use paymux_providers::ConfigError;
use paymux_providers::sknpay::signature::{SIGNATURE_HEADER, sign};
use paymux_providers::sknpay::wire::{
    self, CreatePayment, CreateRefund, Event, EventData, EventKind, Payment, PaymentStatus,
};
use paymux_providers::sknpay::{ID, Settings};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use crate::memory::{Accounts, BoundedMap, Credential, Finished, Locked};
use crate::sender::schedule;
use crate::simulator::{
    ApiAnswer, ApiCall, ControlResult, Field, HostedPage, Look, Method, Outcome, OutgoingWebhook,
    Press, SandboxAccount, SandboxCall, SandboxError, SandboxResponse, Simulator, Standing,
};

/// The doc's test cards, all of which pay (the sandbox asks no 3DS one-time code), and what
/// each stands for. Any other number declines.
const PAYING_CARDS: [(&str, &str); 4] = [
    ("4111 1111 1111 1111", "Visa: approved"),
    ("4000 0000 0000 2701", "3DS frictionless: approved"),
    (
        "4000 0000 0000 2420",
        "3DS challenge: approved, no code asked",
    ),
    (
        "4000 0000 0000 2644",
        "3DS challenge (alt): approved, no code asked",
    ),
];
/// A number the page suggests for a decline.
const DECLINED_CARD: (&str, &str) = ("4000 0000 0000 0002", "Any other number: declined");
/// How SKN Pay's pages look.
const LOOK: Look = Look {
    name: "SKN Pay",
    colour: "#1d4ed8",
    on_colour: "#ffffff",
    pay_label: "Pay now",
};
/// Redeliveries after a failed attempt: 1 min, 5 min, 30 min, 2 h, 6 h.
const RETRY_DELAYS_SECS: [u64; 5] = [60, 300, 1_800, 7_200, 21_600];
/// How long SKN Pay waits for a webhook's 2xx.
const REPLY_WITHIN: Duration = Duration::from_secs(10);
/// How long an Idempotency-Key is remembered.
const IDEMPOTENCY_RETENTION: TimeDelta = TimeDelta::hours(24);
/// How long a link lives when `expires_at` is not given.
const DEFAULT_LIFETIME: TimeDelta = TimeDelta::hours(24);

struct Account {
    livemode: bool,
    webhook_url: Url,
    webhook_secret: SecretString,
    pay_page_base: Url,
}

struct SimulatedPayment {
    payment: Payment,
    /// The API key that created it: only that key sees it (its mode and its account).
    owner: String,
    refunded: i64,
}

impl Finished for SimulatedPayment {
    /// Paid (refunded or not), canceled or expired, also by its time having passed; a link
    /// with only declined attempts is still open.
    fn finished(&self, now: DateTime<Utc>) -> bool {
        self.payment.status != PaymentStatus::Open
            || self
                .payment
                .expires_at
                .is_some_and(|expires_at| expires_at <= now)
    }
}

#[derive(Default)]
struct State {
    /// By API key.
    accounts: Accounts<Account>,
    payments: BoundedMap<String, SimulatedPayment>,
    /// (API key, Idempotency-Key) → (when, hash of operation and body, the first response).
    idempotency: BoundedMap<(String, String), Remembered>,
}

struct Remembered {
    at: DateTime<Utc>,
    request_hash: Vec<u8>,
    response: SandboxResponse,
}

impl Finished for Remembered {
    /// Every remembered answer is as done as the next: the oldest keys go first.
    fn finished(&self, _now: DateTime<Utc>) -> bool {
        true
    }
}

#[derive(Default)]
pub struct SknSandbox {
    state: Locked<State>,
}

/// The `id` of a new object: `prefix` and 24 lower-case hex digits, like SKN Pay's.
fn new_id(prefix: &str) -> String {
    let random = ulid::Ulid::new().0;
    format!("{prefix}{:024x}", random & ((1u128 << 96) - 1))
}

fn request_hash(operation: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().to_vec()
}

fn https_url(field: &str, text: &str) -> Result<(), String> {
    let url = Url::parse(text).map_err(|_| format!("{field} must be a valid URL."))?;
    if url.scheme() != "https" {
        return Err(format!("{field} must be an https:// URL."));
    }
    let host = url.host_str().unwrap_or_default();
    if host == "sknpay.com" || host.ends_with(".sknpay.com") {
        return Err(format!("{field} must not point at SKN Pay's own domains."));
    }
    Ok(())
}

fn too_long(field: &str, value: Option<&String>, max: usize) -> Result<(), String> {
    match value {
        Some(value) if value.chars().count() > max => {
            Err(format!("{field} must be at most {max} characters."))
        }
        _ => Ok(()),
    }
}

/// SKN Pay's documented checks on `POST /payments`, with its messages.
fn validate(request: &CreatePayment, now: DateTime<Utc>) -> Result<(i64, String), String> {
    let amount = request
        .amount
        .ok_or("The sandbox makes fixed-amount links only: send amount.")?;
    if amount < wire::MIN_AMOUNT {
        return Err(format!(
            "Amount must be at least {} minor units.",
            wire::MIN_AMOUNT
        ));
    }
    if amount > wire::MAX_AMOUNT {
        return Err(format!(
            "Amount must be at most {} minor units.",
            wire::MAX_AMOUNT
        ));
    }
    let currency = request.currency.clone().unwrap_or_else(|| "USD".to_owned());
    if !wire::CURRENCIES.iter().any(|c| c.code() == currency) {
        return Err("Currency must be USD or XCD.".to_owned());
    }
    if let Some(url) = &request.success_url {
        https_url("success_url", url)?;
    }
    if let Some(url) = &request.cancel_url {
        https_url("cancel_url", url)?;
    }
    too_long(
        "description",
        request.description.as_ref(),
        wire::MAX_DESCRIPTION_CHARS,
    )?;
    too_long(
        "reference",
        request.reference.as_ref(),
        wire::MAX_REFERENCE_CHARS,
    )?;
    too_long(
        "customer_email",
        request.customer_email.as_ref(),
        wire::MAX_EMAIL_CHARS,
    )?;
    too_long(
        "customer_name",
        request.customer_name.as_ref(),
        wire::MAX_NAME_CHARS,
    )?;
    too_long(
        "customer_phone",
        request.customer_phone.as_ref(),
        wire::MAX_PHONE_CHARS,
    )?;
    if let Some(metadata) = &request.metadata {
        let size = serde_json::to_string(metadata)
            .map(|text| text.len())
            .unwrap_or(usize::MAX);
        if size > wire::MAX_METADATA_BYTES {
            return Err("metadata must be at most 4KB serialised.".to_owned());
        }
    }
    if let Some(expires_at) = request.expires_at {
        if expires_at <= now {
            return Err("expires_at must be in the future.".to_owned());
        }
        if expires_at > now + wire::MAX_EXPIRY {
            return Err("expires_at must be at most 30 days ahead.".to_owned());
        }
    }
    Ok((amount, currency))
}

impl SknSandbox {
    /// `POST /api/v1/payments`.
    pub fn create_payment(&self, call: SandboxCall<'_>, now: DateTime<Utc>) -> SandboxResponse {
        self.state.as_caller(
            |state| authenticate(state, call.authorization),
            |state, key| {
                idempotent(state, &key, call, "create", now, |state| {
                    create(state, &key, call.body, now)
                })
            },
        )
    }

    /// The ids of the payments made with `reference`: what a tester checks to see how many a
    /// series of calls really created.
    pub fn payments_with_reference(&self, reference: &str) -> Vec<String> {
        let state = self.state.lock();
        let mut ids: Vec<String> = state
            .payments
            .iter()
            .filter(|(_, simulated)| simulated.payment.reference.as_deref() == Some(reference))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// `GET /api/v1/payments/{id}`.
    pub fn retrieve_payment(
        &self,
        authorization: Option<&str>,
        id: &str,
        now: DateTime<Utc>,
    ) -> SandboxResponse {
        self.state.as_caller(
            |state| authenticate(state, authorization),
            |state, key| match visible_payment(state, &key, id, now) {
                Some(payment) => SandboxResponse::ok(payment_body(&payment.payment)),
                None => not_found(),
            },
        )
    }

    /// `POST /api/v1/payments/{id}/cancel`: idempotent; the first cancel sends
    /// `payment.canceled`.
    pub fn cancel_payment(&self, call: SandboxCall<'_>, id: &str, now: DateTime<Utc>) -> ApiAnswer {
        self.state.as_caller(
            |state| authenticate(state, call.authorization),
            |state, key| {
                let Some(payment) = visible_payment(state, &key, id, now) else {
                    return not_found().into();
                };
                if payment.payment.status != PaymentStatus::Open {
                    return SandboxResponse::ok(payment_body(&payment.payment)).into();
                }
                payment.payment.status = PaymentStatus::Canceled;
                let body = payment_body(&payment.payment);
                let webhook = webhook_for(state, id, EventKind::PaymentCanceled, now);
                (SandboxResponse::ok(body), webhook).into()
            },
        )
    }

    /// `POST /api/v1/refunds`: partial refunds add up to at most the amount paid.
    pub fn create_refund(&self, call: SandboxCall<'_>, now: DateTime<Utc>) -> ApiAnswer {
        self.state.as_caller(
            |state| authenticate(state, call.authorization),
            |state, key| {
                let mut refunded = None;
                let response = idempotent(state, &key, call, "refund", now, |state| {
                    refund(state, &key, call.body, &mut refunded, now)
                });
                let webhook = refunded
                    .and_then(|id| webhook_for(state, &id, EventKind::PaymentRefunded, now));
                (response, webhook).into()
            },
        )
    }
}

/// Creates a payment link for the account of API key `key`.
fn create(state: &mut State, key: &str, body: &[u8], now: DateTime<Utc>) -> SandboxResponse {
    let request: CreatePayment = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => return invalid_json(&error),
    };
    let (amount, currency) = match validate(&request, now) {
        Ok(valid) => valid,
        Err(message) => return SandboxResponse::error(400, message),
    };
    let Some(account) = state.accounts.get(key) else {
        return SandboxResponse::error(401, "Invalid API key.");
    };
    let id = new_id("plink_");
    let payment = Payment {
        object: Some("payment".to_owned()),
        url: account.pay_page_base.join(&id).ok().map(String::from),
        id: id.clone(),
        livemode: account.livemode,
        amount: Some(amount),
        currency: Some(currency),
        status: PaymentStatus::Open,
        description: request.description,
        customer_email: request.customer_email,
        customer_name: request.customer_name,
        customer_phone: request.customer_phone,
        reference: request.reference,
        success_url: request.success_url,
        cancel_url: request.cancel_url,
        metadata: request.metadata,
        expires_at: Some(request.expires_at.unwrap_or(now + DEFAULT_LIFETIME)),
        created_at: Some(now),
        amount_refunded: None,
        failure_message: None,
    };
    let body = payment_body(&payment);
    let simulated = SimulatedPayment {
        payment,
        owner: key.to_owned(),
        refunded: 0,
    };
    state.payments.insert(id, simulated, now);
    SandboxResponse::ok(body)
}

/// Refunds a payment of the account of API key `key`; `refunded` names the payment refunded.
fn refund(
    state: &mut State,
    key: &str,
    body: &[u8],
    refunded: &mut Option<String>,
    now: DateTime<Utc>,
) -> SandboxResponse {
    let request: CreateRefund = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => return invalid_json(&error),
    };
    let Some(payment) = visible_payment(state, key, &request.payment_id, now) else {
        return not_found();
    };
    if payment.payment.status != PaymentStatus::Succeeded {
        return SandboxResponse::error(400, "Only succeeded payments can be refunded.");
    }
    if request.amount.is_some_and(|amount| amount < 1) {
        return SandboxResponse::error(400, "Amount must be at least 1 minor unit.");
    }
    let paid = payment.payment.amount.unwrap_or(0);
    let remaining = paid - payment.refunded;
    let amount = request.amount.unwrap_or(remaining);
    if amount < 1 {
        return SandboxResponse::error(400, "This payment is already fully refunded.");
    }
    if amount > remaining {
        return SandboxResponse::error(
            400,
            format!("Refund amount exceeds the {remaining} minor units remaining."),
        );
    }
    payment.refunded += amount;
    payment.payment.amount_refunded = Some(payment.refunded);
    *refunded = Some(request.payment_id.clone());
    SandboxResponse::ok(json!({
        "object": "refund",
        "id": new_id("re_"),
        "payment_id": request.payment_id,
        "amount": amount,
        "currency": payment.payment.currency,
        "status": "succeeded",
        "created_at": now,
    }))
}

/// A payment as the API answers with it.
fn payment_body(payment: &Payment) -> Value {
    serde_json::to_value(payment).unwrap_or(Value::Null)
}

fn invalid_json(error: &serde_json::Error) -> SandboxResponse {
    SandboxResponse::error(400, format!("Invalid JSON body: {error}"))
}

fn not_found() -> SandboxResponse {
    SandboxResponse::error(404, "No such payment.")
}

/// The account of `Authorization: Bearer sk_…`, or a 401.
fn authenticate(state: &State, authorization: Option<&str>) -> Result<String, SandboxResponse> {
    let key = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            SandboxResponse::error(401, "Missing API key: send Authorization: Bearer sk_…")
        })?;
    if !(key.starts_with("sk_test_") || key.starts_with("sk_live_"))
        || state.accounts.get(key).is_none()
    {
        return Err(SandboxResponse::error(401, "Invalid API key."));
    }
    Ok(key.to_owned())
}

/// Runs `create` once per Idempotency-Key: a repeat with the same body gets the first
/// response, a repeat with another body a 409.
fn idempotent(
    state: &mut State,
    key: &str,
    call: SandboxCall<'_>,
    operation: &str,
    now: DateTime<Utc>,
    create: impl FnOnce(&mut State) -> SandboxResponse,
) -> SandboxResponse {
    let Some(idempotency_key) = call.idempotency_key else {
        return create(state);
    };
    // Keys expire in about the order they were remembered; the lookup checks its own key
    // whatever the order.
    let cutoff = now - IDEMPOTENCY_RETENTION;
    state
        .idempotency
        .drop_oldest_while(|remembered| remembered.at <= cutoff);
    let hash = request_hash(operation, call.body);
    let slot = (key.to_owned(), idempotency_key.to_owned());
    let remembered = state
        .idempotency
        .get(&slot)
        .filter(|remembered| remembered.at > cutoff);
    if let Some(remembered) = remembered {
        if remembered.request_hash == hash {
            return remembered.response.clone();
        }
        return SandboxResponse::error(
            409,
            "Idempotency-Key reused with a different request body.",
        );
    }
    let response = create(state);
    if response.status < 500 {
        let remembered = Remembered {
            at: now,
            request_hash: hash,
            response: response.clone(),
        };
        state.idempotency.insert(slot, remembered, now);
    }
    response
}

/// The payment `id` as `key` may see it (same account, so same mode), expired if its time
/// has passed.
fn visible_payment<'a>(
    state: &'a mut State,
    key: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Option<&'a mut SimulatedPayment> {
    let payment = state
        .payments
        .get_mut(id)
        .filter(|payment| payment.owner == key)?;
    expire_if_due(payment, now);
    Some(payment)
}

fn expire_if_due(payment: &mut SimulatedPayment, now: DateTime<Utc>) {
    if payment.payment.status == PaymentStatus::Open
        && payment
            .payment
            .expires_at
            .is_some_and(|expires_at| expires_at <= now)
    {
        payment.payment.status = PaymentStatus::Expired;
    }
}

/// The signed webhook SKN Pay sends for `kind` on payment `id`, to its owner's endpoint.
fn webhook_for(
    state: &State,
    id: &str,
    kind: EventKind,
    now: DateTime<Utc>,
) -> Option<OutgoingWebhook> {
    let payment = state.payments.get(id)?;
    let account = state.accounts.get(&payment.owner)?;
    let event = Event {
        id: new_id("evt_"),
        object: Some("event".to_owned()),
        kind,
        created: now.timestamp(),
        livemode: payment.payment.livemode,
        data: EventData {
            object: payment.payment.clone(),
        },
    };
    let body = serde_json::to_vec(&event).ok()?;
    let event_type = serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default();
    let secret = account.webhook_secret.clone();
    let (event_id, signed_type) = (event.id.clone(), event_type.clone());
    let url = account.webhook_url.clone();
    Some(OutgoingWebhook {
        sign: Arc::new(move |at: DateTime<Utc>, body: &[u8]| {
            vec![
                (
                    SIGNATURE_HEADER.to_owned(),
                    sign(secret.expose_secret().as_bytes(), at.timestamp(), body),
                ),
                ("SknPay-Event-Id".to_owned(), event_id.clone()),
                ("SknPay-Event-Type".to_owned(), signed_type.clone()),
            ]
        }),
        retry_delays: schedule(&RETRY_DELAYS_SECS),
        reply_within: REPLY_WITHIN,
        ..OutgoingWebhook::json(url, body, event_type, event.id)
    })
}

impl Simulator for SknSandbox {
    fn add_account(&self, account: SandboxAccount<'_>) -> Result<(), ConfigError> {
        let settings: Settings = paymux_providers::factory::parse_settings(account.settings)?;
        let api_key = account.secret("api_key", &settings.api_key)?;
        let webhook_secret = account.secret("webhook_secret", &settings.webhook_secret)?;
        let api_key = api_key.expose_secret().to_owned();
        let opened = Account {
            livemode: api_key.starts_with("sk_live_"),
            webhook_url: account.webhook_url,
            webhook_secret,
            pay_page_base: account.pay_page_base,
        };
        let credential = Credential {
            key: "api_key",
            name: "SKN Pay key",
            value: api_key,
        };
        (self.state.lock().accounts).open(credential, account.merchant, opened)
    }

    fn api(&self, call: &ApiCall<'_>, now: DateTime<Utc>) -> ApiAnswer {
        match (call.method, call.segments().as_slice()) {
            (Method::Post, ["api", "v1", "payments"]) => {
                self.create_payment(call.call(), now).into()
            }
            (Method::Get, ["api", "v1", "payments", id]) => self
                .retrieve_payment(call.header("authorization"), id, now)
                .into(),
            (Method::Post, ["api", "v1", "payments", id, "cancel"]) => {
                self.cancel_payment(call.call(), id, now)
            }
            (Method::Post, ["api", "v1", "refunds"]) => self.create_refund(call.call(), now),
            _ => call.unrouted(ID),
        }
    }

    fn look(&self) -> &'static Look {
        &LOOK
    }

    /// The doc's hosted page: the card form, the cardholder name and receipt e-mail pre-filled
    /// from `customer_name` and `customer_email`, the test cards suggested.
    fn page(&self, id: &str, now: DateTime<Utc>) -> Option<HostedPage> {
        let mut state = self.state.lock();
        let state = &mut *state;
        let simulated = state.payments.get_mut(id)?;
        expire_if_due(simulated, now);
        let payment = &simulated.payment;
        let amount = payment
            .amount
            .zip(
                payment
                    .currency
                    .as_deref()
                    .and_then(|code| Currency::parse(code).ok()),
            )
            .map(|(minor, currency)| Money::new(minor, currency));
        let merchant = state.accounts.merchant(&simulated.owner)?.to_owned();
        let cards: Vec<(&str, &str)> = PAYING_CARDS.into_iter().chain([DECLINED_CARD]).collect();
        let mut form = vec![Field::email(payment.customer_email.as_deref())];
        form.extend(Field::card_form(&cards, payment.customer_name.as_deref()));
        Some(HostedPage {
            merchant,
            amount,
            description: payment.description.clone(),
            status: payment.status.as_str().to_owned(),
            standing: match payment.status {
                PaymentStatus::Open => Standing::Open,
                PaymentStatus::Succeeded => Standing::Paid,
                PaymentStatus::Canceled => Standing::Canceled,
                PaymentStatus::Expired => Standing::Expired,
            },
            form,
            sandbox_options: vec![],
            outcomes: &Outcome::ALL,
            notice: payment.failure_message.clone(),
        })
    }

    fn control(&self, press: Press<'_>) -> Result<ControlResult, SandboxError> {
        let (id, now) = (press.checkout_id, press.now);
        let mut state = self.state.lock();
        let simulated = state.payments.checkout_mut(id)?;
        expire_if_due(simulated, now);
        let payment = &mut simulated.payment;
        if payment.status != PaymentStatus::Open {
            return Err(SandboxError::Refused(format!(
                "payment {id} is {} and accepts no payment",
                payment.status.as_str()
            )));
        }
        let card = press
            .options
            .get("card")
            .and_then(Value::as_str)
            .unwrap_or(PAYING_CARDS[0].0);
        let (kind, redirect_url) = match press.outcome {
            Outcome::Pay if pays(card) => {
                payment.status = PaymentStatus::Succeeded;
                payment.failure_message = None;
                (Some(EventKind::PaymentSucceeded), success_redirect(payment))
            }
            Outcome::Pay | Outcome::Decline => {
                // The link stays open: the customer may try another card.
                payment.failure_message = Some("Your card was declined.".to_owned());
                (Some(EventKind::PaymentFailed), None)
            }
            Outcome::Cancel => {
                payment.status = PaymentStatus::Canceled;
                (Some(EventKind::PaymentCanceled), None)
            }
            Outcome::Expire => {
                // SKN Pay documents no expiry event: the status is only seen on retrieve.
                payment.status = PaymentStatus::Expired;
                payment.expires_at = Some(now);
                (None, None)
            }
        };
        let status = payment.status.as_str().to_owned();
        let webhook = kind.and_then(|kind| webhook_for(&state, id, kind, now));
        Ok(ControlResult {
            status,
            redirect_url,
            webhook,
        })
    }
}

/// Whether `card` is one of the test cards that pay, however its digits are spaced.
fn pays(card: &str) -> bool {
    let digits = |number: &str| number.split_whitespace().collect::<String>();
    PAYING_CARDS
        .iter()
        .any(|(number, _)| digits(number) == digits(card))
}

/// `success_url` with `payment_id` appended, unless the merchant put one there already.
fn success_redirect(payment: &Payment) -> Option<String> {
    let mut url = Url::parse(payment.success_url.as_deref()?).ok()?;
    if !url.query_pairs().any(|(name, _)| name == "payment_id") {
        url.query_pairs_mut().append_pair("payment_id", &payment.id);
    }
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{self, now};

    const KEY: &str = "sk_test_capacity";

    /// A simulator keeping at most `capacity` payments and as many idempotency keys.
    fn sandbox(capacity: usize) -> SknSandbox {
        let sandbox = SknSandbox::default();
        let settings = json!({ "api_key": KEY, "webhook_secret": "whsec_capacity" });
        sandbox
            .add_account(test_support::account(ID, "demo", &settings))
            .unwrap();
        let mut state = sandbox.state.lock();
        state.payments = BoundedMap::with_capacity(capacity);
        state.idempotency = BoundedMap::with_capacity(capacity);
        drop(state);
        sandbox
    }

    /// Creates a payment, with `idempotency_key` if given; returns its id.
    fn create(sandbox: &SknSandbox, idempotency_key: Option<&str>) -> String {
        let authorization = format!("Bearer {KEY}");
        let response = sandbox.create_payment(
            SandboxCall {
                authorization: Some(&authorization),
                idempotency_key,
                body: br#"{"amount": 2500, "currency": "USD"}"#,
            },
            now(),
        );
        assert_eq!(response.status, 200, "{}", response.body);
        response.body["id"].as_str().unwrap().to_owned()
    }

    #[test]
    fn the_page_is_the_doc_s_card_form_pre_filled_from_the_payment() {
        let sandbox = sandbox(10);
        let authorization = format!("Bearer {KEY}");
        let body = json!({
            "amount": 125_000, "currency": "USD", "description": "Order #5821",
            "customer_name": "Alice Brown", "customer_email": "alice@example.com",
        });
        let body = serde_json::to_vec(&body).unwrap();
        let call = SandboxCall {
            authorization: Some(&authorization),
            idempotency_key: None,
            body: &body,
        };
        let created = sandbox.create_payment(call, now());
        let id = created.body["id"].as_str().unwrap();
        let page = sandbox.page(id, now()).unwrap();
        assert_eq!(page.merchant, "demo");
        assert_eq!(page.amount, Some(Money::new(125_000, Currency::Usd)));
        assert_eq!(page.description.as_deref(), Some("Order #5821"));
        assert_eq!(page.standing, Standing::Open);
        let form: Vec<(&str, &str)> = page
            .form
            .iter()
            .map(|field| (field.name, field.value.as_str()))
            .collect();
        assert_eq!(
            form,
            [
                ("email", "alice@example.com"),
                ("card", "4111 1111 1111 1111"),
                ("expiry", "12/30"),
                ("cvc", "123"),
                ("holder", "Alice Brown"),
            ]
        );
        // Every test card of the doc is suggested, and one that declines.
        let suggested: Vec<&str> = page.form[1]
            .suggestions
            .iter()
            .map(|(number, _)| number.as_str())
            .collect();
        assert_eq!(suggested.len(), 5);
        assert!(suggested.contains(&"4000 0000 0000 2420"));
        assert!(!pays(suggested[4]));

        // A declined card leaves the link open, and the page says why.
        let declined = json!({ "card": "4000000000000002" });
        let press = Press::new(id, Outcome::Pay, now()).with_options(&declined);
        assert_eq!(sandbox.control(press).unwrap().status, "open");
        let page = sandbox.page(id, now()).unwrap();
        assert_eq!(page.standing, Standing::Open);
        assert_eq!(page.notice.as_deref(), Some("Your card was declined."));
        // The test cards pay however their digits are spaced.
        let spaced = json!({ "card": "4000 0000 0000 2701" });
        let press = Press::new(id, Outcome::Pay, now()).with_options(&spaced);
        assert_eq!(sandbox.control(press).unwrap().status, "succeeded");
        let page = sandbox.page(id, now()).unwrap();
        assert_eq!((page.standing, page.notice), (Standing::Paid, None));
    }

    #[test]
    fn payments_and_idempotency_keys_stay_within_the_capacity_finished_first() {
        let sandbox = sandbox(4);
        let paid = create(&sandbox, None);
        sandbox
            .control(Press::new(&paid, Outcome::Pay, now()))
            .unwrap();
        let payments = || sandbox.state.lock().payments.len();
        let open = || create(&sandbox, None);
        test_support::assert_finished_go_first(&sandbox, &paid, open, payments, now());

        let keyed: Vec<String> = (0..6)
            .map(|n| create(&sandbox, Some(&format!("key-{n}"))))
            .collect();
        assert_eq!(sandbox.state.lock().idempotency.len(), 4);
        assert_eq!(payments(), 4);
        // The newest key still answers with its payment; the oldest is forgotten.
        assert_eq!(create(&sandbox, Some("key-5")), keyed[5]);
        assert_ne!(create(&sandbox, Some("key-0")), keyed[0]);
    }
}
