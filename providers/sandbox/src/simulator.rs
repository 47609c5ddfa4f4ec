//! What a simulator is: its provider's documented API behind [`Simulator::api`], a hosted
//! page and the outcomes a tester presses on it, and the webhooks those produce, each with the
//! provider's retry schedule. Simulators are plain state machines: the HTTP layer
//! ([`crate::http`]) hands them calls and sends what they return.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use paymux_domain::Money;
use paymux_providers::{ConfigError, SecretRef, SecretResolver};
use secrecy::SecretString;
use url::Url;

/// An answer of the simulated API.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

impl SandboxResponse {
    pub fn ok(body: serde_json::Value) -> SandboxResponse {
        SandboxResponse { status: 200, body }
    }

    /// An error in the `{"error": "…"}` shape several providers use.
    pub fn error(status: u16, message: impl Into<String>) -> SandboxResponse {
        SandboxResponse {
            status,
            body: serde_json::json!({ "error": message.into() }),
        }
    }
}

/// A call to the simulated API as a provider's operation reads it: the headers that matter
/// and the body.
#[derive(Clone, Copy)]
pub struct SandboxCall<'a> {
    /// `Bearer sk_…`: never printed.
    pub authorization: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub body: &'a [u8],
}

impl std::fmt::Debug for SandboxCall<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxCall")
            .field("authorization", &self.authorization.map(|_| "[redacted]"))
            .field("idempotency_key", &self.idempotency_key)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// What a tester can make happen to a simulated checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pay,
    Decline,
    Cancel,
    Expire,
}

impl Outcome {
    /// Every outcome, in the order a page offers them.
    pub const ALL: [Outcome; 4] = [
        Outcome::Pay,
        Outcome::Decline,
        Outcome::Cancel,
        Outcome::Expire,
    ];

    pub fn parse(text: &str) -> Option<Outcome> {
        match text {
            "pay" => Some(Outcome::Pay),
            "decline" => Some(Outcome::Decline),
            "cancel" => Some(Outcome::Cancel),
            "expire" => Some(Outcome::Expire),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Pay => "pay",
            Outcome::Decline => "decline",
            Outcome::Cancel => "cancel",
            Outcome::Expire => "expire",
        }
    }
}

/// Signs a webhook at the moment it is sent: each retry carries a fresh timestamp, as the
/// real providers' do, so it passes the receiver's replay window.
pub type Signer = Arc<dyn Fn(DateTime<Utc>, &[u8]) -> Vec<(String, String)> + Send + Sync>;

/// What a provider makes of a reply to its webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Not delivered; the provider tries again on its schedule.
    Retry,
    /// Refused for good (SpankPay: a 4xx or `{"received": false}` fails the payment): no retry.
    Refused,
}

/// Decides from a reply what the provider makes of it.
pub type Acceptance = fn(status: u16, body: &[u8]) -> Verdict;

/// A webhook a simulator wants delivered.
#[derive(Clone)]
pub struct OutgoingWebhook {
    pub url: Url,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// The event's type and id, for the control endpoint's answer and logs.
    pub event_type: String,
    pub event_id: String,
    pub sign: Signer,
    /// Delays between attempts after the first, as the provider documents them.
    pub retry_delays: Vec<Duration>,
    /// How long the provider waits for the reply before counting the attempt as failed.
    pub reply_within: Duration,
    pub delivered: Acceptance,
}

impl OutgoingWebhook {
    /// A webhook with a JSON body that a 2xx reply delivers, as most providers send one:
    /// unsigned, sent once, 10 s given for the reply. A simulator sets its provider's signer,
    /// retry schedule and wait over it with struct update syntax.
    pub fn json(url: Url, body: Vec<u8>, event_type: String, event_id: String) -> OutgoingWebhook {
        OutgoingWebhook {
            url,
            content_type: "application/json",
            body,
            event_type,
            event_id,
            sign: Arc::new(|_, _| vec![]),
            retry_delays: vec![],
            reply_within: Duration::from_secs(10),
            delivered: delivered_on_2xx,
        }
    }
}

impl std::fmt::Debug for OutgoingWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingWebhook")
            .field("url", &self.url.as_str())
            .field("event_type", &self.event_type)
            .field("event_id", &self.event_id)
            .finish_non_exhaustive()
    }
}

/// A 2xx reply is delivered, anything else retried: what most providers do.
pub fn delivered_on_2xx(status: u16, _body: &[u8]) -> Verdict {
    if (200..300).contains(&status) {
        Verdict::Delivered
    } else {
        Verdict::Retry
    }
}

/// How a provider's pages look: the one template of [`crate::page`] draws every simulator's
/// pages with it.
#[derive(Debug)]
pub struct Look {
    /// The provider's name, as its pages show it.
    pub name: &'static str,
    /// Its colour (the header band and the pay button), a CSS colour.
    pub colour: &'static str,
    /// The colour of text on `colour`.
    pub on_colour: &'static str,
    /// What its pay button says.
    pub pay_label: &'static str,
}

