//! Taking a webhook, written once for every provider.
//!
//! The request is verified and parsed with the merchant's adapter (off the async workers
//! unless the body is small, the nesting bounded first), its successes confirmed with the provider where it asks for that,
//! and then its receipt, its events ([`super::events::record`]) and their checkouts' changes
//! are committed in one transaction. Only then is the provider's success reply made. A
//! rejected webhook keeps a receipt with the reason (and only a prefix of its body), unless
//! rejections are over their limit; a database failure means nothing was stored, so the
//! provider must deliver again.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use paymux_domain::{EventSource, NormalizedEvent, ReceiptId, ReceiptOutcome};
use paymux_providers::model::{WebhookOutcome, WebhookReply, WebhookRequest};
use paymux_providers::signing::hex_sha256;
use paymux_providers::{ClosedCheckout, Confirmation, Provider, ProviderError, json};
use paymux_schema::db::column::Json;
use paymux_schema::db::event::Event;
use paymux_schema::db::receipt::WebhookReceipt;
use paymux_schema::db::{DbConnection, truncate_to_micros};

use super::events::{self, Handling, Recording};
use crate::live::LiveConfig;
use crate::merchants::key_hash;
use crate::state::AppState;
use crate::store::StoreError;

/// How much of a rejected webhook's body its receipt keeps: enough to see what it was, while
/// a flood of large forgeries stays small on disk.
pub const REJECTED_BODY_PREFIX: usize = 4096;

/// Bodies up to this size are checked on the async worker that took them: their check is
/// linear and takes microseconds, less than the hop to the blocking pool and back.
const CHECKED_IN_PLACE: usize = 16 * 1024;

/// A webhook request as it arrived.
pub struct Inbound {
    pub merchant: String,
    pub provider: String,
    /// Every header but those carrying other systems' credentials: what the adapter verifies.
    pub headers: Vec<(String, String)>,
    pub body: actix_web::web::Bytes,
    pub received_at: DateTime<Utc>,
    pub client: Option<IpAddr>,
}

/// Why a webhook got no reply in its provider's terms.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No such merchant, or no such provider for it.
    #[error("{0}")]
    NotConfigured(String),
    /// Rejections from this client or for this endpoint are over their limit: nothing stored.
    #[error("too many rejected webhooks for this endpoint or from this client; retry later")]
    RateLimited { retry_after: Duration },
    /// The provider's API could not be asked to confirm a success: the provider must deliver
    /// again.
    #[error("{0}")]
    NotConfirmed(String),
    /// Nothing was stored: the provider must deliver again.
    #[error("the webhook could not be stored; retry later")]
    NotStored(#[from] StoreError),
}

/// Takes one webhook; the reply is what its provider expects.
pub async fn receive(state: &AppState, inbound: Inbound) -> Result<WebhookReply, IngestError> {
    let config = state.config();
    // A disabled provider's webhooks are still verified, stored and applied (money may have
    // moved through checkouts made before it was switched off); their events are flagged.
    let configured = config
        .merchants
        .get(&inbound.merchant)
        .and_then(|merchant| merchant.providers.get(&inbound.provider).cloned());
    let Some(provider) = configured else {
        let message = format!(
            "no provider `{}` is configured for merchant `{}`",
            inbound.provider, inbound.merchant
        );
        let body = inbound.body.clone();
        let stored = by_size(state, body.len(), move || StoredBody::of(&body, None)).await?;
        reject(state, &config, &inbound, None, stored, &message).await?;
        return Err(IngestError::NotConfigured(message));
    };
    let adapter = provider.adapter.as_ref();
    let checked = {
        let (adapter, headers, body) = (
            provider.adapter.clone(),
            inbound.headers.clone(),
            inbound.body.clone(),
        );
        let received_at = inbound.received_at;
        by_size(state, body.len(), move || {
            check(adapter.as_ref(), &headers, &body, received_at)
        })
        .await?
    };
    let confirmed = match checked.events {
        Ok(events) => confirm(state, &inbound, adapter, events).await,
        Err(error) => Err(Unconfirmable::Rejected(error)),
    };
    let (confirmed, refuted) = match confirmed {
        Ok(confirmed) => confirmed,
        Err(Unconfirmable::Rejected(error)) => {
            tracing::warn!(reason = %error, "webhook rejected");
            let reason = error.to_string();
            reject(
                state,
                &config,
                &inbound,
                Some(adapter),
                checked.body,
                &reason,
            )
            .await?;
            return Ok(adapter.webhook_reply(&WebhookOutcome::Rejected(&error)));
        }
        Err(Unconfirmable::Undecided(reason)) => {
            // Nothing is decided: keep the receipt, whole (the webhook is authentic), and let
            // the provider deliver again.
            let receipt = inbound.receipt(adapter, checked.body, ReceiptOutcome::Accepted);
            store_rejection(state, receipt, &reason).await?;
            return Err(IngestError::NotConfirmed(reason));
        }
    };
    let receipt = inbound.receipt(adapter, checked.body, ReceiptOutcome::Accepted);
    let handling = Handling {
        refuses_when_closed: adapter.webhook_policy().closed_checkout == ClosedCheckout::Refuse,
        disabled: !provider.enabled,
    };
    let outcome = store(state, &inbound, receipt, handling, confirmed, refuted).await?;
    Ok(adapter.webhook_reply(&outcome.reply()))
}

