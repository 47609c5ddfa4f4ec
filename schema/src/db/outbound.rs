//! Outbound webhooks: a merchant's endpoints, the body each event is delivered with, the
//! message each event becomes for each endpoint (the outbox, written with the event), and the
//! attempts to send them. Several processes share the work: a sender claims due messages with
//! a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so no two send one message at once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::column::{Json, OptionalText, Text, in_row};
use super::schema::{outbound_events, webhook_attempts, webhook_endpoints, webhook_messages};
use super::{DbConnection, Page, PageRequest};
use paymux_domain::{DeliveryId, EndpointId, EndpointStatus, EventId, MessageId, MessageStatus};

/// An endpoint's signing secret (`whsec_…`): stored as written, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(String);

impl EndpointSecret {
    pub fn new(secret: String) -> EndpointSecret {
        EndpointSecret(secret)
    }

    /// The secret itself: only to sign with, or to show its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret([redacted])")
    }
}

impl From<Text> for EndpointSecret {
    fn from(text: Text) -> EndpointSecret {
        EndpointSecret(text.0)
    }
}

impl From<EndpointSecret> for Text {
    fn from(secret: EndpointSecret) -> Text {
        Text(secret.0)
    }
}

impl From<OptionalText> for Option<EndpointSecret> {
    fn from(text: OptionalText) -> Option<EndpointSecret> {
        text.0.map(EndpointSecret)
    }
}

impl From<Option<EndpointSecret>> for OptionalText {
    fn from(secret: Option<EndpointSecret>) -> OptionalText {
        OptionalText(secret.map(|secret| secret.0))
    }
}

