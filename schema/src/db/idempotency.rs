//! Idempotency keys with Stripe's semantics, kept in the database so that every paymux process
//! behind a load balancer sees the same keys: the primary key `(merchant, idempotency_key)`
//! lets exactly one request claim a key; its twins find the claim and wait for or replay it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::idempotency_keys;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRecord {
    pub merchant: String,
    pub idempotency_key: String,
    pub request_method: String,
    pub request_path: String,
    /// Hash of the request body, to tell a retry from a different request under the same key.
    pub request_hash: String,
    /// `None` while the first request is still being served.
    pub response_status: Option<i32>,
    pub response_body: Option<String>,
    pub created_at: NaiveDateTime,
}

/// The result of trying to claim a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This request owns the key and must complete or release it.
    Claimed,
    /// Another request claimed it first; here is its record as it stands.
    Existing(IdempotencyRecord),
}

impl IdempotencyRecord {
    /// Claims the key for `record`'s request unless it is claimed already.
    pub fn claim(conn: &mut DbConnection, record: &IdempotencyRecord) -> QueryResult<Claim> {
        let inserted = crate::with_backend!(conn, conn => diesel::insert_into(idempotency_keys::table)
            .values(record)
            .on_conflict((idempotency_keys::merchant, idempotency_keys::idempotency_key))
            .do_nothing()
            .execute(conn))?;
        if inserted == 1 {
            return Ok(Claim::Claimed);
        }
        Self::find(conn, &record.merchant, &record.idempotency_key)?
            .map(Claim::Existing)
            // Released between our insert and our read: the caller may simply try again.
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

    /// Stores the response of the request that claimed the key, for its twins to replay.
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
            ))
            .execute(conn)
            .map(drop)
    }

    /// Gives the key up after a failure that changed nothing, so a retry may claim it again.
    pub fn release(conn: &mut DbConnection, merchant: &str, key: &str) -> QueryResult<()> {
        diesel::delete(
            idempotency_keys::table
                .find((merchant, key))
                .filter(idempotency_keys::response_status.is_null()),
        )
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
