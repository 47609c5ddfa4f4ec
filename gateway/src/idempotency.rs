//! `Idempotency-Key` with Stripe's semantics for the API's POSTs: the same key and body within
//! 24 h replay the first response unchanged, the same key with another body is a 409, and
//! concurrent twins wait for the first and replay its response, so exactly one provider call
//! is made. State lives in the database (see `paymux_schema::db::idempotency`), which makes
//! this hold across processes.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{TimeDelta, Utc};
use paymux_providers::signing::hex_sha256;
use paymux_schema::db::idempotency::{Claim, IdempotencyRecord};
use paymux_schema::db::{DbConnection, truncate_to_micros};
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::live::LiveConfig;
use crate::state::AppState;
use crate::store::StoreError;

/// How long a key is remembered.
pub const RETENTION: TimeDelta = TimeDelta::hours(24);
/// How much longer than one provider call's timeout a running request holds its key before a
/// twin may take over. The lock is renewed before each provider call ([`Key::pin`]), as
/// routing may make several in a row, so it only lapses when the request died.
const LOCK_MARGIN: TimeDelta = TimeDelta::seconds(30);
/// How long a twin waits for the running request before answering 409.
const WAIT_FOR: Duration = Duration::from_secs(30);
const MAX_KEY_LENGTH: usize = 255;

/// How a request under a key proceeds.
pub enum Begin {
    /// Run the request, creating the object `resource_id`; then complete or unlock the key.
    Execute(Key),
    /// A request under this key already finished: send its response again.
    Replay { status: u16, body: String },
}

/// A held key. Completing it stores the response; unlocking it lets a retry run.
#[derive(Debug, Clone)]
pub struct Key {
    merchant: String,
    key: String,
    /// The id of the object the request creates, fixed by the first attempt.
    pub resource_id: String,
    /// Set when an earlier attempt called these providers and the last of them may have
    /// acted: the retry goes back to it (see [`Key::pin`]).
    pub providers_tried: Option<Vec<String>>,
    /// How long each renewal of the lock holds it.
    lock_for: TimeDelta,
}

/// The header, as the API document describes it.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// Any 1 to 255 visible characters, unique per operation: a retry with the same key and
    /// body within 24 h answers what the first request answered, and makes no second
    /// provider call.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255)]
    pub key: Option<String>,
}

/// The key a request sent, if any.
pub fn key_of(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|key| !key.is_empty() && key.len() <= MAX_KEY_LENGTH)
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                format!("Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible characters"),
            )
        })?;
    Ok(Some(key.to_owned()))
}

fn conflict(message: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "idempotency_conflict", message)
}

