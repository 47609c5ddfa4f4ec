//! Recording events: the one place where what a provider (or paymux) reports becomes a stored
//! event and moves its checkout. Webhook ingest, provider lookups and paymux's own expiries all
//! go through [`record`]; the dataset seed builds its rows with [`event_row`], the same
//! function `record` stores.

use chrono::NaiveDateTime;
use paymux_domain::{
    CheckoutId, CheckoutStatus, EventFlag, EventId, EventSource, EventType, Money, NormalizedEvent,
    ReceiptId, StatusInput, TransitionFlag,
};
use paymux_schema::db::DbConnection;
use paymux_schema::db::checkout::{Checkout, Link};
use paymux_schema::db::column::Json;
use paymux_schema::db::event::Event;
use paymux_schema::db::receipt::WebhookReceipt;
use paymux_schema::db::refund::{Refund, RefundStatus};

use crate::domain::outbound;
use crate::store::StoreError;

/// Who records an event, and how its provider's events are handled.
#[derive(Debug, Clone)]
pub struct Recording {
    pub merchant: String,
    pub provider: String,
    pub source: EventSource,
    /// The webhook receipt the event came in, when it came in one.
    pub receipt: Option<ReceiptId>,
    pub received_at: NaiveDateTime,
    pub handling: Handling,
}

impl Recording {
    /// paymux recording, as `source`, an event of `checkout` it learned of itself (a lookup,
    /// an expiry, a refund it made) rather than by a webhook.
    pub fn for_checkout(checkout: &Checkout, source: EventSource, now: NaiveDateTime) -> Recording {
        Recording {
            merchant: checkout.merchant.clone(),
            provider: checkout.provider.clone(),
            source,
            receipt: None,
            received_at: now,
            handling: Handling::default(),
        }
    }
}

/// What the provider's config and protocol say about handling its events.
#[derive(Debug, Clone, Copy, Default)]
pub struct Handling {
    /// The provider lets paymux's reply decide a payment (SpankPay refunds the payer when it
    /// is refused): a success for a closed checkout is refused and recorded as a failure.
    pub refuses_when_closed: bool,
    /// The provider is disabled for the merchant: events are flagged `disabled_provider`.
    pub disabled: bool,
}

/// What recording one event did.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// False when an event with the same provider event id was stored before.
    pub stored: bool,
    /// Why a payment was refused (for the provider's reply), when it was.
    pub refusal: Option<String>,
    /// The checkout it moved, as it is now.
    pub checkout: Option<Checkout>,
}

/// Records `event` about `checkout` (found and locked by the caller: [`link_checkout`] for a
/// webhook, the checkout itself for a lookup or an expiry): stores it, unless an event with its
/// provider event id is stored already (`stored` is then false and nothing moves), then
/// applies it through the checkout's status machine. Storing first makes the unique provider
/// event id decide, in one statement, which of two concurrent deliveries moves the checkout.
pub fn record(
    conn: &mut DbConnection,
    recording: &Recording,
    event: &NormalizedEvent,
    mut checkout: Option<Checkout>,
) -> Result<Recorded, StoreError> {
    let mut details = event.details.clone();
    if recording.handling.disabled {
        EventFlag::DisabledProvider.add_to(&mut details);
    }
    if checkout.is_none() && event.event_type != EventType::CheckoutAbandoned {
        EventFlag::NoCheckout.add_to(&mut details);
    }
    let reported = Applied::as_reported(event, details);
    let id = EventId::generate();
    let checkout_id = checkout.as_ref().map(|checkout| checkout.id);
    let row = event_row(id, recording, event, checkout_id, &reported);
    let Some(new_event) = Event::insert_new(conn, &row)? else {
        return Ok(Recorded {
            stored: false,
            refusal: None,
            checkout,
        });
    };
    let mut applied = reported.clone();
    if let Some(checkout) = checkout.as_mut() {
        apply(conn, checkout, (event, &id), recording, &mut applied)?;
    }
    if applied != reported {
        let amount = applied.amount;
        Event::update_applied(
            conn,
            &id,
            applied.event_type,
            amount.map(|money| (money.minor, money.currency)),
            &applied.details,
        )?;
    }
    // The merchant hears of it in the same commit: no event without its messages.
    if new_event.merchant_has_endpoints != Some(false) {
        let stored = event_row(id, recording, event, checkout_id, &applied);
        outbound::enqueue(conn, &stored, checkout.as_ref())?;
    }
    Ok(Recorded {
        stored: true,
        refusal: applied.refusal,
        checkout,
    })
}

