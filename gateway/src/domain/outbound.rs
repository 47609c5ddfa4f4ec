//! Webhooks paymux sends merchants, in the Standard Webhooks format: every stored event
//! becomes, in the transaction that stores it, one message per endpoint that wants it (the
//! outbox, so no event goes without its messages), and the senders deliver those messages:
//! signed, retried on a schedule, claimed under a lease so that several processes share them
//! and none sends one message twice at once.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{NaiveDateTime, TimeDelta, Utc};
use paymux_domain::{DeliveryId, EndpointId, EndpointStatus, EventId, MessageStatus};
use paymux_providers::signing::hmac_sha256;
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::event::Event;
use paymux_schema::db::outbound::{
    Due, EndpointPart, EndpointSecret, OutboundEvent, WebhookAttempt, WebhookEndpoint,
    WebhookMessage,
};
use paymux_schema::db::{DbConnection, truncate_to_micros};
use serde::Serialize;
use tokio::sync::{Notify, Semaphore};
use utoipa::ToSchema;

use crate::domain::views::{CheckoutOut, EventOut};
use crate::state::AppState;
use crate::store::StoreError;

/// The delays before each retry, as Standard Webhooks' reference schedule (and Svix) has
/// them; after the last retry fails the message is failed.
pub const RETRY_DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];
/// An endpoint every attempt to which failed for this long is disabled.
pub const DISABLE_AFTER: Duration = Duration::from_secs(5 * 24 * 3600);
/// How long the old secret signs too after a rotation.
pub const ROTATION_OVERLAP: TimeDelta = TimeDelta::hours(24);
/// An attempt's whole time, connecting included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed message is held: longer than an attempt, so that only a sender that
/// died loses it to another.
const LEASE: TimeDelta = TimeDelta::seconds(30);
/// Time left, after an attempt's timeout, for recording it before its lease lapses.
const RECORD_MARGIN: TimeDelta = TimeDelta::seconds(5);
/// How often the senders look for due messages when nothing woke them.
const POLL: Duration = Duration::from_secs(1);
/// Messages one claim takes at most.
const CLAIM_BATCH: i64 = 64;

/// Wakes the senders of this process: an event was recorded with messages to send. They
/// claim through the write queue, after the group that stored the messages; a message missed
/// all the same (another writer's group) is found by the next poll.
static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// The type of the event `POST /v1/webhook_endpoints/{id}/test` sends.
pub const TEST_EVENT: &str = "webhook.test";

/// Queues `event` (as stored, `checkout` as it stands once the event was applied) for every
/// enabled endpoint of its merchant that wants it, in the caller's transaction. How many
/// messages were queued.
pub fn enqueue(
    conn: &mut DbConnection,
    event: &Event,
    checkout: Option<&Checkout>,
) -> Result<usize, StoreError> {
    let endpoints: Vec<WebhookEndpoint> = WebhookEndpoint::enabled_for(conn, &event.merchant)?
        .into_iter()
        .filter(|endpoint| endpoint.wants(event.event_type.as_str()))
        .collect();
    if endpoints.is_empty() {
        return Ok(0);
    }
    let outbound = outbound_event(event, checkout);
    OutboundEvent::insert_if_new(conn, &outbound)?;
    for endpoint in &endpoints {
        let message = WebhookMessage::new(
            &event.merchant,
            &endpoint.id,
            &event.id,
            outbound.created_at,
        );
        WebhookMessage::insert(conn, &message)?;
    }
    wake();
    Ok(endpoints.len())
}

/// The body of every webhook paymux sends: `{type, timestamp, data}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookPayload {
    /// The event's type (`payment.succeeded`), or `webhook.test`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the webhook was made, RFC 3339 with microseconds.
    #[schema(format = DateTime)]
    pub timestamp: String,
    pub data: WebhookData,
}

/// An event and its checkout, or what a test sends.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum WebhookData {
    Event(Box<EventData>),
    Test(TestEventData),
}

/// An event as `GET /v1/events/{id}` shows it (without `raw`), and its checkout as it stood
/// once the event was applied (`null` for an event no checkout was found for).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventData {
    #[serde(flatten)]
    pub event: EventOut,
    pub checkout: Option<CheckoutOut>,
}