/// Commits the receipt, the events and their checkouts' changes in one transaction.
async fn store(
    state: &AppState,
    inbound: &Inbound,
    mut receipt: WebhookReceipt,
    handling: Handling,
    confirmed: Vec<NormalizedEvent>,
    refuted: Vec<Refuted>,
) -> Result<Stored, IngestError> {
    let recording = Recording {
        merchant: inbound.merchant.clone(),
        provider: inbound.provider.clone(),
        source: EventSource::Provider,
        receipt: Some(receipt.id),
        received_at: receipt.received_at,
        handling,
    };
    let stored = state
        .write(move |conn| store_events(conn, &mut receipt, &recording, &confirmed, &refuted))
        .await?;
    tracing::info!(new_events = stored.new_events, "webhook stored");
    Ok(stored)
}

/// Runs work on an unauthenticated body of `length` bytes: in place when the body is small
/// ([`CHECKED_IN_PLACE`]), else off the async workers.
async fn by_size<T: Send + 'static>(
    state: &AppState,
    length: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, IngestError> {
    if length <= CHECKED_IN_PLACE {
        return Ok(work());
    }
    state
        .cpu(work)
        .await
        .map_err(|error| IngestError::NotStored(error.into()))
}

impl Inbound {
    /// The receipt of this request, its body kept as `outcome` allows, without the headers
    /// that carry a shared secret.
    fn receipt(
        &self,
        adapter: &dyn Provider,
        body: StoredBody,
        outcome: ReceiptOutcome,
    ) -> WebhookReceipt {
        let redaction = adapter.webhook_policy().redaction;
        let kept: Vec<_> = self
            .headers
            .iter()
            .filter(|(name, _)| {
                !redaction.is_some_and(|redaction| redaction.is_secret_header(name))
            })
            .cloned()
            .collect();
        self.receipt_with(&kept, body, outcome)
    }

    fn receipt_with(
        &self,
        headers: &[(String, String)],
        mut body: StoredBody,
        outcome: ReceiptOutcome,
    ) -> WebhookReceipt {
        if outcome == ReceiptOutcome::Rejected {
            body.bytes.truncate(REJECTED_BODY_PREFIX);
        }
        WebhookReceipt {
            id: ReceiptId::generate(),
            merchant: self.merchant.clone(),
            provider: self.provider.clone(),
            headers: Json(serde_json::Value::Object(headers_object(headers))),
            body: body.bytes,
            outcome,
            reason: None,
            event_count: 0,
            received_at: truncate_to_micros(self.received_at),
            body_length: body.length,
            body_sha256: Some(body.sha256),
            duplicate_of: None,
            checkout_id: None,
        }
    }
}

/// A body as its receipt may keep it: without shared secrets, with its length and hash.
struct StoredBody {
    bytes: Vec<u8>,
    length: i64,
    /// Hex SHA-256 of `bytes`.
    sha256: String,
}

