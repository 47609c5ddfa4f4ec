//! Webhook receipts: every webhook request as received, kept whether or not it verified, so
//! nothing a provider sent is ever lost.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use paymux_domain::{CheckoutId, ReceiptId};

use super::DbConnection;
use super::column::{Json, OptionalText, Text, in_row};
use super::schema::webhook_receipts;

pub use paymux_domain::ReceiptOutcome;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_receipts)]
#[diesel(treat_none_as_default_value = false)]
pub struct WebhookReceipt {
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub id: ReceiptId,
    pub merchant: String,
    pub provider: String,
    /// The request headers that matter for verification and audit, by lower-case name.
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub headers: Json<serde_json::Value>,
    /// The bytes received, as far as the outcome keeps them (see `body_length`).
    pub body: Vec<u8>,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub outcome: ReceiptOutcome,
    pub reason: Option<String>,
    pub event_count: i32,
    pub received_at: NaiveDateTime,
    /// The length of the body received, whatever `body` keeps of it.
    pub body_length: i64,
    /// Hex SHA-256 of the body as stored in full (with any shared secret redacted), even when
    /// `body` keeps only a prefix or nothing.
    pub body_sha256: Option<String>,
    /// A redelivery of events already stored keeps no body: this is the receipt that has it.
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub duplicate_of: Option<ReceiptId>,
    /// The checkout the webhook was about, when its events were not stored (an unconfirmed
    /// success): stored events name their checkout themselves.
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub checkout_id: Option<CheckoutId>,
}

impl WebhookReceipt {
    /// The merchant's newest receipts with one of `outcomes`.
    pub fn recent(
        conn: &mut DbConnection,
        merchant: &str,
        outcomes: &[ReceiptOutcome],
        limit: i64,
    ) -> QueryResult<Vec<WebhookReceipt>> {
        let outcomes: Vec<&str> = outcomes.iter().map(|outcome| outcome.as_str()).collect();
        webhook_receipts::table
            .filter(webhook_receipts::merchant.eq(merchant))
            .filter(webhook_receipts::outcome.eq_any(outcomes))
            .order(webhook_receipts::id.desc())
            .limit(limit)
            .select(WebhookReceipt::as_select())
            .load(conn)
    }

    /// How many of the merchant's webhooks received in `[from, to)` had each outcome.
    pub fn count_outcomes(
        conn: &mut DbConnection,
        merchant: &str,
        (from, to): (NaiveDateTime, NaiveDateTime),
    ) -> QueryResult<Vec<(String, i64)>> {
        webhook_receipts::table
            .filter(webhook_receipts::merchant.eq(merchant))
            .filter(webhook_receipts::received_at.ge(from))
            .filter(webhook_receipts::received_at.lt(to))
            .group_by(webhook_receipts::outcome)
            .select((webhook_receipts::outcome, diesel::dsl::count_star()))
            .load(conn)
    }

    pub fn insert(conn: &mut DbConnection, receipt: &WebhookReceipt) -> QueryResult<()> {
        diesel::insert_into(webhook_receipts::table)
            .values(receipt.clone())
            .execute(conn)
            .map(drop)
    }

    /// Records what became of the receipt once its events are stored.
    pub fn record_outcome(
        conn: &mut DbConnection,
        id: &ReceiptId,
        outcome: ReceiptOutcome,
        reason: Option<&str>,
        event_count: i32,
    ) -> QueryResult<()> {
        diesel::update(webhook_receipts::table.find(id.to_string()))
            .set((
                webhook_receipts::outcome.eq(outcome.as_str()),
                webhook_receipts::reason.eq(reason),
                webhook_receipts::event_count.eq(event_count),
            ))
            .execute(conn)
            .map(drop)
    }

    /// Marks receipt `id` a redelivery of what receipt `first` holds: its body is dropped, as
    /// `first` keeps it.
    pub fn mark_duplicate_of(
        conn: &mut DbConnection,
        id: &ReceiptId,
        first: &ReceiptId,
    ) -> QueryResult<()> {
        diesel::update(webhook_receipts::table.find(id.to_string()))
            .set((
                webhook_receipts::outcome.eq(ReceiptOutcome::Duplicate.as_str()),
                webhook_receipts::event_count.eq(0),
                webhook_receipts::body.eq(Vec::<u8>::new()),
                webhook_receipts::duplicate_of.eq(Some(first.to_string())),
            ))
            .execute(conn)
            .map(drop)
    }

    /// Deletes rejected receipts received before `cutoff`; returns how many. Accepted,
    /// duplicate and unconfirmed receipts are kept: events and reports point at them.
    pub fn delete_rejected_before(
        conn: &mut DbConnection,
        cutoff: NaiveDateTime,
    ) -> QueryResult<usize> {
        diesel::delete(
            webhook_receipts::table
                .filter(webhook_receipts::outcome.eq(ReceiptOutcome::Rejected.as_str()))
                .filter(webhook_receipts::received_at.lt(cutoff)),
        )
        .execute(conn)
    }

    pub fn find(
        conn: &mut DbConnection,
        merchant: &str,
        id: &ReceiptId,
    ) -> QueryResult<Option<WebhookReceipt>> {
        let found = webhook_receipts::table
            .filter(webhook_receipts::merchant.eq(merchant))
            .filter(webhook_receipts::id.eq(id.to_string()))
            .select(WebhookReceipt::as_select())
            .first(conn)
            .optional();
        in_row(found, "webhook_receipts", id)
    }

    /// The merchant's receipts of a checkout's story: those whose events are `events`' (by
    /// `ids`), and those kept against the checkout with no event stored (an unconfirmed success).
    pub fn for_checkout(
        conn: &mut DbConnection,
        merchant: &str,
        ids: &[ReceiptId],
        checkout: &CheckoutId,
    ) -> QueryResult<Vec<WebhookReceipt>> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        webhook_receipts::table
            .filter(webhook_receipts::merchant.eq(merchant))
            .filter(
                webhook_receipts::id
                    .eq_any(ids)
                    .or(webhook_receipts::checkout_id.eq(checkout.to_string())),
            )
            .order(webhook_receipts::id.asc())
            .select(WebhookReceipt::as_select())
            .load(conn)
    }
}