/// Where a merchant receives events.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = webhook_endpoints)]
#[diesel(treat_none_as_default_value = false, treat_none_as_null = true)]
pub struct WebhookEndpoint {
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub id: EndpointId,
    pub merchant: String,
    pub url: String,
    pub description: Option<String>,
    /// Event types, or `["*"]` for every one.
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub enabled_events: Json<Vec<String>>,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub status: EndpointStatus,
    /// Why paymux disabled it (a 410, five days of failures); `None` when the merchant did.
    pub disabled_reason: Option<String>,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub secret: EndpointSecret,
    /// The secret before the last rotation, which signs too until `previous_secret_until`.
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub previous_secret: Option<EndpointSecret>,
    pub previous_secret_until: Option<NaiveDateTime>,
    /// Since when every attempt to it failed; `None` once one succeeds.
    pub failing_since: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The columns of an endpoint one writer owns ([`WebhookEndpoint::save`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointPart {
    /// What the merchant sets: url, events, description, status (and what enabling clears).
    Settings,
    /// The secret and the previous one, with its overlap.
    Secrets,
    /// What deliveries tell: status, why it was disabled, since when it fails.
    Health,
}

impl WebhookEndpoint {
    /// Whether events of `event_type` go to it.
    pub fn wants(&self, event_type: &str) -> bool {
        self.enabled_events
            .0
            .iter()
            .any(|wanted| wanted == "*" || wanted == event_type)
    }

    /// The secrets to sign with at `now`: the current one, and the previous one during its
    /// overlap after a rotation.
    pub fn signing_secrets(&self, now: NaiveDateTime) -> Vec<&EndpointSecret> {
        let previous = self
            .previous_secret
            .as_ref()
            .filter(|_| self.previous_secret_until.is_some_and(|until| now < until));
        std::iter::once(&self.secret).chain(previous).collect()
    }

    pub fn insert(conn: &mut DbConnection, endpoint: &WebhookEndpoint) -> QueryResult<()> {
        diesel::insert_into(webhook_endpoints::table)
            .values(endpoint.clone())
            .execute(conn)
            .map(drop)
    }

    /// Writes `part` of `endpoint` over its row, and nothing else: the merchant's settings, a
    /// rotation's secrets and the senders' health are written by different hands, each from a
    /// copy read earlier, and none may undo another's (a sender's stale copy must not bring a
    /// rotated secret back).
    pub fn save(
        conn: &mut DbConnection,
        endpoint: &WebhookEndpoint,
        part: EndpointPart,
    ) -> QueryResult<()> {
        use webhook_endpoints as columns;
        let row = webhook_endpoints::table.find(endpoint.id.to_string());
        let health = (
            columns::status.eq(endpoint.status.as_str()),
            columns::disabled_reason.eq(endpoint.disabled_reason.clone()),
            columns::failing_since.eq(endpoint.failing_since),
            columns::updated_at.eq(endpoint.updated_at),
        );
        let written = match part {
            EndpointPart::Settings => diesel::update(row)
                .set((
                    columns::url.eq(&endpoint.url),
                    columns::description.eq(endpoint.description.clone()),
                    columns::enabled_events.eq(Text::from(endpoint.enabled_events.clone())),
                    health,
                ))
                .execute(conn),
            EndpointPart::Secrets => diesel::update(row)
                .set((
                    columns::secret.eq(endpoint.secret.expose()),
                    columns::previous_secret.eq(endpoint
                        .previous_secret
                        .as_ref()
                        .map(EndpointSecret::expose)),
                    columns::previous_secret_until.eq(endpoint.previous_secret_until),
                    columns::updated_at.eq(endpoint.updated_at),
                ))
                .execute(conn),
            EndpointPart::Health => diesel::update(row).set(health).execute(conn),
        };
        written.map(drop)
    }

    /// The merchant's endpoint `id`.
    pub fn find(
        conn: &mut DbConnection,
        merchant: &str,
        id: &EndpointId,
    ) -> QueryResult<Option<WebhookEndpoint>> {
        let found = webhook_endpoints::table
            .filter(webhook_endpoints::merchant.eq(merchant))
            .filter(webhook_endpoints::id.eq(id.to_string()))
            .select(WebhookEndpoint::as_select())
            .first(conn)
            .optional();
        in_row(found, "webhook_endpoints", id)
    }

    /// A page of the merchant's endpoints, newest first.
    pub fn list(
        conn: &mut DbConnection,
        merchant: &str,
        page: &PageRequest,
    ) -> QueryResult<Page<WebhookEndpoint>> {
        let mut query = webhook_endpoints::table
            .filter(webhook_endpoints::merchant.eq(merchant))
            .select(WebhookEndpoint::as_select())
            .into_boxed();
        if let Some(after) = &page.starting_after {
            query = query.filter(webhook_endpoints::id.lt(after.clone()));
        }
        let rows = query
            .order(webhook_endpoints::id.desc())
            .limit(page.limit + 1)
            .load(conn)?;
        Ok(Page::from_overfetch(rows, page.limit))
    }

    /// The merchant's enabled endpoints: where a new event goes.
    pub fn enabled_for(
        conn: &mut DbConnection,
        merchant: &str,
    ) -> QueryResult<Vec<WebhookEndpoint>> {
        webhook_endpoints::table
            .filter(webhook_endpoints::merchant.eq(merchant))
            .filter(webhook_endpoints::status.eq(EndpointStatus::Enabled.as_str()))
            .select(WebhookEndpoint::as_select())
            .load(conn)
    }

    /// Whether the merchant has any endpoint at all.
    pub fn any_for(conn: &mut DbConnection, merchant: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            webhook_endpoints::table.filter(webhook_endpoints::merchant.eq(merchant)),
        ))
        .get_result(conn)
    }

    /// Deletes the endpoint; its messages and their attempts go with it (`ON DELETE CASCADE`).
    /// Whether it existed.
    pub fn delete(conn: &mut DbConnection, merchant: &str, id: &EndpointId) -> QueryResult<bool> {
        let deleted = diesel::delete(
            webhook_endpoints::table
                .filter(webhook_endpoints::merchant.eq(merchant))
                .filter(webhook_endpoints::id.eq(id.to_string())),
        )
        .execute(conn)?;
        Ok(deleted == 1)
    }
}

/// What an event is delivered as: its body, fixed when the event was stored (the checkout as
/// it stood then), shared by every endpoint it goes to.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbound_events)]
pub struct OutboundEvent {
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub id: EventId,
    pub merchant: String,
    pub event_type: String,
    pub body: String,
    pub created_at: NaiveDateTime,
}

impl OutboundEvent {
    /// Stores the body unless the event has one already (a resend of an event stored
    /// before outbound webhooks existed writes it then).
    pub fn insert_if_new(conn: &mut DbConnection, event: &OutboundEvent) -> QueryResult<()> {
        crate::with_backend!(conn, conn => diesel::insert_into(outbound_events::table)
            .values(event.clone())
            .on_conflict(outbound_events::id)
            .do_nothing()
            .execute(conn))
        .map(drop)
    }

