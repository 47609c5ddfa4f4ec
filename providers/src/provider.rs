//! The one trait every provider adapter implements, the optional operations it may add, and the
//! webhook policy it must state.
//!
//! What a provider can do is read off what its adapter has: an operation it lacks is a part it
//! returns `None` for, not a stub that fails at run time, so [`Capabilities`] cannot say one
//! thing while the calls do another.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use paymux_domain::{Currency, NormalizedEvent};

use crate::error::{Operation, ProviderError};
use crate::model::{
    CheckoutRequest, CreatedCheckout, ProviderCheckout, ProviderRefund, RefundRequest,
    WebhookOutcome, WebhookReply, WebhookRequest,
};

/// A provider adapter, bound to one merchant's credentials and base URL when it is built, so a
/// webhook for a merchant can only ever be verified with that merchant's secrets.
///
/// Request building, parsing and verification are plain functions of the adapter, testable
/// without a network; the HTTP calls go through the shared client with its timeouts. Creating
/// checkouts and taking webhooks are required; reading a checkout back, canceling and refunding
/// are parts an adapter has only when its provider offers them, and the gateway answers a
/// missing part with [`ProviderError::Unsupported`].
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider's id in config and URLs (`sknpay`, `pakhi`, …).
    fn id(&self) -> &'static str;

    /// The currencies this merchant's account can charge in; a merchant's config may narrow
    /// them, never widen them.
    fn currencies(&self) -> &[Currency];

    /// Whether the provider dedupes creates on the idempotency key paymux sends (the checkout
    /// id): a retry after an unknown outcome then returns the first attempt's checkout instead
    /// of making a second one. False unless the adapter says so: a provider that documents no
    /// idempotency key may make a second checkout, so paymux does not retry its creates.
    fn idempotent_create(&self) -> bool {
        false
    }

    /// Checks `request` against the provider's documented rules without calling it (Pakhi
    /// needs the customer's name and email, SKN Pay a minimum amount …), so routing passes
    /// over a provider that would refuse it. `create_checkout` runs the same checks.
    fn validate_checkout(&self, request: &CheckoutRequest) -> Result<(), ProviderError>;

    async fn create_checkout(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CreatedCheckout, ProviderError>;

    /// Checks that a webhook comes from the provider: signature, shared secret, timestamp.
    fn verify_webhook(
        &self,
        request: &WebhookRequest<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), ProviderError>;

    /// Turns a verified webhook body into normalized events (one body may hold several).
    fn parse_webhook(&self, raw: &[u8]) -> Result<Vec<NormalizedEvent>, ProviderError>;

    /// The reply this provider expects for `outcome`.
    fn webhook_reply(&self, outcome: &WebhookOutcome<'_>) -> WebhookReply;

    /// How paymux treats this provider's verified webhooks. Required, with no default, so
    /// that every adapter decides each point for its provider.
    fn webhook_policy(&self) -> WebhookPolicy<'_>;

    /// Reading a checkout's status back, when the provider has an API for it.
    fn lookups(&self) -> Option<&dyn Lookups> {
        None
    }

    /// Canceling a checkout, when the provider can.
    fn cancels(&self) -> Option<&dyn Cancels> {
        None
    }

    /// Refunding a payment, when the provider has a refund API.
    fn refunds(&self) -> Option<&dyn Refunds> {
        None
    }
}

/// Reading a checkout back from the provider (`?refresh=true`).
#[async_trait]
pub trait Lookups: Send + Sync {
    async fn retrieve(&self, provider_checkout_id: &str)
    -> Result<ProviderCheckout, ProviderError>;
}

/// Canceling a checkout at the provider, so it takes no payment any more.
#[async_trait]
pub trait Cancels: Send + Sync {
    async fn cancel(
        &self,
        provider_checkout_id: &str,
        idempotency_key: &str,
    ) -> Result<ProviderCheckout, ProviderError>;
}

/// Refunding a payment through the provider.
#[async_trait]
pub trait Refunds: Send + Sync {
    /// Whether less than what was paid may be refunded; when not, paymux refuses a partial
    /// refund before calling the provider.
    fn allows_partial(&self) -> bool;

    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, ProviderError>;
}

/// What paymux does with a provider's verified webhooks beyond storing their events: each
/// field is a point where providers' protocols differ.
#[derive(Clone, Copy)]
pub struct WebhookPolicy<'a> {
    /// Events that count only once the provider's own API confirms them (Pakhi Pay's
    /// successes, whose callback alone proves too little); `None` when the signature is proof
    /// enough.
    pub confirmation: Option<&'a dyn Confirms>,
    /// What in a request is a shared secret, kept out of the stored receipt; `None` when
    /// nothing is (a signature proves without revealing the secret).
    pub redaction: Option<&'a dyn Redacts>,
    /// What a success reported for a canceled or expired checkout becomes.
    pub closed_checkout: ClosedCheckout,
}