/// What `POST /v1/webhook_endpoints/{id}/test` sends: no payment is concerned.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestEventData {
    pub id: EventId,
    #[schema(example = "event")]
    pub object: &'static str,
    pub endpoint: EndpointId,
    pub message: &'static str,
}

/// The body `event` is delivered with, `checkout` as it stands.
pub fn outbound_event(event: &Event, checkout: Option<&Checkout>) -> OutboundEvent {
    let now = truncate_to_micros(Utc::now());
    let data = EventData {
        event: EventOut::from_row(event.clone(), None),
        checkout: checkout.map(|checkout| CheckoutOut::from(checkout.clone())),
    };
    OutboundEvent {
        id: event.id,
        merchant: event.merchant.clone(),
        event_type: event.event_type.as_str().to_owned(),
        body: body(
            event.event_type.as_str(),
            now,
            WebhookData::Event(Box::new(data)),
        ),
        created_at: now,
    }
}

/// A `webhook.test` event for one endpoint, and its message.
pub fn test_event(endpoint: &WebhookEndpoint) -> (OutboundEvent, WebhookMessage) {
    let now = truncate_to_micros(Utc::now());
    let id = EventId::generate();
    let data = TestEventData {
        id,
        object: "event",
        endpoint: endpoint.id,
        message: "a test event sent on request: nothing happened to any payment",
    };
    let event = OutboundEvent {
        id,
        merchant: endpoint.merchant.clone(),
        event_type: TEST_EVENT.to_owned(),
        body: body(TEST_EVENT, now, WebhookData::Test(data)),
        created_at: now,
    };
    let message = WebhookMessage::new(&endpoint.merchant, &endpoint.id, &id, now);
    (event, message)
}

fn body(event_type: &str, at: NaiveDateTime, data: WebhookData) -> String {
    let payload = WebhookPayload {
        event_type: event_type.to_owned(),
        timestamp: at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        data,
    };
    // Plain structs of strings and numbers: serializing them cannot fail.
    serde_json::to_string(&payload).unwrap_or_default()
}

/// Makes the message of `event` for `endpoint` due now: the one sent before, under the same
/// `webhook-id`, or a new one. An event never sent anywhere gets its body now, with its
/// checkout as it stands.
pub fn resend(
    conn: &mut DbConnection,
    endpoint: &WebhookEndpoint,
    event: &Event,
) -> Result<WebhookMessage, StoreError> {
    let now = truncate_to_micros(Utc::now());
    if let Some(message) = WebhookMessage::find(conn, &endpoint.id, &event.id)? {
        WebhookMessage::make_due(conn, &message.id, now)?;
        return Ok(message);
    }
    if OutboundEvent::find(conn, &event.id)?.is_none() {
        let checkout = match &event.checkout_id {
            Some(id) => Checkout::find(conn, &event.merchant, id)?,
            None => None,
        };
        OutboundEvent::insert_if_new(conn, &outbound_event(event, checkout.as_ref()))?;
    }
    let message = WebhookMessage::new(&endpoint.merchant, &endpoint.id, &event.id, now);
    WebhookMessage::insert(conn, &message)?;
    Ok(message)
}

/// Wakes this process's senders (after a resend, a replay, a test event).
pub fn wake() {
    WAKE.notify_waiters();
}

/// A new endpoint secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> Result<EndpointSecret, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(EndpointSecret::new(format!(
        "whsec_{}",
        BASE64.encode(bytes)
    )))
}

