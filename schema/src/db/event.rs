//! Stored events: one row per provider event, unique per merchant, provider and provider
//! event id, so a redelivered webhook stores nothing new.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::checkout::Checkout;
use super::schema::{events, webhook_receipts};
use super::{DbConnection, Page, PageRequest};
use paymux_domain::ids::EventId;
use paymux_domain::{EventSource, EventType};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = events)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub merchant: String,
    pub provider: String,
    pub provider_event_id: String,
    pub checkout_id: Option<String>,
    pub provider_payment_id: Option<String>,
    pub reference: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub fee: Option<i64>,
    pub occurred_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub livemode: bool,
    /// JSON object of provider details.
    pub details: String,
    /// The webhook receipt holding the raw bytes this event came from.
    pub receipt_id: Option<String>,
    /// Who recorded it: an [`paymux_domain::EventSource`].
    pub source: String,
}

/// Filters of `GET /v1/events`; `created_*` bound `received_at`.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub provider: Option<String>,
    pub checkout_id: Option<String>,
    pub created_gte: Option<NaiveDateTime>,
    pub created_lt: Option<NaiveDateTime>,
}

impl Event {
    /// An event paymux records about a checkout with no webhook behind it: a change a lookup
    /// at the provider found, or an expiry paymux applied. A success carries the checkout's
    /// amount (a provider reporting its checkout paid reports that amount paid).
    pub fn about_checkout(
        checkout: &Checkout,
        event_type: EventType,
        provider_event_id: String,
        source: EventSource,
        details: &serde_json::Value,
        occurred_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Event {
        let paid = event_type == EventType::PaymentSucceeded;
        Event {
            id: EventId::generate().to_string(),
            event_type: event_type.as_str().to_owned(),
            merchant: checkout.merchant.clone(),
            provider: checkout.provider.clone(),
            provider_event_id,
            checkout_id: Some(checkout.id.clone()),
            provider_payment_id: checkout.provider_checkout_id.clone(),
            reference: checkout.reference.clone(),
            amount: paid.then_some(checkout.amount),
            currency: paid.then(|| checkout.currency.clone()),
            fee: None,
            occurred_at,
            received_at: now,
            livemode: checkout.livemode,
            details: details.to_string(),
            receipt_id: None,
            source: source.as_str().to_owned(),
        }
    }

    /// Inserts the event unless one with the same merchant, provider and provider event id is
    /// stored already. Returns whether it was new.
    pub fn insert_if_new(conn: &mut DbConnection, event: &Event) -> QueryResult<bool> {
        let inserted = crate::with_backend!(conn, conn => diesel::insert_into(events::table)
            .values(event)
            .on_conflict((events::merchant, events::provider, events::provider_event_id))
            .do_nothing()
            .execute(conn))?;
        Ok(inserted == 1)
    }

    /// The stored event with this provider event id, if any.
    pub fn find_by_provider_event_id(
        conn: &mut DbConnection,
        merchant: &str,
        provider: &str,
        provider_event_id: &str,
    ) -> QueryResult<Option<Event>> {
        events::table
            .filter(events::merchant.eq(merchant))
            .filter(events::provider.eq(provider))
            .filter(events::provider_event_id.eq(provider_event_id))
            .select(Event::as_select())
            .first(conn)
            .optional()
    }

    /// Whether the checkout has an event of this type.
    pub fn exists_for_checkout(
        conn: &mut DbConnection,
        checkout_id: &str,
        event_type: &str,
    ) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            events::table
                .filter(events::checkout_id.eq(checkout_id))
                .filter(events::event_type.eq(event_type)),
        ))
        .get_result(conn)
    }

    pub fn find(conn: &mut DbConnection, merchant: &str, id: &str) -> QueryResult<Option<Event>> {
        events::table
            .filter(events::merchant.eq(merchant))
            .filter(events::id.eq(id))
            .select(Event::as_select())
            .first(conn)
            .optional()
    }

    /// The event and the raw bytes of the webhook it came from, if it came from one.
    pub fn find_with_raw(
        conn: &mut DbConnection,
        merchant: &str,
        id: &str,
    ) -> QueryResult<Option<(Event, Option<Vec<u8>>)>> {
        events::table
            .left_join(webhook_receipts::table)
            .filter(events::merchant.eq(merchant))
            .filter(events::id.eq(id))
            .select((Event::as_select(), webhook_receipts::body.nullable()))
            .first(conn)
            .optional()
    }

    /// Up to `limit` of the merchant's events after `after` (an id), oldest first: one page of
    /// an export, which reads the whole period page by page so that memory stays flat.
    pub fn export_page(
        conn: &mut DbConnection,
        merchant: &str,
        filter: &EventFilter,
        after: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Event>> {
        let mut query = events::table
            .filter(events::merchant.eq(merchant))
            .select(Event::as_select())
            .into_boxed();
        if let Some(event_type) = &filter.event_type {
            query = query.filter(events::event_type.eq(event_type));
        }
        if let Some(provider) = &filter.provider {
            query = query.filter(events::provider.eq(provider));
        }
        if let Some(checkout_id) = &filter.checkout_id {
            query = query.filter(events::checkout_id.eq(checkout_id));
        }
        if let Some(gte) = filter.created_gte {
            query = query.filter(events::received_at.ge(gte));
        }
        if let Some(lt) = filter.created_lt {
            query = query.filter(events::received_at.lt(lt));
        }
        if let Some(after) = after {
            query = query.filter(events::id.gt(after));
        }
        query.order(events::id.asc()).limit(limit).load(conn)
    }

    /// A page of the merchant's events, newest first.
    pub fn list(
        conn: &mut DbConnection,
        merchant: &str,
        filter: &EventFilter,
        page: &PageRequest,
    ) -> QueryResult<Page<Event>> {
        let mut query = events::table
            .filter(events::merchant.eq(merchant))
            .select(Event::as_select())
            .into_boxed();
        if let Some(event_type) = &filter.event_type {
            query = query.filter(events::event_type.eq(event_type));
        }
        if let Some(provider) = &filter.provider {
            query = query.filter(events::provider.eq(provider));
        }
        if let Some(checkout_id) = &filter.checkout_id {
            query = query.filter(events::checkout_id.eq(checkout_id));
        }
        if let Some(gte) = filter.created_gte {
            query = query.filter(events::received_at.ge(gte));
        }
        if let Some(lt) = filter.created_lt {
            query = query.filter(events::received_at.lt(lt));
        }
        if let Some(after) = &page.starting_after {
            query = query.filter(events::id.lt(after));
        }
        let rows = query
            .order(events::id.desc())
            .limit(page.limit + 1)
            .load(conn)?;
        Ok(Page::from_overfetch(rows, page.limit))
    }
}