/// Where a simulated checkout stands, as its page tells the payer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Takes payment, also after a declined attempt where the provider lets the payer retry.
    Open,
    Paid,
    Canceled,
    Expired,
}

/// A field of a hosted page's form. Its value goes into the press's options under its name,
/// so a field a simulator reads (SKN Pay's `card`) decides the outcome; the others (expiry,
/// CVC, e-mail) are there because the provider's form has them.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// What the field holds when the page opens.
    pub value: String,
    /// The browser's autofill hint (`cc-number`, `email`), `off` for sandbox switches.
    pub autocomplete: &'static str,
    /// Values offered beside free text, each with what it does (SKN Pay's test cards).
    pub suggestions: Vec<(String, String)>,
}

impl Field {
    pub fn new(name: &'static str, label: &'static str, value: impl Into<String>) -> Field {
        Field {
            name,
            label,
            value: value.into(),
            autocomplete: "off",
            suggestions: vec![],
        }
    }

    pub fn autocomplete(self, autocomplete: &'static str) -> Field {
        Field {
            autocomplete,
            ..self
        }
    }

    pub fn suggest(self, suggestions: Vec<(String, String)>) -> Field {
        Field {
            suggestions,
            ..self
        }
    }

    /// The e-mail field of a payer form, pre-filled with what the merchant sent.
    pub fn email(value: Option<&str>) -> Field {
        Field::new("email", "Email", value.unwrap_or_default()).autocomplete("email")
    }

    /// The card form the card providers' pages share: number (pre-filled with `cards`' first,
    /// the others suggested), expiry, CVC and the holder's name.
    pub fn card_form(cards: &[(&str, &str)], holder: Option<&str>) -> Vec<Field> {
        let number = cards.first().map_or("", |(number, _)| number);
        let suggestions = cards
            .iter()
            .map(|(number, effect)| ((*number).to_owned(), (*effect).to_owned()))
            .collect();
        vec![
            Field::new("card", "Card number", number)
                .autocomplete("cc-number")
                .suggest(suggestions),
            Field::new("expiry", "Expiry (MM/YY)", "12/30").autocomplete("cc-exp"),
            Field::new("cvc", "CVC", "123").autocomplete("cc-csc"),
            Field::new("holder", "Name on card", holder.unwrap_or_default())
                .autocomplete("cc-name"),
        ]
    }
}

/// What the hosted page shows for a simulated checkout (the page knows which one it is for).
#[derive(Debug, Clone, PartialEq)]
pub struct HostedPage {
    /// Whom the payer pays, as the provider names the merchant.
    pub merchant: String,
    pub amount: Option<Money>,
    pub description: Option<String>,
    /// The simulated checkout's status in the provider's own words.
    pub status: String,
    pub standing: Standing,
    /// The provider's own form: card fields, the payer's details, the crypto to pay with.
    pub form: Vec<Field>,
    /// Switches only the sandbox has (Pakhi Pay's verify answer, a partial amount).
    pub sandbox_options: Vec<Field>,
    /// The outcomes the simulator takes, in the order the page offers them.
    pub outcomes: &'static [Outcome],
    /// What the provider's page says of the last attempt: `Your card was declined.`
    pub notice: Option<String>,
}

/// A press of one of the hosted page's buttons: the control call.
#[derive(Debug, Clone, Copy)]
pub struct Press<'a> {
    /// The simulated checkout, as the provider knows it.
    pub checkout_id: &'a str,
    pub outcome: Outcome,
    /// The page's input fields (e.g. SKN Pay's card number), as a JSON object.
    pub options: &'a serde_json::Value,
    pub now: DateTime<Utc>,
}

impl<'a> Press<'a> {
    /// `outcome` pressed on `checkout_id` at `now`, the page's fields left empty.
    pub fn new(checkout_id: &'a str, outcome: Outcome, now: DateTime<Utc>) -> Press<'a> {
        static NO_OPTIONS: serde_json::Value = serde_json::Value::Null;
        Press {
            checkout_id,
            outcome,
            options: &NO_OPTIONS,
            now,
        }
    }

    /// The same press with the page's fields filled in.
    pub fn with_options(self, options: &'a serde_json::Value) -> Press<'a> {
        Press { options, ..self }
    }
}

/// The result of a control call.
#[derive(Debug, Clone)]
pub struct ControlResult {
    /// The simulated checkout's status afterwards, in the provider's words.
    pub status: String,
    /// Where the payer's browser goes next (a success URL), if anywhere.
    pub redirect_url: Option<String>,
    /// The webhook the outcome triggers, if the provider sends one for it.
    pub webhook: Option<OutgoingWebhook>,
}

/// Why a control call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("no such checkout `{0}` in the sandbox")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
}

/// One merchant's account at a simulated provider, built from the same config section that
/// configures the merchant's adapter.
pub struct SandboxAccount<'a> {
    pub merchant: &'a str,
    pub settings: &'a serde_json::Value,
    pub secrets: SecretResolver,
    /// Where this merchant receives the provider's webhooks on paymux.
    pub webhook_url: Url,
    /// Where the hosted pages are: append a provider checkout id.
    pub pay_page_base: Url,
}

