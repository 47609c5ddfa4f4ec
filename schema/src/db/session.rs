//! Dashboard sessions: one row per signed-in browser, found by the SHA-256 of its cookie's
//! token, so that any node accepts the cookie and a stolen copy of the table signs nobody in.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::dashboard_sessions;

#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = dashboard_sessions)]
#[diesel(treat_none_as_default_value = false)]
pub struct DashboardSession {
    /// Hex SHA-256 of the token the cookie carries.
    pub token_hash: String,
    /// The merchant the session sees, or `None` for ops (signed in with the admin token).
    pub merchant: Option<String>,
    /// Every form of the session carries it; a post without it is refused.
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// Hex SHA-256 of the admin token or API key the session signed in with.
    pub credential_hash: String,
}

/// Shows neither hash nor the CSRF token: each would help whoever reads a log.
impl std::fmt::Debug for DashboardSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardSession")
            .field("merchant", &self.merchant)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl DashboardSession {
    pub fn insert(conn: &mut DbConnection, session: &DashboardSession) -> QueryResult<()> {
        diesel::insert_into(dashboard_sessions::table)
            .values(session)
            .execute(conn)
            .map(drop)
    }

    /// The session of `token_hash`, unless it has expired.
    pub fn find_live(
        conn: &mut DbConnection,
        token_hash: &str,
        now: NaiveDateTime,
    ) -> QueryResult<Option<DashboardSession>> {
        dashboard_sessions::table
            .filter(dashboard_sessions::token_hash.eq(token_hash))
            .filter(dashboard_sessions::expires_at.gt(now))
            .select(DashboardSession::as_select())
            .first(conn)
            .optional()
    }

    /// Ends the session of `token_hash` (signing out).
    pub fn delete(conn: &mut DbConnection, token_hash: &str) -> QueryResult<()> {
        diesel::delete(
            dashboard_sessions::table.filter(dashboard_sessions::token_hash.eq(token_hash)),
        )
        .execute(conn)
        .map(drop)
    }

    /// Deletes the sessions that expired before `now`; how many.
    pub fn delete_expired(conn: &mut DbConnection, now: NaiveDateTime) -> QueryResult<usize> {
        diesel::delete(dashboard_sessions::table.filter(dashboard_sessions::expires_at.le(now)))
            .execute(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let session = DashboardSession {
            token_hash: "token-hash-secret".to_owned(),
            merchant: Some("demo".to_owned()),
            csrf_token: "csrf-secret".to_owned(),
            created_at: NaiveDateTime::default(),
            expires_at: NaiveDateTime::default(),
            credential_hash: "credential-secret".to_owned(),
        };
        let shown = format!("{session:?}");
        assert!(shown.contains("demo"), "{shown}");
        for secret in ["token-hash-secret", "csrf-secret", "credential-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
