//! No merchant reaches another's objects, on any route of the merchant API: every `/v1/` route
//! of the gateway's route table is called by a second merchant with the demo merchant's ids, so
//! a new route is covered as soon as it is served.

use paymux_tests::{assert_error, assert_json, on_both_backends, spawn_sandboxed};
use serde_json::{Value, json};

const OTHER: &str = "\n[merchants.other]\napi_keys = [\"pmx_test_other\"]\n";
const OTHER_KEY: &str = "pmx_test_other";

/// What a second merchant sends to `method path`: enough to get past the body's checks, so
/// that only ownership can stop it.
fn request_for(method: &str, path: &str, checkout_id: &str) -> (String, Value) {
    let far = 253_402_300_799_i64;
    match (method, path) {
        ("POST", "/v1/refunds") => (path.to_owned(), json!({"checkout_id": checkout_id})),
        ("POST", "/v1/checkouts") => (path.to_owned(), json!({"amount": 2500, "currency": "USD"})),
        ("POST", path) if path.ends_with("/replay") => (path.to_owned(), json!({"since": 0})),
        ("PATCH", path) => (path.to_owned(), json!({"description": "taken over"})),
        ("GET", "/v1/events/export") => (
            format!("{path}?format=ndjson&created_gte=0&created_lt={far}"),
            Value::Null,
        ),
        ("GET", "/v1/reconciliation") => (format!("{path}?from=0&to={far}"), Value::Null),
        _ => (path.to_owned(), Value::Null),
    }
}

on_both_backends! {
    async fn no_merchant_reaches_another_merchants_objects_on_any_route(backend) {
        let app = spawn_sandboxed(backend, OTHER).await;
        // The demo merchant's objects: a paid checkout, a refund of it, its events, an endpoint.
        let body = json!({"amount": 2500, "currency": "USD", "provider": "sknpay"});
        let checkout = assert_json(app.post("/v1/checkouts", &body, None).await, 201).await;
        let checkout_id = checkout["id"].as_str().unwrap().to_owned();
        let paid = app.press("sknpay", checkout["provider_checkout_id"].as_str().unwrap(), "pay", &json!({})).await;
        assert!(paid.get("error").is_none(), "{paid}");
        let refund = app.post("/v1/refunds", &json!({"checkout_id": checkout_id, "amount": 100}), None).await;
        let refund_id = assert_json(refund, 201).await["id"].as_str().unwrap().to_owned();
        let event_id = app.events_of(&checkout).await[0]["id"].as_str().unwrap().to_owned();
        let endpoint = json!({"url": "https://merchant.example/hooks"});
        let endpoint = assert_json(app.post("/v1/webhook_endpoints", &endpoint, None).await, 201).await;
        let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
        let ids = [
            ("checkouts", checkout_id.as_str()),
            ("refunds", refund_id.as_str()),
            ("events", event_id.as_str()),
            ("webhook_endpoints", endpoint_id.as_str()),
        ];
        let before = app.get_json(&format!("/v1/checkouts/{checkout_id}")).await;

        let mut tried = 0;
        for route in paymux_gateway::routes::table() {
            if !route.path.starts_with("/v1/") || route.path.starts_with("/v1/admin/") {
                continue;
            }
            let family = route.path.split('/').nth(2).unwrap();
            let path = match route.path.contains("{id}") {
                true => {
                    let (_, id) = ids
                        .iter()
                        .find(|(kind, _)| *kind == family)
                        .unwrap_or_else(|| panic!("no object of the demo merchant for {}", route.path));
                    route.path.replace("{id}", id)
                }
                false => route.path.to_owned(),
            };
            let (path, body) = request_for(route.method.as_str(), &path, &checkout_id);
            let mut request = app
                .client
                .request(route.method.as_str().parse().unwrap(), app.url(&path))
                .bearer_auth(OTHER_KEY);
            if !body.is_null() {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let what = format!("{} {path}", route.method);
            if route.path.contains("{id}") || route.path == "/v1/refunds" {
                let error = assert_error(response, 404, "resource_missing").await;
                assert!(!error.to_string().contains("demo"), "{what}: {error}");
            } else {
                let status = response.status();
                let text = response.text().await.unwrap();
                for (kind, id) in ids {
                    assert!(!text.contains(id), "{what} ({status}) shows the demo merchant's {kind}: {text}");
                }
                if route.method == "GET" {
                    assert_eq!(status, 200, "{what}: {text}");
                }
            }
            tried += 1;
        }
        assert!(tried >= 18, "{tried} routes tried");

        // And nothing of the demo merchant's changed.
        assert_eq!(app.get_json(&format!("/v1/checkouts/{checkout_id}")).await, before);
        let endpoint_now = app.get_json(&format!("/v1/webhook_endpoints/{endpoint_id}")).await;
        assert_eq!(endpoint_now["description"], Value::Null);
        assert_eq!(endpoint_now["status"], "enabled");
    }
}