/// What applying an event to its checkout made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// A refused success is stored as the failure it becomes.
    pub event_type: EventType,
    /// A provider's refund confirmation carries the amount of the refund it confirms.
    pub amount: Option<Money>,
    pub details: serde_json::Value,
    pub refusal: Option<String>,
}

impl Applied {
    /// An event applied as it was reported, with these details (flags and all).
    pub fn as_reported(event: &NormalizedEvent, details: serde_json::Value) -> Applied {
        Applied {
            event_type: event.event_type,
            amount: event.amount,
            details,
            refusal: None,
        }
    }
}

/// The stored row `id` of `event`, recorded as `recording` says, applied as `applied` says.
pub fn event_row(
    id: EventId,
    recording: &Recording,
    event: &NormalizedEvent,
    checkout: Option<CheckoutId>,
    applied: &Applied,
) -> Event {
    Event {
        id,
        event_type: applied.event_type,
        merchant: recording.merchant.clone(),
        provider: recording.provider.clone(),
        provider_event_id: event.provider_event_id.clone(),
        checkout_id: checkout,
        provider_payment_id: event.provider_payment_id.clone(),
        reference: event.reference.clone(),
        amount: applied.amount.map(|money| money.minor),
        currency: applied.amount.map(|money| money.currency),
        fee: event.fee,
        occurred_at: paymux_schema::db::truncate_to_micros(event.occurred_at),
        received_at: recording.received_at,
        livemode: event.livemode,
        details: Json(applied.details.clone()),
        receipt_id: recording.receipt,
        source: recording.source,
    }
}

/// Moves the checkout as the event (stored as `recorded_as`) says, noting on `applied` what
/// that made of the event.
fn apply(
    conn: &mut DbConnection,
    checkout: &mut Checkout,
    (event, recorded_as): (&NormalizedEvent, &EventId),
    recording: &Recording,
    applied: &mut Applied,
) -> Result<(), StoreError> {
    let now = recording.received_at;
    if let Some(status) = closed(checkout, now)
        && recording.handling.refuses_when_closed
        && event.event_type == EventType::PaymentSucceeded
    {
        let reason = format!("the checkout is {status}: the payment is refused");
        applied.event_type = EventType::PaymentFailed;
        note(&mut applied.details, "reason", &reason);
        EventFlag::RefusedAfterClose.add_to(&mut applied.details);
        applied.refusal = Some(reason);
    }
    let transition = match applied.event_type {
        EventType::PaymentSucceeded => {
            // A lookup learns that the checkout was paid, not by which payment.
            let key = match recording.source {
                EventSource::ProviderLookup => None,
                _ => event.provider_payment_id.as_deref(),
            };
            let paid = checkout.record_payment(conn, key, event.amount, recorded_as, now)?;
            if let Some(reason) = paid.not_counted {
                EventFlag::NotCounted.add_to(&mut applied.details);
                note(&mut applied.details, "not_counted", reason.describe());
            }
            if paid.overpaid {
                EventFlag::Overpaid.add_to(&mut applied.details);
            }
            paid.transition
        }
        EventType::PaymentRefunded => {
            // The provider confirms a refund paymux made: it carries that refund's amount.
            if applied.amount.is_none()
                && let Some(refund) = Refund::unconfirmed_of(conn, &checkout.id)?
            {
                applied.amount = Some(Money::new(refund.amount, checkout.currency));
                note(&mut applied.details, "refund_id", &refund.id.to_string());
            }
            let fully_refunded = checkout.amount_refunded >= checkout.amount_received;
            let input = StatusInput::from_event(EventType::PaymentRefunded, fully_refunded);
            Some(checkout.apply(conn, input, now)?)
        }
        // paymux's records of its own refunds: the refund moved the checkout itself.
        EventType::RefundPending | EventType::RefundSucceeded | EventType::RefundFailed => None,
        other => Some(checkout.apply(conn, StatusInput::from_event(other, false), now)?),
    };
    if transition.and_then(|transition| transition.flag) == Some(TransitionFlag::SuccessAfterCancel)
    {
        EventFlag::SuccessAfterCancel.add_to(&mut applied.details);
    }
    Ok(())
}

