//! Webhook receipts: every webhook request as received, kept whether or not it verified, so
//! nothing a provider sent is ever lost.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::webhook_receipts;

pub use paymux_domain::ReceiptOutcome;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = webhook_receipts)]
pub struct WebhookReceipt {
    pub id: String,
    pub merchant: String,
    pub provider: String,
    /// JSON object of the request headers that matter for verification and audit.
    pub headers: String,
    /// The exact bytes received.
    pub body: Vec<u8>,
    pub outcome: String,
    pub reason: Option<String>,
    pub event_count: i32,
    pub received_at: NaiveDateTime,
    /// The length of the body received, whatever `body` keeps of it.
    pub body_length: i64,
    /// Hex SHA-256 of the body as stored in full (with any shared secret redacted), even when
    /// `body` keeps only a prefix or nothing.
    pub body_sha256: Option<String>,
    /// A redelivery of events already stored keeps no body: this is the receipt that has it.
    pub duplicate_of: Option<String>,
    /// The checkout the webhook was about, when its events were not stored (an unconfirmed
    /// success): stored events name their checkout themselves.
    pub checkout_id: Option<String>,
}

impl WebhookReceipt {
    pub fn insert(conn: &mut DbConnection, receipt: &WebhookReceipt) -> QueryResult<()> {
        diesel::insert_into(webhook_receipts::table)
            .values(receipt)
            .execute(conn)
            .map(drop)
    }

    /// Records what became of the receipt once its events are stored.
    pub fn record_outcome(
        conn: &mut DbConnection,
        id: &str,
        outcome: &str,
        reason: Option<&str>,
        event_count: i32,
    ) -> QueryResult<()> {
        diesel::update(webhook_receipts::table.find(id))
            .set((
                webhook_receipts::outcome.eq(outcome),
                webhook_receipts::reason.eq(reason),
                webhook_receipts::event_count.eq(event_count),
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
        id: &str,
    ) -> QueryResult<Option<WebhookReceipt>> {
        webhook_receipts::table
            .filter(webhook_receipts::merchant.eq(merchant))
            .filter(webhook_receipts::id.eq(id))
            .select(WebhookReceipt::as_select())
            .first(conn)
            .optional()
    }
}
