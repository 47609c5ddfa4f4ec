//! A merchant's webhook endpoints: made, changed, rotated, deleted; and the events sent to
//! them again on request (a resend, a replay, a test event). Sending is
//! [`crate::domain::outbound`].

use chrono::{NaiveDateTime, Utc};
use paymux_domain::{AuditAction, EndpointId, EndpointStatus, EventId, EventType};
use paymux_schema::db::audit::AuditEntry;
use paymux_schema::db::column::Json;
use paymux_schema::db::event::{Event, EventFilter};
use paymux_schema::db::outbound::{
    EndpointPart, EndpointSecret, OutboundEvent, WebhookEndpoint, WebhookMessage,
};
use paymux_schema::db::truncate_to_micros;

use crate::domain::audit::{self, Actor, redacted_url};
use crate::domain::outbound::{self, ROTATION_OVERLAP, UrlRefused};
use crate::state::AppState;
use crate::store::StoreError;

/// Events one replay sends at most; a longer one is refused with a narrower `since` to ask for.
pub const MAX_REPLAY: usize = 10_000;
const MAX_DESCRIPTION: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("{message}")]
    Invalid {
        param: &'static str,
        message: String,
    },
    #[error("no such webhook endpoint: {0}")]
    NotFound(String),
    #[error("no such event: {0}")]
    EventNotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for EndpointError {
    fn from(error: diesel::result::Error) -> EndpointError {
        EndpointError::Store(error.into())
    }
}

fn invalid(param: &'static str, message: impl Into<String>) -> EndpointError {
    EndpointError::Invalid {
        param,
        message: message.into(),
    }
}

/// What a merchant asks to make or change.
#[derive(Debug, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub status: Option<EndpointStatus>,
}

/// `enabled_events` checked: `*` or event types paymux sends, at least one, each once.
fn checked_events(events: Vec<String>) -> Result<Vec<String>, EndpointError> {
    if events.is_empty() {
        return Err(invalid(
            "enabled_events",
            "enabled_events must name at least one event type, or \"*\" for all",
        ));
    }
    let unknown: Vec<&str> = events
        .iter()
        .map(String::as_str)
        .filter(|name| *name != "*" && name.parse::<EventType>().is_err())
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = EventType::ALL.iter().map(|kind| kind.as_str()).collect();
        return Err(invalid(
            "enabled_events",
            format!(
                "unknown event types: {}; known: \"*\", {}",
                unknown.join(", "),
                known.join(", ")
            ),
        ));
    }
    let mut unique: Vec<String> = Vec::with_capacity(events.len());
    for name in events {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    Ok(unique)
}

async fn checked_url(state: &AppState, url: &str) -> Result<String, EndpointError> {
    // As the senders, which are built at start, will deliver.
    let allow_private = state.live.started().allow_private_networks();
    match outbound::check_url(url, allow_private).await {
        Ok(url) => Ok(url.to_string()),
        Err(refused @ (UrlRefused::NotHttp | UrlRefused::NotHttps)) => {
            Err(invalid("url", refused.to_string()))
        }
        Err(refused) => Err(invalid("url", format!("{refused}: {url}"))),
    }
}

fn checked_description(description: Option<String>) -> Result<Option<String>, EndpointError> {
    match description {
        Some(text) if text.chars().count() > MAX_DESCRIPTION => Err(invalid(
            "description",
            format!("description must be at most {MAX_DESCRIPTION} characters"),
        )),
        other => Ok(other),
    }
}

fn secret() -> Result<EndpointSecret, EndpointError> {
    outbound::new_secret()
        .map_err(|error| EndpointError::Store(StoreError::Task(error.to_string())))
}

/// The audit log's entry for `action` on `endpoint` by `by`, when a person acted.
fn audited(
    by: Option<&Actor>,
    action: AuditAction,
    endpoint: &EndpointId,
    detail: String,
) -> Option<AuditEntry> {
    by.map(|actor| actor.entry(action, Some(endpoint.to_string()), detail))
}

/// Stores `entry`, if any, in the transaction of the action it describes.
fn insert_audit(
    conn: &mut paymux_schema::db::DbConnection,
    entry: &Option<AuditEntry>,
) -> diesel::QueryResult<()> {
    entry
        .as_ref()
        .map_or(Ok(()), |entry| AuditEntry::insert(conn, entry))
}

