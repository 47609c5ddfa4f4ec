//! The normalized event model: what every provider webhook becomes.

use chrono::{DateTime, Utc};

use crate::money::Money;

crate::text_enum! {
    /// The kinds of event paymux records, whatever the provider called them.
    pub enum EventType("event type") {
        PaymentPending => "payment.pending",
        PaymentSucceeded => "payment.succeeded",
        PaymentFailed => "payment.failed",
        PaymentCanceled => "payment.canceled",
        PaymentExpired => "payment.expired",
        PaymentRefunded => "payment.refunded",
        CheckoutAbandoned => "checkout.abandoned",
        /// paymux's own record of a refund it asked a provider for, as it stands: the
        /// provider took it and has not settled it yet, ...
        RefundPending => "refund.pending",
        /// ... refunded it, ...
        RefundSucceeded => "refund.succeeded",
        /// ... or refused it (nothing was refunded).
        RefundFailed => "refund.failed",
    }
}

crate::text_enum! {
    /// What ingestion marks an event with, in its details' `flags` list, for reconciliation.
    pub enum EventFlag("event flag") {
        /// A payment on a checkout that was canceled or had expired.
        SuccessAfterCancel => "success_after_cancel",
        /// A payment refused because its checkout was closed (the provider returns it).
        RefusedAfterClose => "refused_after_close",
        /// An event of a provider disabled for the merchant.
        DisabledProvider => "disabled_provider",
        /// An event no checkout was found for.
        NoCheckout => "no_checkout",
        /// A payment that took what its checkout received past the checkout's amount.
        Overpaid => "overpaid",
        /// A success that paid its checkout nothing: zero, another currency, or an amount
        /// beyond 10^12 minor units (recorded, never summed).
        NotCounted => "not_counted",
    }
}

impl EventFlag {
    /// Adds the flag to `details`' `flags` list (making `details` an object if it is not).
    pub fn add_to(self, details: &mut serde_json::Value) {
        if !details.is_object() {
            *details = serde_json::json!({});
        }
        if let Some(object) = details.as_object_mut() {
            let flags = object
                .entry("flags")
                .or_insert_with(|| serde_json::Value::Array(vec![]));
            if let Some(list) = flags.as_array_mut() {
                list.push(serde_json::Value::from(self.as_str()));
            }
        }
    }
}

crate::text_enum! {
    /// Who recorded an event.
    pub enum EventSource("event source") {
        /// The provider's webhook.
        Provider => "provider",
        /// paymux asked the provider (`?refresh=true`, a cancel) and recorded what it said.
        ProviderLookup => "provider_lookup",
        /// paymux itself: an expiry it applied at the checkout's `expires_at`.
        Paymux => "paymux",
    }
}

/// One provider event after verification and normalization, before paymux links it to a
/// checkout and stores it. Adapters produce these from raw webhook bodies.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizedEvent {
    pub event_type: EventType,
    /// The provider's own event id, or an id derived deterministically from the payload when
    /// the provider sends none, so a redelivery maps to the same row.
    pub provider_event_id: String,
    /// The provider's id for the payment, link or purchase: the first way to find our checkout.
    pub provider_payment_id: Option<String>,
    /// Our checkout id when the provider echoes it back (metadata): the second way.
    pub checkout_hint: Option<String>,
    /// The merchant's order reference: the last way.
    pub reference: Option<String>,
    /// The amount the event concerns; for refunds, the amount refunded.
    pub amount: Option<Money>,
    /// Provider-reported fees in minor units of `amount`'s currency.
    pub fee: Option<i64>,
    pub occurred_at: DateTime<Utc>,
    pub livemode: bool,
    /// Provider details worth keeping: card brand/last4, failure reason, crypto input, ….
    pub details: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_through_their_names() {
        for &event_type in EventType::ALL {
            assert_eq!(event_type.as_str().parse::<EventType>(), Ok(event_type));
            let json = serde_json::to_string(&event_type).unwrap();
            assert_eq!(
                serde_json::from_str::<EventType>(&json).unwrap(),
                event_type
            );
        }
        assert!("payment.succeded".parse::<EventType>().is_err());
        assert_eq!(
            EventType::CheckoutAbandoned.to_string(),
            "checkout.abandoned"
        );
    }
}
