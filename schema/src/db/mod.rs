//! The store: one diesel connection type over SQLite and PostgreSQL, chosen at run time from the
//! database URL, an r2d2 pool, embedded migrations, and the two places where the backends'
//! SQL differs (upserts and write transactions).
//!
//! Every query is written once against [`DbConnection`]. Rows insert `None` as `NULL`
//! (`treat_none_as_default_value = false`; no nullable column has another default), so an
//! insert's SQL is the same whatever the row holds and its prepared statement is cached. Only what diesel's multi-backend cannot
//! express goes through [`with_backend!`], which runs the same expression on the concrete
//! connection.

pub mod activity;
pub mod audit;
pub mod checkout;
pub mod column;
pub mod event;
pub mod idempotency;
pub mod node;
pub mod outbound;
pub mod receipt;
pub mod reconcile;
pub mod refund;
pub mod schema;
pub mod session;

use std::path::PathBuf;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::R2D2Connection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryResult};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// A connection to whichever backend the URL named.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$conn` bound to the concrete connection inside a [`DbConnection`], for the
/// few statements (`ON CONFLICT`, backend-specific transactions) the multi-backend cannot build.
#[macro_export]
macro_rules! with_backend {
    ($db:expr, $conn:ident => $body:expr) => {
        match $db {
            $crate::db::DbConnection::Postgresql($conn) => $body,
            $crate::db::DbConnection::Sqlite($conn) => $body,
        }
    };
}

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://…` or `postgresql://…`, passed to libpq as written.
    Postgres(String),
    /// `sqlite://path/to/file.db` (relative to the working directory) or `sqlite:///abs/path`.
    Sqlite(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database url must start with sqlite:// or postgres:// (got `{0}`)")]
    UnsupportedUrl(String),
    #[error("could not create the directory for the SQLite database {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not open the database pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database migrations failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<DatabaseUrl, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        match url.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => Ok(DatabaseUrl::Sqlite(PathBuf::from(path))),
            _ => Err(DbError::UnsupportedUrl(redact_url(url))),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            DatabaseUrl::Postgres(_) => "postgres",
            DatabaseUrl::Sqlite(_) => "sqlite",
        }
    }
}

/// The URL without its password, for errors and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Opens connections for the pool; SQLite connections get the pragmas paymux relies on.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

/// SQLite settings applied to every connection: WAL so readers never block the writer,
/// `synchronous = FULL` so a committed webhook survives power loss, a busy timeout so writers
/// queue instead of failing, and foreign keys enforced. Temporary storage stays in memory: a
/// group commit run again after a failed write puts each write in a savepoint, whose undo
/// journal would otherwise spill to a temporary file (created, written page by page and
/// deleted in every such group) once it passes 64 KiB; it holds only the group's own changed
/// pages, so memory bounds it well.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;";

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let conn =
                    PgConnection::establish(url).map_err(diesel::r2d2::Error::ConnectionError)?;
                Ok(DbConnection::Postgresql(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = SqliteConnection::establish(&path)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// How big the pool is and how long a caller waits for a connection.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens a pool for `url` (creating the SQLite file's directory if needed) and checks that one
/// connection can be made, so a wrong URL fails at start-up and not on the first request.
pub fn connect(url: &str, options: PoolOptions) -> Result<Pool, DbError> {
    let url = DatabaseUrl::parse(url)?;
    if let DatabaseUrl::Sqlite(path) = &url
        && let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let pool = r2d2::Pool::builder()
        .max_size(options.max_connections)
        .min_idle(Some(1))
        .connection_timeout(options.acquire_timeout)
        .build(ConnectionManager { url })?;
    Ok(pool)
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A constant key for PostgreSQL's advisory lock, so that processes starting together run the
/// migrations one after the other instead of racing on `CREATE TABLE`.
const MIGRATION_LOCK_KEY: i64 = 0x7061_796d_7578; // "paymux"

/// Applies the embedded migrations that have not run yet; returns how many ran.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, DbError> {
    let migration_error =
        |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    match conn {
        DbConnection::Sqlite(conn) => conn
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|applied| applied.len())
            .map_err(migration_error),
        DbConnection::Postgresql(conn) => {
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let applied = conn
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|applied| applied.len())
                .map_err(migration_error);
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            applied
        }
    }
}