/// The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each
/// secret, space-separated. A secret's key is the base64 after `whsec_`.
pub fn signature(secrets: &[&EndpointSecret], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|secret| {
            let encoded = secret
                .expose()
                .strip_prefix("whsec_")
                .unwrap_or(secret.expose());
            let key = BASE64.decode(encoded).ok()?;
            let signed = format!("{id}.{timestamp}.");
            let mac = hmac_sha256(&key, &[signed.as_bytes(), body.as_bytes()]);
            Some(format!("v1,{}", BASE64.encode(mac)))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `ip` is on the public internet: not loopback, private, link-local (cloud metadata
/// lives there), unique-local, shared, benchmarking, reserved, documentation, multicast or
/// unspecified. An IPv6 address that carries an IPv4 one (mapped, compatible, NAT64, 6to4)
/// is judged by that one: the network routes it there.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b & 0xfe) == 18))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

/// The IPv4 address an IPv6 one stands for: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:a.b.c.d::`).
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let segments = v6.segments();
    let last = |s: &[u16]| std::net::Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    match segments {
        [0, 0, 0, 0, 0, 0xffff, ..] => Some(last(&segments)),
        // `::` and `::1` are themselves, not IPv4 addresses.
        [0, 0, 0, 0, 0, 0, high, _] if high != 0 => Some(last(&segments)),
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => Some(last(&segments)),
        [0x2002, high, low, ..] => Some(std::net::Ipv4Addr::from(
            (u32::from(high) << 16) | u32::from(low),
        )),
        _ => None,
    }
}

/// Why an endpoint URL is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlRefused {
    #[error("url must be an absolute http(s) URL")]
    NotHttp,
    #[error("url must use https")]
    NotHttps,
    #[error("url's host does not resolve")]
    Unresolved,
    #[error(
        "url resolves to a private, loopback or link-local address, which paymux does not send to"
    )]
    Private,
}

/// Checks an endpoint URL when it is made or changed: [`check_form`], and unless private
/// networks are allowed, a host name whose every address is public.
pub async fn check_url(text: &str, allow_private: bool) -> Result<url::Url, UrlRefused> {
    let url = check_form(text, allow_private)?;
    let Some(url::Host::Domain(name)) = url.host().filter(|_| !allow_private) else {
        return Ok(url);
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|_| UrlRefused::Unresolved)?
        .collect();
    if addresses.is_empty() {
        return Err(UrlRefused::Unresolved);
    }
    if addresses.iter().all(|address| is_public(address.ip())) {
        Ok(url)
    } else {
        Err(UrlRefused::Private)
    }
}

/// What a URL says without a lookup: http(s) with a host; unless private networks are
/// allowed, https and, for a literal address, a public one. Checked again before every
/// attempt; names are checked then by the senders' resolver ([`PublicOnly`]).
fn check_form(text: &str, allow_private: bool) -> Result<url::Url, UrlRefused> {
    let url = url::Url::parse(text).map_err(|_| UrlRefused::NotHttp)?;
    let literal = match url.host() {
        None => return Err(UrlRefused::NotHttp),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlRefused::NotHttp);
    }
    if allow_private {
        return Ok(url);
    }
    if url.scheme() != "https" {
        return Err(UrlRefused::NotHttps);
    }
    match literal {
        Some(ip) if !is_public(ip) => Err(UrlRefused::Private),
        _ => Ok(url),
    }
}

/// Resolves names for the senders' client, keeping only public addresses: a name checked when
/// the endpoint was made that later resolves to a private address (DNS rebinding) is not
/// connected to.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if public.is_empty() {
                return Err(UrlRefused::Private.into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why a 410 failed its attempt and disabled its endpoint.
const GONE: &str = "the endpoint answered 410 Gone";

/// What one attempt got.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    /// 2xx.
    Delivered(u16),
    /// 410 Gone: the endpoint is disabled at once.
    Gone,
    /// Any other status, or no answer (`None`), and why.
    Failed(Option<u16>, String),
}

/// The senders of one process.
pub struct Senders {
    state: AppState,
    client: reqwest::Client,
    allow_private: bool,
    speedup: u32,
    in_flight: Arc<Semaphore>,
    per_endpoint: Mutex<HashMap<EndpointId, Arc<Semaphore>>>,
    per_endpoint_limit: usize,
}

impl Senders {
    pub fn new(state: AppState) -> Result<Arc<Senders>, reqwest::Error> {
        let config = state.config();
        let settings = &config.settings;
        let allow_private = settings.allow_private_networks();
        let mut client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("paymux/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            client = client.dns_resolver(Arc::new(PublicOnly));
        }
        let outbound = settings.outbound_webhooks;
        Ok(Arc::new(Senders {
            client: client.build()?,
            allow_private,
            speedup: outbound.retry_speedup.max(1),
            in_flight: Arc::new(Semaphore::new(outbound.max_in_flight.max(1))),
            per_endpoint: Mutex::new(HashMap::new()),
            per_endpoint_limit: outbound.max_in_flight_per_endpoint.max(1),
            state,
        }))
    }