/// Records where a refund paymux made now stands (`refund.pending`, `.succeeded`, `.failed`)
/// as an event of its checkout, with the refund's amount: once per refund and status, so that
/// the merchant is told and exports and finance see refund amounts.
pub fn record_refund(
    conn: &mut DbConnection,
    checkout: &Checkout,
    refund: &Refund,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let event_type = match refund.status {
        RefundStatus::Pending => EventType::RefundPending,
        RefundStatus::Succeeded => EventType::RefundSucceeded,
        RefundStatus::Failed => EventType::RefundFailed,
    };
    let mut details = serde_json::json!({"refund_id": refund.id});
    if let Some(reason) = &refund.failure_reason {
        note(&mut details, "reason", reason);
    }
    let event = NormalizedEvent {
        event_type,
        provider_event_id: format!("paymux_refund:{}:{}", refund.id, refund.status),
        provider_payment_id: checkout.provider_checkout_id.clone(),
        checkout_hint: Some(checkout.id.to_string()),
        reference: checkout.reference.clone(),
        amount: Some(Money::new(refund.amount, refund.currency)),
        fee: None,
        occurred_at: now.and_utc(),
        livemode: checkout.livemode,
        details,
    };
    let recording = Recording::for_checkout(checkout, EventSource::Paymux, now);
    record(conn, &recording, &event, Some(checkout.clone()))?;
    Ok(())
}

/// The event a lookup at the provider found: the checkout's payment in `event_type`, one per
/// change whether the webhook or the lookup saw it first.
pub fn lookup_event(
    checkout: &Checkout,
    event_type: EventType,
    now: NaiveDateTime,
) -> NormalizedEvent {
    let payment_id = checkout.provider_checkout_id.clone().unwrap_or_default();
    NormalizedEvent {
        event_type,
        provider_event_id: format!("paymux_lookup:{payment_id}:{event_type}"),
        provider_payment_id: checkout.provider_checkout_id.clone(),
        checkout_hint: Some(checkout.id.to_string()),
        reference: checkout.reference.clone(),
        // A provider reporting its checkout paid reports the checkout's amount paid.
        amount: (event_type == EventType::PaymentSucceeded).then(|| checkout.due()),
        fee: None,
        occurred_at: now.and_utc(),
        livemode: checkout.livemode,
        details: serde_json::json!({}),
    }
}

/// The status that makes the checkout closed to payment: canceled or expired, or past its
/// expiry time while nothing has been received (no expiry event has said so yet).
fn closed(checkout: &Checkout, now: NaiveDateTime) -> Option<CheckoutStatus> {
    let lapsed = checkout.expires_at.is_some_and(|at| at <= now);
    match checkout.status {
        CheckoutStatus::Canceled | CheckoutStatus::Expired => Some(checkout.status),
        // A checkout paid in part is never expired: the rest is welcome.
        status if status.awaits_payment() && lapsed => Some(CheckoutStatus::Expired),
        _ => None,
    }
}

/// Adds `name: value` to an event's details (an object).
fn note(details: &mut serde_json::Value, name: &str, value: &str) {
    if let Some(object) = details.as_object_mut() {
        object.insert(name.to_owned(), serde_json::Value::from(value));
    }
}