/// Runs `work` in a transaction that may write. On SQLite it begins `IMMEDIATE`, taking the
/// write lock up front: a deferred transaction that reads first and writes later fails with
/// `SQLITE_BUSY` under concurrency instead of waiting its turn. On PostgreSQL it is a plain
/// transaction; row locks and constraints do the rest. Inside a transaction already (one
/// unit of a group commit) it is a savepoint: a failing `work` rolls back only its own writes.
pub fn write_transaction<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    type Manager = <DbConnection as Connection>::TransactionManager;
    let outermost = Manager::transaction_manager_status_mut(conn)
        .transaction_depth()?
        .is_none();
    match conn {
        DbConnection::Sqlite(sqlite) if outermost => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?
        }
        _ => Manager::begin_transaction(conn)?,
    }
    match work(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
            Err(rollback_error) => Err(rollback_error.into()),
        },
    }
}

/// Refreshes the planner statistics of every table that changed by more than a tenth (and 50
/// rows) since it was last analyzed, as autovacuum does where it runs; names what it analyzed.
/// PostgreSQL keeps a prepared statement's generic plan until its tables' statistics change:
/// a plan made while a table was empty (where any index starting with `merchant` costs the
/// same as the right one) would otherwise go on scanning a merchant's every row as the table
/// grows. SQLite's plans do not depend on table sizes: it analyzes nothing.
pub fn analyze_stale_tables(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Stale {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let DbConnection::Postgresql(conn) = conn else {
        return Ok(Vec::new());
    };
    let stale: Vec<Stale> = diesel::sql_query(
        "SELECT quote_ident(relname) AS name FROM pg_stat_user_tables \
         WHERE schemaname = current_schema() AND n_mod_since_analyze > 50 + n_live_tup / 10 \
         ORDER BY relname",
    )
    .load(conn)?;
    for table in &stale {
        conn.batch_execute(&format!("ANALYZE {}", table.name))?;
    }
    Ok(stale.into_iter().map(|table| table.name).collect())
}

/// `WITH stored AS (insert) query`: on PostgreSQL, a query and an insert it does not read sent
/// as one statement, so that both take one round trip. PostgreSQL runs a data-modifying `WITH`
/// once and to completion whatever the query finds, and checks the inserted rows' foreign keys
/// at the statement's end, as for an insert of its own.
#[derive(Debug, Clone, Copy)]
pub struct WithInsert<I, Q> {
    pub insert: I,
    pub query: Q,
}

impl<I, Q: diesel::query_builder::Query> diesel::query_builder::Query for WithInsert<I, Q> {
    type SqlType = Q::SqlType;
}

impl<I: diesel::query_builder::QueryId, Q: diesel::query_builder::QueryId>
    diesel::query_builder::QueryId for WithInsert<I, Q>
{
    type QueryId = WithInsert<I::QueryId, Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = I::HAS_STATIC_QUERY_ID && Q::HAS_STATIC_QUERY_ID;
}

impl<I, Q> diesel::query_builder::QueryFragment<diesel::pg::Pg> for WithInsert<I, Q>
where
    I: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
    Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        out.push_sql("WITH stored AS (");
        self.insert.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.query.walk_ast(out.reborrow())
    }
}

impl<I, Q> diesel::RunQueryDsl<PgConnection> for WithInsert<I, Q> {}

/// Checks that the database answers; what `/readyz` reports.
pub fn ping(conn: &mut DbConnection) -> QueryResult<()> {
    conn.ping()
}

/// The current time as stored: UTC, truncated to microseconds, the finest precision both
/// backends keep, so a value reads back equal to what was written on either.
pub fn now() -> chrono::NaiveDateTime {
    truncate_to_micros(chrono::Utc::now())
}

