//! The reconciliation report: money per provider and currency over a period, and every
//! discrepancy finance must look at, read from the normalized store page by page.
//!
//! What counts where (docs/reconciliation.md says the same for finance):
//! - payments and their fees count in the period their event was *received* in (stable once a
//!   period is closed, and the same clock as the event export); a checkout is paid once however
//!   many success events report that payment (webhook redeliveries, a later `?refresh=true`
//!   lookup); a second payment with another provider payment id counts, and is a discrepancy;
//! - refunds count in the period they were created in, from paymux's own refund records;
//! - the failed, canceled, expired and open counts are the current statuses of the checkouts
//!   created in the period.
//!
//! Memory stays bounded by the page size, the discrepancies found, and the set of checkouts
//! refunded in the period; every sum is checked, so an overflow is an error, never a wrap.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Serialize, Serializer};

use super::DbConnection;
use super::receipt::ReceiptOutcome;
use super::refund::RefundStatus;
use super::schema::{checkouts, events, refunds, webhook_receipts};
use crate::{CheckoutStatus, EventType};

/// Rows read per query.
const PAGE_SIZE: i64 = 5_000;

crate::text_enum! {
    /// Something finance must look at.
    pub enum DiscrepancyKind("discrepancy kind") {
        /// A payment of another amount or currency than its checkout's.
        AmountMismatch => "amount_mismatch",
        /// An event no checkout could be found for.
        OrphanEvent => "orphan_event",
        /// A payment after its checkout was canceled or had expired.
        SuccessAfterCancel => "success_after_cancel",
        /// A checkout past its expiry time with no final event.
        StaleOpen => "stale_open",
        /// Refunds beyond what the checkout was paid.
        OverRefund => "over_refund",
        /// A second payment: on the same checkout, or on another of the merchant's checkouts
        /// with the same reference.
        DuplicatePayment => "duplicate_payment",
        /// A webhook refused: a forgery, or a misconfigured secret.
        RejectedWebhook => "rejected_webhook",
        /// An event of a provider that was disabled for the merchant when it arrived.
        DisabledProviderEvent => "disabled_provider_event",
        /// A success the provider's own API did not confirm (it was not recorded).
        Unconfirmed => "unconfirmed",
    }
}

/// What a report covers: `[from, to)`, one merchant or all of them, one currency or all.
#[derive(Debug, Clone)]
pub struct Scope {
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    pub merchant: Option<String>,
    pub currency: Option<String>,
    /// The time `stale_open` compares expiry times with.
    pub now: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    #[serde(serialize_with = "rfc3339")]
    pub from: NaiveDateTime,
    #[serde(serialize_with = "rfc3339")]
    pub to: NaiveDateTime,
    pub totals: Vec<ProviderTotals>,
    pub currency_totals: Vec<CurrencyTotals>,
    pub discrepancies: Vec<Discrepancy>,
}

/// Money in minor units of `currency`; counts of payments and of checkouts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProviderTotals {
    pub provider: String,
    pub currency: String,
    pub succeeded_count: i64,
    pub gross: i64,
    pub refunded: i64,
    pub fees: i64,
    pub net: i64,
    pub failed_count: i64,
    pub canceled_count: i64,
    pub expired_count: i64,
    pub open_count: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CurrencyTotals {
    pub currency: String,
    pub gross: i64,
    pub refunded: i64,
    pub fees: i64,
    pub net: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    pub kind: DiscrepancyKind,
    pub checkout_id: Option<String>,
    pub event_id: Option<String>,
    pub receipt_id: Option<String>,
    pub message: String,
    /// The currency concerned, when there is one: what `Scope::currency` filters on.
    #[serde(skip)]
    pub currency: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error("the {0} do not fit in a 64-bit integer of minor units")]
    Overflow(&'static str),
}

fn rfc3339<S: Serializer>(time: &NaiveDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&DateTime::<Utc>::from_naive_utc_and_offset(*time, Utc).to_rfc3339())
}

/// Adds in place, refusing to wrap.
fn add(total: &mut i64, amount: i64, what: &'static str) -> Result<(), ReconcileError> {
    *total = total
        .checked_add(amount)
        .ok_or(ReconcileError::Overflow(what))?;
    Ok(())
}

