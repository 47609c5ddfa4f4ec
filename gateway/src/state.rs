//! What every request handler shares.

use std::sync::Arc;

use actix_web::web;
use paymux_schema::db::{DbConnection, Pool};

use crate::error::ApiError;
use crate::merchants::Merchants;
use crate::metrics::Metrics;
use crate::sandbox::Sandbox;
use crate::settings::Settings;

#[derive(Clone)]
pub struct AppState {
    pub db: Pool,
    pub merchants: Arc<Merchants>,
    pub settings: Arc<Settings>,
    pub metrics: Metrics,
    /// The simulated providers, when `sandbox.enabled`.
    pub sandbox: Option<Arc<Sandbox>>,
}

impl AppState {
    /// Runs blocking diesel work on actix's blocking pool, off the async workers, with a pooled
    /// connection.
    pub async fn db<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.db.clone();
        web::block(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await?
    }
}