    pub fn find(conn: &mut DbConnection, id: &EventId) -> QueryResult<Option<OutboundEvent>> {
        let found = outbound_events::table
            .find(id.to_string())
            .select(OutboundEvent::as_select())
            .first(conn)
            .optional();
        in_row(found, "outbound_events", id)
    }
}

/// One event for one endpoint. Its id is the `webhook-id` of every attempt, resends included.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_messages)]
#[diesel(treat_none_as_default_value = false)]
pub struct WebhookMessage {
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub id: MessageId,
    pub merchant: String,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub endpoint_id: EndpointId,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub event_id: EventId,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub status: MessageStatus,
    /// Attempts made so far.
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    /// Until when a sender holds it; another may take it over after.
    pub leased_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A claimed message with what sending it takes.
#[derive(Debug, Clone)]
pub struct Due {
    pub message: WebhookMessage,
    pub endpoint: WebhookEndpoint,
    pub event: OutboundEvent,
}

impl WebhookMessage {
    /// How many of the merchant's messages made in `[from, to)` stand at each status.
    pub fn count_statuses(
        conn: &mut DbConnection,
        merchant: &str,
        (from, to): (NaiveDateTime, NaiveDateTime),
    ) -> QueryResult<Vec<(String, i64)>> {
        webhook_messages::table
            .filter(webhook_messages::merchant.eq(merchant))
            .filter(webhook_messages::created_at.ge(from))
            .filter(webhook_messages::created_at.lt(to))
            .group_by(webhook_messages::status)
            .select((webhook_messages::status, diesel::dsl::count_star()))
            .load(conn)
    }

