//! The reconciliation report: money per provider and currency over a period, and every
//! discrepancy finance must look at, read from the normalized store page by page.
//!
//! What counts where (docs/reconciliation.md says the same for finance):
//! - payments and their fees count in the period their event was *received* in (stable once a
//!   period is closed, and the same clock as the event export); a payment counts once however
//!   many success events report it (webhook redeliveries, a later `?refresh=true` lookup), by
//!   the rules checkouts add up `amount_received` with ([`paymux_domain::payments`]); payments that
//!   together stay short of the amount are partial, and one on a checkout already paid in full
//!   counts and is a discrepancy; an amount beyond 10^12 minor units is never summed;
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
use utoipa::ToSchema;

use super::DbConnection;
use super::receipt::ReceiptOutcome;
use super::refund::RefundStatus;
use super::schema::{checkouts, events, refunds, webhook_receipts};
use paymux_domain::money::{Currency, Money};
use paymux_domain::payments::{self, NotCounted, Payments};
use paymux_domain::{CheckoutStatus, EventFlag, EventType};

/// Rows read per query: large enough that per-query costs (planning, round trips) vanish,
/// small enough to keep memory flat.
pub const PAGE_SIZE: i64 = 10_000;

/// How far apart the clocks of paymux servers sharing one database may be.
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

paymux_domain::text_enum! {
    /// Something finance must look at.
    pub enum DiscrepancyKind("discrepancy kind") {
        /// A payment of another currency than its checkout's, of nothing, beyond 10^12 minor
        /// units, or that took the checkout past its amount.
        AmountMismatch => "amount_mismatch",
        /// An event no checkout could be found for.
        OrphanEvent => "orphan_event",
        /// A payment after its checkout was canceled or had expired.
        SuccessAfterCancel => "success_after_cancel",
        /// A checkout past its expiry time with no final event.
        StaleOpen => "stale_open",
        /// Refunds beyond what the checkout was paid.
        OverRefund => "over_refund",
        /// A payment on a checkout already paid in full, or on another of the merchant's
        /// checkouts with the same reference.
        DuplicatePayment => "duplicate_payment",
        /// A checkout created in the period that received part of its amount and is still
        /// waiting for the rest.
        Underpaid => "underpaid",
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
    /// Rows read per query: [`PAGE_SIZE`] but in tests of page boundaries.
    pub page_size: i64,
}

/// A reconciliation report over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Report {
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub from: NaiveDateTime,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub to: NaiveDateTime,
    pub totals: Vec<ProviderTotals>,
    pub currency_totals: Vec<CurrencyTotals>,
    pub discrepancies: Vec<Discrepancy>,
}

/// Money in minor units of `currency`; counts of payments and of checkouts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
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
    /// Checkouts that received part of their amount and wait for the rest.
    pub partially_paid_count: i64,
}

/// One currency's totals over every provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CurrencyTotals {
    pub currency: String,
    pub gross: i64,
    pub refunded: i64,
    pub fees: i64,
    pub net: i64,
}

/// Something finance must look at, with the objects it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Discrepancy {
    pub kind: DiscrepancyKind,
    pub checkout_id: Option<String>,
    pub event_id: Option<String>,
    pub receipt_id: Option<String>,
    pub message: String,
    /// The currency concerned, when there is one: what `Scope::currency` filters on.
    #[serde(skip)]
    #[schema(ignore)]
    pub currency: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error("the {0} do not fit in a 64-bit integer of minor units")]
    Overflow(&'static str),
}

impl From<payments::Overflow> for ReconcileError {
    fn from(_: payments::Overflow) -> ReconcileError {
        ReconcileError::Overflow("paid amounts")
    }
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
    receipt_id: Option<String>,
    received_at: NaiveDateTime,
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
}

/// Where ingestion put flags for reconciliation: a `flags` list in the event's details.
const FLAGGED: &str = "%\"flags\"%";

/// The given checkouts, by id.
fn checkouts_by_id(
    conn: &mut DbConnection,
    ids: &[&str],
) -> QueryResult<HashMap<String, CheckoutRef>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<CheckoutRef> = checkouts::table
        .filter(checkouts::id.eq_any(ids))
        .select(CheckoutRef::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|checkout| (checkout.id.clone(), checkout))
        .collect())
}