/// The store's own time, for what several nodes compare (leases, heartbeats): PostgreSQL's
/// clock, so that nodes whose clocks drift still agree; SQLite's store has one host, whose
/// clock this is.
pub fn store_now(conn: &mut DbConnection) -> QueryResult<chrono::NaiveDateTime> {
    #[derive(diesel::QueryableByName)]
    struct Now {
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        now: chrono::NaiveDateTime,
    }
    match conn {
        DbConnection::Postgresql(conn) => {
            use diesel::RunQueryDsl;
            // now() is the transaction's start: close enough for a lease of many seconds.
            let row: Now =
                diesel::sql_query("SELECT (now() AT TIME ZONE 'UTC') AS now").get_result(conn)?;
            Ok(truncate_to_micros(row.now.and_utc()))
        }
        DbConnection::Sqlite(_) => Ok(now()),
    }
}

pub fn truncate_to_micros(time: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    let naive = time.naive_utc();
    naive
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(naive)
}

/// A cursor page request: at most `limit` rows older than `starting_after` (an id), newest first.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: i64,
    pub starting_after: Option<String>,
}

/// One page of rows and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Builds a page from a query that fetched `limit + 1` rows: the extra row only says that
    /// more exist.
    pub fn from_overfetch(mut rows: Vec<T>, limit: i64) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Page {
            items: rows,
            has_more,
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// A migrated SQLite database in a temporary directory, removed when dropped.
    pub struct TestDb {
        pub pool: Pool,
        _dir: tempfile::TempDir,
    }

    impl TestDb {
        pub fn conn(&self) -> PooledConnection {
            self.pool.get().unwrap()
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("paymux.db").display());
        let pool = connect(&url, PoolOptions::default()).unwrap();
        run_migrations(&mut pool.get().unwrap()).unwrap();
        TestDb { pool, _dir: dir }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend_by_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/paymux.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("data/paymux.db"))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/paymux.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("/var/lib/paymux.db"))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://u@localhost/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(matches!(
            DatabaseUrl::parse("postgresql://u@localhost/db").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("mysql://u@localhost/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn passwords_are_redacted_from_url_errors() {
        let err = DatabaseUrl::parse("mysql://paymux:hunter2@db/paymux").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn sqlite_connections_get_wal_and_foreign_keys_and_migrations_are_idempotent() {
        let db = test_support::sqlite();
        let mut conn = db.conn();
        assert_eq!(
            run_migrations(&mut conn).unwrap(),
            0,
            "second run applies nothing"
        );
        #[derive(diesel::QueryableByName)]
        struct Pragma {
            #[diesel(sql_type = diesel::sql_types::Text)]
            journal_mode: String,
        }
        use diesel::RunQueryDsl;
        let mode: Pragma = diesel::sql_query("PRAGMA journal_mode")
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(mode.journal_mode, "wal");
        // Foreign keys are on: an event pointing at a missing checkout is refused.
        let orphan = conn.batch_execute(
            "INSERT INTO events (id, event_type, merchant, provider, provider_event_id, \
             checkout_id, occurred_at, received_at, livemode, details) VALUES ('evt_x', \
             'payment.succeeded', 'm', 'p', 'e', 'chk_missing', '2026-01-01 00:00:00', \
             '2026-01-01 00:00:00', 0, '{}')",
        );
        assert!(orphan.is_err());
    }

    #[test]
    fn write_transaction_rolls_back_on_error_and_commits_on_success() {
        let db = test_support::sqlite();
        let mut conn = db.conn();
        let insert = "INSERT INTO idempotency_keys (merchant, idempotency_key, request_method, \
             request_path, request_hash, resource_id, created_at) VALUES ('m', 'k', 'POST', '/', \
             'h', 'chk_1', '2026-01-01 00:00:00')";
        let failed: Result<(), diesel::result::Error> = write_transaction(&mut conn, |conn| {
            conn.batch_execute(insert)?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(failed.is_err());
        let count = || {
            use diesel::prelude::*;
            schema::idempotency_keys::table
                .count()
                .get_result::<i64>(&mut *db.conn())
                .unwrap()
        };
        assert_eq!(count(), 0);
        write_transaction::<_, diesel::result::Error>(&mut conn, |conn| conn.batch_execute(insert))
            .unwrap();
        assert_eq!(count(), 1);
    }
}