/// Claims `key` for this request, or waits for the twin that holds it.
pub async fn begin(
    state: &AppState,
    lock_for: TimeDelta,
    merchant: &str,
    key: String,
    request: &HttpRequest,
    body: &[u8],
    new_resource_id: String,
) -> Result<Begin, ApiError> {
    let now = truncate_to_micros(Utc::now());
    let record = IdempotencyRecord {
        merchant: merchant.to_owned(),
        idempotency_key: key,
        request_method: request.method().to_string(),
        request_path: request.path().to_owned(),
        request_hash: hex_sha256(body),
        resource_id: new_resource_id,
        locked_until: Some(now + lock_for),
        response_status: None,
        response_body: None,
        created_at: now,
        providers_tried: None,
    };
    let deadline = tokio::time::Instant::now() + WAIT_FOR;
    let mut pause = Duration::from_millis(10);
    loop {
        let attempt = record.clone();
        let step = state
            .write(move |conn| step(conn, &attempt, lock_for))
            .await?;
        match step {
            Step::Done(begin) => return Ok(begin),
            Step::Wait if tokio::time::Instant::now() < deadline => {
                // The twin runs in this or another process; its completion is only visible in
                // the database, so poll with a short, growing pause.
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            Step::Wait => {
                return Err(conflict(
                    "a request with this Idempotency-Key is still in progress; retry later",
                ));
            }
        }
    }
}

enum Step {
    Done(Begin),
    Wait,
}

/// Longer than one provider call may take under `config`, so a live request that renews its
/// lock before each call never loses its key.
fn lock_duration(config: &LiveConfig) -> TimeDelta {
    let call = config.settings.http.timeouts().total;
    TimeDelta::from_std(call).unwrap_or(TimeDelta::minutes(5)) + LOCK_MARGIN
}

fn step(
    conn: &mut DbConnection,
    record: &IdempotencyRecord,
    lock_for: TimeDelta,
) -> Result<Step, ApiError> {
    let now = truncate_to_micros(Utc::now());
    let claimed_key = |record: &IdempotencyRecord| -> Result<Step, ApiError> {
        let providers_tried = record.providers_tried.clone().map(|tried| tried.0);
        Ok(Step::Done(Begin::Execute(Key {
            merchant: record.merchant.clone(),
            key: record.idempotency_key.clone(),
            resource_id: record.resource_id.clone(),
            providers_tried,
            lock_for,
        })))
    };
    let existing = match IdempotencyRecord::claim(conn, record) {
        Ok(Claim::Claimed(record)) => return claimed_key(&record),
        Ok(Claim::Existing(existing)) => existing,
        // Forgotten between insert and read: try again.
        Err(diesel::result::Error::NotFound) => return Ok(Step::Wait),
        Err(error) => return Err(error.into()),
    };
    if existing.created_at < now - RETENTION {
        IdempotencyRecord::purge_created_before(conn, now - RETENTION)?;
        return Ok(Step::Wait);
    }
    if existing.request_method != record.request_method
        || existing.request_path != record.request_path
        || existing.request_hash != record.request_hash
    {
        return Err(conflict(
            "this Idempotency-Key was used with a different request; use a new key for a new request",
        ));
    }
    if let (Some(status), Some(body)) = (existing.response_status, existing.response_body.clone()) {
        let status = u16::try_from(status).map_err(ApiError::internal)?;
        return Ok(Step::Done(Begin::Replay { status, body }));
    }
    if IdempotencyRecord::lock(
        conn,
        &existing.merchant,
        &existing.idempotency_key,
        now,
        now + lock_for,
    )? {
        return claimed_key(&existing);
    }
    Ok(Step::Wait)
}

impl Key {
    /// Stores the response, in the caller's transaction, so that it commits with the work.
    pub fn complete(
        &self,
        conn: &mut DbConnection,
        status: StatusCode,
        body: &str,
    ) -> diesel::QueryResult<()> {
        IdempotencyRecord::complete(conn, &self.merchant, &self.key, status.as_u16(), body)
    }

    /// Records the providers this request has called, `Some` with the one about to be called
    /// last, or `None` once a failure showed that the last one created nothing; and renews the
    /// lock, in the same UPDATE. Written before each provider call, so that whatever ends the
    /// request afterwards (an unreadable answer, a failed database write, a dropped
    /// connection, a crash) a retry under this key goes back to the provider that may have
    /// acted, with the same idempotency key, instead of routing again.
    pub async fn pin(
        &self,
        state: &AppState,
        providers: Option<&[String]>,
    ) -> Result<(), StoreError> {
        let tried = providers.map(<[String]>::to_vec);
        let (merchant, key) = (self.merchant.clone(), self.key.clone());
        let until = truncate_to_micros(Utc::now()) + self.lock_for;
        state
            .write(move |conn| {
                Ok::<_, StoreError>(IdempotencyRecord::pin(
                    conn,
                    &merchant,
                    &key,
                    tried.clone(),
                    until,
                )?)
            })
            .await
    }

    /// Settles the key after `error`. A refusal (4xx) is final: it is stored and replayed, so
    /// twins waiting on the key do not each call the provider again. Anything else (a provider
    /// outage, a timeout, a database failure) may have been transient or left the outcome
    /// unknown: the key is unlocked so a retry runs again, with the same resource id.
    pub async fn settle(self, state: &AppState, error: &ApiError) {
        let (status, body) = (error.status, error.body());
        let result = state
            .write(move |conn| {
                if status.is_client_error() {
                    IdempotencyRecord::complete(
                        conn,
                        &self.merchant,
                        &self.key,
                        status.as_u16(),
                        &body,
                    )?;
                } else {
                    IdempotencyRecord::unlock(conn, &self.merchant, &self.key)?;
                }
                Ok::<_, StoreError>(())
            })
            .await;
        if let Err(error) = result {
            // The lock lapses by itself; a retry only waits that long.
            tracing::warn!(%error, "could not unlock an idempotency key");
        }
    }
}

/// Runs `work` under the request's Idempotency-Key, if it sent one. `work` gets the id of the
/// object to create (the same on every retry of one key) and the held key, which it completes
/// in the transaction that stores its result; on failure the key is unlocked for a retry.
pub async fn run<W, F>(
    state: &AppState,
    config: &LiveConfig,
    merchant: &str,
    request: &HttpRequest,
    body: &[u8],
    fresh_id: String,
    work: W,
) -> Result<HttpResponse, ApiError>
where
    W: FnOnce(String, Option<Key>) -> F,
    F: std::future::Future<Output = Result<(StatusCode, String), ApiError>>,
{
    let respond = |(status, body): (StatusCode, String)| {
        HttpResponse::build(status)
            .content_type("application/json")
            .body(body)
    };
    let Some(key) = key_of(request)? else {
        return work(fresh_id, None).await.map(respond);
    };
    match begin(
        state,
        lock_duration(config),
        merchant,
        key,
        request,
        body,
        fresh_id,
    )
    .await?
    {
        Begin::Replay { status, body } => Ok(replay(status, body)),
        Begin::Execute(key) => {
            let resource_id = key.resource_id.clone();
            match work(resource_id, Some(key.clone())).await {
                Ok(response) => Ok(respond(response)),
                Err(error) => {
                    key.settle(state, &error).await;
                    Err(error)
                }
            }
        }
    }
}

/// The response sent again for a replayed request.
pub fn replay(status: u16, body: String) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header(("Idempotent-Replayed", "true"))
        .body(body)
}