/// An event, with what the report reads of it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = events)]
struct EventRow {
    id: String,
    event_type: String,
    provider: String,
    checkout_id: Option<String>,
    provider_payment_id: Option<String>,
    amount: Option<i64>,
    currency: Option<String>,
    fee: Option<i64>,
    details: String,
    receipt_id: Option<String>,
}

impl EventRow {
    fn is_success(&self) -> bool {
        self.event_type == EventType::PaymentSucceeded.as_str()
    }

    /// The payment this success is about, as far as the event tells: a provider payment id
    /// from a webhook, or `None` when unknown (a lookup records the checkout as paid, not
    /// which payment paid it).
    fn payment_key(&self) -> Option<&str> {
        self.receipt_id
            .as_ref()
            .and(self.provider_payment_id.as_deref())
    }

    /// The `flags` ingestion put in the details.
    fn flags(&self) -> Vec<String> {
        if !self.details.contains("\"flags\"") {
            return vec![];
        }
        serde_json::from_str::<serde_json::Value>(&self.details)
            .ok()
            .and_then(|details| details.get("flags").cloned())
            .and_then(|flags| serde_json::from_value(flags).ok())
            .unwrap_or_default()
    }
}

/// The checkout an event belongs to, with what the report compares the event with.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = checkouts)]
struct CheckoutRef {
    id: String,
    amount: i64,
    currency: String,
    reference: Option<String>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = checkouts)]
struct CheckoutState {
    id: String,
    provider: String,
    currency: String,
    status: String,
    expires_at: Option<NaiveDateTime>,
}

/// The distinct payments of one checkout, learnt from its success events in id order.
#[derive(Debug, Default)]
struct Payments {
    /// One entry a payment: its provider payment id, `None` while unknown.
    keys: Vec<Option<String>>,
}

