//! What the simulators' tests share: a simulator's API served over HTTP, as the sandbox's
//! routes serve it, for an adapter to call.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::simulator::{ApiCall, Method, Simulator};

/// Answers every call with the simulator's API at `now`; webhooks the calls trigger are not
/// sent.
struct Served {
    simulator: Arc<dyn Simulator>,
    now: DateTime<Utc>,
}

impl Respond for Served {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let method = match request.method.as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            _ => Method::Other,
        };
        let root = format!("/sandbox/{}/", self.simulator.id());
        let call = ApiCall {
            method,
            path: request.url.path().strip_prefix(&root).unwrap_or_default(),
            headers: &headers,
            body: &request.body,
        };
        let answer = self.simulator.api(&call, self.now);
        ResponseTemplate::new(answer.response.status).set_body_json(answer.response.body)
    }
}

/// A server answering below `/sandbox/{provider}/` as the simulator does, at `now`.
pub async fn serve(simulator: Arc<dyn Simulator>, now: DateTime<Utc>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Served { simulator, now })
        .mount(&server)
        .await;
    server
}
