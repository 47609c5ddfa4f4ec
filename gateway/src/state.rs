//! What every request handler shares.

use std::sync::Arc;

use actix_web::web;
use paymux_schema::db::{DbConnection, Pool};

use crate::breaker::Breakers;
use crate::error::ApiError;
use crate::live::{Live, LiveConfig, ReloadError, ReloadReport};
use crate::metrics::Metrics;
use crate::nodes::NodeIdentity;
use crate::ratelimit::RateLimiter;
use crate::shared::Redis;
use crate::store::StoreError;
use crate::writer::Writer;

#[derive(Clone)]
pub struct AppState {
    /// For reads, and for the rare writes off the request paths (jobs, the seed).
    pub db: Pool,
    /// Where the request paths write: group commits ([`crate::writer`]).
    pub writer: Writer,
    /// The reloadable config: merchants, routing, rate limits, admin token, sandbox faults; and
    /// the settings the process started with, for what only a restart changes.
    pub live: Arc<Live>,
    /// In memory, per process, kept across reloads.
    pub breakers: Arc<Breakers>,
    /// This process among the nodes sharing the store.
    pub node: Arc<NodeIdentity>,
    /// Where nodes share limits and circuits (`[redis] url`), when configured.
    pub redis: Option<Arc<Redis>>,
    pub limiter: Arc<RateLimiter>,
    /// Rejected webhooks, per merchant and provider and per client address.
    pub rejections: Arc<RateLimiter>,
    /// Dashboard sign-in attempts, per client address (an IPv6 /64), apart from the webhooks'
    /// buckets so that neither crowds the other out.
    pub sign_ins: Arc<RateLimiter>,
    pub metrics: Metrics,
}

impl AppState {
    /// The config in force now; a request takes it once and keeps it.
    pub fn config(&self) -> Arc<LiveConfig> {
        self.live.snapshot()
    }

    /// Reads the config again (SIGHUP, `POST /v1/admin/reload`) and swaps it in if valid.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let report = self.live.reload().await;
        match &report {
            Ok(report) => tracing::info!(
                merchants = ?report.merchants,
                restart_required = ?report.restart_required,
                "configuration reloaded"
            ),
            Err(error) => {
                tracing::error!(%error, "configuration reload refused; the running one stays")
            }
        }
        report
    }

    /// Runs CPU-bound work (reading an unauthenticated body) on actix's blocking pool, so a
    /// large body never holds an async worker that other requests wait on.
    pub async fn cpu<T, F>(&self, work: F) -> Result<T, actix_web::error::BlockingError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        web::block(work).await
    }

    /// Runs blocking diesel work on actix's blocking pool, off the async workers, with a pooled
    /// connection; `E` is the caller's error, which a store failure converts into.
    pub async fn store<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.db.clone();
        web::block(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            work(&mut conn)
        })
        .await
        .map_err(|error| E::from(StoreError::from(error)))?
    }

    /// Runs `work` in the next group commit ([`Writer::write`]), answered once that group
    /// committed; `work` may run twice, so it does nothing but its database work.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnMut(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.write(work).await
    }

    /// [`AppState::write`] for what records a provider's action: it waits for room in the
    /// queue instead of being refused ([`Writer::write_waiting`]).
    pub async fn write_waiting<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnMut(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.write_waiting(work).await
    }

    /// [`AppState::store`] for handlers, whose errors are the API's.
    pub async fn db<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.store(work).await
    }
}
