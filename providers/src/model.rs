//! The unified shapes adapters receive and return, independent of any provider's wire format.

use chrono::{DateTime, Utc};
use paymux_domain::{CheckoutId, CheckoutStatus, Money, RefundId};
use paymux_domain::{ErrorBody, RefundStatus};
use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;

/// The payer, as the storefront knows them. Every field is optional; adapters that need one
/// (Pakhi needs name and email) refuse the request naming the missing field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

/// One line of a basket, in minor units of the checkout's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    pub name: String,
    #[schema(minimum = 1)]
    pub quantity: u32,
    #[schema(minimum = 0)]
    pub unit_amount: i64,
}

/// A checkout to create at a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutRequest {
    /// Our id, which adapters pass in metadata where the provider echoes it back.
    pub checkout_id: CheckoutId,
    pub amount: Money,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub customer: Option<Customer>,
    pub success_url: Option<Url>,
    pub cancel_url: Option<Url>,
    pub expires_at: Option<DateTime<Utc>>,
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub items: Vec<LineItem>,
    /// This provider's entry of `provider_options`, passed through as given.
    pub provider_options: Option<serde_json::Value>,
    /// Sent as the provider's idempotency key, so a retried create cannot make two payments.
    pub idempotency_key: String,
}

/// What a provider created.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedCheckout {
    pub provider_checkout_id: Option<String>,
    pub status: CheckoutStatus,
    /// Where to send the payer, when the provider hosts a page.
    pub redirect_url: Option<String>,
    /// What a page must run when the provider has no redirect URL (SpankPay's frame).
    pub client_action: Option<serde_json::Value>,
    pub livemode: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

impl CreatedCheckout {
    /// An open checkout whose payer goes to the provider's own page at `redirect_url`, which
    /// lapses at `expires_at` when the provider says so.
    pub fn hosted(
        provider_checkout_id: Option<String>,
        redirect_url: String,
        livemode: bool,
        expires_at: Option<DateTime<Utc>>,
    ) -> CreatedCheckout {
        CreatedCheckout {
            provider_checkout_id,
            status: CheckoutStatus::Open,
            redirect_url: Some(redirect_url),
            client_action: None,
            livemode,
            expires_at,
        }
    }
}

/// A checkout's state as the provider reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderCheckout {
    pub provider_checkout_id: String,
    pub status: CheckoutStatus,
    pub livemode: bool,
}

/// A refund to ask a provider for.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundRequest {
    pub refund_id: RefundId,
    pub provider_checkout_id: String,
    pub amount: Money,
    /// True when this refund covers everything not yet refunded.
    pub is_full: bool,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRefund {
    pub provider_refund_id: Option<String>,
    pub status: RefundStatus,
}

/// An incoming webhook request: its headers (names lower-cased) and exact body.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What paymux did with a webhook, for the adapter to phrase the reply its provider expects.
#[derive(Debug, Clone, Copy)]
pub enum WebhookOutcome<'a> {
    /// Verified, and its events are durably stored.
    Stored,
    /// Verified; every event was stored before.
    Duplicate,
    /// Stored, but the payment must be refused (the checkout was canceled or expired).
    Refused { reason: &'a str },
    /// Not accepted: bad signature, stale, malformed.
    Rejected(&'a crate::ProviderError),
}

/// The HTTP reply to a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl WebhookReply {
    /// The reply most providers expect: 200 `{"received": true}` for every accepted delivery
    /// (a refused payment too: they have no way to act on a refusal, and a retry would not
    /// change it), and the API's error body ([`WebhookReply::rejected`]) with the status
    /// `rejected_status` picks for a rejected one.
    pub fn received_or(
        outcome: &WebhookOutcome<'_>,
        rejected_status: impl Fn(&crate::ProviderError) -> u16,
    ) -> WebhookReply {
        match outcome {
            WebhookOutcome::Stored | WebhookOutcome::Duplicate | WebhookOutcome::Refused { .. } => {
                WebhookReply::json(200, serde_json::json!({ "received": true }))
            }
            WebhookOutcome::Rejected(error) => {
                WebhookReply::rejected(rejected_status(error), error, serde_json::Map::new())
            }
        }
    }

    /// A rejected webhook's reply: `{"error": {"code", "message", "param"}}` as every error of
    /// paymux's, with `fields` beside it for a provider whose protocol wants more in the body.
    pub fn rejected(
        status: u16,
        error: &crate::ProviderError,
        mut fields: serde_json::Map<String, serde_json::Value>,
    ) -> WebhookReply {
        let body = ErrorBody::new(error.code(), error.to_string(), None);
        fields.insert("error".into(), serde_json::json!(body.error));
        WebhookReply::json(status, serde_json::Value::Object(fields))
    }

    pub fn json(status: u16, body: serde_json::Value) -> WebhookReply {
        WebhookReply {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosted_checkout_is_open_with_the_page_to_send_the_payer_to() {
        let expires_at = DateTime::from_timestamp(1_800_000_000, 0);
        assert_eq!(
            CreatedCheckout::hosted(
                Some("pay_1".into()),
                "https://pay.test/1".into(),
                true,
                expires_at
            ),
            CreatedCheckout {
                provider_checkout_id: Some("pay_1".into()),
                status: CheckoutStatus::Open,
                redirect_url: Some("https://pay.test/1".into()),
                client_action: None,
                livemode: true,
                expires_at,
            }
        );
    }
}
