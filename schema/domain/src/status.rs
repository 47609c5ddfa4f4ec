//! The checkout status machine, as a pure function.
//!
//! `open → pending → succeeded → partially_refunded → refunded`; `open|pending → failed` (a
//! failed attempt: a later success still wins); `open|pending|failed → canceled | expired`.
//! A payment that leaves the checkout short of its amount makes it `partially_paid`; the rest
//! arriving makes it `succeeded`. Nothing moves backwards: a late `pending` or `failed` after a
//! payment is stored as an event but leaves the status alone, and a checkout that received
//! money is never canceled or expired. The one exception is money: a payment after `canceled`
//! or `expired` is applied, because the payer was charged, and flagged for reconciliation.

use serde::Serialize;

use crate::event::EventType;

crate::text_enum! {
    pub enum CheckoutStatus("checkout status") {
        Open => "open",
        Pending => "pending",
        Failed => "failed",
        PartiallyPaid => "partially_paid",
        Succeeded => "succeeded",
        PartiallyRefunded => "partially_refunded",
        Refunded => "refunded",
        Canceled => "canceled",
        Expired => "expired",
    }
}

impl CheckoutStatus {
    /// True once money has been collected, in part or in full (whatever was refunded since).
    pub const fn is_paid(self) -> bool {
        matches!(
            self,
            CheckoutStatus::PartiallyPaid
                | CheckoutStatus::Succeeded
                | CheckoutStatus::PartiallyRefunded
                | CheckoutStatus::Refunded
        )
    }

    /// True while the payer can still pay: nothing received yet, or only part of the amount.
    pub const fn accepts_payment(self) -> bool {
        self.awaits_payment() || matches!(self, CheckoutStatus::PartiallyPaid)
    }

    /// True while nothing has been received: open, pending, or after a failed attempt. Only
    /// such a checkout can be canceled or expired: once money moved, it must be refunded.
    pub const fn awaits_payment(self) -> bool {
        matches!(
            self,
            CheckoutStatus::Open | CheckoutStatus::Pending | CheckoutStatus::Failed
        )
    }
}

crate::text_enum! {
    /// Where a refund paymux asked a provider for stands.
    pub enum RefundStatus("refund status") {
        Pending => "pending",
        Succeeded => "succeeded",
        Failed => "failed",
    }
}

crate::text_enum! {
    /// What became of a webhook request.
    pub enum ReceiptOutcome("receipt outcome") {
        /// Verified and its events stored.
        Accepted => "accepted",
        /// Verified, but every event in it was already stored.
        Duplicate => "duplicate",
        /// Refused (bad signature, stale, malformed, …); `reason` says why.
        Rejected => "rejected",
        /// Verified, but the provider's own API did not confirm a success it reported; that
        /// success was not recorded. `reason` says what the API said.
        Unconfirmed => "unconfirmed",
    }
}

crate::text_enum! {
    /// Whether a merchant's webhook endpoint is sent events.
    pub enum EndpointStatus("endpoint status") {
        Enabled => "enabled",
        /// By the merchant, by a 410 Gone, or after five days of failed deliveries.
        Disabled => "disabled",
    }
}

crate::text_enum! {
    /// Where one event's delivery to one endpoint stands.
    pub enum MessageStatus("message status") {
        /// Due at `next_attempt_at`.
        Pending => "pending",
        /// The endpoint answered 2xx.
        Delivered => "delivered",
        /// Every attempt of the schedule failed, or the endpoint was disabled.
        Failed => "failed",
    }
}

/// What happened to a checkout, as far as its status is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusInput {
    /// A provider event that moves no money: pending, failed, canceled, expired.
    Event(EventType),
    /// A payment was received; `fully_paid` says whether the payments received now cover the
    /// whole amount.
    Payment { fully_paid: bool },
    /// A refund was posted; `fully_refunded` says whether refunds now cover what was received.
    Refund { fully_refunded: bool },
}

impl StatusInput {
    /// The input for a stored event that brings no money in; `fully_refunded` only matters
    /// for `payment.refunded`. A success is a payment, counted as such:
    /// `Checkout::record_payment` in the store.
    pub fn from_event(event_type: EventType, fully_refunded: bool) -> StatusInput {
        match event_type {
            EventType::PaymentRefunded => StatusInput::Refund { fully_refunded },
            other => StatusInput::Event(other),
        }
    }