/// The checkout an event concerns, locked: by the provider's payment id, then by our checkout
/// id echoed back in metadata, then by the merchant's order reference. For events that move
/// money (a success, a refund) the last two only match a checkout that the provider knows
/// under the event's payment id, or under none yet: a payment made outside paymux that reuses
/// an order reference must not pay a paymux checkout. A provider that knows the checkout by
/// paymux's own id (SpankPay, whose purchases are made from frame parameters carrying it) names
/// the checkout with it, whichever of its payments the event reports. The webhook's `receipt`,
/// when given, is stored first, in the same round trip where the store allows.
pub fn link_checkout(
    conn: &mut DbConnection,
    merchant: &str,
    provider: &str,
    event: &NormalizedEvent,
    receipt: Option<&WebhookReceipt>,
) -> Result<Option<Checkout>, StoreError> {
    let link = Link {
        payment_id: event.provider_payment_id.as_deref(),
        checkout_id: event
            .checkout_hint
            .as_deref()
            .filter(|hint| CheckoutId::parse(hint).is_ok()),
        reference: event.reference.as_deref(),
        moves_money: matches!(
            event.event_type,
            EventType::PaymentSucceeded | EventType::PaymentRefunded
        ),
    };
    Ok(Checkout::find_linked(
        conn, merchant, provider, &link, receipt,
    )?)
}

#[cfg(test)]
mod tests {
    use paymux_domain::EventType::{PaymentCanceled, PaymentPending, PaymentSucceeded};
    use serde_json::json;

    use super::*;
    use crate::domain::routing::Order;
    use crate::domain::test_support::{
        MERCHANT, TestState, events_of, insert_checkout, order, pay, provider_event, reload,
        report, webhook_recording,
    };

