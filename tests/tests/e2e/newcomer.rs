//! A newcomer's first hour: what the README walks through works as written, and the answers
//! say what to do next.

use paymux_tests::{assert_error, on_both_backends, spawn_sandboxed};
use serde_json::{Value, json};

const README: &str = include_str!("../../../README.md");

on_both_backends! {
    async fn an_unknown_provider_is_a_400_naming_the_known_ones(backend) {
        let app = spawn_sandboxed(backend, "[merchants.acme]\napi_keys = [\"pmx_test_acme\"]\n").await;
        let body = json!({"amount": 1_000, "currency": "USD", "provider": "stripe"});
        let error = assert_error(app.post("/v1/checkouts", &body, None).await, 400, "invalid_request").await;
        assert_eq!(error["param"], "provider");
        let message = error["message"].as_str().unwrap();
        for known in ["sknpay", "pakhi", "kwik", "spankpay", "skipify"] {
            assert!(message.contains(known), "{message}");
        }
        // A provider paymux knows that this merchant has not configured stays a 403.
        let body = json!({"amount": 1_000, "currency": "USD", "provider": "sknpay"});
        let response = app.post_as("pmx_test_acme", "/v1/checkouts", &body, None).await;
        assert_error(response, 403, "provider_not_enabled").await;
    }

    async fn checkouts_are_found_by_the_providers_id(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let wanted = app.create_checkout(&json!({"amount": 1_000, "currency": "USD", "provider": "sknpay"})).await;
        app.create_checkout(&json!({"amount": 2_000, "currency": "USD", "provider": "sknpay"})).await;
        let provider_id = wanted["provider_checkout_id"].as_str().unwrap();
        let found = app.get_json(&format!("/v1/checkouts?provider_checkout_id={provider_id}")).await;
        let ids: Vec<&Value> = found["data"].as_array().unwrap().iter().map(|c| &c["id"]).collect();
        assert_eq!(ids, [&wanted["id"]]);
    }

    async fn a_spankpay_checkout_is_paid_by_the_control_alone(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = app.create_checkout(&json!({"amount": 6_969, "currency": "USD", "provider": "spankpay"})).await;
        // As the README says: the control takes the checkout's own id, no frame opened first.
        let id = checkout["id"].as_str().unwrap();
        let paid = app.press("spankpay", id, "pay", &json!({})).await;
        assert_eq!(paid["webhook"]["delivered"], true, "{paid}");
        assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], "succeeded");
    }

    async fn the_metrics_the_readme_names_are_served(backend) {
        let app = spawn_sandboxed(backend, "").await;
        // The walk-through: a checkout paid, and the demo merchant told of it.
        let checkout = app.create_checkout(&json!({"amount": 1_000, "currency": "USD", "provider": "sknpay"})).await;
        let provider_id = checkout["provider_checkout_id"].as_str().unwrap();
        app.press("sknpay", provider_id, "pay", &json!({"card": "4111 1111 1111 1111"})).await;
        let metrics = app.eventually("the payment's webhook to reach the demo merchant", || async {
            let metrics = app.metrics().await;
            metrics.contains("paymux_webhook_deliveries_total{").then_some(metrics)
        }).await;
        let named: Vec<&str> = README
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("paymux_") && word.len() > "paymux_".len())
            .collect();
        assert!(named.len() >= 4, "{named:?}");
        for name in named {
            assert!(metrics.contains(name), "README names {name}, /metrics has no such metric");
        }
    }
}
