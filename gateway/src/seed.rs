//! `paymux dev seed`: a realistic dataset for tests and benchmarks. Checkouts of every provider,
//! in its currencies, go through what happens to payments (paid, paid twice over by a webhook
//! and a lookup, failed then paid, canceled, expired, refunded, left open), and about one in
//! seventy is one of the discrepancies the reconciliation report must find. Each kind is planted
//! at least once whatever the size, and a few scenarios sit on and across the period's edges.
//!
//! The generator also says what the report must show: it keeps its own tally of every figure and
//! every planted discrepancy as it writes them, from what each scenario *is*, not by reading the
//! store back, so a test can compare the report with it.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use paymux_domain::ids::{CheckoutKind, EventKind, Id, IdKind, ReceiptKind, RefundKind};
use paymux_domain::{
    CheckoutId, CheckoutStatus, Currency, EventFlag, EventId, EventSource, EventType, Money,
    NormalizedEvent, ReceiptId,
};
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::column::Json;
use paymux_schema::db::event::Event;
use paymux_schema::db::receipt::{ReceiptOutcome, WebhookReceipt};
use paymux_schema::db::reconcile::{
    CurrencyTotals, DiscrepancyKind, DiscrepancyKind as Kind, ProviderTotals,
};
use paymux_schema::db::refund::{Refund, RefundStatus};
use paymux_schema::db::schema::{checkouts, events, refunds, webhook_receipts};
use paymux_schema::db::{DbConnection, write_transaction};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::domain::events::{Applied, Handling, Recording, event_row};

/// Events written per transaction.
const BATCH_EVENTS: usize = 1_000;

#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub merchant: String,
    /// How many events to write at least.
    pub events: u64,
    /// The period the events fall in, `[from, to)`; a few land just outside it on purpose.
    pub from: NaiveDateTime,
    pub to: NaiveDateTime,
    /// The same seed writes the same dataset.
    pub seed: u64,
}

/// What was written, and what the report over `[from, to)` must say of it.
#[derive(Debug, Clone, Serialize)]
pub struct Seeded {
    pub checkouts: u64,
    pub events: u64,
    pub totals: Vec<ProviderTotals>,
    pub currency_totals: Vec<CurrencyTotals>,
    pub discrepancies: Vec<Planted>,
}

/// A planted discrepancy, by the ids the report must name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Planted {
    pub kind: DiscrepancyKind,
    pub checkout_id: Option<String>,
    pub event_id: Option<String>,
    pub receipt_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the period is empty or shorter than a day")]
    Period,
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// The providers and the currencies their checkouts are in.
const PROVIDERS: [(&str, &[Currency]); 5] = [
    ("sknpay", &[Currency::Usd, Currency::Xcd]),
    ("pakhi", &[Currency::Bdt]),
    ("kwik", &[Currency::Zar]),
    ("spankpay", &[Currency::Usd]),
    ("skipify", &[Currency::Usd]),
];

/// What happens to one checkout (or, for the receipt-only kinds, one webhook).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Ordinary(Ordinary),
    Discrepant(Discrepant),
}

/// What happens to most checkouts; the report counts them and lists none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordinary {
    Paid,
    PaidAndLookedUp,
    FailedThenPaid,
    Failed,
    Canceled,
    Expired,
    Open,
    Pending,
    PartlyRefunded,
    FullyRefunded,
}

/// What the report must list as a discrepancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Discrepant {
    PartialPayment,
    Overpaid,
    Orphan,
    PaidAfterCancel,
    RefusedAfterClose,
    StaleOpen,
    OverRefunded,
    SameReferencePaidTwice,
    SecondPayment,
    Forged,
    DisabledProvider,
    Unconfirmed,
}

/// Ordinary scenarios with their weights; each discrepant one weighs 1, so each kind of
/// discrepancy is planted in about one checkout in 800, and one in 70 is one of them.
const ORDINARY: [(Ordinary, u64); 10] = [
    (Ordinary::Paid, 360),
    (Ordinary::PaidAndLookedUp, 50),
    (Ordinary::FailedThenPaid, 50),
    (Ordinary::Failed, 60),
    (Ordinary::Canceled, 60),
    (Ordinary::Expired, 60),
    (Ordinary::Open, 40),
    (Ordinary::Pending, 30),
    (Ordinary::PartlyRefunded, 50),
    (Ordinary::FullyRefunded, 40),
];

