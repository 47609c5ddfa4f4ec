//! Prometheus metrics: request count and latency by route pattern, method and status; routing
//! decisions by merchant, provider and outcome; each circuit's state.

use std::collections::BTreeMap;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    routing: IntCounterVec,
    circuits: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("paymux".to_owned()), None)?;
        let labels = ["method", "route", "status"];
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests served"),
            &labels,
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
            &labels,
        )?;
        let routing = IntCounterVec::new(
            Opts::new(
                "routing_decisions_total",
                "Provider calls and skips of checkout routing, by outcome: created, failed \
                 (nothing created, next provider tried), outcome_unknown, refused, circuit_open",
            ),
            &["merchant", "provider", "outcome"],
        )?;
        let circuits = IntGaugeVec::new(
            Opts::new(
                "circuit_state",
                "Circuit breaker of each merchant's provider: 0 closed, 1 half-open, 2 open",
            ),
            &["merchant", "provider"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(routing.clone()))?;
        registry.register(Box::new(circuits.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            routing,
            circuits,
        })
    }

    /// Counts one routing step for a merchant's provider.
    pub fn routing_decision(&self, merchant: &str, provider: &str, outcome: &str) {
        self.routing
            .with_label_values(&[merchant, provider, outcome])
            .inc();
    }

    /// Sets the gauge of each circuit in `states`, by `(merchant, provider)`, and drops those
    /// of pairs no longer configured. Never a reset: a scrape running meanwhile would render
    /// configured circuits as missing.
    fn set_circuits(&self, states: &BTreeMap<(&str, &str), i64>) {
        for ((merchant, provider), state) in states {
            self.circuits
                .with_label_values(&[*merchant, *provider])
                .set(*state);
        }
        for family in Collector::collect(&self.circuits) {
            for metric in family.get_metric() {
                let label = |name: &str| {
                    metric
                        .get_label()
                        .iter()
                        .find(|pair| pair.name() == name)
                        .map(|pair| pair.value().to_owned())
                };
                if let (Some(merchant), Some(provider)) = (label("merchant"), label("provider"))
                    && !states.contains_key(&(merchant.as_str(), provider.as_str()))
                {
                    // Another scrape may have removed it first.
                    let _ = self.circuits.remove_label_values(&[&merchant, &provider]);
                }
            }
        }
    }

    /// The registry, for other parts of paymux to register their own metrics in.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    fn render(&self) -> Result<String, ApiError> {
        let mut buffer = vec![];
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .map_err(ApiError::internal)?;
        String::from_utf8(buffer).map_err(ApiError::internal)
    }
}

/// Middleware: counts and times each request, and writes one access log line inside the
/// request's span (so it carries the request id).
pub async fn record(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().to_string();
    let metrics = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let result = next.call(request).await;
    let (status, route) = match &result {
        Ok(response) => (
            response.status().as_u16(),
            response.request().match_pattern(),
        ),
        Err(error) => (error.as_response_error().status_code().as_u16(), None),
    };
    // Unmatched paths share one label so that scanners cannot blow up the series count.
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        metrics.observe(&method, &route, status, elapsed.as_secs_f64());
    }
    tracing::info!(%method, %route, status, latency_ms = elapsed.as_millis() as u64, "request");
    result
}

/// `GET /metrics`: Prometheus text format. Circuit states are read at scrape time, so an open
/// circuit whose cooldown has passed shows as half-open without any call having been made.
pub async fn metrics_endpoint(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let config = state.config();
    let (policy, now) = (config.policy(), Instant::now());
    let mut states = BTreeMap::new();
    for merchant in config.merchants.iter() {
        for provider in merchant.providers.keys() {
            let circuit = state.breakers.view(&merchant.id, provider, policy, now);
            states.insert(
                (merchant.id.as_str(), provider.as_str()),
                circuit.state.gauge(),
            );
        }
    }
    state.metrics.set_circuits(&states);
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuit_gauges_follow_the_config_without_a_reset() {
        let metrics = Metrics::new().unwrap();
        metrics.set_circuits(&BTreeMap::from([(("a", "sknpay"), 2), (("b", "kwik"), 0)]));
        let rendered = metrics.render().unwrap();
        assert!(rendered.contains(r#"paymux_circuit_state{merchant="a",provider="sknpay"} 2"#));
        assert!(rendered.contains(r#"paymux_circuit_state{merchant="b",provider="kwik"} 0"#));
        // b's kwik left the config.
        metrics.set_circuits(&BTreeMap::from([(("a", "sknpay"), 1)]));
        let rendered = metrics.render().unwrap();
        assert!(rendered.contains(r#"paymux_circuit_state{merchant="a",provider="sknpay"} 1"#));
        assert!(!rendered.contains(r#"merchant="b""#), "{rendered}");
    }
}
