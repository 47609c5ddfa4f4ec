//! Sends simulated providers' webhooks to paymux the way the providers do: signed at the
//! moment of sending, retried on the provider's documented schedule until delivered.

use std::time::Duration;

use crate::simulator::{OutgoingWebhook, Verdict};
use chrono::Utc;
use serde::Serialize;

/// The longest part of a reply kept in a delivery report.
const REPLY_EXCERPT: usize = 2048;

#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    /// Divides every retry delay: 1 keeps the providers' real schedules; tests and demos use
    /// a large value so that "retry in 5 minutes" happens in milliseconds.
    speedup: u32,
}

/// What happened to one delivery attempt, as the control endpoint reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub event_type: String,
    pub event_id: String,
    pub url: String,
    /// paymux's HTTP status, or `None` when it could not be reached.
    pub status: Option<u16>,
    pub reply: String,
    pub delivered: bool,
    /// Whether the provider takes the reply as a final refusal (no retry).
    pub refused: bool,
    /// Whether later attempts follow, on the provider's schedule.
    pub retrying: bool,
}

impl WebhookSender {
    pub fn new(client: reqwest::Client, speedup: u32) -> WebhookSender {
        WebhookSender {
            client,
            speedup: speedup.max(1),
        }
    }

    /// Makes the first attempt now and reports it; if it fails, the remaining attempts run in
    /// the background on the provider's schedule.
    pub async fn send(&self, webhook: OutgoingWebhook) -> Delivery {
        let (mut first, verdict) = self.attempt(&webhook).await;
        if verdict == Verdict::Retry && !webhook.retry_delays.is_empty() {
            first.retrying = true;
            let sender = self.clone();
            tokio::spawn(async move { sender.retry(webhook).await });
        }
        first
    }

    async fn retry(&self, webhook: OutgoingWebhook) {
        for (attempt, delay) in webhook.retry_delays.iter().enumerate() {
            tokio::time::sleep(*delay / self.speedup).await;
            let (delivery, verdict) = self.attempt(&webhook).await;
            tracing::info!(
                event_id = %webhook.event_id,
                attempt = attempt + 2,
                status = ?delivery.status,
                ?verdict,
                "sandbox webhook retried"
            );
            if verdict != Verdict::Retry {
                return;
            }
        }
        tracing::warn!(event_id = %webhook.event_id, "sandbox webhook abandoned after its last retry");
    }

    async fn attempt(&self, webhook: &OutgoingWebhook) -> (Delivery, Verdict) {
        let mut request = self
            .client
            .post(webhook.url.clone())
            .timeout(webhook.reply_within)
            .header("content-type", webhook.content_type)
            .body(webhook.body.clone());
        for (name, value) in (webhook.sign)(Utc::now(), &webhook.body) {
            request = request.header(name, value);
        }
        let (status, reply) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                (Some(status), body.to_vec())
            }
            Err(error) => (None, error.to_string().into_bytes()),
        };
        let verdict = match status {
            Some(status) => (webhook.delivered)(status, &reply),
            None => Verdict::Retry,
        };
        let mut reply = String::from_utf8_lossy(&reply).into_owned();
        if reply.len() > REPLY_EXCERPT {
            let cut = (0..=REPLY_EXCERPT)
                .rev()
                .find(|&i| reply.is_char_boundary(i))
                .unwrap_or(0);
            reply.truncate(cut);
        }
        let delivery = Delivery {
            event_type: webhook.event_type.clone(),
            event_id: webhook.event_id.clone(),
            url: webhook.url.to_string(),
            status,
            reply,
            delivered: verdict == Verdict::Delivered,
            refused: verdict == Verdict::Refused,
            retrying: false,
        };
        (delivery, verdict)
    }
}

/// A retry schedule from its delays in seconds.
pub fn schedule(seconds: &[u64]) -> Vec<Duration> {
    seconds.iter().copied().map(Duration::from_secs).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use wiremock::matchers::{header_exists, method};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn webhook(url: &str, retries: usize) -> OutgoingWebhook {
        OutgoingWebhook {
            url: url::Url::parse(url).unwrap(),
            content_type: "application/json",
            body: br#"{"id":"evt_1"}"#.to_vec(),
            event_type: "payment.succeeded".into(),
            event_id: "evt_1".into(),
            sign: Arc::new(|at, _body| vec![("x-signed-at".into(), at.timestamp().to_string())]),
            retry_delays: vec![Duration::from_secs(60); retries],
            reply_within: Duration::from_secs(10),
            delivered: crate::simulator::delivered_on_2xx,
        }
    }

    #[tokio::test]
    async fn a_failed_delivery_is_retried_on_the_schedule_until_delivered() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .up_to_n_times(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(header_exists("x-signed-at"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .mount(&server)
            .await;
        // A minute becomes a millisecond.
        let sender = WebhookSender::new(reqwest::Client::new(), 60_000);
        let first = sender.send(webhook(&server.uri(), 5)).await;
        assert_eq!(first.status, Some(500));
        assert!(!first.delivered);
        assert!(first.retrying);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let received = server.received_requests().await.unwrap_or_default().len();
            if received == 3 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {received} attempts"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_is_reported_without_a_status() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let sender = WebhookSender::new(reqwest::Client::new(), 1);
        let delivery = sender
            .send(webhook(&format!("http://127.0.0.1:{port}/"), 0))
            .await;
        assert_eq!(delivery.status, None);
        assert!(!delivery.delivered);
        assert!(!delivery.retrying);
    }
}