impl StoredBody {
    /// `raw` as stored: redacted by `adapter` when it carries a shared secret (Skipify's), so
    /// neither the bytes nor their hash can give the secret away.
    fn of(raw: &[u8], adapter: Option<&dyn Provider>) -> StoredBody {
        let bytes = adapter
            .and_then(|adapter| adapter.webhook_policy().redaction)
            .and_then(|redaction| redaction.redact_body(raw))
            .unwrap_or_else(|| raw.to_vec());
        StoredBody {
            length: i64::try_from(raw.len()).unwrap_or(i64::MAX),
            sha256: hex_sha256(&bytes),
            bytes,
        }
    }
}

/// What [`check`] found.
struct Checked {
    events: Result<Vec<NormalizedEvent>, ProviderError>,
    body: StoredBody,
}

/// Everything done to a webhook before it is known to be authentic: the nesting is bounded
/// before the adapter reads the body, so its verification and parsing are linear and shallow
/// whatever anyone sends.
fn check(
    adapter: &dyn Provider,
    headers: &[(String, String)],
    body: &[u8],
    now: DateTime<Utc>,
) -> Checked {
    let stored = StoredBody::of(body, Some(adapter));
    let request = WebhookRequest { headers, body };
    let events = json::check_depth(body, json::MAX_DEPTH)
        .map_err(|error| ProviderError::MalformedPayload(error.to_string()))
        .and_then(|()| adapter.verify_webhook(&request, now))
        .and_then(|()| adapter.parse_webhook(body));
    Checked {
        events,
        body: stored,
    }
}

/// Stores a rejected webhook's receipt, unless rejections of this merchant and provider or
/// of this client are over their limit: then nothing is stored. Webhooks that verify never
/// get here, so a flood of forgeries cannot crowd them out.
async fn reject(
    state: &AppState,
    config: &LiveConfig,
    inbound: &Inbound,
    adapter: Option<&dyn Provider>,
    body: StoredBody,
    reason: &str,
) -> Result<(), IngestError> {
    let limit = config.settings.webhook_limits.bucket();
    // Paths that name no configured merchant or provider share one bucket: made-up paths
    // must not each get a bucket of their own.
    let endpoint = match adapter {
        Some(_) => format!("webhook\0{}\0{}", inbound.merchant, inbound.provider),
        None => "webhook\0unconfigured".to_owned(),
    };
    let mut buckets = vec![key_hash(&endpoint)];
    if let Some(client) = inbound.client {
        buckets.push(key_hash(&format!("client\0{client}")));
    }
    let now = Instant::now();
    for bucket in buckets {
        if let Err(retry_after) = state.rejections.take(bucket, limit, now) {
            tracing::warn!(client = ?inbound.client, "rejected webhooks over their limit: refused unstored");
            return Err(IngestError::RateLimited { retry_after });
        }
    }
    let receipt = match adapter {
        Some(adapter) => inbound.receipt(adapter, body, ReceiptOutcome::Rejected),
        None => inbound.receipt_with(&inbound.headers, body, ReceiptOutcome::Rejected),
    };
    store_rejection(state, receipt, reason).await
}

async fn store_rejection(
    state: &AppState,
    mut receipt: WebhookReceipt,
    reason: &str,
) -> Result<(), IngestError> {
    receipt.outcome = ReceiptOutcome::Rejected;
    receipt.reason = Some(reason.to_owned());
    state
        .write(move |conn| {
            Ok::<_, IngestError>(WebhookReceipt::insert(conn, &receipt).map_err(StoreError::from)?)
        })
        .await
}

/// Why a webhook's events could not be confirmed.
enum Unconfirmable {
    /// The event cannot even be asked about: a rejection like any malformed webhook.
    Rejected(ProviderError),
    /// The provider's API could not be asked: nothing is decided.
    Undecided(String),
}

/// An event the provider's own API contradicted, and what it said.
struct Refuted {
    event: NormalizedEvent,
    reason: String,
}

