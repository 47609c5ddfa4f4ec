//! The simulated Pakhi Pay: the documented create and verify calls (`api-key` header,
//! `{"status": 1, …}` / `{"status": 0, "message": …}` answers), a hosted page per payment link,
//! and the signed callback sent to the payment's `callback_url`, at
//! `/sandbox/pakhi/api/request/payment/{create,verify}/`.
//!
//! What the doc leaves open, and what the simulator does:
//! - HTTP statuses: 401 for a missing or unknown key, 400 for a body it cannot accept, 200 for
//!   every answer about a transaction (found or not); every body has the documented shape.
//! - Verify answers `{"status": 1, "message": <the transaction's status>}` for a transaction of
//!   the caller's with exactly that amount, so only a completed one says `completed`;
//!   `{"status": 0, "message": …}` for an unknown transaction (`Transaction not found`: the doc
//!   names no answer for it, so it is the doc's error shape) or another amount. A transaction
//!   it never made is not confirmed, as Pakhi Pay would not, unless the sandbox setting
//!   `pakhi_confirms_unknown_transactions` is on (for callbacks signed by hand): then it is
//!   `completed` with whatever amount is asked.
//! - Each pay, decline or cancel is one transaction with its own `TRX…` id and one callback:
//!   `completed`, `failed` (the link stays open for another attempt) or `cancelled`. Expiry is
//!   neither documented nor called back: `expire` closes the link silently.
//! - Callbacks are the doc's payload (`status`, `transaction_id`, `amount` as a string,
//!   `order_id`) with `signature` last: HMAC-SHA256, keyed with the API key, of the compact
//!   payload without it. Retries are not documented: a callback is sent once (no retry
//!   schedule), and Pakhi Pay is assumed to wait 10 s for the reply.
//! - A link's id (the simulated checkout id the control endpoint and the hosted page take) is
//!   the last path segment of its `payment_url`: Pakhi Pay's answer names no other id.
//! - `pay` takes `{"verify": "fail"}`: the verify API then answers `pending` for that
//!   transaction, to exercise a verify that disagrees with the callback.
//! - Links and transactions are kept in [`BoundedMap`]s: past their capacity the oldest
//!   finished ones are forgotten, and verify answers for a forgotten transaction as for one
//!   never made.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use paymux_domain::{Currency, Money};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;

use paymux_providers::ConfigError;
use paymux_providers::pakhi::signature::sign;
use paymux_providers::pakhi::wire::{
    Amount, Callback, CallbackStatus, CreatePayment, VerifyPayment,
};
use paymux_providers::pakhi::{ID, Settings};
use paymux_providers::signing::derived_event_id;

use crate::memory::{Accounts, BoundedMap, Credential, Finished, Locked};
use crate::simulator::{
    ApiAnswer, ApiCall, ControlResult, Field, HostedPage, Look, Method, Outcome, OutgoingWebhook,
    Press, SandboxAccount, SandboxError, SandboxResponse, Simulator, Standing,
};

/// How long Pakhi Pay is assumed to wait for a callback's reply.
const REPLY_WITHIN: Duration = Duration::from_secs(10);
/// How Pakhi Pay's pages look.
const LOOK: Look = Look {
    name: "Pakhi Pay",
    colour: "#0f766e",
    on_colour: "#ffffff",
    pay_label: "Pay now",
};
/// The fields create requires, in the doc's order.
const REQUIRED_FIELDS: [&str; 5] = [
    "cus_name",
    "cus_email",
    "amount",
    "success_url",
    "cancel_url",
];

struct Account {
    currency: Currency,
    pay_page_base: Url,
}

/// Where a payment link stands, in the words its callbacks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkStatus {
    /// Not paid yet; also after a declined attempt (`failed`), when the payer may try again.
    Open(CallbackStatus),
    Closed(CallbackStatus),
}

impl LinkStatus {
    fn word(self) -> &'static str {
        match self {
            LinkStatus::Open(status) | LinkStatus::Closed(status) => status.as_str(),
        }
    }
}

struct Payment {
    /// The API key that created it: only that key's verify calls see its transactions.
    owner: String,
    amount: Money,
    /// `cus_name` and `cus_email`: who pays, as the page shows it.
    customer_name: String,
    customer_email: String,
    order_id: Option<String>,
    success_url: String,
    cancel_url: String,
    callback_url: Option<Url>,
    status: LinkStatus,
}

impl Finished for Payment {
    /// Paid, cancelled or expired; a link with only declined attempts is still open.
    fn finished(&self, _now: DateTime<Utc>) -> bool {
        matches!(self.status, LinkStatus::Closed(_))
    }
}

struct Transaction {
    owner: String,
    status: CallbackStatus,
    amount: Money,
    /// Set by `{"verify": "fail"}`: the verify API disagrees with the callback.
    verify_disagrees: bool,
}

