//! Background jobs, run every `[jobs] interval_secs` while the server runs: expiring checkouts
//! nobody paid, deleting what the retention settings let go, and keeping PostgreSQL's planner
//! statistics fresh where autovacuum does not ([`analyze_stale_tables`]). Each run reads the config of
//! the moment, so a reload applies to the next run. On several nodes, one at a time runs them:
//! the one holding the jobs' lease, renewed each run; when it dies, another takes over once the
//! lease lapses. Each job would be safe twice at once anyway: every change is decided by the
//! database (a checkout is locked and checked again before it is expired; an expiry's event id
//! is derived from the checkout, so it is stored once).

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use paymux_schema::db::idempotency::IdempotencyRecord;
use paymux_schema::db::node::{Node, take_lease};
use paymux_schema::db::receipt::WebhookReceipt;
use paymux_schema::db::session::DashboardSession;
use paymux_schema::db::{analyze_stale_tables, store_now, truncate_to_micros};

use crate::domain::expiry;
use crate::idempotency;
use crate::nodes;
use crate::state::AppState;
use crate::store::StoreError;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Run {
    pub checkouts_expired: usize,
    pub rejected_receipts_deleted: usize,
    pub idempotency_keys_deleted: usize,
    /// Dashboard sessions past their end.
    pub sessions_deleted: usize,
    /// Tables whose planner statistics were refreshed.
    pub tables_analyzed: usize,
}

/// The lease the periodic jobs run under.
const LEASE: &str = "periodic_jobs";

/// Runs the jobs every interval, the first time one interval after start, while this node
/// holds their lease, until the task is dropped.
pub async fn run_forever(state: AppState) {
    loop {
        let interval = state.config().settings.jobs.interval_secs;
        tokio::time::sleep(Duration::from_secs(interval)).await;
        match holds_lease(&state, interval).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(error) => {
                tracing::error!(%error, "could not take the jobs' lease; next run will retry");
                continue;
            }
        }
        match run_once(&state).await {
            Ok(run) if run != Run::default() => tracing::info!(?run, "background jobs ran"),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "background jobs failed; next run will retry"),
        }
    }
}

/// Takes or renews the jobs' lease for this node, for two intervals (a run may take a while):
/// whether it is this node's to run them.
async fn holds_lease(state: &AppState, interval: u64) -> Result<bool, StoreError> {
    let holder = state.node.id.clone();
    let seconds = i64::try_from(interval.saturating_mul(2)).unwrap_or(i64::MAX);
    let lease = TimeDelta::seconds(seconds.max(10));
    state
        .write(move |conn| {
            // The store's clock: the nodes' own may drift apart.
            let now = store_now(conn)?;
            Ok::<_, StoreError>(take_lease(conn, LEASE, &holder, now, now + lease)?)
        })
        .await
}

/// One run of every job.
pub async fn run_once(state: &AppState) -> Result<Run, StoreError> {
    let config = state.config();
    let now = truncate_to_micros(Utc::now());
    let checkouts_expired = expiry::expire_due(state, &config, now).await?;
    let retention = config.settings.retention;
    let rejected_cutoff = now - TimeDelta::days(i64::from(retention.rejected_receipts_days));
    let (rejected_receipts_deleted, idempotency_keys_deleted, sessions_deleted) = state
        .write(move |conn| {
            Ok::<_, StoreError>((
                WebhookReceipt::delete_rejected_before(conn, rejected_cutoff)?,
                IdempotencyRecord::purge_created_before(conn, now - idempotency::RETENTION)?,
                DashboardSession::delete_expired(conn, now)?,
            ))
        })
        .await?;
    let tables_analyzed = state
        .store(|conn| Ok::<_, StoreError>(analyze_stale_tables(conn)?.len()))
        .await?;
    Ok(Run {
        checkouts_expired,
        rejected_receipts_deleted,
        idempotency_keys_deleted,
        sessions_deleted,
        tables_analyzed,
    })
}

/// Writes this node's heartbeat now, at the store's time (what `GET /v1/admin/nodes` compares
/// it with).
pub async fn beat(state: &AppState) -> Result<(), StoreError> {
    let node = state.node.clone();
    let settings = state.config();
    state
        .write(move |conn| {
            let now = store_now(conn)?;
            Node::beat(conn, &node.row(&settings.settings, now))?;
            Node::delete_unseen_since(conn, now - nodes::FORGOTTEN_AFTER)?;
            Ok::<_, StoreError>(())
        })
        .await
}

/// Beats every [`HEARTBEAT`] until the task is dropped.
pub async fn beat_forever(state: AppState) {
    loop {
        if let Err(error) = beat(&state).await {
            tracing::warn!(%error, "could not write this node's heartbeat");
        }
        tokio::time::sleep(nodes::HEARTBEAT).await;
    }
}