/// Makes an endpoint for `merchant`; its secret is in the answer, and only there and in a
/// rotation's. Every function here takes `by`, the person acting, for the audit log; `None`
/// is paymux itself (the sandbox's demo endpoint).
pub async fn create(
    state: &AppState,
    by: Option<&Actor>,
    merchant: &str,
    change: EndpointChange,
) -> Result<WebhookEndpoint, EndpointError> {
    let url = change
        .url
        .ok_or_else(|| invalid("url", "url is required"))?;
    let url = checked_url(state, &url).await?;
    let events = checked_events(
        change
            .enabled_events
            .unwrap_or_else(|| vec!["*".to_owned()]),
    )?;
    let now = truncate_to_micros(Utc::now());
    let endpoint = WebhookEndpoint {
        id: EndpointId::generate(),
        merchant: merchant.to_owned(),
        url,
        description: checked_description(change.description.flatten())?,
        enabled_events: Json(events),
        status: change.status.unwrap_or(EndpointStatus::Enabled),
        disabled_reason: None,
        secret: secret()?,
        previous_secret: None,
        previous_secret_until: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    let entry = audited(
        by,
        AuditAction::EndpointCreated,
        &endpoint.id,
        format!(
            "{} for {}",
            redacted_url(&endpoint.url),
            endpoint.enabled_events.0.join(", ")
        ),
    );
    let row = endpoint.clone();
    state
        .write(move |conn| {
            WebhookEndpoint::insert(conn, &row)?;
            insert_audit(conn, &entry)?;
            Ok::<_, EndpointError>(())
        })
        .await?;
    Ok(endpoint)
}

/// The merchant's endpoint `id`, or [`EndpointError::NotFound`].
pub async fn find(
    state: &AppState,
    merchant: &str,
    id: &str,
) -> Result<WebhookEndpoint, EndpointError> {
    let endpoint_id = EndpointId::parse(id).map_err(|_| EndpointError::NotFound(id.to_owned()))?;
    let merchant = merchant.to_owned();
    state
        .store(move |conn| {
            Ok::<_, EndpointError>(WebhookEndpoint::find(conn, &merchant, &endpoint_id)?)
        })
        .await?
        .ok_or_else(|| EndpointError::NotFound(id.to_owned()))
}

/// Applies `change`. Enabling an endpoint paymux disabled clears why, and its failures.
pub async fn update(
    state: &AppState,
    by: Option<&Actor>,
    merchant: &str,
    id: &str,
    change: EndpointChange,
) -> Result<WebhookEndpoint, EndpointError> {
    let mut endpoint = find(state, merchant, id).await?;
    let mut changed: Vec<String> = Vec::new();
    if let Some(url) = &change.url {
        changed.push(format!("url {}", redacted_url(url)));
    }
    if let Some(events) = &change.enabled_events {
        changed.push(format!("events {}", events.join(", ")));
    }
    if change.description.is_some() {
        changed.push("description".to_owned());
    }
    if let Some(status) = change.status {
        changed.push(format!("status {status}"));
    }
    if let Some(url) = change.url {
        endpoint.url = checked_url(state, &url).await?;
    }
    if let Some(events) = change.enabled_events {
        endpoint.enabled_events = Json(checked_events(events)?);
    }
    if let Some(description) = change.description {
        endpoint.description = checked_description(description)?;
    }
    if let Some(status) = change.status {
        if status == EndpointStatus::Enabled && endpoint.status == EndpointStatus::Disabled {
            endpoint.disabled_reason = None;
            endpoint.failing_since = None;
        }
        endpoint.status = status;
    }
    endpoint.updated_at = truncate_to_micros(Utc::now());
    let entry = audited(
        by,
        AuditAction::EndpointUpdated,
        &endpoint.id,
        match changed.is_empty() {
            true => "nothing changed".to_owned(),
            false => changed.join("; "),
        },
    );
    let row = endpoint.clone();
    state
        .write(move |conn| {
            WebhookEndpoint::save(conn, &row, EndpointPart::Settings)?;
            if row.status == EndpointStatus::Disabled {
                WebhookMessage::fail_pending(conn, &row.id, row.updated_at)?;
            }
            insert_audit(conn, &entry)?;
            Ok::<_, EndpointError>(())
        })
        .await?;
    Ok(endpoint)
}

/// Deletes the endpoint, its messages and their attempts.
pub async fn delete(
    state: &AppState,
    by: Option<&Actor>,
    merchant: &str,
    id: &str,
) -> Result<(), EndpointError> {
    let endpoint = find(state, merchant, id).await?;
    let entry = audited(
        by,
        AuditAction::EndpointDeleted,
        &endpoint.id,
        format!("{} deleted", redacted_url(&endpoint.url)),
    );
    let merchant = merchant.to_owned();
    let deleted = state
        .write(move |conn| {
            let deleted = WebhookEndpoint::delete(conn, &merchant, &endpoint.id)?;
            if deleted {
                insert_audit(conn, &entry)?;
            }
            Ok::<_, EndpointError>(deleted)
        })
        .await?;
    match deleted {
        true => Ok(()),
        false => Err(EndpointError::NotFound(id.to_owned())),
    }
}

/// A new secret; the old one keeps signing beside it for [`ROTATION_OVERLAP`].
pub async fn rotate_secret(
    state: &AppState,
    by: Option<&Actor>,
    merchant: &str,
    id: &str,
) -> Result<WebhookEndpoint, EndpointError> {
    let mut endpoint = find(state, merchant, id).await?;
    let now = truncate_to_micros(Utc::now());
    endpoint.previous_secret = Some(std::mem::replace(&mut endpoint.secret, secret()?));
    endpoint.previous_secret_until = Some(now + ROTATION_OVERLAP);
    endpoint.updated_at = now;
    let entry = audited(
        by,
        AuditAction::SecretRotated,
        &endpoint.id,
        format!(
            "a new secret; the old one signs beside it for {} hours",
            ROTATION_OVERLAP.num_hours()
        ),
    );
    let row = endpoint.clone();
    state
        .write(move |conn| {
            WebhookEndpoint::save(conn, &row, EndpointPart::Secrets)?;
            insert_audit(conn, &entry)?;
            Ok::<_, EndpointError>(())
        })
        .await?;
    Ok(endpoint)
}

/// Sends the merchant's event `id` again to `endpoint` (one id), or to every enabled endpoint
/// that wants its type; each under the `webhook-id` it had for that endpoint. The endpoints
/// it was queued for.
pub async fn resend(
    state: &AppState,
    by: Option<&Actor>,
    merchant: &str,
    id: &str,
    endpoint: Option<&str>,
) -> Result<Vec<EndpointId>, EndpointError> {
    let event_id = EventId::parse(id).map_err(|_| EndpointError::EventNotFound(id.to_owned()))?;
    let endpoints = match endpoint {
        Some(endpoint) => vec![find(state, merchant, endpoint).await?],
        None => {
            let owner = merchant.to_owned();
            state
                .store(move |conn| {
                    Ok::<_, EndpointError>(WebhookEndpoint::enabled_for(conn, &owner)?)
                })
                .await?
        }
    };
    let owner = merchant.to_owned();
    let by = by.cloned();
    let queued = state
        .write(move |conn| {
            let event = Event::find(conn, &owner, &event_id)?
                .ok_or_else(|| EndpointError::EventNotFound(event_id.to_string()))?;
            let mut queued = Vec::new();
            for endpoint in &endpoints {
                if endpoint.wants(event.event_type.as_str()) {
                    outbound::resend(conn, endpoint, &event)?;
                    queued.push(endpoint.id);
                }
            }
            if let Some(actor) = &by {
                let to: Vec<String> = queued.iter().map(ToString::to_string).collect();
                let detail = match to.is_empty() {
                    true => "no endpoint wants it".to_owned(),
                    false => format!("to {}", to.join(", ")),
                };
                let entry = actor.entry(AuditAction::Resent, Some(event_id.to_string()), detail);
                AuditEntry::insert(conn, &entry)?;
            }
            Ok::<_, EndpointError>(queued)
        })
        .await?;
    outbound::wake();
    Ok(queued)
}

/// Sends every event since `since` that the endpoint wants to it again, oldest first. How many.
pub async fn replay(
    state: &AppState,
    by: Option<&Actor>,
    merchant: &str,
    id: &str,
    since: NaiveDateTime,
) -> Result<usize, EndpointError> {
    let endpoint = find(state, merchant, id).await?;
    let mut events: Vec<Event> = Vec::new();
    let mut after: Option<EventId> = None;
    loop {
        let owner = merchant.to_owned();
        let filter = EventFilter {
            created_gte: Some(since),
            ..EventFilter::default()
        };
        let found = state
            .store(move |conn| {
                Ok::<_, EndpointError>(Event::export_page(
                    conn,
                    &owner,
                    &filter,
                    after.as_ref(),
                    500,
                )?)
            })
            .await?;
        let Some(last) = found.last() else { break };
        after = Some(last.id);
        events.extend(
            found
                .into_iter()
                .filter(|event| endpoint.wants(event.event_type.as_str())),
        );
        if events.len() > MAX_REPLAY {
            return Err(invalid(
                "since",
                format!("more than {MAX_REPLAY} events since then: replay a shorter period"),
            ));
        }
    }
    let count = events.len();
    for chunk in events.chunks(100) {
        let (chunk, endpoint) = (chunk.to_vec(), endpoint.clone());
        state
            .write(move |conn| {
                for event in &chunk {
                    outbound::resend(conn, &endpoint, event)?;
                }
                Ok::<_, EndpointError>(())
            })
            .await?;
    }
    outbound::wake();
    if let Some(entry) = audited(
        by,
        AuditAction::Replayed,
        &endpoint.id,
        format!("{count} events since {}", since.and_utc().to_rfc3339()),
    ) {
        audit::record(state, entry).await;
    }
    Ok(count)
}

/// Sends a `webhook.test` event to this endpoint alone; its message.
pub async fn send_test(
    state: &AppState,
    by: Option<&Actor>,
    merchant: &str,
    id: &str,
) -> Result<WebhookMessage, EndpointError> {
    let endpoint = find(state, merchant, id).await?;
    if endpoint.status == EndpointStatus::Disabled {
        return Err(invalid(
            "status",
            "the endpoint is disabled: enable it to send it events",
        ));
    }
    let (event, message) = outbound::test_event(&endpoint);
    let entry = audited(
        by,
        AuditAction::TestSent,
        &endpoint.id,
        format!("test event {}", message.event_id),
    );
    let row = message.clone();
    state
        .write(move |conn| {
            OutboundEvent::insert_if_new(conn, &event)?;
            WebhookMessage::insert(conn, &row)?;
            insert_audit(conn, &entry)?;
            Ok::<_, EndpointError>(())
        })
        .await?;
    outbound::wake();
    Ok(message)
}
