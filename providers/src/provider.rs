//! The one trait every provider adapter implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use paymux_domain::{Currency, NormalizedEvent};

use crate::error::{Operation, ProviderError};
use crate::model::{
    CheckoutRequest, CreatedCheckout, ProviderCheckout, ProviderRefund, RefundRequest,
    WebhookOutcome, WebhookReply, WebhookRequest,
};

/// What a provider's own API says about an event its webhook reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    Confirmed,
    /// The provider's API contradicts the webhook (unknown transaction, other amount, …).
    Refuted {
        reason: String,
    },
}

/// What a provider can do, so routing and the API can refuse early and say why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub create: bool,
    pub retrieve: bool,
    pub cancel: bool,
    pub refund: bool,
    pub partial_refund: bool,
    pub webhooks: bool,
    /// The provider dedupes creates on the idempotency key paymux sends (the checkout id): a
    /// retry after an unknown outcome returns the first attempt's checkout instead of making a
    /// second one.
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

    pub fn supports_currency(&self, currency: Currency) -> bool {
        self.currencies.contains(&currency)
    }
}

/// A provider adapter, bound to one merchant's credentials and base URL when it is built, so a
/// webhook for a merchant can only ever be verified with that merchant's secrets.
///
/// Request building, parsing and verification are plain functions of the adapter, testable
/// without a network; the HTTP calls go through the shared client with its timeouts. An
/// operation the provider lacks returns [`ProviderError::Unsupported`].
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider's id in config and URLs (`sknpay`, `pakhi`, …).
    fn id(&self) -> &'static str;

    fn capabilities(&self) -> &Capabilities;

    /// Checks `request` against the provider's documented rules without calling it (Pakhi
    /// needs the customer's name and email, SKN Pay a minimum amount …), so routing passes
    /// over a provider that would refuse it. `create_checkout` runs the same checks.
    fn validate_checkout(&self, request: &CheckoutRequest) -> Result<(), ProviderError>;

    async fn create_checkout(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CreatedCheckout, ProviderError>;

    async fn retrieve(&self, provider_checkout_id: &str)
    -> Result<ProviderCheckout, ProviderError>;

    async fn cancel(
        &self,
        provider_checkout_id: &str,
        idempotency_key: &str,
    ) -> Result<ProviderCheckout, ProviderError>;

    async fn refund(&self, request: &RefundRequest) -> Result<ProviderRefund, ProviderError>;

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

    /// Whether `event` must be confirmed with the provider's own API before it is stored. Most
    /// providers' signatures are proof enough (the default); Pakhi Pay's successes are not.
    fn needs_confirmation(&self, _event: &NormalizedEvent) -> bool {
        false
    }

    /// Confirms an event [`Provider::needs_confirmation`] picked. A refuted event is not
    /// recorded as such, and its receipt is flagged; an error (the API could not be reached)
    /// makes paymux answer 5xx so the provider delivers again. Only called for adapters whose
    /// `needs_confirmation` says so, which then implement it.
    async fn confirm(&self, _event: &NormalizedEvent) -> Result<Confirmation, ProviderError> {
        Ok(Confirmation::Confirmed)
    }

    /// Whether the provider lets paymux's reply decide a payment: SpankPay refunds the payer
    /// when paymux refuses it. Then a success for a canceled or expired checkout is recorded
    /// as `payment.failed` and refused, instead of being applied and flagged.
    fn refuses_payment_when_closed(&self) -> bool {
        false
    }

    /// Whether a request header (its lower-case name) carries a shared secret: such headers
    /// are verified but never stored with the receipt.
    fn is_secret_header(&self, _name: &str) -> bool {
        false
    }

    /// The body as it may be stored, when it carries a shared secret: `None` keeps the exact
    /// bytes (the usual case: signed bodies hold no secret).
    fn redact_body(&self, _raw: &[u8]) -> Option<Vec<u8>> {
        None
    }
}