    /// Claims and sends due messages until the task is dropped.
    pub async fn run_forever(self: Arc<Senders>) {
        loop {
            let woken = WAKE.notified();
            match self.send_due().await {
                Ok(claimed) if claimed > 0 => continue,
                Ok(_) => {}
                Err(error) => tracing::error!(%error, "could not claim due webhook messages"),
            }
            let _ = tokio::time::timeout(POLL, woken).await;
        }
    }

    /// Claims one batch of due messages and starts sending them; how many it claimed.
    pub async fn send_due(self: &Arc<Senders>) -> Result<usize, StoreError> {
        // No more than can start now: a claim waiting here would hold its lease idle.
        let room = i64::try_from(self.in_flight.available_permits()).unwrap_or(0);
        if room == 0 {
            return Ok(0);
        }
        let now = truncate_to_micros(Utc::now());
        let due = self
            .state
            .write(move |conn| {
                Ok::<_, StoreError>(WebhookMessage::claim_due(
                    conn,
                    now,
                    now + LEASE,
                    room.min(CLAIM_BATCH),
                )?)
            })
            .await?;
        let claimed = due.len();
        for due in due {
            let senders = self.clone();
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                break;
            };
            tokio::spawn(async move {
                let endpoint = senders.endpoint_slot(&due.endpoint.id);
                // A message that waited for its endpoint until its lease may lapse mid-attempt
                // is left to be claimed again: another sender could take it meanwhile.
                if let Ok(_slot) = endpoint.acquire_owned().await
                    && lease_holds(&due.message, truncate_to_micros(Utc::now()))
                {
                    senders.deliver(due).await;
                }
                drop(permit);
            });
        }
        Ok(claimed)
    }

    fn endpoint_slot(&self, endpoint: &EndpointId) -> Arc<Semaphore> {
        let mut slots = self
            .per_endpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots
            .entry(*endpoint)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_endpoint_limit)))
            .clone()
    }

    /// Sends one message and records what became of it.
    async fn deliver(&self, due: Due) {
        let started = Instant::now();
        let attempted_at = truncate_to_micros(Utc::now());
        let answer = self.attempt(&due, attempted_at).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let speedup = self.speedup;
        let metrics = self.state.metrics.clone();
        let outcome = match &answer {
            Answer::Delivered(_) => "delivered",
            Answer::Gone => "gone",
            Answer::Failed(..) => "failed",
        };
        metrics.webhook_delivery(&due.endpoint.id.to_string(), outcome);
        let recorded = self
            .state
            .write_waiting(move |conn| {
                record(conn, &due, &answer, attempted_at, duration_ms, speedup)
            })
            .await;
        if let Err(error) = recorded {
            // The lease lapses and another attempt is made: at least once.
            tracing::error!(%error, "could not record a webhook attempt");
        }
    }

    async fn attempt(&self, due: &Due, now: NaiveDateTime) -> Answer {
        let url = match check_form(&due.endpoint.url, self.allow_private) {
            Ok(url) => url,
            Err(refused) => return Answer::Failed(None, refused.to_string()),
        };
        let id = due.message.id.to_string();
        let timestamp = now.and_utc().timestamp();
        let signature = signature(
            &due.endpoint.signing_secrets(now),
            &id,
            timestamp,
            &due.event.body,
        );
        let sent = self
            .client
            .post(url)
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .header("content-type", "application/json")
            .body(due.event.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                Answer::Delivered(response.status().as_u16())
            }
            Ok(response) if response.status() == reqwest::StatusCode::GONE => Answer::Gone,
            Ok(response) => {
                let status = response.status().as_u16();
                Answer::Failed(Some(status), format!("the endpoint answered {status}"))
            }
            Err(error) if error.is_timeout() => Answer::Failed(
                None,
                format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()),
            ),
            Err(error) => Answer::Failed(None, describe(&error)),
        }
    }
}

/// Whether an attempt starting at `now` ends, timeout and recording included, while the
/// message's lease still holds.
fn lease_holds(message: &WebhookMessage, now: NaiveDateTime) -> bool {
    let needed = TimeDelta::from_std(ATTEMPT_TIMEOUT).unwrap_or(LEASE) + RECORD_MARGIN;
    message
        .leased_until
        .is_some_and(|until| now + needed < until)
}