const DISCREPANT: [Discrepant; 12] = [
    Discrepant::PartialPayment,
    Discrepant::Overpaid,
    Discrepant::Orphan,
    Discrepant::PaidAfterCancel,
    Discrepant::RefusedAfterClose,
    Discrepant::StaleOpen,
    Discrepant::OverRefunded,
    Discrepant::SameReferencePaidTwice,
    Discrepant::SecondPayment,
    Discrepant::Forged,
    Discrepant::DisabledProvider,
    Discrepant::Unconfirmed,
];

impl Scenario {
    /// A scenario drawn by weight.
    fn draw(random: &mut Random) -> Scenario {
        let ordinary_weight: u64 = ORDINARY.iter().map(|(_, weight)| weight).sum();
        let mut pick = random.below(ordinary_weight + DISCREPANT.len() as u64);
        for (scenario, weight) in ORDINARY {
            if pick < weight {
                return Scenario::Ordinary(scenario);
            }
            pick -= weight;
        }
        DISCREPANT
            .get(pick as usize)
            .map_or(Scenario::Ordinary(Ordinary::Paid), |d| {
                Scenario::Discrepant(*d)
            })
    }
}

/// splitmix64: small, fast and reproducible; nothing here needs more.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }

    fn amount(&mut self) -> i64 {
        // 1.00 to 5,000.00 in minor units; `below` stays far under i64::MAX.
        100 + i64::try_from(self.below(499_901)).unwrap_or(0)
    }
}

/// The rows of one batch, written together, parents first.
#[derive(Default)]
struct Batch {
    checkouts: Vec<Checkout>,
    receipts: Vec<WebhookReceipt>,
    events: Vec<Event>,
    refunds: Vec<Refund>,
}

/// The report the dataset must produce, tallied as scenarios are written.
#[derive(Default)]
struct Tally {
    totals: BTreeMap<(String, String), ProviderTotals>,
    planted: Vec<Planted>,
}

impl Tally {
    fn figures(&mut self, provider: &str, currency: &str) -> &mut ProviderTotals {
        self.totals
            .entry((provider.to_owned(), currency.to_owned()))
            .or_insert_with(|| ProviderTotals {
                provider: provider.to_owned(),
                currency: currency.to_owned(),
                ..ProviderTotals::default()
            })
    }

    fn plant(
        &mut self,
        kind: DiscrepancyKind,
        checkout: Option<CheckoutId>,
        event: Option<EventId>,
        receipt: Option<ReceiptId>,
    ) {
        self.planted.push(Planted {
            kind,
            checkout_id: checkout.map(|id| id.to_string()),
            event_id: event.map(|id| id.to_string()),
            receipt_id: receipt.map(|id| id.to_string()),
        });
    }
}

/// Writes the dataset and says what its report must be.
pub fn seed(conn: &mut DbConnection, options: &SeedOptions) -> Result<Seeded, SeedError> {
    seed_with_progress(conn, options, &mut |_| {})
}

/// Writes the dataset as [`seed`] does, telling `on_written` how many events are written after
/// each batch (of about a thousand); the dataset is the same whatever it does.
pub fn seed_with_progress(
    conn: &mut DbConnection,
    options: &SeedOptions,
    on_written: &mut dyn FnMut(u64),
) -> Result<Seeded, SeedError> {
    if options.to - options.from < Duration::days(1) {
        return Err(SeedError::Period);
    }
    let mut writer = Writer {
        options,
        random: Random(options.seed),
        batch: Batch::default(),
        tally: Tally::default(),
        checkouts: 0,
        events: 0,
    };
    writer.edges();
    // Every planted kind at least once, however few events are asked for.
    for discrepant in DISCREPANT {
        let at = options.from + Duration::hours(1);
        writer.scenario(Scenario::Discrepant(discrepant), at);
    }
    while writer.events < options.events {
        let scenario = Scenario::draw(&mut writer.random);
        // Scenarios start in time order, a few minutes apart at random, as a live store is
        // written: rows land in the order they arrive.
        let span = i128::from((options.to - options.from - Duration::hours(6)).num_seconds());
        let progress = span * i128::from(writer.events) / i128::from(options.events.max(1));
        let jitter = i128::from(writer.random.below(600));
        let offset = i64::try_from((progress + jitter).min(span)).unwrap_or(0);
        let at = options.from + Duration::seconds(offset);
        writer.scenario(scenario, at);
        if writer.batch.events.len() >= BATCH_EVENTS {
            writer.flush(conn)?;
            on_written(writer.events);
        }
    }
    writer.flush(conn)?;
    on_written(writer.events);
    // Fresh statistics, as after any bulk load: without them PostgreSQL plans the report's
    // queries for empty tables.
    diesel::sql_query("ANALYZE").execute(conn)?;
    Ok(writer.finish())
}