    /// The input for a status a provider reports when asked (retrieve, cancel). Refund states
    /// give none (refunds are recorded from paymux's own refund calls), and neither do
    /// payments, which are counted as such ([`crate::payments`]).
    pub fn reported(status: CheckoutStatus) -> Option<StatusInput> {
        let event_type = match status {
            CheckoutStatus::Open
            | CheckoutStatus::PartiallyPaid
            | CheckoutStatus::Succeeded
            | CheckoutStatus::PartiallyRefunded
            | CheckoutStatus::Refunded => return None,
            CheckoutStatus::Pending => EventType::PaymentPending,
            CheckoutStatus::Failed => EventType::PaymentFailed,
            CheckoutStatus::Canceled => EventType::PaymentCanceled,
            CheckoutStatus::Expired => EventType::PaymentExpired,
        };
        Some(StatusInput::Event(event_type))
    }
}

/// Why a transition deserves a finance review although it was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionFlag {
    /// Money arrived for a checkout that had been canceled or had expired.
    SuccessAfterCancel,
}

/// The result of applying one input to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub status: CheckoutStatus,
    pub flag: Option<TransitionFlag>,
}

impl Transition {
    const fn to(status: CheckoutStatus) -> Transition {
        Transition { status, flag: None }
    }
}