impl Finished for Transaction {
    /// A transaction is one attempt's record, made when the attempt is over: the oldest go first.
    fn finished(&self, _now: DateTime<Utc>) -> bool {
        true
    }
}

#[derive(Default)]
struct State {
    /// By API key.
    accounts: Accounts<Account>,
    payments: BoundedMap<String, Payment>,
    transactions: BoundedMap<String, Transaction>,
}

/// The simulated Pakhi Pay, holding every sandbox merchant's account and payments.
#[derive(Default)]
pub struct PakhiSandbox {
    state: Locked<State>,
    /// `sandbox.pakhi_confirms_unknown_transactions`: verify confirms transactions it never
    /// made, for callbacks signed by hand. Off, it answers for them as Pakhi Pay would.
    confirms_unknown_transactions: AtomicBool,
}

/// The documented refusal: `{"status": 0, "message": …}`.
fn refusal(status: u16, message: impl Into<String>) -> SandboxResponse {
    SandboxResponse {
        status,
        body: json!({ "status": 0, "message": message.into() }),
    }
}

/// A fresh ULID for an object made at `now`.
fn ulid_at(now: DateTime<Utc>) -> ulid::Ulid {
    ulid::Ulid::from_datetime(SystemTime::from(now))
}

/// The account of an `api-key` header, or a 401.
fn authenticate(state: &State, api_key: Option<&str>) -> Result<String, SandboxResponse> {
    let key = api_key
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| refusal(401, "API key is required"))?;
    if state.accounts.get(key).is_none() {
        return Err(refusal(401, "Invalid API key"));
    }
    Ok(key.to_owned())
}

/// A URL field Pakhi Pay accepts: absolute http(s).
fn web_url(field: &str, text: &str) -> Result<Url, String> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        _ => Err(format!("{field} must be a valid URL")),
    }
}

/// Checks a create body as Pakhi Pay would; returns the request, its amount and callback URL.
fn validate(
    body: &[u8],
    currency: Currency,
) -> Result<(CreatePayment, Money, Option<Url>), String> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err("Invalid JSON body".to_owned());
    };
    for field in REQUIRED_FIELDS {
        let present = match fields.get(field) {
            None | Some(Value::Null) => false,
            Some(Value::String(text)) => !text.trim().is_empty(),
            Some(_) => true,
        };
        if !present {
            return Err(format!("{field} is required"));
        }
    }
    let request: CreatePayment =
        serde_json::from_slice(body).map_err(|error| format!("Invalid request: {error}"))?;
    let amount = request
        .amount
        .money(currency)
        .map_err(|error| format!("Invalid amount: {error}"))?;
    if amount.minor <= 0 {
        return Err("Amount must be greater than 0".to_owned());
    }
    if !request.cus_email.contains('@') {
        return Err("Invalid email address".to_owned());
    }
    web_url("success_url", &request.success_url)?;
    web_url("cancel_url", &request.cancel_url)?;
    let callback_url = request
        .callback_url
        .as_deref()
        .filter(|url| !url.trim().is_empty())
        .map(|url| web_url("callback_url", url))
        .transpose()?;
    Ok((request, amount, callback_url))
}

impl PakhiSandbox {
    /// Sets whether verify confirms a transaction it never made as `completed` with the amount
    /// asked (`sandbox.pakhi_confirms_unknown_transactions`, applied at start and on reload).
    pub fn confirm_unknown_transactions(&self, confirm: bool) {
        self.confirms_unknown_transactions
            .store(confirm, Ordering::Relaxed);
    }

