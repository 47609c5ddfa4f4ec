//! Idempotency keys with Stripe's semantics, kept in the database so that every paymux process
//! behind a load balancer sees the same keys.
//!
//! The primary key `(merchant, idempotency_key)` lets one request claim a key. The claim holds
//! a lock (`locked_until`) while the request runs and fixes the id of the object it creates
//! (`resource_id`), so a retry after a failure creates the same object under the same id and
//! sends the provider the same idempotency key. A finished request stores its response, which
//! twins replay.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::column::{Json, OptionalText};
use super::schema::idempotency_keys;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
#[diesel(treat_none_as_default_value = false)]
pub struct IdempotencyRecord {
    pub merchant: String,
    pub idempotency_key: String,
    pub request_method: String,
    pub request_path: String,
    /// Hash of the request body, to tell a retry from a different request under the same key.
    pub request_hash: String,
    /// The id of the object this request creates, the same on every retry.
    pub resource_id: String,
    /// While in the future, a request is running under this key.
    pub locked_until: Option<NaiveDateTime>,
    /// `None` until a request under this key has finished.
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
    pub created_at: NaiveDateTime,
    /// The providers a request under this key has called, written before each call, so the
    /// last is one that may have acted (a timeout, an unreadable answer, a request that died);
    /// `None` when none may have. A retry must go back to that provider, under the same
    /// idempotency key, rather than route again and make a second checkout elsewhere.
    #[diesel(deserialize_as = OptionalText, serialize_as = OptionalText)]
    pub providers_tried: Option<Json<Vec<String>>>,
}

/// The result of trying to claim a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This request holds the key's lock and must complete or unlock it.
    Claimed(IdempotencyRecord),
    /// The key is taken; here is its record as it stands.
    Existing(IdempotencyRecord),
}

impl IdempotencyRecord {
    /// Claims the key for `record`'s request unless it is claimed already.
    pub fn claim(conn: &mut DbConnection, record: &IdempotencyRecord) -> QueryResult<Claim> {
        let inserted = crate::with_backend!(conn, conn => diesel::insert_into(idempotency_keys::table)
            .values(record.clone())
            .on_conflict((idempotency_keys::merchant, idempotency_keys::idempotency_key))
            .do_nothing()
            .execute(conn))?;
        if inserted == 1 {
            return Ok(Claim::Claimed(record.clone()));
        }
        Self::find(conn, &record.merchant, &record.idempotency_key)?
            .map(Claim::Existing)
            // Forgotten between our insert and our read: the caller may simply try again.
            .ok_or(diesel::result::Error::NotFound)
    }

    pub fn find(
        conn: &mut DbConnection,
        merchant: &str,
        key: &str,
    ) -> QueryResult<Option<IdempotencyRecord>> {
        idempotency_keys::table
            .find((merchant, key))
            .select(IdempotencyRecord::as_select())
            .first(conn)
            .optional()
    }

    /// Takes the lock of an unfinished key whose lock has lapsed (its request failed and
    /// unlocked it, or its process died). One UPDATE, so of several contenders one wins.
    pub fn lock(
        conn: &mut DbConnection,
        merchant: &str,
        key: &str,
        now: NaiveDateTime,
        until: NaiveDateTime,
    ) -> QueryResult<bool> {
        let locked = diesel::update(
            idempotency_keys::table
                .find((merchant, key))
                .filter(idempotency_keys::response_status.is_null())
                .filter(
                    idempotency_keys::locked_until
                        .is_null()
                        .or(idempotency_keys::locked_until.le(now)),
                ),
        )
        .set(idempotency_keys::locked_until.eq(Some(until)))
        .execute(conn)?;
        Ok(locked == 1)
    }

    /// Lets a retry run after a failure that stored no response.
    pub fn unlock(conn: &mut DbConnection, merchant: &str, key: &str) -> QueryResult<()> {
        diesel::update(
            idempotency_keys::table
                .find((merchant, key))
                .filter(idempotency_keys::response_status.is_null()),
        )
        .set(idempotency_keys::locked_until.eq(None::<NaiveDateTime>))
        .execute(conn)
        .map(drop)
    }

    /// Sets the providers tried by the request holding the key (see
    /// [`IdempotencyRecord::providers_tried`]) and renews its lock, in one UPDATE.
    pub fn pin(
        conn: &mut DbConnection,
        merchant: &str,
        key: &str,
        providers_tried: Option<Vec<String>>,
        locked_until: NaiveDateTime,
    ) -> QueryResult<()> {
        let providers_tried = OptionalText::from(providers_tried.map(Json));
        diesel::update(
            idempotency_keys::table
                .find((merchant, key))
                .filter(idempotency_keys::response_status.is_null()),
        )
        .set((
            idempotency_keys::providers_tried.eq(providers_tried),
            idempotency_keys::locked_until.eq(Some(locked_until)),
        ))
        .execute(conn)
        .map(drop)
    }

    /// Stores the response of the request that holds the key, for its twins to replay.
    pub fn complete(
        conn: &mut DbConnection,
        merchant: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> QueryResult<()> {
        diesel::update(idempotency_keys::table.find((merchant, key)))
            .set((
                idempotency_keys::response_status.eq(Some(i32::from(status))),
                idempotency_keys::response_body.eq(Some(body)),
                idempotency_keys::locked_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)
            .map(drop)
    }

    /// Forgets keys created before `cutoff` (24 h ago): after that a key may be reused.
    pub fn purge_created_before(
        conn: &mut DbConnection,
        cutoff: NaiveDateTime,
    ) -> QueryResult<usize> {
        diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(cutoff)))
            .execute(conn)
    }
}