    /// A new message of `event` for `endpoint`, due at `now`.
    pub fn new(merchant: &str, endpoint: &EndpointId, event: &EventId, now: NaiveDateTime) -> Self {
        WebhookMessage {
            id: MessageId::generate(),
            merchant: merchant.to_owned(),
            endpoint_id: *endpoint,
            event_id: *event,
            status: MessageStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            leased_until: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn insert(conn: &mut DbConnection, message: &WebhookMessage) -> QueryResult<()> {
        diesel::insert_into(webhook_messages::table)
            .values(message.clone())
            .execute(conn)
            .map(drop)
    }

    /// The message of `event` for `endpoint`, if one was made.
    pub fn find(
        conn: &mut DbConnection,
        endpoint: &EndpointId,
        event: &EventId,
    ) -> QueryResult<Option<WebhookMessage>> {
        let found = webhook_messages::table
            .filter(webhook_messages::endpoint_id.eq(endpoint.to_string()))
            .filter(webhook_messages::event_id.eq(event.to_string()))
            .select(WebhookMessage::as_select())
            .first(conn)
            .optional();
        in_row(found, "webhook_messages", event)
    }

    /// Makes `message` due again at `now` (a resend), keeping its id and attempt count. It
    /// takes the message from a sender that holds it: that sender's record of its attempt then
    /// leaves the message alone ([`WebhookMessage::record_attempt`]), so the resend stands.
    pub fn make_due(
        conn: &mut DbConnection,
        id: &MessageId,
        now: NaiveDateTime,
    ) -> QueryResult<()> {
        diesel::update(webhook_messages::table.find(id.to_string()))
            .set((
                webhook_messages::status.eq(MessageStatus::Pending.as_str()),
                webhook_messages::next_attempt_at.eq(Some(now)),
                webhook_messages::leased_until.eq(None::<NaiveDateTime>),
                webhook_messages::updated_at.eq(now),
            ))
            .execute(conn)
            .map(drop)
    }

    /// Takes up to `limit` due messages of enabled endpoints, the longest due first, and
    /// leases them until `lease_until`: messages another sender holds (locked, or leased and
    /// not yet lapsed) are passed over.
    pub fn claim_due(
        conn: &mut DbConnection,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
        limit: i64,
    ) -> QueryResult<Vec<Due>> {
        let enabled = webhook_endpoints::table
            .filter(webhook_endpoints::status.eq(EndpointStatus::Enabled.as_str()))
            .select(webhook_endpoints::id);
        let due = webhook_messages::table
            .filter(webhook_messages::status.eq(MessageStatus::Pending.as_str()))
            .filter(webhook_messages::next_attempt_at.le(now))
            .filter(
                webhook_messages::leased_until
                    .is_null()
                    .or(webhook_messages::leased_until.lt(now)),
            )
            .filter(webhook_messages::endpoint_id.eq_any(enabled))
            .order(webhook_messages::next_attempt_at.asc())
            .limit(limit)
            .select(webhook_messages::id);
        let ids: Vec<String> = match conn {
            DbConnection::Postgresql(conn) => due.for_update().skip_locked().load(conn)?,
            // SQLite's write transactions run one at a time: nobody else is claiming.
            DbConnection::Sqlite(conn) => due.load(conn)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        diesel::update(webhook_messages::table.filter(webhook_messages::id.eq_any(&ids)))
            .set(webhook_messages::leased_until.eq(Some(lease_until)))
            .execute(conn)?;
        let rows: Vec<(WebhookMessage, WebhookEndpoint, OutboundEvent)> = webhook_messages::table
            .inner_join(webhook_endpoints::table)
            .inner_join(outbound_events::table)
            .filter(webhook_messages::id.eq_any(&ids))
            .order(webhook_messages::next_attempt_at.asc())
            .select((
                WebhookMessage::as_select(),
                WebhookEndpoint::as_select(),
                OutboundEvent::as_select(),
            ))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(message, endpoint, event)| Due {
                message,
                endpoint,
                event,
            })
            .collect())
    }

    /// Stores what an attempt did: the attempt's log row, and the message's new state
    /// (released from its lease) while the sender still holds the lease it claimed the
    /// message with; a message resent meanwhile, or taken by another sender after the lease
    /// lapsed, is theirs, and keeps the state they gave it.
    pub fn record_attempt(
        conn: &mut DbConnection,
        message: &WebhookMessage,
        attempt: &WebhookAttempt,
    ) -> QueryResult<()> {
        let held = webhook_messages::table
            .filter(webhook_messages::id.eq(message.id.to_string()))
            .filter(webhook_messages::leased_until.eq(message.leased_until));
        diesel::update(held)
            .set((
                webhook_messages::status.eq(Text::from(message.status)),
                webhook_messages::attempts.eq(message.attempts),
                webhook_messages::next_attempt_at.eq(message.next_attempt_at),
                webhook_messages::leased_until.eq(None::<NaiveDateTime>),
                webhook_messages::updated_at.eq(message.updated_at),
            ))
            .execute(conn)?;
        diesel::insert_into(webhook_attempts::table)
            .values(attempt.clone())
            .execute(conn)
            .map(drop)
    }

    /// Fails every pending message of a disabled endpoint: none is left waiting for ever.
    pub fn fail_pending(
        conn: &mut DbConnection,
        endpoint: &EndpointId,
        now: NaiveDateTime,
    ) -> QueryResult<usize> {
        diesel::update(
            webhook_messages::table
                .filter(webhook_messages::endpoint_id.eq(endpoint.to_string()))
                .filter(webhook_messages::status.eq(MessageStatus::Pending.as_str())),
        )
        .set((
            webhook_messages::status.eq(MessageStatus::Failed.as_str()),
            webhook_messages::next_attempt_at.eq(None::<NaiveDateTime>),
            webhook_messages::updated_at.eq(now),
        ))
        .execute(conn)
    }

    /// How many messages are pending, and when the longest-due of them fell due.
    pub fn backlog(conn: &mut DbConnection) -> QueryResult<(i64, Option<NaiveDateTime>)> {
        webhook_messages::table
            .filter(webhook_messages::status.eq(MessageStatus::Pending.as_str()))
            .select((
                diesel::dsl::count_star(),
                diesel::dsl::min(webhook_messages::next_attempt_at),
            ))
            .first(conn)
    }
}

/// One attempt to deliver a message, as `GET /v1/webhook_endpoints/{id}/deliveries` lists it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts)]
#[diesel(treat_none_as_default_value = false)]
pub struct WebhookAttempt {
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub id: DeliveryId,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub message_id: MessageId,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub endpoint_id: EndpointId,
    #[diesel(deserialize_as = Text, serialize_as = Text)]
    pub event_id: EventId,
    /// 1 for the first attempt.
    pub attempt: i32,
    /// `None` when the endpoint gave no answer (refused, timed out).
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub attempted_at: NaiveDateTime,
    /// When the next attempt is due; `None` when none will follow.
    pub next_attempt_at: Option<NaiveDateTime>,
}

impl WebhookAttempt {
    /// The first `limit` attempts to deliver any of `events`, oldest first: a checkout's
    /// notifications.
    pub fn for_events(
        conn: &mut DbConnection,
        events: &[EventId],
        limit: i64,
    ) -> QueryResult<Vec<WebhookAttempt>> {
        let ids: Vec<String> = events.iter().map(ToString::to_string).collect();
        webhook_attempts::table
            .filter(webhook_attempts::event_id.eq_any(ids))
            .order((
                webhook_attempts::attempted_at.asc(),
                webhook_attempts::id.asc(),
            ))
            .limit(limit)
            .select(WebhookAttempt::as_select())
            .load(conn)
    }

    /// A page of the endpoint's attempts, newest first.
    pub fn list(
        conn: &mut DbConnection,
        endpoint: &EndpointId,
        page: &PageRequest,
    ) -> QueryResult<Page<WebhookAttempt>> {
        let mut query = webhook_attempts::table
            .filter(webhook_attempts::endpoint_id.eq(endpoint.to_string()))
            .select(WebhookAttempt::as_select())
            .into_boxed();
        if let Some(after) = &page.starting_after {
            query = query.filter(webhook_attempts::id.lt(after.clone()));
        }
        let rows = query
            .order(webhook_attempts::id.desc())
            .limit(page.limit + 1)
            .load(conn)?;
        Ok(Page::from_overfetch(rows, page.limit))
    }
}
