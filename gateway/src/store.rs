//! What can go wrong when paymux reads or writes its store, whoever asked.

/// The store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection in time (the pool is exhausted or the database is down): a retry may
    /// succeed.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[from] r2d2::Error),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// The write queue is full: a retry after a moment may succeed.
    #[error("too many writes are waiting; retry later")]
    Busy,
    /// The write's group was not committed (the database failed it, or it could not start):
    /// nothing of it is stored.
    #[error("the write was not committed: {0}")]
    Commit(String),
    /// The blocking task running the work was lost.
    #[error("the database task failed: {0}")]
    Task(String),
}

impl From<actix_web::error::BlockingError> for StoreError {
    fn from(error: actix_web::error::BlockingError) -> StoreError {
        StoreError::Task(error.to_string())
    }
}