struct Writer<'a> {
    options: &'a SeedOptions,
    random: Random,
    batch: Batch,
    tally: Tally,
    checkouts: u64,
    events: u64,
}

/// A provider and the currency of one scenario.
#[derive(Debug, Clone, Copy)]
struct Leg {
    provider: &'static str,
    currency: Currency,
}

/// One scenario's provider, amount and start.
#[derive(Clone, Copy)]
struct Scene {
    leg: Leg,
    amount: i64,
    at: NaiveDateTime,
}

impl Scene {
    fn later(&self, minutes: i64) -> NaiveDateTime {
        self.at + Duration::minutes(minutes)
    }

    /// The same scene, `minutes` later.
    fn after(&self, minutes: i64) -> Scene {
        Scene {
            at: self.later(minutes),
            ..*self
        }
    }

    /// The same scene, of another amount.
    fn with_amount(&self, amount: i64) -> Scene {
        Scene { amount, ..*self }
    }
}

/// An event to write, before its ids are made.
struct Happening<'a> {
    event_type: EventType,
    at: NaiveDateTime,
    amount: Option<i64>,
    /// A webhook delivered it (with a receipt), rather than a `?refresh=true` lookup.
    webhook: bool,
    flags: &'a [EventFlag],
}

impl<'a> Happening<'a> {
    fn webhook(event_type: EventType, at: NaiveDateTime) -> Happening<'a> {
        Happening {
            event_type,
            at,
            amount: None,
            webhook: true,
            flags: &[],
        }
    }

    /// A payment of `amount` reported by webhook.
    fn paid(amount: i64, at: NaiveDateTime) -> Happening<'a> {
        Happening::webhook(EventType::PaymentSucceeded, at).of(amount)
    }

    /// The same payment found by a `?refresh=true` lookup.
    fn looked_up(amount: i64, at: NaiveDateTime) -> Happening<'a> {
        Happening {
            webhook: false,
            ..Happening::paid(amount, at)
        }
    }

    fn flagged(self, flags: &'a [EventFlag]) -> Happening<'a> {
        Happening { flags, ..self }
    }

    /// The same event, carrying `amount`.
    fn of(self, amount: i64) -> Happening<'a> {
        Happening {
            amount: Some(amount),
            ..self
        }
    }
}

/// An id of kind `K` made at `at`, so that ids sort by time as generated ones do.
fn id_at<K: IdKind>(random: &mut Random, at: NaiveDateTime) -> Id<K> {
    let millis = u64::try_from(at.and_utc().timestamp_millis()).unwrap_or(0);
    let entropy = (u128::from(random.next()) << 16) | u128::from(random.next() & 0xffff);
    Id::<K>::from_ulid(Ulid::from_parts(millis, entropy))
}

/// What providers charge, in the shape of their fee schedules: a percentage plus a fixed part.
fn fee(provider: &str, amount: i64) -> Option<i64> {
    match provider {
        "sknpay" | "kwik" | "skipify" => Some(amount * 29 / 1_000 + 30),
        _ => None,
    }
}