/// The `flags` lists of the given events' details, by event id.
fn flags_of(
    conn: &mut DbConnection,
    event_ids: &[&str],
) -> QueryResult<HashMap<String, Vec<EventFlag>>> {
    if event_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = events::table
        .filter(events::id.eq_any(event_ids))
        .select((events::id, events::details))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, details)| {
            let flags: Vec<String> = serde_json::from_str::<serde_json::Value>(&details)
                .ok()
                .and_then(|details| details.get("flags").cloned())
                .and_then(|flags| serde_json::from_value(flags).ok())
                .unwrap_or_default();
            // Flags this version does not know of are left for a later one to report.
            (
                id,
                flags.iter().filter_map(|flag| flag.parse().ok()).collect(),
            )
        })
        .collect())
}

/// The checkout an event belongs to, with what the report compares the event with.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = checkouts)]
struct CheckoutRef {
    id: String,
    amount: i64,
    currency: String,
    reference: Option<String>,
    created_at: NaiveDateTime,
}

impl CheckoutRef {
    /// What the checkout is for; `None` for a currency this version does not know.
    fn due(&self) -> Option<Money> {
        Currency::parse(&self.currency)
            .ok()
            .map(|currency| Money::new(self.amount, currency))
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = checkouts)]
struct CheckoutState {
    id: String,
    amount: i64,
    amount_received: i64,
    currency: String,
    status: String,
    expires_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
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
    fn check_flags(&mut self, event: &EventRow, flags: &[EventFlag], currency: Option<&str>) {
        for flag in flags {
            let (kind, message) = match flag {
                EventFlag::SuccessAfterCancel => (
                    DiscrepancyKind::SuccessAfterCancel,
                    "a payment succeeded after the checkout was canceled or had expired",
                ),
                EventFlag::RefusedAfterClose => (
                    DiscrepancyKind::SuccessAfterCancel,
                    "a payment arrived after the checkout was canceled or had expired; paymux \
                     refused it and the provider returns it to the payer",
                ),
                EventFlag::DisabledProvider => (
                    DiscrepancyKind::DisabledProviderEvent,
                    "the provider was disabled for the merchant when this event arrived",
                ),
                // Found again from the amounts themselves, by `linked_event`.
                EventFlag::NoCheckout | EventFlag::Overpaid | EventFlag::NotCounted => continue,
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

/// What a report is reading, told as it goes: a report over a million events takes a while,
/// and the CLI shows where it is. Only the main query of each phase is counted, page by page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    pub merchant: &'a str,
    pub phase: Phase,
    /// Rows of the phase read so far, for this merchant.
    pub rows: u64,
}

/// The reads of a report, in the order they run for each merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The events received in the period.
    Events,
    /// The checkouts created in the period, left open past expiry or paid in part.
    Checkouts,
    /// The refunds created in the period.
    Refunds,
    /// The refused and unconfirmed webhooks received in the period.
    Receipts,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Events => "events",
            Phase::Checkouts => "checkouts",
            Phase::Refunds => "refunds",
            Phase::Receipts => "receipts",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds the report for `scope`.
pub fn reconcile(conn: &mut DbConnection, scope: &Scope) -> Result<Report, ReconcileError> {
    reconcile_with_progress(conn, scope, &mut |_| {})
}

/// Builds the report for `scope`, as [`reconcile`] does, telling `progress` where it is: when
/// each phase starts, then after each page. The report is the same whatever `progress` does.
pub fn reconcile_with_progress(
    conn: &mut DbConnection,
    scope: &Scope,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Report, ReconcileError> {
    let merchants = match &scope.merchant {
        Some(merchant) => vec![merchant.clone()],
        None => merchants(conn)?,
    };
    let mut ledger = Ledger::default();
    for merchant in &merchants {
        let mut tell = |phase: Phase, rows: u64| {
            progress(Progress {
                merchant,
                phase,
                rows,
            })
        };
        events_received(conn, scope, merchant, &mut ledger, &mut tell)?;
        checkouts_created(conn, scope, merchant, &mut ledger, &mut tell)?;
        refunds_created(conn, scope, merchant, &mut ledger, &mut tell)?;
        receipts(conn, scope, merchant, &mut ledger, &mut tell)?;
    }
    finish(scope, ledger)
}

/// Tells how many rows a phase has read so far.
type Tell<'a> = dyn FnMut(Phase, u64) + 'a;

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

/// Payments, fees, flagged and orphan events: the merchant's events received in the period, in
/// received order, a page at a time, with the checkouts of the payments and flagged events.
fn events_received(
    conn: &mut DbConnection,
    scope: &Scope,
    merchant: &str,
    ledger: &mut Ledger,
    tell: &mut Tell<'_>,
) -> Result<(), ReconcileError> {
    // Read once, when a page first has payments to compare across checkouts.
    let mut shared: Option<HashSet<String>> = None;
    let mut after: Option<(NaiveDateTime, String)> = None;
    let mut read = 0;
    tell(Phase::Events, read);
    loop {
        let rows = events_page(conn, scope, merchant, after.as_ref())?;
        read += rows.len() as u64;
        tell(Phase::Events, read);
        let (Some((first, _)), Some((last, _))) = (rows.first(), rows.last()) else {
            return Ok(());
        };
        let flagged: Vec<&str> = rows
            .iter()
            .filter(|(_, flagged)| *flagged)
            .map(|(event, _)| event.id.as_str())
            .collect();
        let flags = flags_of(conn, &flagged)?;
        // The checkouts the report compares events with: those of payments and flagged events.
        let mut wanted: Vec<&str> = rows
            .iter()
            .filter(|(event, flagged)| event.is_success() || *flagged)
            .filter_map(|(event, _)| event.checkout_id.as_deref())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let checkouts = checkouts_by_id(conn, &wanted)?;
        // The payments of the checkouts paid on this page, as far as earlier events tell; a
        // checkout created after the page began has none (the margin absorbs clock skew between
        // the servers that wrote the rows).
        let paid_ids = paid_before(&rows, &checkouts, first.received_at + CLOCK_SKEW);
        let mut payments = payments_before(conn, &paid_ids, first.received_at, Some(&first.id))?;
        let mut first_payments = vec![];
        for (event, _) in &rows {
            let flags = flags.get(&event.id).map_or(&[][..], Vec::as_slice);
            match &event.checkout_id {
                // Events of checkouts that are neither payments nor flagged count for nothing.
                Some(checkout_id) => {
                    if let Some(checkout) = checkouts.get(checkout_id) {
                        let first = linked_event(event, flags, checkout, &mut payments, ledger)?;
                        first_payments.extend(first);
                    }
                }
                None => orphan_event(event, flags, ledger)?,
            }
        }
        if !first_payments.is_empty() && shared.is_none() {
            shared = Some(shared_references(conn, merchant)?);
        }
        if let Some(shared) = &shared {
            first_payments.retain(|paid| shared.contains(&paid.reference));
        }
        duplicate_references(conn, scope, merchant, &first_payments, ledger)?;
        if (rows.len() as i64) < scope.page_size {
            return Ok(());
        }
        after = Some((last.received_at, last.id.clone()));
    }
}

/// One page of the merchant's events received in the period, after `after` (received time
/// and id), each with whether its details carry a flag.
fn events_page(
    conn: &mut DbConnection,
    scope: &Scope,
    merchant: &str,
    after: Option<&(NaiveDateTime, String)>,
) -> QueryResult<Vec<(EventRow, bool)>> {
    let query = events::table
        .filter(events::merchant.eq(merchant))
        .filter(events::received_at.lt(scope.to))
        .select((EventRow::as_select(), events::details.like(FLAGGED)))
        .into_boxed();
    let query = match after {
        None => query.filter(events::received_at.ge(scope.from)),
        Some((at, id)) => query
            .filter(events::received_at.ge(*at))
            .filter(events::received_at.gt(*at).or(events::id.gt(id))),
    };
    query
        .order((events::received_at.asc(), events::id.asc()))
        .limit(scope.page_size)
        .load(conn)
}

/// The ids of the checkouts that `rows` pay, created by `history_from`: those with earlier
/// payments worth reading.
fn paid_before<'a>(
    rows: &'a [(EventRow, bool)],
    checkouts: &'a HashMap<String, CheckoutRef>,
    history_from: NaiveDateTime,
) -> Vec<&'a str> {
    let mut paid: Vec<&str> = rows
        .iter()
        .filter(|(event, _)| event.is_success())
        .filter_map(|(event, _)| checkouts.get(event.checkout_id.as_deref()?))
        .filter(|checkout| checkout.created_at <= history_from)
        .map(|checkout| checkout.id.as_str())
        .collect();
    paid.sort_unstable();
    paid.dedup();
    paid
}

/// Counts an event of a checkout: flags, and a payment not counted before. Returns the
/// checkout's first payment, for the duplicate check across checkouts.
fn linked_event(
    event: &EventRow,
    flags: &[EventFlag],
    checkout: &CheckoutRef,
    payments: &mut HashMap<String, Payments>,
    ledger: &mut Ledger,
) -> Result<Option<FirstPayment>, ReconcileError> {
    let currency = event.currency.as_deref().unwrap_or(&checkout.currency);
    ledger.check_flags(event, flags, Some(currency));
    if !event.is_success() {
        return Ok(None);
    }
    let Some(due) = checkout.due() else {
        return Ok(None);
    };
    let amount = match payments::payable_columns(event.amount, event.currency.as_deref(), due) {
        Ok(amount) => amount,
        Err(reason) => return not_counted(event, Some(&checkout.id), currency, reason, ledger),
    };
    let payments = payments.entry(checkout.id.clone()).or_default();
    let first = payments.is_empty();
    let before = payments.received();
    if !payments.record(event.payment_key(), amount)? {
        return Ok(None);
    }
    ledger.count_payment(&event.provider, currency, amount, event.fee.unwrap_or(0))?;
    if before >= checkout.amount {
        ledger.report(
            DiscrepancyKind::DuplicatePayment,
            Some(&checkout.id),
            Some(&event.id),
            Some(currency),
            format!(
                "a payment ({}) on a checkout already paid in full",
                event
                    .provider_payment_id
                    .as_deref()
                    .unwrap_or("no payment id")
            ),
        );
        return Ok(None);
    }
    if payments.received() > checkout.amount {
        ledger.report(
            DiscrepancyKind::AmountMismatch,
            Some(&checkout.id),
            Some(&event.id),
            Some(currency),
            format!(
                "paid {} {currency} (minor units) in all for a checkout of {} {}",
                payments.received(),
                checkout.amount,
                checkout.currency
            ),
        );
    }
    if !first {
        return Ok(None);
    }
    Ok(checkout.reference.as_ref().map(|reference| FirstPayment {
        checkout_id: checkout.id.clone(),
        reference: reference.clone(),
        event_id: event.id.clone(),
        currency: currency.to_owned(),
    }))
}

/// A success that pays its checkout nothing: reported. Money in another currency did move,
/// so it counts in that currency's totals; an amount beyond the bounds is never summed.
fn not_counted(
    event: &EventRow,
    checkout_id: Option<&str>,
    currency: &str,
    reason: NotCounted,
    ledger: &mut Ledger,
) -> Result<Option<FirstPayment>, ReconcileError> {
    if let (NotCounted::OtherCurrency, Some(amount)) = (reason, event.amount) {
        ledger.count_payment(&event.provider, currency, amount, event.fee.unwrap_or(0))?;
    }
    ledger.report(
        DiscrepancyKind::AmountMismatch,
        checkout_id,
        Some(&event.id),
        Some(currency),
        format!("a payment of {}", reason.describe()),
    );
    Ok(None)
}

/// An event no checkout was found for: a discrepancy, and a payment among them still counts,
/// since the money moved.
fn orphan_event(
    event: &EventRow,
    flags: &[EventFlag],
    ledger: &mut Ledger,
) -> Result<(), ReconcileError> {
    let currency = event.currency.as_deref();
    ledger.check_flags(event, flags, currency);
    // A provider may report a session abandoned before any checkout existed for it.
    if event.event_type == EventType::CheckoutAbandoned.as_str() {
        return Ok(());
    }
    ledger.report(
        DiscrepancyKind::OrphanEvent,
        None,
        Some(&event.id),
        currency,
        format!("{} matches no checkout of this merchant", event.event_type),
    );
    match (event.is_success(), currency, event.amount) {
        (true, Some(currency), Some(amount)) if Money::within_bounds(amount) => {
            ledger.count_payment(&event.provider, currency, amount, event.fee.unwrap_or(0))
        }
        (true, Some(currency), Some(_)) => {
            not_counted(event, None, currency, NotCounted::OutOfBounds, ledger).map(drop)
        }
        _ => Ok(()),
    }
}

/// The payments of the given checkouts from their success events received before `at` (and,
/// at `at` itself, before the event `id`), replayed in the report's order.
fn payments_before(
    conn: &mut DbConnection,
    checkout_ids: &[&str],
    at: NaiveDateTime,
    id: Option<&str>,
) -> Result<HashMap<String, Payments>, ReconcileError> {
    let mut payments: HashMap<String, Payments> = HashMap::new();
    if checkout_ids.is_empty() {
        return Ok(payments);
    }
    let mut query = events::table
        .filter(events::checkout_id.eq_any(checkout_ids))
        .filter(events::event_type.eq(EventType::PaymentSucceeded.as_str()))
        .select(EventRow::as_select())
        .into_boxed();
    query = match id {
        None => query.filter(events::received_at.lt(at)),
        Some(id) => query
            .filter(events::received_at.le(at))
            .filter(events::received_at.lt(at).or(events::id.lt(id))),
    };
    let rows: Vec<EventRow> = query
        .order((events::received_at.asc(), events::id.asc()))
        .load(conn)?;
    let dues: HashMap<String, Money> = checkouts::table
        .filter(checkouts::id.eq_any(checkout_ids))
        .select((checkouts::id, checkouts::amount, checkouts::currency))
        .load::<(String, i64, String)>(conn)?
        .into_iter()
        .filter_map(|(id, amount, currency)| {
            Currency::parse(&currency)
                .ok()
                .map(|currency| (id, Money::new(amount, currency)))
        })
        .collect();
    for event in &rows {
        let Some((checkout_id, due)) = event
            .checkout_id
            .as_ref()
            .and_then(|id| Some((id, dues.get(id)?)))
        else {
            continue;
        };
        if let Ok(amount) = payments::payable_columns(event.amount, event.currency.as_deref(), *due)
        {
            payments
                .entry(checkout_id.clone())
                .or_default()
                .record(event.payment_key(), amount)?;
        }
    }
    Ok(payments)
}

/// The merchant's references that more than one checkout carries: one read of an index, where
/// looking each paid checkout's reference up would be a random read each.
fn shared_references(conn: &mut DbConnection, merchant: &str) -> QueryResult<HashSet<String>> {
    let shared: Vec<Option<String>> = checkouts::table
        .filter(checkouts::merchant.eq(merchant))
        .filter(checkouts::reference.is_not_null())
        .group_by(checkouts::reference)
        .having(diesel::dsl::count_star().gt(1))
        .select(checkouts::reference)
        .load(conn)?;
    Ok(shared.into_iter().flatten().collect())
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

/// Status counts of the checkouts created in the period, those left open past expiry, and
/// those paid in part.
fn checkouts_created(
    conn: &mut DbConnection,
    scope: &Scope,
    merchant: &str,
    ledger: &mut Ledger,
    tell: &mut Tell<'_>,
) -> Result<(), ReconcileError> {
    tell(Phase::Checkouts, 0);
    let in_period = checkouts::merchant
        .eq(merchant)
        .and(checkouts::created_at.ge(scope.from))
        .and(checkouts::created_at.lt(scope.to));
    let counts: Vec<(String, String, String, i64)> = checkouts::table
        .filter(in_period)
        .group_by((checkouts::provider, checkouts::currency, checkouts::status))
        .select((
            checkouts::provider,
            checkouts::currency,
            checkouts::status,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    count_statuses(ledger, counts)?;
    let still_open: Vec<&str> = CheckoutStatus::ALL
        .iter()
        .filter(|status| status.awaits_payment())
        .map(|status| status.as_str())
        .collect();
    let partially_paid = CheckoutStatus::PartiallyPaid.as_str();
    let mut after: Option<(NaiveDateTime, String)> = None;
    let mut read = 0;
    loop {
        let mut query = checkouts::table
            .filter(in_period)
            .filter(
                checkouts::status
                    .eq_any(&still_open)
                    .and(checkouts::expires_at.le(scope.now))
                    .or(checkouts::status.eq(partially_paid)),
            )
            .select(CheckoutState::as_select())
            .into_boxed();
        if let Some((at, id)) = &after {
            query = query
                .filter(checkouts::created_at.ge(*at))
                .filter(checkouts::created_at.gt(*at).or(checkouts::id.gt(id)));
        }
        let rows: Vec<CheckoutState> = query
            .order((checkouts::created_at.asc(), checkouts::id.asc()))
            .limit(scope.page_size)
            .load(conn)?;
        read += rows.len() as u64;
        tell(Phase::Checkouts, read);
        for checkout in &rows {
            let (kind, message) = unsettled(checkout, partially_paid);
            ledger.report(
                kind,
                Some(&checkout.id),
                None,
                Some(&checkout.currency),
                message,
            );
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == scope.page_size => {
                after = Some((last.created_at, last.id.clone()));
            }
            _ => return Ok(()),
        }
    }
}

/// Adds the checkouts counted by `(provider, currency, status)` to their figures.
fn count_statuses(
    ledger: &mut Ledger,
    counts: Vec<(String, String, String, i64)>,
) -> Result<(), ReconcileError> {
    for (provider, currency, status, count) in counts {
        let figures = ledger.figures(&provider, &currency);
        let total = match status.parse::<CheckoutStatus>() {
            Ok(CheckoutStatus::Failed) => &mut figures.failed_count,
            Ok(CheckoutStatus::Canceled) => &mut figures.canceled_count,
            Ok(CheckoutStatus::Expired) => &mut figures.expired_count,
            Ok(CheckoutStatus::Open | CheckoutStatus::Pending) => &mut figures.open_count,
            Ok(CheckoutStatus::PartiallyPaid) => &mut figures.partially_paid_count,
            _ => continue,
        };
        add(total, count, "checkout counts")?;
    }
    Ok(())
}

/// What is wrong with a checkout paid in part (status `partially_paid`) or left open past its
/// expiry.
fn unsettled(checkout: &CheckoutState, partially_paid: &str) -> (DiscrepancyKind, String) {
    if checkout.status == partially_paid {
        return (
            DiscrepancyKind::Underpaid,
            format!(
                "received {} of {} {} (minor units); the rest has not arrived",
                checkout.amount_received, checkout.amount, checkout.currency
            ),
        );
    }
    let expired_at = checkout.expires_at.map_or_else(String::new, |at| {
        DateTime::<Utc>::from_naive_utc_and_offset(at, Utc).to_rfc3339()
    });
    (
        DiscrepancyKind::StaleOpen,
        format!("still {} after it expired at {expired_at}", checkout.status),
    )
}

/// Refunds created in the period, and checkouts refunded beyond what they were paid.
fn refunds_created(
    conn: &mut DbConnection,
    scope: &Scope,
    merchant: &str,
    ledger: &mut Ledger,
    tell: &mut Tell<'_>,
) -> Result<(), ReconcileError> {
    let succeeded = RefundStatus::Succeeded.as_str();
    let mut checked: HashSet<String> = HashSet::new();
    let mut after: Option<String> = None;
    let mut read = 0;
    tell(Phase::Refunds, read);
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
        let rows: Vec<(String, String, String, String, i64)> = query
            .order(refunds::id.asc())
            .limit(scope.page_size)
            .load(conn)?;
        read += rows.len() as u64;
        tell(Phase::Refunds, read);
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
            Some(last) if rows.len() as i64 == scope.page_size => after = Some(last.0.clone()),
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
    let payments = payments_before(conn, checkout_ids, scope.to, None)?;
    for (checkout_id, (currency, refunded)) in refunded {
        let paid = payments.get(&checkout_id).map_or(0, Payments::received);
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
    tell: &mut Tell<'_>,
) -> Result<(), ReconcileError> {
    let outcomes = [
        ReceiptOutcome::Rejected.as_str(),
        ReceiptOutcome::Unconfirmed.as_str(),
    ];
    let mut after: Option<String> = None;
    let mut read = 0;
    tell(Phase::Receipts, read);
    loop {
        let mut query = webhook_receipts::table
            .filter(webhook_receipts::merchant.eq(merchant))
            .filter(webhook_receipts::outcome.eq_any(outcomes))
            .filter(webhook_receipts::received_at.ge(scope.from))
            .filter(webhook_receipts::received_at.lt(scope.to))
            .select(ReceiptRow::as_select())
            .into_boxed();
        if let Some(after) = &after {
            query = query.filter(webhook_receipts::id.gt(after));
        }
        let rows: Vec<ReceiptRow> = query
            .order(webhook_receipts::id.asc())
            .limit(scope.page_size)
            .load(conn)?;
        read += rows.len() as u64;
        tell(Phase::Receipts, read);
        for ReceiptRow {
            id,
            provider,
            outcome,
            reason,
            checkout_id,
        } in &rows
        {
            let kind = if outcome == ReceiptOutcome::Rejected.as_str() {
                DiscrepancyKind::RejectedWebhook
            } else {
                DiscrepancyKind::Unconfirmed
            };
            ledger.discrepancies.push(Discrepancy {
                kind,
                checkout_id: checkout_id.clone(),
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
            Some(last) if rows.len() as i64 == scope.page_size => after = Some(last.id.clone()),
            _ => return Ok(()),
        }
    }
}

/// A refused or unconfirmed webhook, as the report reads it.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = webhook_receipts)]
struct ReceiptRow {
    id: String,
    provider: String,
    outcome: String,
    reason: Option<String>,
    checkout_id: Option<String>,
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