/// A send error in a sentence, with its cause (refused connection, DNS, TLS), never a body.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// When the attempt after `attempts` failed ones is due, `None` when the schedule is spent:
/// the documented delay divided by `speedup`, within ±10 %.
pub fn next_attempt(attempts: i32, now: NaiveDateTime, speedup: u32) -> Option<NaiveDateTime> {
    let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
    let delay = *RETRY_DELAYS.get(index)? / speedup.max(1);
    let mut random = [0u8; 2];
    let spread = getrandom::fill(&mut random).map_or(100, |()| u16::from_le_bytes(random) % 201);
    // From 900 to 1100 thousandths of the delay.
    let jittered = delay * (900 + u32::from(spread)) / 1000;
    Some(now + TimeDelta::from_std(jittered).unwrap_or(TimeDelta::zero()))
}

/// Stores an attempt: the message's new state, its log row, and what it says about the
/// endpoint (healthy again, or failing for too long, or gone).
fn record(
    conn: &mut DbConnection,
    due: &Due,
    answer: &Answer,
    attempted_at: NaiveDateTime,
    duration_ms: i64,
    speedup: u32,
) -> Result<(), StoreError> {
    let mut message = due.message.clone();
    message.attempts += 1;
    message.updated_at = attempted_at;
    let (response_status, error) = match answer {
        Answer::Delivered(status) => (Some(*status), None),
        Answer::Gone => (Some(410), Some(GONE.to_owned())),
        Answer::Failed(status, error) => (*status, Some(error.clone())),
    };
    (message.status, message.next_attempt_at) = match answer {
        Answer::Delivered(_) => (MessageStatus::Delivered, None),
        Answer::Gone => (MessageStatus::Failed, None),
        Answer::Failed(..) => match next_attempt(message.attempts, attempted_at, speedup) {
            Some(next) => (MessageStatus::Pending, Some(next)),
            None => (MessageStatus::Failed, None),
        },
    };
    let attempt = WebhookAttempt {
        id: DeliveryId::generate(),
        message_id: message.id,
        endpoint_id: message.endpoint_id,
        event_id: message.event_id,
        attempt: message.attempts,
        response_status: response_status.map(i32::from),
        error,
        duration_ms,
        attempted_at,
        next_attempt_at: message.next_attempt_at,
    };
    WebhookMessage::record_attempt(conn, &message, &attempt)?;
    let Some(mut endpoint) = WebhookEndpoint::find(conn, &message.merchant, &message.endpoint_id)?
    else {
        return Ok(());
    };
    let failing_too_long =
        TimeDelta::from_std(DISABLE_AFTER / speedup.max(1)).unwrap_or(TimeDelta::days(5));
    let disabled = match answer {
        Answer::Delivered(_) => {
            if endpoint.failing_since.is_none() {
                return Ok(());
            }
            endpoint.failing_since = None;
            None
        }
        Answer::Gone => Some(GONE.to_owned()),
        Answer::Failed(..) => {
            let since = *endpoint.failing_since.get_or_insert(attempted_at);
            (attempted_at - since >= failing_too_long)
                .then(|| "every delivery failed for five days".to_owned())
        }
    };
    if let Some(reason) = disabled
        && endpoint.status == EndpointStatus::Enabled
    {
        tracing::warn!(endpoint = %endpoint.id, %reason, "webhook endpoint disabled");
        endpoint.status = EndpointStatus::Disabled;
        endpoint.disabled_reason = Some(reason);
        WebhookMessage::fail_pending(conn, &endpoint.id, attempted_at)?;
    }
    endpoint.updated_at = attempted_at;
    WebhookEndpoint::save(conn, &endpoint, EndpointPart::Health)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_unique_local_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::169.254.169.254",
            "2002:a9fe:a9fe::1",
            "fec0::1",
            "2001:db8::1",
            "198.18.0.1",
            "240.0.0.1",
            "192.0.0.8",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "64:ff9b::1.1.1.1",
            "2002:0101:0101::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn the_retry_schedule_is_the_documented_one_within_ten_percent_then_spent() {
        let now = truncate_to_micros(Utc::now());
        for (attempts, expected) in (1..).zip(RETRY_DELAYS) {
            let next = next_attempt(attempts, now, 1).unwrap();
            let delay = (next - now).to_std().unwrap();
            assert!(delay >= expected.mul_f64(0.9) && delay <= expected.mul_f64(1.1));
        }
        assert_eq!(next_attempt(8, now, 1), None);
        let sped_up = next_attempt(2, now, 1000).unwrap() - now;
        assert!(sped_up <= TimeDelta::milliseconds(330), "{sped_up}");
    }

    #[test]
    fn an_attempt_starts_only_while_its_lease_outlasts_it() {
        let now = truncate_to_micros(Utc::now());
        let endpoint = EndpointId::generate();
        let mut message = WebhookMessage::new("demo", &endpoint, &EventId::generate(), now);
        message.leased_until = Some(now + LEASE);
        assert!(lease_holds(&message, now));
        assert!(!lease_holds(&message, now + LEASE - TimeDelta::seconds(14)));
        message.leased_until = None;
        assert!(!lease_holds(&message, now));
    }

    /// A sender records its attempt from copies it read when it claimed the message: a resend
    /// made meanwhile, and a rotation of the endpoint's secret, must both outlive that record.
    #[tokio::test]
    async fn a_senders_record_undoes_neither_a_resend_nor_a_rotation_made_meanwhile() {
        use crate::domain::endpoints::{self, EndpointChange};
        use crate::domain::test_support::TestState;

        let test = TestState::new();
        let change = EndpointChange {
            url: Some("http://127.0.0.1:9/hooks".to_owned()),
            ..EndpointChange::default()
        };
        let endpoint = endpoints::create(&test.state, None, "demo", change)
            .await
            .unwrap();
        let id = endpoint.id.to_string();
        endpoints::send_test(&test.state, None, "demo", &id)
            .await
            .unwrap();
        let mut conn = test.conn();
        let now = truncate_to_micros(Utc::now());
        let mut due = WebhookMessage::claim_due(&mut conn, now, now + LEASE, 8).unwrap();
        assert_eq!(due.len(), 1);
        let Due {
            mut message,
            endpoint: stale,
            ..
        } = due.remove(0);

        // Meanwhile: a resend, and a rotation.
        WebhookMessage::make_due(&mut conn, &message.id, now).unwrap();
        let rotated = endpoints::rotate_secret(&test.state, None, "demo", &id)
            .await
            .unwrap();

        // The sender's attempt succeeded; it records that, and the endpoint's health.
        message.status = MessageStatus::Delivered;
        message.attempts += 1;
        message.next_attempt_at = None;
        let attempt = WebhookAttempt {
            id: DeliveryId::generate(),
            message_id: message.id,
            endpoint_id: message.endpoint_id,
            event_id: message.event_id,
            attempt: message.attempts,
            response_status: Some(200),
            error: None,
            duration_ms: 1,
            attempted_at: now,
            next_attempt_at: None,
        };
        WebhookMessage::record_attempt(&mut conn, &message, &attempt).unwrap();
        WebhookEndpoint::save(&mut conn, &stale, EndpointPart::Health).unwrap();

        let resent = WebhookMessage::find(&mut conn, &message.endpoint_id, &message.event_id)
            .unwrap()
            .unwrap();
        assert_eq!(resent.status, MessageStatus::Pending, "the resend stands");
        assert_eq!(resent.leased_until, None);
        let page = paymux_schema::db::PageRequest {
            limit: 10,
            starting_after: None,
        };
        let attempts = WebhookAttempt::list(&mut conn, &endpoint.id, &page);
        assert_eq!(
            attempts.unwrap().items.len(),
            1,
            "the attempt is logged all the same"
        );
        let now_stored = WebhookEndpoint::find(&mut conn, "demo", &endpoint.id)
            .unwrap()
            .unwrap();
        assert_eq!(
            now_stored.secret, rotated.secret,
            "the rotated secret stands"
        );
        assert_eq!(now_stored.previous_secret, Some(endpoint.secret));
    }

    #[test]
    fn a_secret_debugs_redacted() {
        let secret = new_secret().unwrap();
        assert!(secret.expose().starts_with("whsec_"));
        assert!(BASE64.decode(&secret.expose()[6..]).unwrap().len() >= 24);
        assert!(!format!("{secret:?}").contains(&secret.expose()[6..]));
    }
}
