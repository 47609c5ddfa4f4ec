//! What a checkout has received: its distinct payments, however many times and by whatever
//! means each was reported. The ingest pipeline adds a checkout's `amount_received` up with
//! this, and the reconciliation report replays it over the stored events, so the two agree.

use crate::money::{Currency, Money};

/// Why a reported success pays its checkout nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCounted {
    /// Beyond [`Money::MAX_MINOR`] (or negative): recorded, never summed.
    OutOfBounds,
    /// In another currency than the checkout's.
    OtherCurrency,
    /// Zero.
    Nothing,
}

impl NotCounted {
    /// What finance is told about it.
    pub const fn describe(self) -> &'static str {
        match self {
            NotCounted::OutOfBounds => "an amount beyond 10^12 minor units, not counted",
            NotCounted::OtherCurrency => "a currency other than the checkout's",
            NotCounted::Nothing => "an amount of zero",
        }
    }
}

/// What a reported success pays a checkout of `due`, in minor units of its currency. A
/// success that names no amount paid the checkout's own (the provider's link was for it).
pub fn payable(reported: Option<Money>, due: Money) -> Result<i64, NotCounted> {
    let Some(reported) = reported else {
        return Ok(due.minor);
    };
    if !Money::within_bounds(reported.minor) {
        Err(NotCounted::OutOfBounds)
    } else if reported.currency != due.currency {
        Err(NotCounted::OtherCurrency)
    } else if reported.minor == 0 {
        Err(NotCounted::Nothing)
    } else {
        Ok(reported.minor)
    }
}

/// [`payable`] over a stored event's columns.
pub fn payable_columns(
    amount: Option<i64>,
    currency: Option<&str>,
    due: Money,
) -> Result<i64, NotCounted> {
    let reported = match (amount, currency) {
        (None, _) => None,
        (Some(minor), Some(code)) => Some(Money::new(
            minor,
            Currency::parse(code).map_err(|_| NotCounted::OtherCurrency)?,
        )),
        // An amount without a currency is in the checkout's.
        (Some(minor), None) => Some(Money::new(minor, due.currency)),
    };
    payable(reported, due)
}

/// The sum of a checkout's payments does not fit in 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the payments received do not fit in 64-bit minor units")]
pub struct Overflow;

/// The distinct payments of one checkout, learnt from its successes in the order they were
/// received, and what they add up to.
///
/// A payment is known by its key: the provider's payment id, as a webhook reports it. A
/// lookup (`?refresh=true`) learns that the checkout was paid, not by which payment: its
/// success has no key and is the payment already seen, if any. A success with a key names a
/// new payment only when no payment has that key and none is still without one.
#[derive(Debug, Default, Clone)]
pub struct Payments {
    keys: Vec<Option<String>>,
    received: i64,
}

impl Payments {
    /// Records a success of `amount`; true when it is a payment not seen before, whose amount
    /// is now part of [`Payments::received`].
    pub fn record(&mut self, key: Option<&str>, amount: i64) -> Result<bool, Overflow> {
        let new = self.is_new(key);
        if new {
            self.received = self.received.checked_add(amount).ok_or(Overflow)?;
        }
        Ok(new)
    }

    /// What the payments seen add up to.
    pub fn received(&self) -> i64 {
        self.received
    }

    /// True before any payment.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn is_new(&mut self, key: Option<&str>) -> bool {
        if self.keys.is_empty() {
            self.keys.push(key.map(str::to_owned));
            return true;
        }
        let Some(key) = key else {
            return false;
        };
        if self.keys.iter().any(|seen| seen.as_deref() == Some(key)) {
            return false;
        }
        if let Some(unknown) = self.keys.iter_mut().find(|seen| seen.is_none()) {
            *unknown = Some(key.to_owned());
            return false;
        }
        self.keys.push(Some(key.to_owned()));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUE: Money = Money::new(6_969, Currency::Usd);

    #[test]
    fn only_a_positive_amount_in_the_checkouts_currency_within_bounds_pays() {
        assert_eq!(payable(None, DUE), Ok(6_969));
        assert_eq!(
            payable(Some(Money::new(5_000, Currency::Usd)), DUE),
            Ok(5_000)
        );
        assert_eq!(
            payable(Some(Money::new(9_000, Currency::Usd)), DUE),
            Ok(9_000)
        );
        assert_eq!(
            payable(Some(Money::new(0, Currency::Usd)), DUE),
            Err(NotCounted::Nothing)
        );
        assert_eq!(
            payable(Some(Money::new(6_969, Currency::Eur)), DUE),
            Err(NotCounted::OtherCurrency)
        );
        for beyond in [Money::MAX_MINOR + 1, i64::MAX, -1] {
            assert_eq!(
                payable(Some(Money::new(beyond, Currency::Usd)), DUE),
                Err(NotCounted::OutOfBounds)
            );
        }
        assert_eq!(
            payable_columns(Some(10), Some("XYZ"), DUE),
            Err(NotCounted::OtherCurrency)
        );
        assert_eq!(payable_columns(Some(10), None, DUE), Ok(10));
    }

    #[test]
    fn a_payment_counts_once_however_often_it_is_reported() {
        let mut payments = Payments::default();
        // A lookup first: the checkout was paid, by a payment not named yet.
        assert_eq!(payments.record(None, 6_969), Ok(true));
        // The webhook names it: the same payment.
        assert_eq!(payments.record(Some("pay_1"), 6_969), Ok(false));
        assert_eq!(payments.record(Some("pay_1"), 6_969), Ok(false));
        assert_eq!(payments.record(None, 6_969), Ok(false));
        assert_eq!(payments.received(), 6_969);
        // Another payment id is another payment.
        assert_eq!(payments.record(Some("pay_2"), 100), Ok(true));
        assert_eq!(payments.received(), 7_069);
    }

    #[test]
    fn partial_payments_add_up() {
        let mut payments = Payments::default();
        assert!(payments.is_empty());
        assert_eq!(payments.record(Some("pay_1"), 5_000), Ok(true));
        assert_eq!(payments.record(Some("pay_2"), 1_969), Ok(true));
        assert_eq!(payments.received(), 6_969);
        assert_eq!(payments.record(Some("pay_3"), i64::MAX), Err(Overflow));
    }
}