/// Some providers' successes count only once their own API confirms them (Pakhi Pay). An
/// event stored before is a redelivery: it is not asked about again. Returns the events to
/// store and the refuted ones, with why.
async fn confirm(
    state: &AppState,
    inbound: &Inbound,
    adapter: &dyn Provider,
    events: Vec<NormalizedEvent>,
) -> Result<(Vec<NormalizedEvent>, Vec<Refuted>), Unconfirmable> {
    let Some(confirmation) = adapter.webhook_policy().confirmation else {
        return Ok((events, vec![]));
    };
    let to_confirm: Vec<String> = events
        .iter()
        .filter(|event| confirmation.needs(event))
        .map(|event| event.provider_event_id.clone())
        .collect();
    let already_stored = if to_confirm.is_empty() {
        vec![]
    } else {
        let (merchant, provider) = (inbound.merchant.clone(), inbound.provider.clone());
        state
            .store(move |conn| {
                let mut stored = vec![];
                for id in to_confirm {
                    if Event::find_by_provider_event_id(conn, &merchant, &provider, &id)?.is_some()
                    {
                        stored.push(id);
                    }
                }
                Ok::<_, StoreError>(stored)
            })
            .await
            .map_err(|error| {
                Unconfirmable::Undecided(format!("the webhook could not be stored: {error}"))
            })?
    };
    let mut confirmed = Vec::with_capacity(events.len());
    let mut refuted = vec![];
    for event in events {
        if !confirmation.needs(&event) || already_stored.contains(&event.provider_event_id) {
            confirmed.push(event);
            continue;
        }
        match confirmation.confirm(&event).await {
            Ok(Confirmation::Confirmed) => confirmed.push(event),
            Ok(Confirmation::Refuted { reason }) => {
                tracing::warn!(%reason, provider_event_id = %event.provider_event_id, "webhook not confirmed by the provider");
                refuted.push(Refuted { event, reason });
            }
            Err(
                error @ (ProviderError::MalformedPayload(_) | ProviderError::InvalidRequest { .. }),
            ) => {
                return Err(Unconfirmable::Rejected(error));
            }
            Err(error) => {
                return Err(Unconfirmable::Undecided(format!(
                    "could not confirm with the provider: {error}"
                )));
            }
        }
    }
    Ok((confirmed, refuted))
}

/// What [`store_events`] did.
struct Stored {
    outcome: ReceiptOutcome,
    new_events: i32,
    /// Why a payment was refused, for the provider's reply.
    refusal: Option<String>,
}

impl Stored {
    /// What the provider is told. A refuted success is kept (as its flagged receipt), not
    /// lost: it is acknowledged too.
    fn reply(&self) -> WebhookOutcome<'_> {
        match (&self.refusal, self.outcome) {
            (Some(reason), _) => WebhookOutcome::Refused { reason },
            (None, ReceiptOutcome::Duplicate) => WebhookOutcome::Duplicate,
            (None, _) => WebhookOutcome::Stored,
        }
    }
}