    fn stored(conn: &mut DbConnection, provider: &str, provider_event_id: &str) -> Event {
        Event::find_by_provider_event_id(conn, MERCHANT, provider, provider_event_id)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn what_applying_an_event_earns_it_is_stored_with_it() {
        let test = TestState::new();
        let conn = &mut test.conn();
        let checkout = insert_checkout(conn, "sknpay", &order(1_000));
        let payment_id = checkout.provider_checkout_id.clone().unwrap();
        let event = provider_event(PaymentSucceeded, "evt_more", &payment_id, Some(9_000));
        let recording = webhook_recording("sknpay", Handling::default());
        let recorded = record(conn, &recording, &event, Some(checkout.clone())).unwrap();
        assert!(recorded.stored);
        let event = stored(conn, "sknpay", "evt_more");
        assert_eq!(event.details.0["flags"], json!(["overpaid"]));
        assert_eq!(event.amount, Some(9_000));
    }

    #[test]
    fn a_success_moves_its_open_checkout_to_succeeded_and_a_redelivery_stores_nothing() {
        let test = TestState::new();
        let conn = &mut test.conn();
        let checkout = insert_checkout(conn, "sknpay", &order(1_000));
        let first = report(conn, &checkout, PaymentSucceeded, "evt_1");
        assert!(first.stored);
        let paid = reload(conn, &checkout);
        assert_eq!(
            (paid.status, paid.amount_received),
            (CheckoutStatus::Succeeded, 1_000)
        );

        let again = report(conn, &paid, PaymentSucceeded, "evt_1");
        assert!(!again.stored);
        assert_eq!(
            reload(conn, &checkout).amount_received,
            1_000,
            "counted once"
        );
        let events = events_of(conn, &checkout);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].details.0, json!({}), "no flags");
    }

    #[test]
    fn a_success_for_a_canceled_checkout_is_applied_and_flagged() {
        let test = TestState::new();
        let conn = &mut test.conn();
        let checkout = insert_checkout(conn, "sknpay", &order(1_000));
        let canceled = report(conn, &checkout, PaymentCanceled, "evt_cancel").checkout;
        let canceled = canceled.unwrap();
        assert_eq!(canceled.status, CheckoutStatus::Canceled);

        let paid = pay(conn, &canceled);
        assert_eq!(
            paid.status,
            CheckoutStatus::Succeeded,
            "the payer was charged"
        );
        let success = stored(conn, "sknpay", "evt_paid");
        assert_eq!(success.details.0["flags"], json!(["success_after_cancel"]));
    }

    #[test]
    fn a_provider_that_lets_paymux_refuse_gets_a_failure_for_a_closed_checkout() {
        let test = TestState::new();
        let conn = &mut test.conn();
        let checkout = insert_checkout(conn, "spankpay", &order(1_000));
        report(conn, &checkout, PaymentCanceled, "evt_cancel");
        let handling = Handling {
            refuses_when_closed: true,
            disabled: false,
        };
        let payment_id = checkout.provider_checkout_id.as_deref().unwrap();
        let event = provider_event(PaymentSucceeded, "evt_paid", payment_id, Some(1_000));
        let canceled = Some(reload(conn, &checkout));
        let recording = webhook_recording("spankpay", handling);
        let recorded = record(conn, &recording, &event, canceled).unwrap();

        let refusal = recorded.refusal.unwrap();
        assert!(refusal.contains("the checkout is canceled"), "{refusal}");
        let checkout = reload(conn, &checkout);
        assert_eq!(
            (checkout.status, checkout.amount_received),
            (CheckoutStatus::Canceled, 0)
        );
        let failure = stored(conn, "spankpay", "evt_paid");
        assert_eq!(failure.event_type, EventType::PaymentFailed);
        assert_eq!(failure.details.0["flags"], json!(["refused_after_close"]));
    }

    #[test]
    fn an_event_no_checkout_is_found_for_is_kept_and_flagged() {
        let test = TestState::new();
        let conn = &mut test.conn();
        let handling = Handling {
            disabled: true,
            ..Handling::default()
        };
        let event = provider_event(PaymentSucceeded, "evt_stray", "pay_unknown", Some(500));
        let recording = webhook_recording("sknpay", handling);
        let recorded = record(conn, &recording, &event, None).unwrap();

        assert!(recorded.stored && recorded.checkout.is_none());
        let orphan = stored(conn, "sknpay", "evt_stray");
        assert_eq!(orphan.checkout_id, None);
        assert_eq!(
            orphan.details.0["flags"],
            json!(["disabled_provider", "no_checkout"])
        );
    }

    #[test]
    fn a_payment_under_another_id_does_not_pay_a_checkout_found_by_reference() {
        let test = TestState::new();
        let conn = &mut test.conn();
        let reference = Some("order-7".to_owned());
        let checkout = insert_checkout(
            conn,
            "sknpay",
            &Order {
                reference: reference.clone(),
                ..order(1_000)
            },
        );
        let linked = |conn: &mut DbConnection, provider: &str, event: &NormalizedEvent| {
            link_checkout(conn, MERCHANT, provider, event, None)
                .unwrap()
                .map(|found| found.id)
        };
        let elsewhere = NormalizedEvent {
            reference,
            ..provider_event(PaymentSucceeded, "evt_1", "pay_elsewhere", Some(1_000))
        };
        assert_eq!(linked(conn, "sknpay", &elsewhere), None);
        let pending = NormalizedEvent {
            event_type: PaymentPending,
            ..elsewhere
        };
        assert_eq!(
            linked(conn, "sknpay", &pending),
            Some(checkout.id),
            "moves no money"
        );

        let payment_id = checkout.provider_checkout_id.as_deref().unwrap();
        let ours = provider_event(PaymentSucceeded, "evt_2", payment_id, Some(1_000));
        assert_eq!(linked(conn, "sknpay", &ours), Some(checkout.id));
        assert_eq!(
            linked(conn, "kwik", &ours),
            None,
            "another provider's payment"
        );
    }
}
