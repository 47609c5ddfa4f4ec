//! Prometheus metrics: request count and latency by route pattern, method and status; routing
//! decisions by merchant, provider and outcome; each circuit's state. Served and fed over HTTP
//! by [`crate::routes::metrics`].

use std::collections::BTreeMap;

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    routing: IntCounterVec,
    circuits: IntGaugeVec,
    deliveries: IntCounterVec,
    outbox_pending: IntGauge,
    outbox_oldest_due: Gauge,
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
        let deliveries = IntCounterVec::new(
            Opts::new(
                "webhook_deliveries_total",
                "Attempts to deliver a webhook to a merchant's endpoint, by outcome: delivered \
                 (2xx), failed (any other answer, or none), gone (410: endpoint disabled)",
            ),
            &["endpoint", "outcome"],
        )?;
        let outbox_pending = IntGauge::new(
            "webhook_messages_pending",
            "Webhook messages waiting for their next attempt, due or not",
        )?;
        let outbox_oldest_due = Gauge::new(
            "webhook_oldest_due_seconds",
            "How long the longest-due pending webhook message has been due (0 when none is)",
        )?;
        registry.register(Box::new(deliveries.clone()))?;
        registry.register(Box::new(outbox_pending.clone()))?;
        registry.register(Box::new(outbox_oldest_due.clone()))?;
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
            deliveries,
            outbox_pending,
            outbox_oldest_due,
        })
    }

    /// Counts one attempt to deliver a webhook to `endpoint`.
    pub fn webhook_delivery(&self, endpoint: &str, outcome: &str) {
        self.deliveries
            .with_label_values(&[endpoint, outcome])
            .inc();
    }

    /// Sets the outbox's backlog, read at scrape time: pending messages and the age of the
    /// longest-due one.
    pub fn set_outbox(&self, pending: i64, oldest_due_seconds: f64) {
        self.outbox_pending.set(pending);
        self.outbox_oldest_due.set(oldest_due_seconds);
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
    pub fn set_circuits(&self, states: &BTreeMap<(&str, &str), i64>) {
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

    /// Counts and times one request.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// Every metric in Prometheus' text format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = vec![];
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|error| prometheus::Error::Msg(error.to_string()))
    }
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
