//! Refunds paymux asked a provider for.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{events, refunds};
use paymux_domain::EventType;

pub use paymux_domain::RefundStatus;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = refunds)]
pub struct Refund {
    pub id: String,
    pub merchant: String,
    pub checkout_id: String,
    pub provider: String,
    pub provider_refund_id: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub failure_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Refund {
    pub fn insert(conn: &mut DbConnection, refund: &Refund) -> QueryResult<()> {
        diesel::insert_into(refunds::table)
            .values(refund)
            .execute(conn)
            .map(drop)
    }

    pub fn find(conn: &mut DbConnection, merchant: &str, id: &str) -> QueryResult<Option<Refund>> {
        refunds::table
            .filter(refunds::merchant.eq(merchant))
            .filter(refunds::id.eq(id))
            .select(Refund::as_select())
            .first(conn)
            .optional()
    }

    /// The checkout's refunds, oldest first.
    pub fn for_checkout(conn: &mut DbConnection, checkout_id: &str) -> QueryResult<Vec<Refund>> {
        refunds::table
            .filter(refunds::checkout_id.eq(checkout_id))
            .order(refunds::id.asc())
            .select(Refund::as_select())
            .load(conn)
    }

    /// The checkout's oldest refund, succeeded or in flight, that no `payment.refunded` event
    /// confirms yet (such an event names the refund it confirms in its details' `refund_id`).
    pub fn unconfirmed_of(
        conn: &mut DbConnection,
        checkout_id: &str,
    ) -> QueryResult<Option<Refund>> {
        let confirmations: Vec<String> = events::table
            .filter(events::checkout_id.eq(checkout_id))
            .filter(events::event_type.eq(EventType::PaymentRefunded.as_str()))
            .select(events::details)
            .load(conn)?;
        let confirmed: Vec<String> = confirmations
            .iter()
            .filter_map(|details| serde_json::from_str::<serde_json::Value>(details).ok())
            .filter_map(|details| details.get("refund_id")?.as_str().map(str::to_owned))
            .collect();
        Ok(Refund::for_checkout(conn, checkout_id)?
            .into_iter()
            .filter(|refund| refund.status != RefundStatus::Failed.as_str())
            .find(|refund| !confirmed.contains(&refund.id)))
    }

    /// The amount refunded or being refunded on the checkout: what a new refund must not
    /// push past the checkout's amount.
    pub fn committed_total(conn: &mut DbConnection, checkout_id: &str) -> QueryResult<i64> {
        let amounts: Vec<i64> = refunds::table
            .filter(refunds::checkout_id.eq(checkout_id))
            .filter(refunds::status.ne(RefundStatus::Failed.as_str()))
            .select(refunds::amount)
            .load(conn)?;
        // Each refund is at most the checkout amount, so the sum of a checkout's refunds fits.
        Ok(amounts.into_iter().fold(0i64, i64::saturating_add))
    }

    /// Reserves a refused refund again, for `amount`, when it is retried.
    pub fn reserve_again(
        conn: &mut DbConnection,
        id: &str,
        amount: i64,
        now: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::update(refunds::table.find(id))
            .set((
                refunds::amount.eq(amount),
                refunds::status.eq(RefundStatus::Pending.as_str()),
                refunds::failure_reason.eq(None::<String>),
                refunds::updated_at.eq(now),
            ))
            .execute(conn)
            .map(drop)
    }

    pub fn update_outcome(
        conn: &mut DbConnection,
        id: &str,
        status: RefundStatus,
        provider_refund_id: Option<&str>,
        failure_reason: Option<&str>,
        now: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::update(refunds::table.find(id))
            .set((
                refunds::status.eq(status.as_str()),
                refunds::provider_refund_id.eq(provider_refund_id),
                refunds::failure_reason.eq(failure_reason),
                refunds::updated_at.eq(now),
            ))
            .execute(conn)
            .map(drop)
    }
}