    /// `POST api/request/payment/create/`: `api_key` is the `api-key` header.
    pub fn create_payment(
        &self,
        api_key: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> SandboxResponse {
        self.state.as_caller(
            |state| authenticate(state, api_key),
            |state, key| create(state, key, body, now),
        )
    }

    /// `POST api/request/payment/verify/`: `api_key` is the `api-key` header.
    pub fn verify_payment(&self, api_key: Option<&str>, body: &[u8]) -> SandboxResponse {
        self.state.as_caller(
            |state| authenticate(state, api_key),
            |state, key| {
                let Ok(request) = serde_json::from_slice::<VerifyPayment>(body) else {
                    return refusal(400, "transaction_id and amount are required");
                };
                match state.transactions.get(&request.transaction_id) {
                    Some(transaction) if transaction.owner == key => verify(transaction, &request),
                    Some(_) => refusal(200, "Transaction not found"),
                    // A transaction the simulator never made (or has forgotten). With the
                    // switch on, a callback a tester signed by hand is confirmed, whatever
                    // amount it names.
                    None if self.confirms_unknown_transactions.load(Ordering::Relaxed) => {
                        SandboxResponse::ok(json!({ "status": 1, "message": "completed" }))
                    }
                    // Pakhi Pay's doc names no answer for an unknown transaction: this is its
                    // error shape (`{"status": 0, "message": …}`, as its create and verify
                    // samples read it) with a plain message, and not `completed`, so paymux
                    // does not confirm it.
                    None => refusal(200, "Transaction not found"),
                }
            },
        )
    }
}

/// Creates a payment link for the account of API key `key`.
fn create(state: &mut State, key: String, body: &[u8], now: DateTime<Utc>) -> SandboxResponse {
    let Some(account) = state.accounts.get(&key) else {
        return refusal(401, "Invalid API key");
    };
    let (request, amount, callback_url) = match validate(body, account.currency) {
        Ok(valid) => valid,
        Err(message) => return refusal(400, message),
    };
    let id = format!("pay_{}", ulid_at(now).to_string().to_ascii_lowercase());
    let Ok(payment_url) = account.pay_page_base.join(&id) else {
        return refusal(500, "Could not create the payment link");
    };
    let payment = Payment {
        owner: key,
        amount,
        customer_name: request.cus_name,
        customer_email: request.cus_email,
        order_id: request.order_id.filter(|order_id| !order_id.is_empty()),
        success_url: request.success_url,
        cancel_url: request.cancel_url,
        callback_url,
        status: LinkStatus::Open(CallbackStatus::Pending),
    };
    state.payments.insert(id, payment, now);
    SandboxResponse::ok(json!({ "status": 1, "payment_url": payment_url.as_str() }))
}

/// The verify answer for a transaction of the caller's: its status, if `request` names its
/// amount.
fn verify(transaction: &Transaction, request: &VerifyPayment) -> SandboxResponse {
    match request.amount.money(transaction.amount.currency) {
        Ok(amount) if amount == transaction.amount => {}
        Ok(_) => return refusal(200, "Amount mismatch"),
        Err(error) => return refusal(400, format!("Invalid amount: {error}")),
    }
    let status = if transaction.verify_disagrees {
        CallbackStatus::Pending
    } else {
        transaction.status
    };
    SandboxResponse::ok(json!({ "status": 1, "message": status.as_str() }))
}

/// Whether `options` asks the verify API to disagree with a payment.
fn verify_disagrees(options: &Value) -> Result<bool, SandboxError> {
    match options.get("verify") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(choice)) => match choice.trim() {
            "fail" => Ok(true),
            "pass" | "" => Ok(false),
            _ => Err(SandboxError::Refused(
                "`verify` must be \"pass\" or \"fail\"".to_owned(),
            )),
        },
        Some(_) => Err(SandboxError::Refused(
            "`verify` must be \"pass\" or \"fail\"".to_owned(),
        )),
    }
}

/// The signed callback for a transaction of `payment`, when it has a `callback_url`.
fn callback(
    payment: &Payment,
    transaction_id: &str,
    status: CallbackStatus,
) -> Option<OutgoingWebhook> {
    let url = payment.callback_url.clone()?;
    let mut callback = Callback {
        status: status.as_str().to_owned(),
        transaction_id: transaction_id.to_owned(),
        amount: Some(Amount::string(payment.amount)),
        order_id: payment.order_id.clone(),
        signature: None,
    };
    let payload = serde_json::to_vec(&callback).ok()?;
    callback.signature = Some(sign(payment.owner.as_bytes(), &payload));
    let body = serde_json::to_vec(&callback).ok()?;
    let event_type = status.event_type().as_str().to_owned();
    let event_id = derived_event_id(&[ID, transaction_id, status.as_str()]);
    // The signature is in the body: no header to add. Sent once: no retry schedule.
    Some(OutgoingWebhook {
        reply_within: REPLY_WITHIN,
        ..OutgoingWebhook::json(url, body, event_type, event_id)
    })
}

impl Simulator for PakhiSandbox {
    fn add_account(&self, account: SandboxAccount<'_>) -> Result<(), ConfigError> {
        let settings: Settings = paymux_providers::factory::parse_settings(account.settings)?;
        let currency = settings.currency()?;
        let api_key = account.secret("api_key", &settings.api_key)?;
        let credential = Credential {
            key: "api_key",
            name: "Pakhi Pay key",
            value: api_key.expose_secret().to_owned(),
        };
        let opened = Account {
            currency,
            pay_page_base: account.pay_page_base,
        };
        (self.state.lock().accounts).open(credential, account.merchant, opened)
    }

    fn api(&self, call: &ApiCall<'_>, now: DateTime<Utc>) -> ApiAnswer {
        let api_key = call.header("api-key");
        match (call.method, call.segments().as_slice()) {
            (Method::Post, ["api", "request", "payment", "create", ""]) => {
                self.create_payment(api_key, call.body, now).into()
            }
            (Method::Post, ["api", "request", "payment", "verify", ""]) => {
                self.verify_payment(api_key, call.body).into()
            }
            _ => call.unrouted(ID),
        }
    }

