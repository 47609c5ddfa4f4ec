//! Stored events: one row per provider event, unique per merchant, provider and provider
//! event id, so a redelivered webhook stores nothing new.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use diesel::dsl::{AsSelect, SqlTypeOf};

use super::column::{Json, OptionalText, Text, in_row};
use super::schema::{events, webhook_endpoints, webhook_receipts};
use super::{DbConnection, MultiBackend, Page, PageRequest};
use paymux_domain::{
    CheckoutId, Currency, EndpointStatus, EventId, EventSource, EventType, ReceiptId,
};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
#[diesel(treat_none_as_default_value = false)]
pub struct Event {
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub id: EventId,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub event_type: EventType,
    pub merchant: String,
    pub provider: String,
    pub provider_event_id: String,
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub checkout_id: Option<CheckoutId>,
    pub provider_payment_id: Option<String>,
    pub reference: Option<String>,
    pub amount: Option<i64>,
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub currency: Option<Currency>,
    pub fee: Option<i64>,
    pub occurred_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub livemode: bool,
    /// Provider details worth keeping (card brand, failure reason, crypto input, flags).
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub details: Json<serde_json::Value>,
    /// The webhook receipt holding the raw bytes this event came from.
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub receipt_id: Option<ReceiptId>,
    /// Who recorded it.
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub source: EventSource,
}

/// What storing a new event learned on the way ([`Event::insert_new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewEvent {
    /// Whether its merchant has an enabled webhook endpoint; `None` when not asked.
    pub merchant_has_endpoints: Option<bool>,
}

/// Filters of `GET /v1/events` and the export; `created_*` bound `received_at`.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<EventType>,
    pub provider: Option<String>,
    pub checkout_id: Option<CheckoutId>,
    pub created_gte: Option<NaiveDateTime>,
    pub created_lt: Option<NaiveDateTime>,
}

/// A query of events, its selection made.
type EventQuery<'a> =
    events::BoxedQuery<'a, MultiBackend, SqlTypeOf<AsSelect<Event, MultiBackend>>>;

impl EventFilter {
    /// The merchant's events this filter lets through.
    fn query<'a>(&self, merchant: &'a str) -> EventQuery<'a> {
        let mut query = events::table
            .filter(events::merchant.eq(merchant))
            .select(Event::as_select())
            .into_boxed();
        if let Some(event_type) = self.event_type {
            query = query.filter(events::event_type.eq(event_type.as_str()));
        }
        if let Some(provider) = &self.provider {
            query = query.filter(events::provider.eq(provider.clone()));
        }
        if let Some(checkout_id) = &self.checkout_id {
            query = query.filter(events::checkout_id.eq(checkout_id.to_string()));
        }
        if let Some(gte) = self.created_gte {
            query = query.filter(events::received_at.ge(gte));
        }
        if let Some(lt) = self.created_lt {
            query = query.filter(events::received_at.lt(lt));
        }
        query
    }
}

impl Event {
    /// Inserts the event unless one with the same merchant, provider and provider event id is
    /// stored already. Returns whether it was new.
    pub fn insert_if_new(conn: &mut DbConnection, event: &Event) -> QueryResult<bool> {
        Ok(Event::insert_new(conn, event)?.is_some())
    }

    /// [`Event::insert_if_new`], and on PostgreSQL, in the same statement, whether the merchant
    /// has an enabled webhook endpoint: the outbox then needs no round trip of its own for the
    /// many events nobody is sent. `None` when the event was stored before.
    pub fn insert_new(conn: &mut DbConnection, event: &Event) -> QueryResult<Option<NewEvent>> {
        let conflict = (
            events::merchant,
            events::provider,
            events::provider_event_id,
        );
        match conn {
            DbConnection::Postgresql(conn) => {
                let endpoints = diesel::dsl::exists(
                    webhook_endpoints::table
                        .filter(webhook_endpoints::merchant.eq(event.merchant.clone()))
                        .filter(webhook_endpoints::status.eq(EndpointStatus::Enabled.as_str())),
                );
                let found = diesel::insert_into(events::table)
                    .values(event.clone())
                    .on_conflict(conflict)
                    .do_nothing()
                    .returning(endpoints)
                    .get_result::<bool>(conn)
                    .optional()?;
                Ok(found.map(|has| NewEvent {
                    merchant_has_endpoints: Some(has),
                }))
            }
            // In-process statements cost little: the outbox asks for itself.
            DbConnection::Sqlite(conn) => {
                let inserted = diesel::insert_into(events::table)
                    .values(event.clone())
                    .on_conflict(conflict)
                    .do_nothing()
                    .execute(conn)?;
                Ok((inserted == 1).then_some(NewEvent {
                    merchant_has_endpoints: None,
                }))
            }
        }
    }

    /// Stores what applying event `id` to its checkout made of it: a refused success stored
    /// as a failure, the amount of the refund it confirms, the flags it earned.
    pub fn update_applied(
        conn: &mut DbConnection,
        id: &EventId,
        event_type: EventType,
        amount: Option<(i64, Currency)>,
        details: &serde_json::Value,
    ) -> QueryResult<()> {
        diesel::update(events::table.find(id.to_string()))
            .set((
                events::event_type.eq(Text::from(event_type)),
                events::amount.eq(amount.map(|(minor, _)| minor)),
                events::currency.eq(OptionalText::from(amount.map(|(_, currency)| currency))),
                events::details.eq(Text::from(Json(details.clone()))),
            ))
            .execute(conn)
            .map(drop)
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
        checkout_id: &CheckoutId,
        event_type: EventType,
    ) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            events::table
                .filter(events::checkout_id.eq(checkout_id.to_string()))
                .filter(events::event_type.eq(event_type.as_str())),
        ))
        .get_result(conn)
    }

    /// The merchant's event with this id and the raw bytes of the webhook it came from, if it
    /// came from one.
    /// The merchant's event `id`.
    pub fn find(
        conn: &mut DbConnection,
        merchant: &str,
        id: &EventId,
    ) -> QueryResult<Option<Event>> {
        let found = events::table
            .filter(events::merchant.eq(merchant))
            .filter(events::id.eq(id.to_string()))
            .select(Event::as_select())
            .first(conn)
            .optional();
        in_row(found, "events", id)
    }

    pub fn find_with_raw(
        conn: &mut DbConnection,
        merchant: &str,
        id: &EventId,
    ) -> QueryResult<Option<(Event, Option<Vec<u8>>)>> {
        let found = events::table
            .left_join(webhook_receipts::table)
            .filter(events::merchant.eq(merchant))
            .filter(events::id.eq(id.to_string()))
            .select((Event::as_select(), webhook_receipts::body.nullable()))
            .first(conn)
            .optional();
        in_row(found, "events", id)
    }

    /// Up to `limit` of the merchant's events after `after`, oldest first: one page of an
    /// export, which reads the whole period page by page so that memory stays flat.
    pub fn export_page(
        conn: &mut DbConnection,
        merchant: &str,
        filter: &EventFilter,
        after: Option<&EventId>,
        limit: i64,
    ) -> QueryResult<Vec<Event>> {
        let mut query = filter.query(merchant);
        if let Some(after) = after {
            query = query.filter(events::id.gt(after.to_string()));
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
        let mut query = filter.query(merchant);
        if let Some(after) = &page.starting_after {
            query = query.filter(events::id.lt(after.clone()));
        }
        let rows = query
            .order(events::id.desc())
            .limit(page.limit + 1)
            .load(conn)?;
        Ok(Page::from_overfetch(rows, page.limit))
    }
}