impl Writer<'_> {
    fn pick_leg(&mut self) -> Leg {
        let (provider, currencies) = PROVIDERS[self.random.below(5) as usize];
        let currency = currencies[self.random.below(currencies.len() as u64) as usize];
        Leg { provider, currency }
    }

    fn in_period(&self, at: NaiveDateTime) -> bool {
        self.options.from <= at && at < self.options.to
    }

    /// A checkout row; `status` is what its events leave it at. Each has a reference of its
    /// own unless one is given.
    fn checkout(
        &mut self,
        leg: Leg,
        amount: i64,
        at: NaiveDateTime,
        status: CheckoutStatus,
        reference: Option<String>,
        expires_at: Option<NaiveDateTime>,
    ) -> CheckoutId {
        let id = id_at::<CheckoutKind>(&mut self.random, at);
        let reference = reference.unwrap_or_else(|| format!("order-{}", self.checkouts));
        self.batch.checkouts.push(Checkout {
            id,
            merchant: self.options.merchant.clone(),
            provider: leg.provider.to_owned(),
            provider_checkout_id: Some(format!("{}_co_{}", leg.provider, id.ulid())),
            status,
            amount,
            currency: leg.currency,
            amount_refunded: 0,
            reference: Some(reference),
            description: Some("Seeded order".to_owned()),
            customer: None,
            success_url: None,
            cancel_url: None,
            metadata: None,
            items: None,
            redirect_url: None,
            client_action: None,
            providers_tried: Some(Json(vec![leg.provider.to_owned()])),
            expires_at,
            livemode: false,
            created_at: at,
            updated_at: at,
            // Paid in full; a scenario paid otherwise says so (`Writer::received`).
            amount_received: if status.is_paid() { amount } else { 0 },
        });
        self.checkouts += 1;
        if self.in_period(at) {
            let figures = self.tally.figures(leg.provider, leg.currency.code());
            match status {
                CheckoutStatus::Failed => figures.failed_count += 1,
                CheckoutStatus::Canceled => figures.canceled_count += 1,
                CheckoutStatus::Expired => figures.expired_count += 1,
                CheckoutStatus::Open | CheckoutStatus::Pending => figures.open_count += 1,
                CheckoutStatus::PartiallyPaid => figures.partially_paid_count += 1,
                _ => {}
            }
        }
        id
    }

    /// A webhook receipt: `accepted` ones carry one event, the others none.
    fn receipt(
        &mut self,
        provider: &str,
        at: NaiveDateTime,
        outcome: ReceiptOutcome,
        reason: Option<&str>,
    ) -> ReceiptId {
        let id = id_at::<ReceiptKind>(&mut self.random, at);
        let body = format!("{{\"seeded\":\"{provider}\"}}").into_bytes();
        self.batch.receipts.push(WebhookReceipt {
            id,
            merchant: self.options.merchant.clone(),
            provider: provider.to_owned(),
            headers: Json(serde_json::json!({})),
            body_length: body.len() as i64,
            body_sha256: None,
            body,
            outcome,
            reason: reason.map(str::to_owned),
            event_count: i32::from(outcome == ReceiptOutcome::Accepted),
            received_at: at,
            duplicate_of: None,
            checkout_id: None,
        });
        id
    }

    /// An event (with its receipt when a webhook brought it) of `checkout`, or of none, as
    /// ingestion would store it (with the flags the scenario plants).
    fn event(
        &mut self,
        leg: Leg,
        checkout: Option<CheckoutId>,
        happening: Happening<'_>,
    ) -> EventId {
        let receipt = happening
            .webhook
            .then(|| self.receipt(leg.provider, happening.at, ReceiptOutcome::Accepted, None));
        let paid = happening.event_type == EventType::PaymentSucceeded;
        let fee = happening
            .amount
            .filter(|_| paid && happening.webhook)
            .and_then(|amount| fee(leg.provider, amount));
        let payment_id =
            (paid && happening.webhook).then(|| format!("pay_{}", self.random.below(1 << 48)));
        let id = id_at::<EventKind>(&mut self.random, happening.at);
        let mut details = serde_json::json!({ "payment_method": "card", "seeded": true });
        for flag in happening.flags {
            flag.add_to(&mut details);
        }
        let recording = Recording {
            merchant: self.options.merchant.clone(),
            provider: leg.provider.to_owned(),
            source: if happening.webhook {
                EventSource::Provider
            } else {
                EventSource::ProviderLookup
            },
            receipt,
            received_at: happening.at,
            handling: Handling::default(),
        };
        let event = NormalizedEvent {
            event_type: happening.event_type,
            provider_event_id: format!("seed_{}", id.ulid()),
            provider_payment_id: payment_id,
            checkout_hint: None,
            reference: None,
            amount: happening
                .amount
                .map(|amount| Money::new(amount, leg.currency)),
            fee,
            occurred_at: happening.at.and_utc(),
            livemode: false,
            details: details.clone(),
        };
        let applied = Applied::as_reported(&event, details);
        let row = event_row(id, &recording, &event, checkout, &applied);
        self.batch.events.push(row);
        self.events += 1;
        id
    }

    /// A success event; `counts` when it is the first report of a payment received in the
    /// period, which the report must count.
    fn payment(
        &mut self,
        leg: Leg,
        checkout: Option<CheckoutId>,
        happening: Happening<'_>,
        counts: bool,
    ) -> EventId {
        let amount = happening.amount.unwrap_or(0);
        let charged = if happening.webhook {
            fee(leg.provider, amount)
        } else {
            None
        };
        let id = self.event(leg, checkout, happening);
        if counts {
            let figures = self.tally.figures(leg.provider, leg.currency.code());
            figures.succeeded_count += 1;
            figures.gross += amount;
            figures.fees += charged.unwrap_or(0);
        }
        id
    }

    /// Changes a checkout written in this batch, as what happens to it later would.
    fn amend(&mut self, checkout: CheckoutId, change: impl FnOnce(&mut Checkout)) {
        let row = self.batch.checkouts.iter_mut().rev();
        if let Some(row) = row.into_iter().find(|row| row.id == checkout) {
            change(row);
        }
    }

    /// A refund paymux made, and the provider's webhook about it; counted when created in
    /// the period.
    fn refund(&mut self, leg: Leg, checkout: CheckoutId, amount: i64, at: NaiveDateTime) {
        let id = id_at::<RefundKind>(&mut self.random, at);
        self.batch.refunds.push(Refund {
            id,
            merchant: self.options.merchant.clone(),
            checkout_id: checkout,
            provider: leg.provider.to_owned(),
            provider_refund_id: Some(format!("{}_re_{}", leg.provider, id.ulid())),
            amount,
            currency: leg.currency,
            status: RefundStatus::Succeeded,
            failure_reason: None,
            created_at: at,
            updated_at: at,
        });
        self.amend(checkout, |row| row.amount_refunded += amount);
        if self.in_period(at) {
            self.tally
                .figures(leg.provider, leg.currency.code())
                .refunded += amount;
        }
        // The confirmation carries the refund's amount, as ingestion fills it in.
        let confirmation =
            Happening::webhook(EventType::PaymentRefunded, at + Duration::seconds(1));
        self.event(leg, Some(checkout), confirmation.of(amount));
    }

    fn scenario(&mut self, scenario: Scenario, at: NaiveDateTime) {
        let scene = Scene {
            leg: self.leg_for(scenario),
            amount: self.random.amount(),
            at,
        };
        match scenario {
            Scenario::Ordinary(ordinary) => self.ordinary(ordinary, &scene),
            Scenario::Discrepant(discrepant) => self.discrepancy(discrepant, &scene),
        }
    }

    /// The provider and currency a scenario needs, or any.
    fn leg_for(&mut self, scenario: Scenario) -> Leg {
        use Discrepant::{OverRefunded, PartialPayment, RefusedAfterClose, Unconfirmed};
        use Ordinary::{FullyRefunded, PartlyRefunded};
        match scenario {
            Scenario::Discrepant(PartialPayment | RefusedAfterClose) => Leg {
                provider: "spankpay",
                currency: Currency::Usd,
            },
            Scenario::Discrepant(Unconfirmed) => Leg {
                provider: "pakhi",
                currency: Currency::Bdt,
            },
            // Of the providers, SKN Pay is the one paymux refunds through.
            Scenario::Ordinary(PartlyRefunded | FullyRefunded)
            | Scenario::Discrepant(OverRefunded) => Leg {
                provider: "sknpay",
                currency: if self.random.below(2) == 0 {
                    Currency::Usd
                } else {
                    Currency::Xcd
                },
            },
            _ => self.pick_leg(),
        }
    }

    fn ordinary(&mut self, scenario: Ordinary, scene: &Scene) {
        match scenario {
            Ordinary::Paid => {
                let checkout = self.plain(scene, CheckoutStatus::Succeeded);
                self.paid(scene, checkout, 3);
            }
            Ordinary::PaidAndLookedUp => {
                let checkout = self.plain(scene, CheckoutStatus::Succeeded);
                self.payment(
                    scene.leg,
                    Some(checkout),
                    Happening::looked_up(scene.amount, scene.later(2)),
                    true,
                );
                self.payment(
                    scene.leg,
                    Some(checkout),
                    Happening::paid(scene.amount, scene.later(4)),
                    false,
                );
            }
            Ordinary::FailedThenPaid => {
                let checkout = self.plain(scene, CheckoutStatus::Succeeded);
                self.webhook(scene, checkout, EventType::PaymentFailed, 2);
                self.paid(scene, checkout, 5);
            }
            Ordinary::Failed => {
                let checkout = self.plain(scene, CheckoutStatus::Failed);
                self.webhook(scene, checkout, EventType::PaymentFailed, 2);
            }
            Ordinary::Canceled => {
                let checkout = self.plain(scene, CheckoutStatus::Canceled);
                self.webhook(scene, checkout, EventType::PaymentCanceled, 20);
            }
            Ordinary::Expired => {
                let checkout = self.plain(scene, CheckoutStatus::Expired);
                self.webhook(scene, checkout, EventType::PaymentExpired, 60);
            }
            Ordinary::Open => {
                self.plain(scene, CheckoutStatus::Open);
            }
            Ordinary::Pending => {
                let checkout = self.plain(scene, CheckoutStatus::Pending);
                self.webhook(scene, checkout, EventType::PaymentPending, 1);
            }
            Ordinary::PartlyRefunded => {
                let checkout = self.plain(scene, CheckoutStatus::PartiallyRefunded);
                self.paid(scene, checkout, 3);
                self.refund(scene.leg, checkout, scene.amount / 2, scene.later(60));
            }
            Ordinary::FullyRefunded => {
                let checkout = self.plain(scene, CheckoutStatus::Refunded);
                self.paid(scene, checkout, 3);
                self.refund(scene.leg, checkout, scene.amount, scene.later(60));
            }
        }
    }

    /// Writes a scenario that plants a discrepancy, and tallies it.
    fn discrepancy(&mut self, scenario: Discrepant, scene: &Scene) {
        let (kind, checkout, event, receipt) = match scenario {
            Discrepant::OverRefunded => {
                let checkout = self.plain(scene, CheckoutStatus::Refunded);
                self.paid(scene, checkout, 3);
                self.refund(scene.leg, checkout, scene.amount, scene.later(60));
                self.refund(scene.leg, checkout, 100, scene.later(90));
                (Kind::OverRefund, Some(checkout), None, None)
            }
            Discrepant::PartialPayment => {
                let checkout = self.plain(scene, CheckoutStatus::PartiallyPaid);
                let half = Happening::paid(scene.amount / 2, scene.later(3));
                self.payment(scene.leg, Some(checkout), half, true);
                self.amend(checkout, |row| row.amount_received = scene.amount / 2);
                (Kind::Underpaid, Some(checkout), None, None)
            }
            Discrepant::Overpaid => {
                let checkout = self.plain(scene, CheckoutStatus::Succeeded);
                let more = scene.with_amount(scene.amount + 100);
                let event = self.flagged_payment(&more, checkout, EventFlag::Overpaid);
                self.amend(checkout, |row| row.amount_received = more.amount);
                (Kind::AmountMismatch, Some(checkout), Some(event), None)
            }
            Discrepant::Orphan => {
                let paid = Happening::paid(scene.amount, scene.later(3));
                let event = self.payment(scene.leg, None, paid, true);
                (Kind::OrphanEvent, None, Some(event), None)
            }
            Discrepant::PaidAfterCancel => {
                let checkout = self.plain(scene, CheckoutStatus::Succeeded);
                self.webhook(scene, checkout, EventType::PaymentCanceled, 5);
                let event = self.flagged_payment(scene, checkout, EventFlag::SuccessAfterCancel);
                (Kind::SuccessAfterCancel, Some(checkout), Some(event), None)
            }
            Discrepant::RefusedAfterClose => {
                let checkout = self.plain(scene, CheckoutStatus::Canceled);
                self.webhook(scene, checkout, EventType::PaymentCanceled, 5);
                let refused = Happening::webhook(EventType::PaymentFailed, scene.later(9))
                    .of(scene.amount)
                    .flagged(&[EventFlag::RefusedAfterClose]);
                let event = self.event(scene.leg, Some(checkout), refused);
                (Kind::SuccessAfterCancel, Some(checkout), Some(event), None)
            }
            Discrepant::StaleOpen => {
                let checkout = self.plain(scene, CheckoutStatus::Pending);
                self.amend(checkout, |row| row.expires_at = Some(scene.later(60)));
                self.webhook(scene, checkout, EventType::PaymentPending, 1);
                (Kind::StaleOpen, Some(checkout), None, None)
            }
            Discrepant::SameReferencePaidTwice => {
                let (second, event) = self.paid_twice_by_reference(scene);
                (Kind::DuplicatePayment, Some(second), Some(event), None)
            }
            Discrepant::SecondPayment => {
                let checkout = self.plain(scene, CheckoutStatus::Succeeded);
                self.paid(scene, checkout, 2);
                let event = self.paid(scene, checkout, 30);
                (Kind::DuplicatePayment, Some(checkout), Some(event), None)
            }
            Discrepant::Forged => {
                let (outcome, reason) = (ReceiptOutcome::Rejected, Some("bad signature"));
                let receipt = self.receipt(scene.leg.provider, scene.later(1), outcome, reason);
                (Kind::RejectedWebhook, None, None, Some(receipt))
            }
            Discrepant::DisabledProvider => {
                let checkout = self.plain(scene, CheckoutStatus::Succeeded);
                let event = self.flagged_payment(scene, checkout, EventFlag::DisabledProvider);
                let kind = Kind::DisabledProviderEvent;
                (kind, Some(checkout), Some(event), None)
            }
            Discrepant::Unconfirmed => {
                self.plain(scene, CheckoutStatus::Open);
                let reason = Some("the verify API did not confirm the payment");
                let (provider, at) = (scene.leg.provider, scene.later(3));
                let receipt = self.receipt(provider, at, ReceiptOutcome::Unconfirmed, reason);
                (Kind::Unconfirmed, None, None, Some(receipt))
            }
        };
        self.tally.plant(kind, checkout, event, receipt);
    }

    /// Two checkouts of one order reference, ten minutes apart, both paid: the second
    /// checkout and its payment.
    fn paid_twice_by_reference(&mut self, scene: &Scene) -> (CheckoutId, EventId) {
        let reference = format!("order-{}-again", self.checkouts);
        let first = self.plain(scene, CheckoutStatus::Succeeded);
        self.paid(scene, first, 2);
        let second = self.plain(&scene.after(10), CheckoutStatus::Succeeded);
        let event = self.paid(scene, second, 12);
        for checkout in [first, second] {
            self.amend(checkout, |row| row.reference = Some(reference.clone()));
        }
        (second, event)
    }

    /// A payment of the scene's amount by webhook, 9 minutes into it, flagged as ingestion
    /// flags it; counted.
    fn flagged_payment(&mut self, scene: &Scene, checkout: CheckoutId, flag: EventFlag) -> EventId {
        let happening =
            Happening::paid(scene.amount, scene.later(9)).flagged(std::slice::from_ref(&flag));
        self.payment(scene.leg, Some(checkout), happening, true)
    }

    /// A checkout of the scene's amount, created when it starts.
    fn plain(&mut self, scene: &Scene, status: CheckoutStatus) -> CheckoutId {
        self.checkout(scene.leg, scene.amount, scene.at, status, None, None)
    }

    /// The checkout paid in full by webhook, `minutes` into the scene; counted.
    fn paid(&mut self, scene: &Scene, checkout: CheckoutId, minutes: i64) -> EventId {
        let happening = Happening::paid(scene.amount, scene.later(minutes));
        self.payment(scene.leg, Some(checkout), happening, true)
    }

    /// A webhook of `event_type` about the checkout, `minutes` into the scene.
    fn webhook(
        &mut self,
        scene: &Scene,
        checkout: CheckoutId,
        event_type: EventType,
        minutes: i64,
    ) -> EventId {
        let happening = Happening::webhook(event_type, scene.later(minutes));
        self.event(scene.leg, Some(checkout), happening)
    }

    /// Scenarios at and across the period's edges, which the report must count or leave out.
    fn edges(&mut self) {
        let (from, to) = (self.options.from, self.options.to);
        let leg = Leg {
            provider: "sknpay",
            currency: Currency::Usd,
        };
        let succeeded = CheckoutStatus::Succeeded;
        for (created, paid, counts) in [
            // Wholly before and wholly after: nothing of them counts.
            (from - Duration::days(2), from - Duration::days(1), false),
            (to, to + Duration::minutes(5), false),
            // Paid at the first instant of the period counts; at its end, not.
            (from - Duration::hours(1), from, true),
            (to - Duration::hours(1), to, false),
        ] {
            let amount = self.random.amount();
            let checkout = self.checkout(leg, amount, created, succeeded, None, None);
            self.payment(leg, Some(checkout), Happening::paid(amount, paid), counts);
        }
        // Looked up as paid before the period; its webhook in the period is the same payment.
        let amount = self.random.amount();
        let status = CheckoutStatus::PartiallyRefunded;
        let checkout = self.checkout(leg, amount, from - Duration::hours(3), status, None, None);
        let lookup = Happening::looked_up(amount, from - Duration::hours(2));
        self.payment(leg, Some(checkout), lookup, false);
        let webhook = Happening::paid(amount, from + Duration::hours(1));
        self.payment(leg, Some(checkout), webhook, false);
        // Refunded in the period, paid before it: the refund counts, and is no over-refund.
        self.refund(leg, checkout, amount / 2, from + Duration::hours(2));
    }

    /// Writes the batch in one transaction, many rows a statement (which the multi-backend
    /// connection cannot build, hence the concrete one).
    fn flush(&mut self, conn: &mut DbConnection) -> Result<(), SeedError> {
        let batch = std::mem::take(&mut self.batch);
        write_transaction(conn, |conn| {
            paymux_schema::with_backend!(conn, conn => {
                for rows in batch.checkouts.chunks(500) {
                    diesel::insert_into(checkouts::table).values(rows.to_vec()).execute(conn)?;
                }
                for rows in batch.receipts.chunks(500) {
                    diesel::insert_into(webhook_receipts::table).values(rows.to_vec()).execute(conn)?;
                }
                for rows in batch.events.chunks(500) {
                    diesel::insert_into(events::table).values(rows.to_vec()).execute(conn)?;
                }
                for rows in batch.refunds.chunks(500) {
                    diesel::insert_into(refunds::table).values(rows.to_vec()).execute(conn)?;
                }
            });
            Ok::<_, diesel::result::Error>(())
        })?;
        Ok(())
    }

    fn finish(self) -> Seeded {
        let mut totals: Vec<ProviderTotals> = self.tally.totals.into_values().collect();
        let mut by_currency: BTreeMap<String, CurrencyTotals> = BTreeMap::new();
        for figures in &mut totals {
            figures.net = figures.gross - figures.refunded - figures.fees;
            let currency = by_currency
                .entry(figures.currency.clone())
                .or_insert_with(|| CurrencyTotals {
                    currency: figures.currency.clone(),
                    ..CurrencyTotals::default()
                });
            currency.gross += figures.gross;
            currency.refunded += figures.refunded;
            currency.fees += figures.fees;
            currency.net += figures.net;
        }
        let mut discrepancies = self.tally.planted;
        discrepancies.sort();
        Seeded {
            checkouts: self.checkouts,
            events: self.events,
            totals,
            currency_totals: by_currency.into_values().collect(),
            discrepancies,
        }
    }
}