    fn look(&self) -> &'static Look {
        &LOOK
    }

    /// Pakhi Pay's doc shows neither its page nor how payers pay on it: the page shows who
    /// pays (`cus_name`, `cus_email`) and asks for nothing else; the order, when given, is its
    /// description.
    fn page(&self, id: &str, _now: DateTime<Utc>) -> Option<HostedPage> {
        let state = self.state.lock();
        let payment = state.payments.get(id)?;
        let merchant = state.accounts.merchant(&payment.owner)?.to_owned();
        Some(HostedPage {
            merchant,
            amount: Some(payment.amount),
            description: payment
                .order_id
                .as_ref()
                .map(|order_id| format!("Order {order_id}")),
            status: payment.status.word().to_owned(),
            standing: match payment.status {
                LinkStatus::Open(_) => Standing::Open,
                LinkStatus::Closed(CallbackStatus::Completed) => Standing::Paid,
                LinkStatus::Closed(CallbackStatus::Expired) => Standing::Expired,
                LinkStatus::Closed(_) => Standing::Canceled,
            },
            form: vec![
                Field::new("name", "Name", &payment.customer_name).autocomplete("name"),
                Field::email(Some(&payment.customer_email)),
            ],
            sandbox_options: vec![Field::new("verify", "Verify API answers", "pass").suggest(
                vec![
                    ("pass".to_owned(), "as the callback says".to_owned()),
                    ("fail".to_owned(), "pending: it disagrees".to_owned()),
                ],
            )],
            outcomes: &Outcome::ALL,
            notice: (payment.status == LinkStatus::Open(CallbackStatus::Failed))
                .then(|| "The last payment attempt failed: try again.".to_owned()),
        })
    }

    fn control(&self, press: Press<'_>) -> Result<ControlResult, SandboxError> {
        let (id, now) = (press.checkout_id, press.now);
        let verify_disagrees = verify_disagrees(press.options)?;
        let mut state = self.state.lock();
        let payment = state.payments.checkout_mut(id)?;
        if let LinkStatus::Closed(status) = payment.status {
            return Err(SandboxError::Refused(format!(
                "payment {id} is {} and accepts no payment",
                status.as_str()
            )));
        }
        let (status, redirect_url) = match press.outcome {
            Outcome::Pay => {
                payment.status = LinkStatus::Closed(CallbackStatus::Completed);
                (CallbackStatus::Completed, Some(payment.success_url.clone()))
            }
            Outcome::Decline => {
                payment.status = LinkStatus::Open(CallbackStatus::Failed);
                (CallbackStatus::Failed, None)
            }
            Outcome::Cancel => {
                payment.status = LinkStatus::Closed(CallbackStatus::Cancelled);
                (CallbackStatus::Cancelled, Some(payment.cancel_url.clone()))
            }
            Outcome::Expire => {
                payment.status = LinkStatus::Closed(CallbackStatus::Expired);
                return Ok(ControlResult {
                    status: CallbackStatus::Expired.as_str().to_owned(),
                    redirect_url: None,
                    webhook: None,
                });
            }
        };
        let transaction_id = format!("TRX{}", ulid_at(now));
        let webhook = callback(payment, &transaction_id, status);
        let transaction = Transaction {
            owner: payment.owner.clone(),
            status,
            amount: payment.amount,
            verify_disagrees: verify_disagrees && status == CallbackStatus::Completed,
        };
        state.transactions.insert(transaction_id, transaction, now);
        Ok(ControlResult {
            status: status.as_str().to_owned(),
            redirect_url,
            webhook,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{self, now, press};
    use paymux_domain::EventType;
    use paymux_providers::model::{CheckoutRequest, Customer};
    use paymux_providers::pakhi::PakhiAdapter;
    use paymux_providers::{Confirmation, Provider};
    use std::sync::Arc;

    const KEY: &str = "pk_sandbox_brand_key";
    const OTHER_KEY: &str = "pk_sandbox_other_key";
    /// Where the `demo` merchant's callbacks go: its webhook URL.
    const CALLBACK_URL: &str = "https://paymux.example/webhooks/demo/pakhi";

    fn open_account(
        sandbox: &PakhiSandbox,
        merchant: &str,
        settings: Value,
    ) -> Result<(), ConfigError> {
        sandbox.add_account(test_support::account(ID, merchant, &settings))
    }

    /// The `demo` merchant charging in BDT (the default) and the `other` in USD.
    fn sandbox() -> PakhiSandbox {
        let sandbox = PakhiSandbox::default();
        open_account(&sandbox, "demo", json!({ "api_key": KEY })).unwrap();
        let usd = json!({ "api_key": OTHER_KEY, "currency": "USD" });
        open_account(&sandbox, "other", usd).unwrap();
        sandbox
    }

    /// The doc's create sample as (field, JSON text) pairs: the amount stays the exact text
    /// `100.00`, never a float.
    fn create_fields(callback_url: Option<&str>) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("cus_name", r#""John Doe""#.to_owned()),
            ("cus_email", r#""john@example.com""#.to_owned()),
            ("amount", "100.00".to_owned()),
            (
                "success_url",
                r#""https://yourwebsite.com/success""#.to_owned(),
            ),
            (
                "cancel_url",
                r#""https://yourwebsite.com/cancel""#.to_owned(),
            ),
            ("order_id", r#""ORDER123""#.to_owned()),
        ];
        if let Some(url) = callback_url {
            fields.push(("callback_url", format!("\"{url}\"")));
        }
        fields
    }

    fn body_of(fields: &[(&str, String)]) -> Vec<u8> {
        let members: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("\"{name}\":{value}"))
            .collect();
        format!("{{{}}}", members.join(",")).into_bytes()
    }

    fn create_body(callback_url: Option<&str>) -> Vec<u8> {
        body_of(&create_fields(callback_url))
    }

    /// The link id of a create answer: the last segment of its `payment_url`.
    fn link_id(response: &SandboxResponse) -> String {
        let url = response.body["payment_url"].as_str().unwrap();
        url.rsplit('/').next().unwrap().to_owned()
    }

    /// Creates a link and returns its id.
    fn create(sandbox: &PakhiSandbox, callback_url: Option<&str>) -> String {
        let response = sandbox.create_payment(Some(KEY), &create_body(callback_url), now());
        assert_eq!(response.status, 200, "{:?}", response.body);
        assert_eq!(response.body["status"], 1);
        let url = response.body["payment_url"].as_str().unwrap();
        assert!(
            url.starts_with("https://paymux.example/sandbox/pakhi/pay/pay_"),
            "{url}"
        );
        link_id(&response)
    }

    /// The body of a callback and the transaction it reports.
    fn callback_of(webhook: &OutgoingWebhook) -> (Value, String) {
        let body: Value = serde_json::from_slice(&webhook.body).unwrap();
        let transaction_id = body["transaction_id"].as_str().unwrap().to_owned();
        (body, transaction_id)
    }

    /// Presses `outcome` on a new link calling back; returns the transaction its callback
    /// names.
    fn transaction(sandbox: &PakhiSandbox, outcome: Outcome) -> String {
        let id = create(sandbox, Some(CALLBACK_URL));
        let result = press(sandbox, &id, outcome, now()).unwrap();
        callback_of(&result.webhook.unwrap()).1
    }

    fn verify(
        sandbox: &PakhiSandbox,
        key: &str,
        transaction_id: &str,
        amount: &str,
    ) -> SandboxResponse {
        let body = format!(r#"{{"transaction_id":"{transaction_id}","amount":{amount}}}"#);
        sandbox.verify_payment(Some(key), body.as_bytes())
    }

    #[test]
    fn create_answers_as_the_doc_shows() {
        let sandbox = sandbox();
        let id = create(&sandbox, Some(CALLBACK_URL));
        let page = sandbox.page(&id, now()).unwrap();
        assert_eq!(page.amount, Some(Money::new(10_000, Currency::Bdt)));
        assert_eq!(page.status, "pending");
        assert_eq!(page.standing, Standing::Open);
        assert_eq!(page.description.as_deref(), Some("Order ORDER123"));
        assert_eq!(page.merchant, "demo");
        let prefilled: Vec<(&str, &str)> = page
            .form
            .iter()
            .map(|field| (field.name, field.value.as_str()))
            .collect();
        assert_eq!(
            prefilled,
            [("name", "John Doe"), ("email", "john@example.com")]
        );
        assert_eq!(page.sandbox_options[0].name, "verify");
        assert_eq!(sandbox.page("pay_nope", now()), None);
    }

    #[test]
    fn create_refuses_what_pakhi_would() {
        let sandbox = sandbox();
        let body = create_body(None);
        for (key, status, message) in [
            (None, 401, "API key is required"),
            (Some(""), 401, "API key is required"),
            (Some("pk_unknown"), 401, "Invalid API key"),
        ] {
            let response = sandbox.create_payment(key, &body, now());
            assert_eq!(response.status, status);
            assert_eq!(response.body, json!({ "status": 0, "message": message }));
        }
        // The create sample with `name` left out, or set to the JSON text `value`.
        let refused = |name: &'static str, value: Option<&str>| {
            let mut fields = create_fields(None);
            fields.retain(|(field, _)| *field != name);
            if let Some(value) = value {
                fields.push((name, value.to_owned()));
            }
            let body = body_of(&fields);
            let response = sandbox.create_payment(Some(KEY), &body, now());
            assert_eq!(response.status, 400, "{}", String::from_utf8_lossy(&body));
            assert_eq!(response.body["status"], 0);
            response.body["message"].as_str().unwrap().to_owned()
        };
        for (name, value, message) in [
            ("cus_email", None, "cus_email is required"),
            ("cancel_url", Some(r#""""#), "cancel_url is required"),
            ("amount", Some("null"), "amount is required"),
            ("cus_email", Some(r#""john""#), "Invalid email address"),
            (
                "success_url",
                Some(r#""not a url""#),
                "success_url must be a valid URL",
            ),
            (
                "callback_url",
                Some(r#""ftp://x""#),
                "callback_url must be a valid URL",
            ),
            ("amount", Some("0"), "Amount must be greater than 0"),
        ] {
            assert_eq!(refused(name, value), message);
        }
        assert!(refused("amount", Some(r#""1.005""#)).starts_with("Invalid amount"));
        assert!(refused("amount", Some("1e2")).starts_with("Invalid amount"));
        let response = sandbox.create_payment(Some(KEY), b"{oops", now());
        assert_eq!(response.body["message"], "Invalid JSON body");
    }

    #[test]
    fn pay_decline_and_cancel_each_call_back_with_a_transaction_verify_knows() {
        let sandbox = sandbox();
        let success = Some("https://yourwebsite.com/success");
        let cancel = Some("https://yourwebsite.com/cancel");
        for (outcome, status, event_type, redirect_url, open) in [
            (
                Outcome::Pay,
                "completed",
                "payment.succeeded",
                success,
                false,
            ),
            // A declined attempt leaves the link open for another.
            (Outcome::Decline, "failed", "payment.failed", None, true),
            (
                Outcome::Cancel,
                "cancelled",
                "payment.canceled",
                cancel,
                false,
            ),
        ] {
            let id = create(&sandbox, Some(CALLBACK_URL));
            let result = press(&sandbox, &id, outcome, now()).unwrap();
            assert_eq!(result.status, status);
            assert_eq!(result.redirect_url.as_deref(), redirect_url);
            let webhook = result.webhook.unwrap();
            assert_eq!(webhook.event_type, event_type);
            let (body, transaction_id) = callback_of(&webhook);
            assert_eq!(body["status"], status);
            assert_eq!(
                verify(&sandbox, KEY, &transaction_id, "100.00").body,
                json!({ "status": 1, "message": status })
            );
            let page = sandbox.page(&id, now()).unwrap();
            assert_eq!(
                (page.status.as_str(), page.standing == Standing::Open),
                (status, open)
            );
            if open {
                assert_eq!(
                    press(&sandbox, &id, Outcome::Pay, now()).unwrap().status,
                    "completed"
                );
            }
        }
    }

    #[test]
    fn paying_sends_the_signed_callback_and_verify_confirms_it() {
        let sandbox = sandbox();
        let id = create(&sandbox, Some(CALLBACK_URL));
        let webhook = test_support::webhook(&sandbox, &id, Outcome::Pay, now());
        assert_eq!(webhook.url.as_str(), CALLBACK_URL);
        assert!(webhook.retry_delays.is_empty());
        assert_eq!(webhook.reply_within, Duration::from_secs(10));
        assert!((webhook.sign)(now(), &webhook.body).is_empty());
        let transaction_id = callback_of(&webhook).1;
        assert!(transaction_id.starts_with("TRX"), "{transaction_id}");
        // The doc's payload, the signature last, over the compact payload without it.
        let payload = format!(
            r#"{{"status":"completed","transaction_id":"{transaction_id}","amount":"100.00","order_id":"ORDER123"}}"#
        );
        let signature =
            paymux_providers::signing::hmac_sha256_hex(KEY.as_bytes(), &[payload.as_bytes()]);
        assert_eq!(
            String::from_utf8(webhook.body.clone()).unwrap(),
            format!(
                "{}{}",
                &payload[..payload.len() - 1],
                format_args!(r#","signature":"{signature}"}}"#)
            )
        );
        assert_eq!(
            webhook.event_id,
            derived_event_id(&["pakhi", &transaction_id, "completed"])
        );

        let completed = json!({ "status": 1, "message": "completed" });
        let not_found = json!({ "status": 0, "message": "Transaction not found" });
        for (key, transaction, amount, answer) in [
            (KEY, transaction_id.as_str(), "100.00", &completed),
            (KEY, &transaction_id, r#""100""#, &completed),
            (
                KEY,
                &transaction_id,
                "50.00",
                &json!({ "status": 0, "message": "Amount mismatch" }),
            ),
            // A transaction the simulator never made is not confirmed.
            (KEY, "TRX_SIGNED_BY_HAND", "100.00", &not_found),
            // Another merchant's key does not see it.
            (OTHER_KEY, &transaction_id, "100.00", &not_found),
        ] {
            let response = verify(&sandbox, key, transaction, amount);
            assert_eq!(&response.body, answer, "{key} {transaction} {amount}");
        }
        assert_eq!(
            verify(&sandbox, "pk_unknown", &transaction_id, "100.00").status,
            401
        );
        assert_eq!(sandbox.verify_payment(Some(KEY), b"{}").status, 400);

        // Paid: the link takes nothing more.
        assert!(matches!(
            press(&sandbox, &id, Outcome::Pay, now()),
            Err(SandboxError::Refused(_))
        ));
        assert!(matches!(
            press(&sandbox, "pay_nope", Outcome::Pay, now()),
            Err(SandboxError::NotFound(_))
        ));
    }

    #[test]
    fn verify_confirms_only_what_the_simulator_made_and_was_paid() {
        let sandbox = sandbox();
        let not_found = json!({ "status": 0, "message": "Transaction not found" });
        let unknown = verify(&sandbox, KEY, "TRX123456", "100.00");
        assert_eq!((unknown.status, unknown.body), (200, not_found));

        let paid = transaction(&sandbox, Outcome::Pay);
        assert_eq!(
            verify(&sandbox, KEY, &paid, "100.01").body,
            json!({ "status": 0, "message": "Amount mismatch" })
        );
        // Made but not completed: the verify answer is not `completed`.
        let declined = transaction(&sandbox, Outcome::Decline);

        // Confirmed as the doc's samples read a verify answer: status 1 and `completed`.
        for (transaction, confirmed) in [
            ("TRX123456", false),
            (paid.as_str(), true),
            (declined.as_str(), false),
        ] {
            let body = verify(&sandbox, KEY, transaction, "100.00").body;
            assert_eq!(
                body["status"] == 1 && body["message"] == "completed",
                confirmed,
                "{transaction}: {body}"
            );
        }
    }

    #[test]
    fn the_switch_confirms_transactions_the_simulator_never_made() {
        let sandbox = sandbox();
        let paid = transaction(&sandbox, Outcome::Pay);
        sandbox.confirm_unknown_transactions(true);
        for amount in ["100.00", "7.5", r#""250""#] {
            assert_eq!(
                verify(&sandbox, KEY, "TRX_SIGNED_BY_HAND", amount).body,
                json!({ "status": 1, "message": "completed" }),
                "any amount asked: {amount}"
            );
        }
        // Its own transactions still answer from its records.
        assert_eq!(
            verify(&sandbox, KEY, &paid, "50.00").body,
            json!({ "status": 0, "message": "Amount mismatch" })
        );
        assert_eq!(
            verify(&sandbox, OTHER_KEY, &paid, "100.00").body,
            json!({ "status": 0, "message": "Transaction not found" })
        );
        assert_eq!(
            verify(&sandbox, "pk_unknown", "TRX_SIGNED_BY_HAND", "100.00").status,
            401
        );
        sandbox.confirm_unknown_transactions(false);
        assert_eq!(
            verify(&sandbox, KEY, "TRX_SIGNED_BY_HAND", "100.00").body,
            json!({ "status": 0, "message": "Transaction not found" })
        );
    }

    #[test]
    fn links_and_transactions_stay_within_the_capacity_finished_first() {
        let sandbox = sandbox();
        let mut state = sandbox.state.lock();
        state.payments = BoundedMap::with_capacity(4);
        state.transactions = BoundedMap::with_capacity(4);
        drop(state);
        let first_paid = transaction(&sandbox, Outcome::Pay);
        let paid_link = sandbox
            .state
            .lock()
            .payments
            .iter()
            .next()
            .unwrap()
            .0
            .clone();
        let links = || sandbox.state.lock().payments.len();
        let open = || create(&sandbox, None);
        test_support::assert_finished_go_first(&sandbox, &paid_link, open, links, now());

        let transactions: Vec<String> = (0..6)
            .map(|_| transaction(&sandbox, Outcome::Pay))
            .collect();
        assert_eq!(sandbox.state.lock().transactions.len(), 4);
        assert_eq!(links(), 4);
        assert_eq!(
            verify(&sandbox, KEY, &first_paid, "100.00").body["status"],
            0,
            "a forgotten transaction is not confirmed"
        );
        assert_eq!(
            verify(&sandbox, KEY, &transactions[5], "100.00").body["message"],
            "completed"
        );
    }

    #[test]
    fn expire_closes_the_link_silently() {
        let sandbox = sandbox();
        let id = create(&sandbox, Some(CALLBACK_URL));
        let result = press(&sandbox, &id, Outcome::Expire, now()).unwrap();
        assert_eq!(result.status, "expired");
        assert!(result.webhook.is_none());
        assert_eq!(
            sandbox.page(&id, now()).unwrap().standing,
            Standing::Expired
        );
    }

    #[test]
    fn without_a_callback_url_nothing_is_sent() {
        let sandbox = sandbox();
        let id = create(&sandbox, None);
        let result = press(&sandbox, &id, Outcome::Pay, now()).unwrap();
        assert_eq!(result.status, "completed");
        assert!(result.webhook.is_none());
    }

    #[test]
    fn the_verify_option_makes_the_verify_api_disagree() {
        let sandbox = sandbox();
        let id = create(&sandbox, Some(CALLBACK_URL));
        let pay = |options: &Value| {
            sandbox.control(Press::new(&id, Outcome::Pay, now()).with_options(options))
        };
        assert!(matches!(
            pay(&json!({ "verify": "maybe" })),
            Err(SandboxError::Refused(_))
        ));
        let webhook = pay(&json!({ "verify": "fail" })).unwrap().webhook.unwrap();
        let (body, transaction_id) = callback_of(&webhook);
        assert_eq!(body["status"], "completed");
        assert_eq!(
            verify(&sandbox, KEY, &transaction_id, "100.00").body,
            json!({ "status": 1, "message": "pending" })
        );
    }

    #[test]
    fn accounts_need_a_key_of_their_own_and_a_known_currency() {
        let sandbox = sandbox();
        let error = open_account(&sandbox, "copycat", json!({ "api_key": KEY })).unwrap_err();
        assert_eq!(error.key, "api_key");
        assert!(!error.to_string().contains(KEY), "{error}");
        let error =
            open_account(&sandbox, "x", json!({ "api_key": "k2", "currency": "XYZ" })).unwrap_err();
        assert_eq!(error.key, "currency");
        assert!(open_account(&sandbox, "x", json!({ "api_key": "k3", "extra": 1 })).is_err());
        // The other account charges in USD: its amounts are read in USD.
        let response = sandbox.create_payment(Some(OTHER_KEY), &create_body(None), now());
        assert_eq!(response.body["status"], 1);
        assert_eq!(
            sandbox.page(&link_id(&response), now()).unwrap().amount,
            Some(Money::new(10_000, Currency::Usd))
        );
    }

    /// The adapter against the simulator over HTTP: what it sends is what the simulator
    /// accepts, what the simulator signs is what the adapter verifies, and the simulated verify
    /// API confirms a payment or, told to, refutes it.
    #[tokio::test]
    async fn the_adapter_and_the_simulator_agree() {
        let sandbox = Arc::new(sandbox());
        let api = test_support::serve(ID, sandbox.clone(), now()).await;
        let settings = json!({ "api_key": KEY });
        let adapter =
            test_support::adapter(PakhiAdapter::from_context, ID, &settings, &api.base_url);
        let customer = Customer {
            name: Some("John Doe".into()),
            email: Some("john@example.com".into()),
            ..Customer::default()
        };
        let request = CheckoutRequest {
            customer: Some(customer),
            success_url: Some(Url::parse("https://yourwebsite.com/success").unwrap()),
            cancel_url: Some(Url::parse("https://yourwebsite.com/cancel").unwrap()),
            ..CheckoutRequest::example(Money::new(10_000, Currency::Bdt))
        };
        for (options, confirmed) in [(json!({}), true), (json!({ "verify": "fail" }), false)] {
            let created = adapter.create_checkout(&request).await.unwrap();
            assert_eq!(created.provider_checkout_id, None);
            let redirect_url = created.redirect_url.unwrap();
            let id = redirect_url.rsplit('/').next().unwrap();
            let press = Press::new(id, Outcome::Pay, now()).with_options(&options);
            let webhook = sandbox.control(press).unwrap().webhook.unwrap();
            assert_eq!(webhook.url.as_str(), CALLBACK_URL);
            let event = test_support::receive(&adapter, &webhook, now())
                .unwrap()
                .remove(0);
            assert_eq!(event.event_type, EventType::PaymentSucceeded);
            assert_eq!(event.amount, Some(Money::new(10_000, Currency::Bdt)));
            let checkout_id = request.checkout_id.to_string();
            assert_eq!(event.checkout_hint.as_deref(), Some(checkout_id.as_str()));
            assert_eq!(event.provider_event_id, webhook.event_id);
            assert!(!event.livemode);
            let confirms = adapter.webhook_policy().confirmation.unwrap();
            assert!(confirms.needs(&event));
            let confirmation = confirms.confirm(&event).await.unwrap();
            if confirmed {
                assert_eq!(confirmation, Confirmation::Confirmed);
            } else {
                assert!(
                    matches!(&confirmation, Confirmation::Refuted { reason } if reason.contains("pending")),
                    "{confirmation:?}"
                );
            }
        }
    }
}
