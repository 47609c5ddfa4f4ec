//! A provider double that exercises the `Provider` trait through the registry, without a
//! network: checkouts get a deterministic redirect URL, webhooks are authenticated by a shared
//! secret header, and it can be looked up but neither canceled nor refunded.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use paymux_domain::{CheckoutStatus, Currency, EventType, Money, NormalizedEvent};
use paymux_providers::model::{
    CheckoutRequest, CreatedCheckout, ProviderCheckout, WebhookOutcome, WebhookReply,
    WebhookRequest,
};
use paymux_providers::signing::constant_time_eq;
use paymux_providers::{
    ClosedCheckout, Lookups, Provider, ProviderError, ProviderFactory, SecretRef, WebhookPolicy,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub const FAKE: &str = "fake";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FakeSettings {
    secret: SecretRef,
    /// Creates checkouts but answers what cannot be read, like Pakhi Pay's 2xx without a usable
    /// `payment_url`: the checkout exists, paymux cannot know it.
    #[serde(default)]
    unreadable_answers: bool,
}

/// Builds [`FakeProvider`]s from `[merchants.<id>.providers.fake]`, registered as a provider
/// registers its own `FACTORY`.
pub const FACTORY: ProviderFactory = ProviderFactory::new(FAKE, |context| {
    let settings: FakeSettings = context.settings()?;
    Ok(Arc::new(FakeProvider {
        secret: context.secret("secret", &settings.secret)?,
        webhook_url: context.webhook_url.to_string(),
        unreadable_answers: settings.unreadable_answers,
    }))
});

pub struct FakeProvider {
    secret: SecretString,
    pub webhook_url: String,
    unreadable_answers: bool,
}

#[derive(Deserialize)]
struct FakeWebhook {
    id: String,
    status: String,
    payment: String,
    amount: i64,
}

#[async_trait]
impl Provider for FakeProvider {
    fn id(&self) -> &'static str {
        FAKE
    }

    fn currencies(&self) -> &[Currency] {
        &[Currency::Usd, Currency::Eur]
    }

    fn idempotent_create(&self) -> bool {
        false
    }

    /// It can be looked up, but neither canceled nor refunded.
    fn lookups(&self) -> Option<&dyn Lookups> {
        Some(self)
    }

    /// The double takes any request.
    fn validate_checkout(&self, _request: &CheckoutRequest) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn create_checkout(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CreatedCheckout, ProviderError> {
        if !self.currencies().contains(&request.amount.currency) {
            return Err(ProviderError::invalid("currency not supported", "currency"));
        }
        if self.unreadable_answers {
            return Err(ProviderError::MalformedPayload(
                "the answer has no checkout id".into(),
            ));
        }
        Ok(CreatedCheckout {
            provider_checkout_id: Some(format!("fake_{}", request.checkout_id)),
            status: CheckoutStatus::Open,
            redirect_url: Some(format!("https://fake.example/pay/{}", request.checkout_id)),
            client_action: None,
            livemode: false,
            expires_at: None,
        })
    }

    fn verify_webhook(
        &self,
        request: &WebhookRequest<'_>,
        _now: DateTime<Utc>,
    ) -> Result<(), ProviderError> {
        let given = request
            .header("x-fake-secret")
            .ok_or_else(|| ProviderError::InvalidSignature("missing X-Fake-Secret".into()))?;
        if constant_time_eq(given.as_bytes(), self.secret.expose_secret().as_bytes()) {
            Ok(())
        } else {
            Err(ProviderError::InvalidSignature("wrong secret".into()))
        }
    }

    fn parse_webhook(&self, raw: &[u8]) -> Result<Vec<NormalizedEvent>, ProviderError> {
        let webhook: FakeWebhook = serde_json::from_slice(raw)
            .map_err(|error| ProviderError::MalformedPayload(error.to_string()))?;
        let event_type = match webhook.status.as_str() {
            "paid" => EventType::PaymentSucceeded,
            "failed" => EventType::PaymentFailed,
            other => {
                return Err(ProviderError::MalformedPayload(format!(
                    "unknown status `{other}`"
                )));
            }
        };
        Ok(vec![NormalizedEvent {
            event_type,
            provider_event_id: webhook.id,
            provider_payment_id: Some(webhook.payment),
            checkout_hint: None,
            reference: None,
            amount: Some(Money::new(webhook.amount, Currency::Usd)),
            fee: None,
            occurred_at: Utc::now(),
            livemode: false,
            details: serde_json::json!({}),
        }])
    }

    /// The reply most providers expect; a 400 for a rejected delivery.
    fn webhook_reply(&self, outcome: &WebhookOutcome<'_>) -> WebhookReply {
        WebhookReply::received_or(outcome, |_| 400)
    }

    fn webhook_policy(&self) -> WebhookPolicy<'_> {
        WebhookPolicy::signature_suffices(ClosedCheckout::ApplyAndFlag)
    }
}

#[async_trait]
impl Lookups for FakeProvider {
    /// Every checkout the double made is still open.
    async fn retrieve(&self, id: &str) -> Result<ProviderCheckout, ProviderError> {
        Ok(ProviderCheckout {
            provider_checkout_id: id.to_owned(),
            status: CheckoutStatus::Open,
            livemode: false,
        })
    }
}