/// The status a checkout in `current` has after `input`. Inputs that would move it backwards,
/// or that do not concern its current state, leave it where it is.
pub fn next_status(current: CheckoutStatus, input: StatusInput) -> Transition {
    use CheckoutStatus as S;
    use EventType as E;
    let paid = |fully_paid| {
        if fully_paid {
            S::Succeeded
        } else {
            S::PartiallyPaid
        }
    };
    match (current, input) {
        (S::Open, StatusInput::Event(E::PaymentPending)) => Transition::to(S::Pending),
        (S::Open | S::Pending, StatusInput::Event(E::PaymentFailed)) => Transition::to(S::Failed),
        (S::Open | S::Pending | S::Failed, StatusInput::Payment { fully_paid }) => {
            Transition::to(paid(fully_paid))
        }
        (S::PartiallyPaid, StatusInput::Payment { fully_paid: true }) => {
            Transition::to(S::Succeeded)
        }
        (S::Canceled | S::Expired, StatusInput::Payment { fully_paid }) => Transition {
            status: paid(fully_paid),
            flag: Some(TransitionFlag::SuccessAfterCancel),
        },
        (S::Open | S::Pending | S::Failed, StatusInput::Event(E::PaymentCanceled)) => {
            Transition::to(S::Canceled)
        }
        (S::Open | S::Pending | S::Failed, StatusInput::Event(E::PaymentExpired)) => {
            Transition::to(S::Expired)
        }
        (
            S::PartiallyPaid | S::Succeeded | S::PartiallyRefunded,
            StatusInput::Refund { fully_refunded },
        ) => Transition::to(if fully_refunded {
            S::Refunded
        } else {
            S::PartiallyRefunded
        }),
        (unchanged, _) => Transition::to(unchanged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckoutStatus as S;
    use proptest::prelude::*;

    /// Every status change DESIGN.md allows, and nothing else.
    const ALLOWED: &[(CheckoutStatus, CheckoutStatus)] = &[
        (S::Open, S::Pending),
        (S::Open, S::Failed),
        (S::Pending, S::Failed),
        (S::Open, S::Succeeded),
        (S::Pending, S::Succeeded),
        (S::Failed, S::Succeeded),
        (S::Open, S::PartiallyPaid),
        (S::Pending, S::PartiallyPaid),
        (S::Failed, S::PartiallyPaid),
        (S::PartiallyPaid, S::Succeeded),
        (S::PartiallyPaid, S::PartiallyRefunded),
        (S::PartiallyPaid, S::Refunded),
        (S::Open, S::Canceled),
        (S::Pending, S::Canceled),
        (S::Failed, S::Canceled),
        (S::Open, S::Expired),
        (S::Pending, S::Expired),
        (S::Failed, S::Expired),
        (S::Succeeded, S::PartiallyRefunded),
        (S::Succeeded, S::Refunded),
        (S::PartiallyRefunded, S::Refunded),
        // Money moved after the link closed: applied, and flagged.
        (S::Canceled, S::Succeeded),
        (S::Expired, S::Succeeded),
        (S::Canceled, S::PartiallyPaid),
        (S::Expired, S::PartiallyPaid),
    ];

    fn any_input() -> impl Strategy<Value = StatusInput> {
        prop_oneof![
            prop::sample::select(EventType::ALL.to_vec()).prop_map(StatusInput::Event),
            any::<bool>().prop_map(|fully_paid| StatusInput::Payment { fully_paid }),
            any::<bool>().prop_map(|fully_refunded| StatusInput::Refund { fully_refunded }),
        ]
    }

    proptest! {
        #[test]
        fn no_sequence_of_events_moves_a_checkout_backwards(
            inputs in prop::collection::vec(any_input(), 0..40)
        ) {
            let mut status = S::Open;
            let mut left_behind = vec![];
            for input in inputs {
                let transition = next_status(status, input);
                if transition.status != status {
                    prop_assert!(
                        ALLOWED.contains(&(status, transition.status)),
                        "{status} -> {} on {input:?} is not an allowed transition",
                        transition.status
                    );
                    left_behind.push(status);
                    // The only way back to a status already left is none at all: the graph
                    // of allowed moves has no cycle, so a status once left stays left.
                    prop_assert!(!left_behind.contains(&transition.status));
                }
                let flagged = transition.flag.is_some();
                let after_close = matches!(status, S::Canceled | S::Expired)
                    && transition.status.is_paid();
                prop_assert_eq!(flagged, after_close);
                status = transition.status;
            }
        }

        #[test]
        fn once_paid_a_checkout_stays_paid(
            start in prop::sample::select(vec![S::PartiallyPaid, S::Succeeded]),
            inputs in prop::collection::vec(any_input(), 0..40)
        ) {
            let mut status = start;
            for input in inputs {
                status = next_status(status, input).status;
                prop_assert!(status.is_paid(), "left the paid states: {status}");
                prop_assert!(!status.awaits_payment());
            }
        }
    }

    #[test]
    fn the_happy_path_and_refunds() {
        let mut status = S::Open;
        for (input, expected) in [
            (StatusInput::Event(EventType::PaymentPending), S::Pending),
            (StatusInput::Payment { fully_paid: true }, S::Succeeded),
            (
                StatusInput::Refund {
                    fully_refunded: false,
                },
                S::PartiallyRefunded,
            ),
            (
                StatusInput::Refund {
                    fully_refunded: false,
                },
                S::PartiallyRefunded,
            ),
            (
                StatusInput::Refund {
                    fully_refunded: true,
                },
                S::Refunded,
            ),
        ] {
            status = next_status(status, input).status;
            assert_eq!(status, expected);
        }
    }

    #[test]
    fn a_failed_attempt_keeps_the_link_open_for_a_later_success() {
        let failed = next_status(S::Open, StatusInput::Event(EventType::PaymentFailed));
        assert_eq!(failed.status, S::Failed);
        assert!(failed.status.accepts_payment());
        let paid = next_status(failed.status, StatusInput::Payment { fully_paid: true });
        assert_eq!(paid, Transition::to(S::Succeeded));
    }

    #[test]
    fn a_short_payment_is_partial_until_the_rest_arrives() {
        let short = StatusInput::Payment { fully_paid: false };
        let partial = next_status(S::Open, short).status;
        assert_eq!(partial, S::PartiallyPaid);
        assert!(partial.accepts_payment() && !partial.awaits_payment() && partial.is_paid());
        assert_eq!(next_status(partial, short).status, S::PartiallyPaid);
        // Money moved: no later event closes it.
        for late in [
            EventType::PaymentFailed,
            EventType::PaymentCanceled,
            EventType::PaymentExpired,
            EventType::PaymentPending,
        ] {
            assert_eq!(
                next_status(partial, StatusInput::Event(late)).status,
                partial
            );
        }
        let rest = StatusInput::Payment { fully_paid: true };
        assert_eq!(next_status(partial, rest).status, S::Succeeded);
        // What was received can be refunded, in part or in full.
        let refund = |fully_refunded| StatusInput::Refund { fully_refunded };
        assert_eq!(
            next_status(partial, refund(false)).status,
            S::PartiallyRefunded
        );
        assert_eq!(next_status(partial, refund(true)).status, S::Refunded);
    }

    #[test]
    fn late_events_after_success_are_ignored_by_the_status() {
        for late in [
            EventType::PaymentPending,
            EventType::PaymentFailed,
            EventType::PaymentCanceled,
            EventType::PaymentExpired,
        ] {
            assert_eq!(
                next_status(S::Succeeded, StatusInput::Event(late)).status,
                S::Succeeded
            );
        }
    }

    #[test]
    fn success_after_cancel_or_expiry_is_applied_and_flagged() {
        for closed in [S::Canceled, S::Expired] {
            for (fully_paid, status) in [(true, S::Succeeded), (false, S::PartiallyPaid)] {
                let transition = next_status(closed, StatusInput::Payment { fully_paid });
                assert_eq!(transition.status, status);
                assert_eq!(transition.flag, Some(TransitionFlag::SuccessAfterCancel));
            }
        }
    }

    #[test]
    fn a_refund_before_payment_changes_nothing() {
        let refund = StatusInput::Refund {
            fully_refunded: true,
        };
        assert_eq!(next_status(S::Open, refund).status, S::Open);
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for &status in CheckoutStatus::ALL {
            assert_eq!(status.as_str().parse::<CheckoutStatus>(), Ok(status));
        }
        assert!("paid".parse::<CheckoutStatus>().is_err());
    }
}
