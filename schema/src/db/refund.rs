//! Refunds paymux asked a provider for.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::column::{Json, Text, in_row};
use super::schema::{events, refunds};
use paymux_domain::{CheckoutId, Currency, EventType, RefundId};

pub use paymux_domain::RefundStatus;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = refunds)]
#[diesel(treat_none_as_default_value = false)]
pub struct Refund {
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub id: RefundId,
    pub merchant: String,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub checkout_id: CheckoutId,
    pub provider: String,
    pub provider_refund_id: Option<String>,
    pub amount: i64,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub currency: Currency,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub status: RefundStatus,
    pub failure_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Refund {
    pub fn insert(conn: &mut DbConnection, refund: &Refund) -> QueryResult<()> {
        diesel::insert_into(refunds::table)
            .values(refund.clone())
            .execute(conn)
            .map(drop)
    }

    pub fn find(
        conn: &mut DbConnection,
        merchant: &str,
        id: &RefundId,
    ) -> QueryResult<Option<Refund>> {
        let found = refunds::table
            .filter(refunds::merchant.eq(merchant))
            .filter(refunds::id.eq(id.to_string()))
            .select(Refund::as_select())
            .first(conn)
            .optional();
        in_row(found, "refunds", id)
    }

    /// The checkout's refunds, oldest first.
    pub fn for_checkout(
        conn: &mut DbConnection,
        checkout_id: &CheckoutId,
    ) -> QueryResult<Vec<Refund>> {
        refunds::table
            .filter(refunds::checkout_id.eq(checkout_id.to_string()))
            .order(refunds::id.asc())
            .select(Refund::as_select())
            .load(conn)
    }

    /// The checkout's oldest refund, succeeded or in flight, that no `payment.refunded` event
    /// confirms yet (such an event names the refund it confirms in its details' `refund_id`).
    pub fn unconfirmed_of(
        conn: &mut DbConnection,
        checkout_id: &CheckoutId,
    ) -> QueryResult<Option<Refund>> {
        let confirmations: Vec<Json<serde_json::Value>> = events::table
            .filter(events::checkout_id.eq(checkout_id.to_string()))
            .filter(events::event_type.eq(EventType::PaymentRefunded.as_str()))
            .select(events::details)
            .load::<Text>(conn)?
            .into_iter()
            .map(Json::try_from)
            .collect::<Result<_, _>>()
            .map_err(|error| diesel::result::Error::DeserializationError(error.into()))?;
        let confirmed: Vec<&str> = confirmations
            .iter()
            .filter_map(|details| details.0.get("refund_id")?.as_str())
            .collect();
        Ok(Refund::for_checkout(conn, checkout_id)?
            .into_iter()
            .filter(|refund| refund.status != RefundStatus::Failed)
            .find(|refund| !confirmed.contains(&refund.id.to_string().as_str())))
    }

    /// [`Refund::committed_total`] of a checkout's refunds already loaded.
    pub fn committed_in(refunds: &[Refund]) -> i64 {
        refunds
            .iter()
            .filter(|refund| refund.status != RefundStatus::Failed)
            .fold(0i64, |sum, refund| sum.saturating_add(refund.amount))
    }

    /// The amount refunded or being refunded on the checkout: what a new refund must not
    /// push past what the checkout received.
    pub fn committed_total(conn: &mut DbConnection, checkout_id: &CheckoutId) -> QueryResult<i64> {
        let amounts: Vec<i64> = refunds::table
            .filter(refunds::checkout_id.eq(checkout_id.to_string()))
            .filter(refunds::status.ne(RefundStatus::Failed.as_str()))
            .select(refunds::amount)
            .load(conn)?;
        // Each refund is at most the checkout amount, so the sum of a checkout's refunds fits.
        Ok(amounts.into_iter().fold(0i64, i64::saturating_add))
    }

    pub fn update_outcome(
        conn: &mut DbConnection,
        id: &RefundId,
        status: RefundStatus,
        provider_refund_id: Option<&str>,
        failure_reason: Option<&str>,
        now: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::update(refunds::table.find(id.to_string()))
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