impl WebhookPolicy<'_> {
    /// The policy of a provider whose signature is proof enough (nothing to confirm) and
    /// reveals no secret (nothing to redact): only the closed checkout is left to decide.
    pub const fn signature_suffices(closed_checkout: ClosedCheckout) -> WebhookPolicy<'static> {
        WebhookPolicy {
            confirmation: None,
            redaction: None,
            closed_checkout,
        }
    }
}

/// Confirming reported events with the provider's own API before they are stored. There is no
/// default: an adapter that asks for confirmation must say how it confirms.
#[async_trait]
pub trait Confirms: Send + Sync {
    /// Whether `event` must be confirmed before it is stored.
    fn needs(&self, event: &NormalizedEvent) -> bool;

    /// Asks the provider about an event [`Confirms::needs`] picked. A refuted event is not
    /// recorded as such, and its receipt is flagged; an error (the API could not be reached)
    /// makes paymux answer 5xx so that the provider delivers again.
    async fn confirm(&self, event: &NormalizedEvent) -> Result<Confirmation, ProviderError>;
}

/// What a provider's own API says about an event its webhook reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    Confirmed,
    /// The provider's API contradicts the webhook (unknown transaction, other amount, …).
    Refuted {
        reason: String,
    },
}

/// The shared secret a provider sends with its webhooks (Skipify's), which a receipt must
/// never keep: it is verified, then blanked.
pub trait Redacts: Send + Sync {
    /// Whether a request header (its lower-case name) carries the secret: such headers are
    /// verified but never stored.
    fn is_secret_header(&self, name: &str) -> bool;

    /// The body as it may be stored, or `None` when it holds no secret and is kept as sent.
    fn redact_body(&self, raw: &[u8]) -> Option<Vec<u8>>;
}

/// What a success reported for a canceled or expired checkout becomes: the money has moved,
/// and only some providers let paymux's reply undo that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedCheckout {
    /// Applied to the checkout and flagged for the merchant to settle: the provider has no
    /// way to act on a refusal.
    ApplyAndFlag,
    /// Recorded as `payment.failed` and refused in the reply, which makes the provider refund
    /// the payer (SpankPay).
    Refuse,
}

/// What a provider can do, read off its adapter by `capabilities()` on `dyn Provider`, so that
/// config checks, routing and tests see what the calls will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub create: bool,
    pub retrieve: bool,
    pub cancel: bool,
    pub refund: bool,
    pub partial_refund: bool,
    pub webhooks: bool,
    /// See [`Provider::idempotent_create`].
    pub idempotent_create: bool,
    pub currencies: Vec<Currency>,
}

impl Capabilities {
    pub fn supports(&self, operation: Operation) -> bool {
        match operation {
            Operation::Create => self.create,
            Operation::Retrieve => self.retrieve,
            Operation::Cancel => self.cancel,
            Operation::Refund => self.refund,
            Operation::PartialRefund => self.partial_refund,
            Operation::Webhooks => self.webhooks,
        }
    }
}

impl dyn Provider {
    /// What this provider can do, derived from the parts its adapter has. Not a trait method,
    /// so that no adapter can state it apart from them. Every adapter creates checkouts and
    /// takes webhooks: the trait requires both.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            create: true,
            retrieve: self.lookups().is_some(),
            cancel: self.cancels().is_some(),
            refund: self.refunds().is_some(),
            partial_refund: self
                .refunds()
                .is_some_and(|refunds| refunds.allows_partial()),
            webhooks: true,
            idempotent_create: self.idempotent_create(),
            currencies: self.currencies().to_vec(),
        }
    }
}