/// Stores the receipt, then records each event not stored before. The receipt is written as
/// what most webhooks are (accepted, with all their events new), so that the common case takes
/// no second write; it is corrected once known otherwise. It goes with the first event's
/// checkout lookup, one round trip for both. A redelivery of events all stored already keeps
/// no second copy of the body: its receipt points at the one that has it.
fn store_events(
    conn: &mut DbConnection,
    receipt: &mut WebhookReceipt,
    recording: &Recording,
    events: &[NormalizedEvent],
    refuted: &[Refuted],
) -> Result<Stored, StoreError> {
    let (merchant, provider) = (&recording.merchant, &recording.provider);
    // One body may name an event twice: the first wins, as for a redelivery.
    let mut distinct: Vec<&NormalizedEvent> = Vec::with_capacity(events.len());
    for event in events {
        if !distinct
            .iter()
            .any(|seen| seen.provider_event_id == event.provider_event_id)
        {
            distinct.push(event);
        }
    }
    // An unconfirmed success is not stored as an event, so its receipt names the checkout.
    if let Some(first) = refuted.first() {
        receipt.checkout_id = events::link_checkout(conn, merchant, provider, &first.event, None)?
            .map(|checkout| checkout.id);
        receipt.outcome = ReceiptOutcome::Unconfirmed;
        receipt.reason = Some(refusals(refuted));
    }
    let expected = i32::try_from(distinct.len()).unwrap_or(i32::MAX);
    receipt.event_count = expected;
    let mut unstored = Some(&*receipt);
    let mut stored = 0;
    let mut refusal = None;
    let mut first_stored_before = None;
    for event in distinct {
        let checkout = events::link_checkout(conn, merchant, provider, event, unstored.take())?;
        let recorded = events::record(conn, recording, event, checkout)?;
        refusal = refusal.or(recorded.refusal);
        stored += i32::from(recorded.stored);
        if !recorded.stored && first_stored_before.is_none() {
            first_stored_before = Some(&event.provider_event_id);
        }
    }
    if let Some(receipt) = unstored {
        WebhookReceipt::insert(conn, receipt)?;
    }
    let outcome = match (stored, refuted.is_empty()) {
        (_, false) => ReceiptOutcome::Unconfirmed,
        (0, true) => ReceiptOutcome::Duplicate,
        _ => ReceiptOutcome::Accepted,
    };
    if outcome == ReceiptOutcome::Duplicate
        && let Some(id) = first_stored_before
        && let Some(first) = Event::find_by_provider_event_id(conn, merchant, provider, id)?
            .and_then(|event| event.receipt_id)
    {
        WebhookReceipt::mark_duplicate_of(conn, &receipt.id, &first)?;
    } else if (outcome, stored) != (receipt.outcome, expected) {
        WebhookReceipt::record_outcome(
            conn,
            &receipt.id,
            outcome,
            receipt.reason.as_deref(),
            stored,
        )?;
    }
    Ok(Stored {
        outcome,
        new_events: stored,
        refusal,
    })
}

/// Why each refuted event was refuted, for its receipt.
fn refusals(refuted: &[Refuted]) -> String {
    let reasons: Vec<String> = refuted
        .iter()
        .map(|refuted| {
            format!(
                "{} {}: {}",
                refuted.event.event_type, refuted.event.provider_event_id, refuted.reason
            )
        })
        .collect();
    reasons.join("; ")
}

