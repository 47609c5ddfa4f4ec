//! What every provider simulator shares. A simulator speaks its provider's documented wire
//! format; the gateway mounts its API, serves its hosted page through one page frame, drives it
//! through one control endpoint (`POST /sandbox/{provider}/checkouts/{id}/{outcome}`) and sends
//! the webhooks it produces with the provider's retry schedule.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use paymux_schema::Money;
use url::Url;

use crate::registry::ConfigError;
use crate::secret::SecretResolver;

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

/// A call to the simulated API: the headers that matter and the body.
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

/// What the hosted page shows for a simulated checkout.
#[derive(Debug, Clone, PartialEq)]
pub struct HostedPage {
    pub provider_checkout_id: String,
    pub amount: Option<Money>,
    pub description: Option<String>,
    /// The simulated checkout's status in the provider's own words.
    pub status: String,
    /// Whether the pay/decline/cancel/expire buttons still do something.
    pub open: bool,
    /// Extra input fields the page offers for `pay` (name, label, placeholder), e.g. SKN's
    /// card number; their values go into the control call's JSON body.
    pub fields: Vec<(&'static str, &'static str, String)>,
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

/// A simulated provider.
pub trait Simulator: Send + Sync + 'static {
    fn id(&self) -> &'static str;

    /// Registers a merchant's account (its credentials and webhook endpoint).
    fn add_account(&self, account: SandboxAccount<'_>) -> Result<(), ConfigError>;

    /// What the hosted page shows for a checkout.
    fn page(&self, provider_checkout_id: &str, now: DateTime<Utc>) -> Option<HostedPage>;

    /// Does what the hosted page's buttons do.
    fn control(
        &self,
        provider_checkout_id: &str,
        outcome: Outcome,
        options: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<ControlResult, SandboxError>;
}