impl SandboxAccount<'_> {
    /// A secret of the account's settings, resolved as the adapter resolves it; an error names
    /// its `key`.
    pub fn secret(&self, key: &str, reference: &SecretRef) -> Result<SecretString, ConfigError> {
        self.secrets
            .resolve(reference)
            .map_err(|message| ConfigError::new(key, message))
    }
}

/// The request headers a simulated API reads, by lower-case name.
pub trait Headers {
    fn get(&self, name: &str) -> Option<&str>;
}

/// Headers as name and value pairs, as a test writes them.
impl Headers for Vec<(&str, &str)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }
}

/// The methods the simulated APIs answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    /// Any other: no simulated API has a route for it.
    Other,
}

/// A call to a simulated API over HTTP.
#[derive(Clone, Copy)]
pub struct ApiCall<'a> {
    pub method: Method,
    /// The path below the simulator's root, without a leading `/`: `api/v1/payments/plink_1`.
    pub path: &'a str,
    pub headers: &'a dyn Headers,
    pub body: &'a [u8],
}

impl<'a> ApiCall<'a> {
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name)
    }

    /// The path's segments: `api/v1/payments/` is `["api", "v1", "payments", ""]`.
    pub fn segments(&self) -> Vec<&'a str> {
        self.path.split('/').collect()
    }

    /// What the operations read: `Authorization`, `Idempotency-Key` and the body.
    pub fn call(&self) -> SandboxCall<'a> {
        SandboxCall {
            authorization: self.header("authorization"),
            idempotency_key: self.header("idempotency-key"),
            body: self.body,
        }
    }

    /// The answer to a call no route of `provider`'s API takes.
    pub fn unrouted(&self, provider: &str) -> ApiAnswer {
        let method = match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Other => "this method on",
        };
        SandboxResponse::error(
            404,
            format!(
                "the simulated {provider} API has no {method} /{}",
                self.path
            ),
        )
        .into()
    }
}

/// A simulated API's answer, and the webhook the call triggers, sent after the answer as the
/// providers do.
#[derive(Debug)]
pub struct ApiAnswer {
    pub response: SandboxResponse,
    pub webhook: Option<OutgoingWebhook>,
}

impl From<SandboxResponse> for ApiAnswer {
    fn from(response: SandboxResponse) -> ApiAnswer {
        ApiAnswer {
            response,
            webhook: None,
        }
    }
}

impl From<(SandboxResponse, Option<OutgoingWebhook>)> for ApiAnswer {
    fn from((response, webhook): (SandboxResponse, Option<OutgoingWebhook>)) -> ApiAnswer {
        ApiAnswer { response, webhook }
    }
}

/// A simulated provider. `Any` lets a test reach one simulator's own methods
/// ([`crate::Sandbox::simulator`]).
pub trait Simulator: Any + Send + Sync {
    /// Registers a merchant's account (its credentials and webhook endpoint).
    fn add_account(&self, account: SandboxAccount<'_>) -> Result<(), ConfigError>;

    /// Answers a call to the provider's API.
    fn api(&self, call: &ApiCall<'_>, now: DateTime<Utc>) -> ApiAnswer;

    /// How its pages look.
    fn look(&self) -> &'static Look;

    /// What the hosted page shows for a checkout.
    fn page(&self, provider_checkout_id: &str, now: DateTime<Utc>) -> Option<HostedPage>;

    /// Does what the hosted page's buttons do.
    fn control(&self, press: Press<'_>) -> Result<ControlResult, SandboxError>;

    /// The payment frame a storefront opens in the payer's browser, for providers whose
    /// checkout is one (SpankPay); its checkouts are known by paymux's checkout id.
    fn frames(&self) -> Option<&dyn Frames> {
        None
    }
}

/// A paymux checkout as its payer's frame is opened with it.
#[derive(Debug, Clone)]
pub struct FramedCheckout {
    /// The checkout's id as paymux writes it.
    pub id: String,
    /// The frame parameters paymux gave the storefront (`client_action`).
    pub params: serde_json::Value,
    /// Where the page around the frame sends the payer once paid: the checkout's
    /// `success_url`.
    pub success_url: Option<String>,
}

/// A provider whose checkout is a frame the storefront opens with parameters paymux gave it.
pub trait Frames {
    /// Registers the purchase the frame's parameters describe, as opening the real frame
    /// does; opening it again keeps the first.
    fn open(&self, checkout: &FramedCheckout, now: DateTime<Utc>) -> Result<(), SandboxError>;
}