/// Headers as one JSON object by name; repeated ones joined with `, `.
fn headers_object(headers: &[(String, String)]) -> serde_json::Map<String, serde_json::Value> {
    let mut object = serde_json::Map::new();
    for (name, value) in headers {
        match object.get_mut(name) {
            Some(serde_json::Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            _ => {
                object.insert(name.clone(), serde_json::Value::from(value.as_str()));
            }
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use paymux_domain::CheckoutStatus;
    use paymux_schema::db::schema::webhook_receipts;

    use super::*;
    use crate::domain::test_support::{
        TestState, events_of, insert_checkout, order, paid_webhook, reload, sknpay_secret,
    };
    use crate::writer::test_support::{Held, queued};

    fn receipts(conn: &mut DbConnection) -> Vec<WebhookReceipt> {
        let all = webhook_receipts::table.select(WebhookReceipt::as_select());
        all.load(conn).unwrap()
    }

    #[tokio::test]
    async fn a_verified_webhook_is_stored_once_and_its_redelivery_is_a_duplicate() {
        let test = TestState::new();
        let checkout = insert_checkout(&mut test.conn(), "sknpay", &order(1_250));
        let secret = sknpay_secret(&test.state);
        for _ in 0..2 {
            let webhook = paid_webhook(&checkout, "evt_1", &secret);
            let reply = receive(&test.state, webhook).await.unwrap();
            assert_eq!(reply.status, 200, "{}", reply.body);
        }

        let conn = &mut test.conn();
        let paid = reload(conn, &checkout);
        assert_eq!(
            (paid.status, paid.amount_received),
            (CheckoutStatus::Succeeded, 1_250)
        );
        let events = events_of(conn, &checkout);
        assert_eq!(events.len(), 1);
        let receipts = receipts(conn);
        let [first, second] = &receipts[..] else {
            panic!("two receipts expected: {receipts:?}");
        };
        let (accepted, duplicate) = match first.outcome {
            ReceiptOutcome::Accepted => (first, second),
            _ => (second, first),
        };
        assert_eq!(
            (accepted.outcome, accepted.event_count),
            (ReceiptOutcome::Accepted, 1)
        );
        assert_eq!(events[0].receipt_id, Some(accepted.id));
        assert_eq!(
            (duplicate.outcome, duplicate.event_count),
            (ReceiptOutcome::Duplicate, 0)
        );
        assert_eq!(
            duplicate.duplicate_of,
            Some(accepted.id),
            "points at the body kept"
        );
        assert!(duplicate.body.is_empty());
    }

    #[tokio::test]
    async fn a_webhook_with_a_wrong_signature_is_a_rejected_receipt_and_applies_nothing() {
        let test = TestState::new();
        let checkout = insert_checkout(&mut test.conn(), "sknpay", &order(1_250));
        let forged = paid_webhook(&checkout, "evt_1", "whsec_not_the_merchants");
        let reply = receive(&test.state, forged).await.unwrap();
        assert_eq!(reply.status, 400);

        let conn = &mut test.conn();
        assert_eq!(reload(conn, &checkout).status, CheckoutStatus::Open);
        assert!(events_of(conn, &checkout).is_empty());
        let receipts = receipts(conn);
        assert_eq!(receipts.len(), 1);
        assert_eq!(receipts[0].outcome, ReceiptOutcome::Rejected);
        let reason = receipts[0].reason.as_deref().unwrap_or_default();
        assert!(reason.starts_with("invalid signature"), "{reason}");
    }

    #[tokio::test]
    async fn a_webhook_for_a_provider_the_merchant_lacks_is_refused_and_kept() {
        let test = TestState::new();
        let checkout = insert_checkout(&mut test.conn(), "sknpay", &order(1_250));
        let secret = sknpay_secret(&test.state);
        let webhook = Inbound {
            provider: "paypal".to_owned(),
            ..paid_webhook(&checkout, "evt_1", &secret)
        };
        let refused = receive(&test.state, webhook).await;
        assert!(matches!(refused, Err(IngestError::NotConfigured(_))));

        let receipts = receipts(&mut test.conn());
        assert_eq!(receipts.len(), 1);
        assert_eq!(receipts[0].outcome, ReceiptOutcome::Rejected);
    }

    #[tokio::test]
    async fn a_webhook_whose_group_dies_before_the_commit_leaves_nothing_and_is_taken_again() {
        let test = TestState::new();
        let checkout = insert_checkout(&mut test.conn(), "sknpay", &order(1_250));
        let secret = sknpay_secret(&test.state);
        let writer = &test.state.writer;
        let held = Held::new(writer).await;
        let state = test.state.clone();
        let webhook = paid_webhook(&checkout, "evt_1", &secret);
        let receiving = tokio::spawn(async move { receive(&state, webhook).await });
        queued(writer, 1).await;
        let dying = writer.clone();
        let killer = tokio::spawn(async move {
            dying
                .write(|_| -> Result<(), StoreError> { panic!("the writer dies before COMMIT") })
                .await
        });
        queued(writer, 2).await;
        held.release().await;

        let refused = receiving.await.unwrap();
        assert!(
            matches!(refused, Err(IngestError::NotStored(_))),
            "{refused:?}"
        );
        assert!(killer.await.unwrap().is_err());
        {
            let conn = &mut test.conn();
            assert!(receipts(conn).is_empty(), "no receipt");
            assert!(events_of(conn, &checkout).is_empty(), "no event");
            let untouched = reload(conn, &checkout);
            assert_eq!(
                (untouched.status, untouched.amount_received),
                (CheckoutStatus::Open, 0)
            );
        }

        // The provider delivers again, and this time it is all stored.
        let webhook = paid_webhook(&checkout, "evt_1", &secret);
        assert_eq!(receive(&test.state, webhook).await.unwrap().status, 200);
        let conn = &mut test.conn();
        assert_eq!(receipts(conn).len(), 1);
        assert_eq!(events_of(conn, &checkout).len(), 1);
        assert_eq!(reload(conn, &checkout).status, CheckoutStatus::Succeeded);
    }
}
