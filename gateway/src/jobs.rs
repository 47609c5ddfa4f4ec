//! Background jobs, run every `[jobs] interval_secs` while the server runs: deleting what the
//! retention settings let go. Each run reads the config of the moment, so a reload applies to
//! the next run. Every job is safe to run on several servers at once: each is a set of
//! statements the database decides.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use paymux_schema::db::idempotency::IdempotencyRecord;
use paymux_schema::db::receipt::WebhookReceipt;
use paymux_schema::db::truncate_to_micros;

use crate::error::ApiError;
use crate::idempotency;
use crate::state::AppState;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Run {
    pub rejected_receipts_deleted: usize,
    pub idempotency_keys_deleted: usize,
}

/// Runs the jobs every interval, the first time one interval after start, until the task is
/// dropped.
pub async fn run_forever(state: AppState) {
    loop {
        let interval = state.config().settings.jobs.interval_secs;
        tokio::time::sleep(Duration::from_secs(interval)).await;
        match run_once(&state).await {
            Ok(run) if run != Run::default() => tracing::info!(?run, "background jobs ran"),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "background jobs failed; next run will retry"),
        }
    }
}

/// One run of every job.
pub async fn run_once(state: &AppState) -> Result<Run, ApiError> {
    let retention = state.config().settings.retention;
    let now = truncate_to_micros(Utc::now());
    let rejected_cutoff = now - TimeDelta::days(i64::from(retention.rejected_receipts_days));
    state
        .db(move |conn| {
            Ok(Run {
                rejected_receipts_deleted: WebhookReceipt::delete_rejected_before(
                    conn,
                    rejected_cutoff,
                )?,
                idempotency_keys_deleted: IdempotencyRecord::purge_created_before(
                    conn,
                    now - idempotency::RETENTION,
                )?,
            })
        })
        .await
}