impl Payments {
    /// Records a success; true when it is a payment not seen before. A success without a
    /// payment id is the payment already seen, if any; one with a payment id names a new payment
    /// only when no payment has that id and none is still without an id.
    fn record(&mut self, key: Option<&str>) -> bool {
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

/// A checkout first paid in the period, for the duplicate check across checkouts.
struct FirstPayment {
    checkout_id: String,
    reference: String,
    event_id: String,
    currency: String,
}

#[derive(Default)]
struct Ledger {
    figures: BTreeMap<(String, String), ProviderTotals>,
    discrepancies: Vec<Discrepancy>,
}

impl Ledger {
    fn figures(&mut self, provider: &str, currency: &str) -> &mut ProviderTotals {
        self.figures
            .entry((provider.to_owned(), currency.to_owned()))
            .or_insert_with(|| ProviderTotals {
                provider: provider.to_owned(),
                currency: currency.to_owned(),
                ..ProviderTotals::default()
            })
    }

    fn report(
        &mut self,
        kind: DiscrepancyKind,
        checkout_id: Option<&str>,
        event_id: Option<&str>,
        currency: Option<&str>,
        message: String,
    ) {
        self.discrepancies.push(Discrepancy {
            kind,
            checkout_id: checkout_id.map(str::to_owned),
            event_id: event_id.map(str::to_owned),
            receipt_id: None,
            message,
            currency: currency.map(str::to_owned),
        });
    }

    /// Counts a payment: one more success, its amount in gross and its fee in fees.
    fn count_payment(
        &mut self,
        provider: &str,
        currency: &str,
        amount: i64,
        fee: i64,
    ) -> Result<(), ReconcileError> {
        let figures = self.figures(provider, currency);
        add(&mut figures.succeeded_count, 1, "payment counts")?;
        add(&mut figures.gross, amount, "gross amounts")?;
        add(&mut figures.fees, fee, "fees")
    }

    /// The discrepancies an event's flags stand for.
    fn check_flags(&mut self, event: &EventRow, currency: Option<&str>) {
        for flag in event.flags() {
            let (kind, message) = match flag.as_str() {
                "success_after_cancel" => (
                    DiscrepancyKind::SuccessAfterCancel,
                    "a payment succeeded after the checkout was canceled or had expired",
                ),
                "refused_after_close" => (
                    DiscrepancyKind::SuccessAfterCancel,
                    "a payment arrived after the checkout was canceled or had expired; paymux \
                     refused it and the provider returns it to the payer",
                ),
                "disabled_provider" => (
                    DiscrepancyKind::DisabledProviderEvent,
                    "the provider was disabled for the merchant when this event arrived",
                ),
                _ => continue,
            };
            self.report(
                kind,
                event.checkout_id.as_deref(),
                Some(&event.id),
                currency,
                format!("{}: {message}", event.event_type),
            );
        }
    }
}

/// Builds the report for `scope`.
pub fn reconcile(conn: &mut DbConnection, scope: &Scope) -> Result<Report, ReconcileError> {
    let merchants = match &scope.merchant {
        Some(merchant) => vec![merchant.clone()],
        None => merchants(conn)?,
    };
    let mut ledger = Ledger::default();
    for merchant in &merchants {
        linked_events(conn, scope, merchant, &mut ledger)?;
        orphan_events(conn, scope, merchant, &mut ledger)?;
        checkouts_created(conn, scope, merchant, &mut ledger)?;
        refunds_created(conn, scope, merchant, &mut ledger)?;
        receipts(conn, scope, merchant, &mut ledger)?;
    }
    finish(scope, ledger)
}

/// Every merchant with checkouts or webhooks in the store.
fn merchants(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    let mut merchants: Vec<String> = checkouts::table
        .select(checkouts::merchant)
        .distinct()
        .load(conn)?;
    merchants.extend(
        webhook_receipts::table
            .select(webhook_receipts::merchant)
            .distinct()
            .load::<String>(conn)?,
    );
    merchants.sort();
    merchants.dedup();
    Ok(merchants)
}

/// Payments, fees and flagged events of the merchant's checkouts, read in checkout order so that
/// each checkout's events are seen together.
fn linked_events(
    conn: &mut DbConnection,
    scope: &Scope,
    merchant: &str,
    ledger: &mut Ledger,
) -> Result<(), ReconcileError> {
    let mut after: Option<(String, String)> = None;
    // The checkout whose events the previous page ended with, which this page may go on with;
    // its payments once its earlier successes have been read.
    let mut current: Option<(String, Option<Payments>)> = None;
    loop {
        let mut query = events::table
            .inner_join(checkouts::table)
            .filter(events::merchant.eq(merchant))
            .filter(events::received_at.ge(scope.from))
            .filter(events::received_at.lt(scope.to))
            .select((EventRow::as_select(), CheckoutRef::as_select()))
            .into_boxed();
        if let Some((checkout_id, event_id)) = &after {
            query = query.filter(events::checkout_id.ge(checkout_id)).filter(
                events::checkout_id
                    .gt(checkout_id)
                    .or(events::id.gt(event_id)),
            );
        }
        let rows: Vec<(EventRow, CheckoutRef)> = query
            .order((events::checkout_id.asc(), events::id.asc()))
            .limit(PAGE_SIZE)
            .load(conn)?;
        let Some((last, checkout)) = rows.last() else {
            return Ok(());
        };
        after = Some((checkout.id.clone(), last.id.clone()));
        let full_page = rows.len() as i64 == PAGE_SIZE;

        // Successes before the period, for the checkouts paid on this page.
        let known = match &current {
            Some((id, Some(_))) => Some(id.clone()),
            _ => None,
        };
        let mut paid_ids: Vec<&str> = rows
            .iter()
            .filter(|(event, checkout)| {
                event.is_success() && known.as_deref() != Some(checkout.id.as_str())
            })
            .map(|(_, checkout)| checkout.id.as_str())
            .collect();
        paid_ids.dedup();
        let mut earlier = successes(conn, &paid_ids, scope.from)?;
        let mut first_payments = vec![];
        for (event, checkout) in &rows {
            if current.as_ref().is_none_or(|(id, _)| *id != checkout.id) {
                current = Some((checkout.id.clone(), None));
            }
            let currency = event.currency.as_deref().unwrap_or(&checkout.currency);
            ledger.check_flags(event, Some(currency));
            if !event.is_success() {
                continue;
            }
            let Some((_, payments)) = current.as_mut() else {
                continue;
            };
            let payments = payments.get_or_insert_with(|| {
                let mut payments = Payments::default();
                for prior in earlier.remove(&checkout.id).unwrap_or_default() {
                    payments.record(prior.payment_key());
                }
                payments
            });
            let first = payments.keys.is_empty();
            if !payments.record(event.payment_key()) {
                continue;
            }
            let amount = event.amount.unwrap_or(checkout.amount);
            ledger.count_payment(&event.provider, currency, amount, event.fee.unwrap_or(0))?;
            if !first {
                ledger.report(
                    DiscrepancyKind::DuplicatePayment,
                    Some(&checkout.id),
                    Some(&event.id),
                    Some(currency),
                    format!(
                        "a second payment ({}) on a checkout already paid",
                        event
                            .provider_payment_id
                            .as_deref()
                            .unwrap_or("no payment id")
                    ),
                );
                continue;
            }
            if amount != checkout.amount || currency != checkout.currency {
                ledger.report(
                    DiscrepancyKind::AmountMismatch,
                    Some(&checkout.id),
                    Some(&event.id),
                    Some(currency),
                    format!(
                        "paid {amount} {currency} (minor units) for a checkout of {} {}",
                        checkout.amount, checkout.currency
                    ),
                );
            }
            if let Some(reference) = &checkout.reference {
                first_payments.push(FirstPayment {
                    checkout_id: checkout.id.clone(),
                    reference: reference.clone(),
                    event_id: event.id.clone(),
                    currency: currency.to_owned(),
                });
            }
        }
        duplicate_references(conn, scope, merchant, &first_payments, ledger)?;
        if !full_page {
            return Ok(());
        }
    }
}

/// Success events of the given checkouts received before `before`, oldest first, by checkout.
fn successes(
    conn: &mut DbConnection,
    checkout_ids: &[&str],
    before: NaiveDateTime,
) -> QueryResult<HashMap<String, Vec<EventRow>>> {
    let mut found: HashMap<String, Vec<EventRow>> = HashMap::new();
    if checkout_ids.is_empty() {
        return Ok(found);
    }
    let rows: Vec<EventRow> = events::table
        .filter(events::checkout_id.eq_any(checkout_ids))
        .filter(events::event_type.eq(EventType::PaymentSucceeded.as_str()))
        .filter(events::received_at.lt(before))
        .select(EventRow::as_select())
        .order(events::id.asc())
        .load(conn)?;
    for event in rows {
        if let Some(checkout_id) = event.checkout_id.clone() {
            found.entry(checkout_id).or_default().push(event);
        }
    }
    Ok(found)
}

/// Reports a checkout first paid in the period when another checkout of the merchant with the
/// same reference was paid before it.
fn duplicate_references(
    conn: &mut DbConnection,
    scope: &Scope,
    merchant: &str,
    first_payments: &[FirstPayment],
    ledger: &mut Ledger,
) -> Result<(), ReconcileError> {
    if first_payments.is_empty() {
        return Ok(());
    }
    let mut references: Vec<&str> = first_payments
        .iter()
        .map(|paid| paid.reference.as_str())
        .collect();
    references.sort_unstable();
    references.dedup();
    let rows: Vec<(String, Option<String>, String)> = checkouts::table
        .inner_join(events::table)
        .filter(checkouts::merchant.eq(merchant))
        .filter(checkouts::reference.eq_any(references))
        .filter(events::event_type.eq(EventType::PaymentSucceeded.as_str()))
        .filter(events::received_at.lt(scope.to))
        .select((checkouts::id, checkouts::reference, events::id))
        .load(conn)?;
    // Per reference, each paid checkout with its first success event.
    let mut paid: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for (checkout_id, reference, event_id) in rows {
        let Some(reference) = reference else { continue };
        let first = paid.entry(reference).or_default().entry(checkout_id);
        let first = first.or_insert_with(|| event_id.clone());
        if event_id < *first {
            *first = event_id;
        }
    }
    for payment in first_payments {
        let earlier = paid.get(&payment.reference).and_then(|checkouts| {
            checkouts
                .iter()
                .filter(|(id, first)| **id != payment.checkout_id && **first < payment.event_id)
                .min_by(|a, b| a.1.cmp(b.1))
        });
        if let Some((earlier, _)) = earlier {
            ledger.report(
                DiscrepancyKind::DuplicatePayment,
                Some(&payment.checkout_id),
                Some(&payment.event_id),
                Some(&payment.currency),
                format!(
                    "reference `{}` was already paid through checkout {earlier}",
                    payment.reference
                ),
            );
        }
    }
    Ok(())
}

/// Events no checkout was found for: each is a discrepancy, and a payment among them still
/// counts, since the money moved.
fn orphan_events(
    conn: &mut DbConnection,
    scope: &Scope,
    merchant: &str,
    ledger: &mut Ledger,
) -> Result<(), ReconcileError> {
    let mut after: Option<String> = None;
    loop {
        let mut query = events::table
            .filter(events::merchant.eq(merchant))
            .filter(events::checkout_id.is_null())
            .filter(events::received_at.ge(scope.from))
            .filter(events::received_at.lt(scope.to))
            .select(EventRow::as_select())
            .into_boxed();
        if let Some(after) = &after {
            query = query.filter(events::id.gt(after));
        }
        let rows: Vec<EventRow> = query.order(events::id.asc()).limit(PAGE_SIZE).load(conn)?;
        for event in &rows {
            let currency = event.currency.as_deref();
            ledger.check_flags(event, currency);
            // A provider may report a session abandoned before any checkout existed for it.
            if event.event_type == EventType::CheckoutAbandoned.as_str() {
                continue;
            }
            ledger.report(
                DiscrepancyKind::OrphanEvent,
                None,
                Some(&event.id),
                currency,
                format!("{} matches no checkout of this merchant", event.event_type),
            );
            if let (true, Some(currency), Some(amount)) =
                (event.is_success(), currency, event.amount)
            {
                ledger.count_payment(&event.provider, currency, amount, event.fee.unwrap_or(0))?;
            }
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == PAGE_SIZE => after = Some(last.id.clone()),
            _ => return Ok(()),
        }
    }
}

/// Status counts of the checkouts created in the period, and those left open past expiry.
fn checkouts_created(
    conn: &mut DbConnection,
    scope: &Scope,
    merchant: &str,
    ledger: &mut Ledger,
) -> Result<(), ReconcileError> {
    let mut after: Option<String> = None;
    loop {
        let mut query = checkouts::table
            .filter(checkouts::merchant.eq(merchant))
            .filter(checkouts::created_at.ge(scope.from))
            .filter(checkouts::created_at.lt(scope.to))
            .select(CheckoutState::as_select())
            .into_boxed();
        if let Some(after) = &after {
            query = query.filter(checkouts::id.gt(after));
        }
        let rows: Vec<CheckoutState> = query
            .order(checkouts::id.asc())
            .limit(PAGE_SIZE)
            .load(conn)?;
        for checkout in &rows {
            let Ok(status) = checkout.status.parse::<CheckoutStatus>() else {
                continue;
            };
            let figures = ledger.figures(&checkout.provider, &checkout.currency);
            let count = match status {
                CheckoutStatus::Failed => &mut figures.failed_count,
                CheckoutStatus::Canceled => &mut figures.canceled_count,
                CheckoutStatus::Expired => &mut figures.expired_count,
                CheckoutStatus::Open | CheckoutStatus::Pending => &mut figures.open_count,
                _ => continue,
            };
            add(count, 1, "checkout counts")?;
            if let Some(expires_at) = checkout.expires_at
                && status.accepts_payment()
                && expires_at <= scope.now
            {
                ledger.report(
                    DiscrepancyKind::StaleOpen,
                    Some(&checkout.id),
                    None,
                    Some(&checkout.currency),
                    format!(
                        "still {status} after it expired at {}",
                        DateTime::<Utc>::from_naive_utc_and_offset(expires_at, Utc).to_rfc3339()
                    ),
                );
            }
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == PAGE_SIZE => after = Some(last.id.clone()),
            _ => return Ok(()),
        }
    }
}

/// Refunds created in the period, and checkouts refunded beyond what they were paid.
fn refunds_created(
    conn: &mut DbConnection,
    scope: &Scope,
    merchant: &str,
    ledger: &mut Ledger,
) -> Result<(), ReconcileError> {
    let succeeded = RefundStatus::Succeeded.as_str();
    let mut checked: HashSet<String> = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = refunds::table
            .filter(refunds::merchant.eq(merchant))
            .filter(refunds::status.eq(succeeded))
            .filter(refunds::created_at.ge(scope.from))
            .filter(refunds::created_at.lt(scope.to))
            .select((
                refunds::id,
                refunds::checkout_id,
                refunds::provider,
                refunds::currency,
                refunds::amount,
            ))
            .into_boxed();
        if let Some(after) = &after {
            query = query.filter(refunds::id.gt(after));
        }
        let rows: Vec<(String, String, String, String, i64)> =
            query.order(refunds::id.asc()).limit(PAGE_SIZE).load(conn)?;
        let mut unchecked: Vec<&str> = vec![];
        for (_, checkout_id, provider, currency, amount) in &rows {
            add(
                &mut ledger.figures(provider, currency).refunded,
                *amount,
                "refunded amounts",
            )?;
            if checked.insert(checkout_id.clone()) {
                unchecked.push(checkout_id);
            }
        }
        over_refunds(conn, scope, &unchecked, ledger)?;
        match rows.last() {
            Some(last) if rows.len() as i64 == PAGE_SIZE => after = Some(last.0.clone()),
            _ => return Ok(()),
        }
    }
}

/// Reports each of the checkouts whose refunds, up to the period's end, exceed what was paid.
fn over_refunds(
    conn: &mut DbConnection,
    scope: &Scope,
    checkout_ids: &[&str],
    ledger: &mut Ledger,
) -> Result<(), ReconcileError> {
    if checkout_ids.is_empty() {
        return Ok(());
    }
    let refunded_rows: Vec<(String, String, i64)> = refunds::table
        .filter(refunds::checkout_id.eq_any(checkout_ids))
        .filter(refunds::status.eq(RefundStatus::Succeeded.as_str()))
        .filter(refunds::created_at.lt(scope.to))
        .select((refunds::checkout_id, refunds::currency, refunds::amount))
        .load(conn)?;
    let mut refunded: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for (checkout_id, currency, amount) in refunded_rows {
        let total = refunded.entry(checkout_id).or_insert((currency, 0));
        add(&mut total.1, amount, "refunded amounts")?;
    }
    let mut paid_events = successes(conn, checkout_ids, scope.to)?;
    for (checkout_id, (currency, refunded)) in refunded {
        let mut payments = Payments::default();
        let mut paid: i64 = 0;
        for event in paid_events.remove(&checkout_id).unwrap_or_default() {
            if payments.record(event.payment_key()) {
                add(&mut paid, event.amount.unwrap_or(0), "paid amounts")?;
            }
        }
        if refunded > paid {
            ledger.report(
                DiscrepancyKind::OverRefund,
                Some(&checkout_id),
                None,
                Some(&currency),
                format!("refunded {refunded} of {paid} paid (minor units of {currency})"),
            );
        }
    }
    Ok(())
}

/// Webhooks refused, and successes the provider did not confirm, received in the period.
fn receipts(
    conn: &mut DbConnection,
    scope: &Scope,
    merchant: &str,
    ledger: &mut Ledger,
) -> Result<(), ReconcileError> {
    let outcomes = [
        ReceiptOutcome::Rejected.as_str(),
        ReceiptOutcome::Unconfirmed.as_str(),
    ];
    let mut after: Option<String> = None;
    loop {
        let mut query = webhook_receipts::table
            .filter(webhook_receipts::merchant.eq(merchant))
            .filter(webhook_receipts::outcome.eq_any(outcomes))
            .filter(webhook_receipts::received_at.ge(scope.from))
            .filter(webhook_receipts::received_at.lt(scope.to))
            .select((
                webhook_receipts::id,
                webhook_receipts::provider,
                webhook_receipts::outcome,
                webhook_receipts::reason,
            ))
            .into_boxed();
        if let Some(after) = &after {
            query = query.filter(webhook_receipts::id.gt(after));
        }
        let rows: Vec<(String, String, String, Option<String>)> = query
            .order(webhook_receipts::id.asc())
            .limit(PAGE_SIZE)
            .load(conn)?;
        for (id, provider, outcome, reason) in &rows {
            let kind = if outcome == ReceiptOutcome::Rejected.as_str() {
                DiscrepancyKind::RejectedWebhook
            } else {
                DiscrepancyKind::Unconfirmed
            };
            ledger.discrepancies.push(Discrepancy {
                kind,
                checkout_id: None,
                event_id: None,
                receipt_id: Some(id.clone()),
                message: format!(
                    "{provider} webhook {outcome}: {}",
                    reason.as_deref().unwrap_or("no reason recorded")
                ),
                currency: None,
            });
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == PAGE_SIZE => after = Some(last.0.clone()),
            _ => return Ok(()),
        }
    }
}

/// Nets, currency totals, the currency filter, and a stable order.
fn finish(scope: &Scope, ledger: Ledger) -> Result<Report, ReconcileError> {
    let wanted = |currency: Option<&str>| match (&scope.currency, currency) {
        (Some(wanted), Some(currency)) => wanted == currency,
        _ => true,
    };
    let mut totals = vec![];
    let mut by_currency: BTreeMap<String, CurrencyTotals> = BTreeMap::new();
    for (_, mut figures) in ledger.figures {
        if !wanted(Some(&figures.currency)) {
            continue;
        }
        figures.net = figures
            .gross
            .checked_sub(figures.refunded)
            .and_then(|net| net.checked_sub(figures.fees))
            .ok_or(ReconcileError::Overflow("net amounts"))?;
        let currency = by_currency
            .entry(figures.currency.clone())
            .or_insert_with(|| CurrencyTotals {
                currency: figures.currency.clone(),
                ..CurrencyTotals::default()
            });
        add(&mut currency.gross, figures.gross, "gross amounts")?;
        add(&mut currency.refunded, figures.refunded, "refunded amounts")?;
        add(&mut currency.fees, figures.fees, "fees")?;
        add(&mut currency.net, figures.net, "net amounts")?;
        totals.push(figures);
    }
    let mut discrepancies: Vec<Discrepancy> = ledger
        .discrepancies
        .into_iter()
        .filter(|found| wanted(found.currency.as_deref()))
        .collect();
    discrepancies.sort_by(|a, b| {
        (a.kind, &a.checkout_id, &a.event_id, &a.receipt_id).cmp(&(
            b.kind,
            &b.checkout_id,
            &b.event_id,
            &b.receipt_id,
        ))
    });
    Ok(Report {
        from: scope.from,
        to: scope.to,
        totals,
        currency_totals: by_currency.into_values().collect(),
        discrepancies,
    })
}

#[cfg(test)]
mod tests {
    use super::Payments;

    #[test]
    fn a_payment_is_counted_once_however_often_it_is_reported() {
        let mut payments = Payments::default();
        assert!(
            payments.record(None),
            "a lookup first: the checkout is paid"
        );
        assert!(
            !payments.record(Some("pay_1")),
            "its webhook: the same payment"
        );
        assert!(!payments.record(Some("pay_1")), "a redelivery");
        assert!(!payments.record(None), "another lookup");
        assert!(
            payments.record(Some("pay_2")),
            "another payment id: a second payment"
        );
    }

    #[test]
    fn a_webhook_first_then_a_lookup_is_one_payment() {
        let mut payments = Payments::default();
        assert!(payments.record(Some("pay_1")));
        assert!(!payments.record(None));
        assert!(payments.record(Some("pay_2")));
        assert!(!payments.record(Some("pay_2")));
    }
}
