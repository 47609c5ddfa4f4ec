//! The HTTP surface of the foundation: health, auth, JSON errors, the read side of checkouts
//! and events, metrics. Every test runs on SQLite and on PostgreSQL.

use chrono::{Duration, Utc};
use paymux_domain::{
    CheckoutId, CheckoutStatus, Currency, EventId, EventSource, EventType, ReceiptId,
};
use paymux_schema::db::checkout::Checkout;
use paymux_schema::db::column::Json;
use paymux_schema::db::event::Event;
use paymux_schema::db::receipt::{ReceiptOutcome, WebhookReceipt};
use paymux_schema::db::truncate_to_micros;
use paymux_tests::{DEMO_KEY, assert_error, on_both_backends, spawn_app, spawn_with_overlay};

const SECOND_MERCHANT: &str = r#"
[merchants.other]
api_keys = ["pmx_test_other"]
"#;

fn checkout(merchant: &str, reference: &str) -> Checkout {
    let now = truncate_to_micros(Utc::now());
    Checkout {
        id: CheckoutId::generate(),
        merchant: merchant.to_owned(),
        provider: "fake".to_owned(),
        provider_checkout_id: Some(format!("fake_{reference}")),
        status: CheckoutStatus::Open,
        amount: 12_500,
        currency: Currency::Usd,
        amount_refunded: 0,
        reference: Some(reference.to_owned()),
        description: Some("Order".to_owned()),
        customer: Some(Json(serde_json::json!({"email": "alice@example.com"}))),
        success_url: None,
        cancel_url: None,
        metadata: Some(Json(serde_json::json!({"order_id": "5821"}))),
        items: None,
        redirect_url: Some("https://fake.example/pay".to_owned()),
        client_action: None,
        expires_at: None,
        livemode: false,
        created_at: now,
        updated_at: now,
        providers_tried: None,
        amount_received: 0,
    }
}

fn event(
    merchant: &str,
    event_type: EventType,
    provider: &str,
    checkout_id: Option<CheckoutId>,
    age_secs: i64,
) -> Event {
    let at = truncate_to_micros(Utc::now() - Duration::seconds(age_secs));
    Event {
        id: EventId::generate(),
        event_type,
        merchant: merchant.to_owned(),
        provider: provider.to_owned(),
        provider_event_id: format!("pe_{}", ulid::Ulid::new()),
        checkout_id,
        provider_payment_id: None,
        reference: None,
        amount: Some(12_500),
        currency: Some(Currency::Usd),
        fee: None,
        occurred_at: at,
        received_at: at,
        livemode: false,
        details: Json(serde_json::json!({"card_brand": "visa"})),
        receipt_id: None,
        source: EventSource::Provider,
    }
}

on_both_backends! {
    async fn health_and_readiness_answer(backend) {
        let app = spawn_app(backend).await;
        let health = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert!(health.headers().contains_key("x-request-id"));
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["status"], "ready");
    }

    async fn api_keys_are_required_and_checked(backend) {
        let app = spawn_app(backend).await;
        let missing = app.client.get(app.url("/v1/events")).send().await.unwrap();
        assert_error(missing, 401, "invalid_api_key").await;
        assert_error(app.get_as("nope", "/v1/events").await, 401, "invalid_api_key").await;
        let basic = app
            .client
            .get(app.url("/v1/events"))
            .header("Authorization", format!("Basic {DEMO_KEY}"))
            .send()
            .await
            .unwrap();
        assert_error(basic, 401, "invalid_api_key").await;
        assert_eq!(app.get("/v1/events").await.status(), 200);
    }

    async fn the_api_document_and_its_reference_page_are_served_without_a_network(backend) {
        let app = spawn_app(backend).await;
        let document = app.client.get(app.url("/openapi.json")).send().await.unwrap();
        assert_eq!(document.status(), 200);
        assert!(document.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let document: serde_json::Value = document.json().await.unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        assert!(document["paths"]["/v1/checkouts"]["post"].is_object());

        let page = app.client.get(app.url("/docs")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(policy.contains("script-src 'self';"), "no inline script: {policy}");
        let page = page.text().await.unwrap();
        assert!(!page.contains("http://") && !page.contains("https://"), "the page loads nothing from elsewhere");
        let script = page.split(r#"src=""#).nth(1).unwrap().split('"').next().unwrap();
        let starter = app.client.get(app.url(script)).send().await.unwrap().text().await.unwrap();
        assert!(starter.contains(r#""/openapi.json""#) && starter.contains("disableTelemetry: true"), "{starter}");
        let bundle = starter.split("from \"").nth(1).unwrap().split('"').next().unwrap();
        let bundle = app.client.get(app.url(bundle)).send().await.unwrap();
        assert_eq!(bundle.status(), 200);
        assert!(bundle.text().await.unwrap().contains("Redoc"));
    }

    async fn framework_errors_are_json(backend) {
        let app = spawn_app(backend).await;
        let unknown = app.client.get(app.url("/no/such/route")).send().await.unwrap();
        let error = assert_error(unknown, 404, "not_found").await;
        assert!(error["message"].as_str().unwrap().contains("/no/such/route"));

        let wrong_method = app.client.delete(app.url("/v1/events")).bearer_auth(DEMO_KEY).send().await.unwrap();
        assert_eq!(wrong_method.headers()["allow"], "GET");
        assert_error(wrong_method, 405, "method_not_allowed").await;

        let oversize = app
            .client
            .post(app.url("/v1/events"))
            .bearer_auth(DEMO_KEY)
            .body(vec![b'x'; 262_145])
            .send()
            .await
            .unwrap();
        assert_error(oversize, 413, "payload_too_large").await;
    }

    async fn events_list_newest_first_with_cursor_and_filters(backend) {
        let app = spawn_with_overlay(backend, SECOND_MERCHANT).await;
        let checkout = checkout("demo", "order-1");
        let checkout_id = checkout.id;
        let (oldest, middle, newest, foreign) = {
            app.with_db(move |conn| {
                Checkout::insert(conn, &checkout).unwrap();
                let oldest = event("demo", EventType::PaymentFailed, "fake", Some(checkout_id), 300);
                let middle = event("demo", EventType::PaymentSucceeded, "fake", Some(checkout_id), 200);
                let newest = event("demo", EventType::PaymentSucceeded, "other", None, 100);
                let foreign = event("other", EventType::PaymentSucceeded, "fake", None, 50);
                for row in [&oldest, &middle, &newest, &foreign] {
                    assert!(Event::insert_if_new(conn, row).unwrap());
                }
                (oldest, middle, newest, foreign)
            })
            .await
        };

        let ids = |body: &serde_json::Value| -> Vec<String> {
            body["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
        };
        let first: serde_json::Value = app.get("/v1/events?limit=2").await.json().await.unwrap();
        assert_eq!(first["object"], "list");
        assert_eq!(first["has_more"], true);
        assert_eq!(ids(&first), [newest.id.to_string(), middle.id.to_string()]);
        assert_eq!(first["data"][0]["object"], "event");
        assert!(first["data"][0].get("raw").is_none(), "lists carry no raw bodies");

        let second: serde_json::Value = app
            .get(&format!("/v1/events?limit=2&starting_after={}", middle.id))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(second["has_more"], false);
        assert_eq!(ids(&second), [oldest.id.to_string()], "the other merchant's event is never listed");

        let by_type: serde_json::Value = app.get("/v1/events?type=payment.succeeded").await.json().await.unwrap();
        assert_eq!(ids(&by_type), [newest.id.to_string(), middle.id.to_string()]);
        let by_provider: serde_json::Value = app.get("/v1/events?provider=other").await.json().await.unwrap();
        assert_eq!(ids(&by_provider), [newest.id.to_string()]);
        let by_checkout: serde_json::Value =
            app.get(&format!("/v1/events?checkout_id={checkout_id}")).await.json().await.unwrap();
        assert_eq!(ids(&by_checkout), [middle.id.to_string(), oldest.id.to_string()]);
        let window = format!(
            "/v1/events?created_gte={}&created_lt={}",
            (Utc::now() - Duration::seconds(250)).timestamp(),
            (Utc::now() - Duration::seconds(150)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        let in_window: serde_json::Value = app.get(&window).await.json().await.unwrap();
        assert_eq!(ids(&in_window), [middle.id.to_string()]);

        assert_error(app.get("/v1/events?type=payment.paid").await, 400, "invalid_request").await;
        let bad_time = assert_error(app.get("/v1/events?created_gte=yesterday").await, 400, "invalid_request").await;
        assert_eq!(bad_time["param"], "created_gte");
        let unknown = assert_error(app.get("/v1/events?colour=red").await, 400, "invalid_request").await;
        assert_eq!(unknown["param"], "colour");

        let others: serde_json::Value = app.get_as("pmx_test_other", "/v1/events").await.json().await.unwrap();
        assert_eq!(ids(&others), [foreign.id.to_string()]);
    }

    async fn a_single_event_carries_its_raw_body_and_stays_private(backend) {
        let app = spawn_with_overlay(backend, SECOND_MERCHANT).await;
        let raw = br#"{"id":"pe_1","status":"paid","amount":12500}"#.to_vec();
        let stored = app
            .with_db(move |conn| {
                let receipt = WebhookReceipt {
                    id: ReceiptId::generate(),
                    merchant: "demo".into(),
                    provider: "fake".into(),
                    headers: Json(serde_json::json!({})),
                    body: raw,
                    outcome: ReceiptOutcome::Accepted,
                    reason: None,
                    event_count: 1,
                    received_at: truncate_to_micros(Utc::now()),
                    body_length: 44,
                    body_sha256: None,
                    duplicate_of: None,
                    checkout_id: None,
                };
                WebhookReceipt::insert(conn, &receipt).unwrap();
                let mut row = event("demo", EventType::PaymentSucceeded, "fake", None, 0);
                row.receipt_id = Some(receipt.id);
                Event::insert_if_new(conn, &row).unwrap();
                row
            })
            .await;
        let response = app.get(&format!("/v1/events/{}", stored.id)).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["id"], stored.id.to_string());
        assert_eq!(body["type"], "payment.succeeded");
        assert_eq!(body["amount"], 12_500);
        assert_eq!(body["currency"], "USD");
        assert_eq!(body["details"]["card_brand"], "visa");
        assert_eq!(body["raw"], r#"{"id":"pe_1","status":"paid","amount":12500}"#);

        let foreign = app.get_as("pmx_test_other", &format!("/v1/events/{}", stored.id)).await;
        assert_error(foreign, 404, "resource_missing").await;
        assert_error(app.get(&format!("/v1/events/{}", EventId::generate())).await, 404, "resource_missing").await;
        assert_error(app.get("/v1/events/not-an-id").await, 404, "resource_missing").await;
    }

    async fn a_checkout_reads_back_and_stays_private(backend) {
        let app = spawn_with_overlay(backend, SECOND_MERCHANT).await;
        let row = checkout("demo", "order-5821");
        let id = row.id;
        app.with_db(move |conn| Checkout::insert(conn, &row).unwrap()).await;
        let body: serde_json::Value = app.get(&format!("/v1/checkouts/{id}")).await.json().await.unwrap();
        assert_eq!(body["id"], id.to_string());
        assert_eq!(body["object"], "checkout");
        assert_eq!(body["merchant"], "demo");
        assert_eq!(body["status"], "open");
        assert_eq!(body["amount"], 12_500);
        assert_eq!(body["reference"], "order-5821");
        assert_eq!(body["metadata"]["order_id"], "5821");
        assert_eq!(body["client_action"], serde_json::Value::Null);
        assert_error(app.get_as("pmx_test_other", &format!("/v1/checkouts/{id}")).await, 404, "resource_missing").await;

        let listed: serde_json::Value = app.get("/v1/checkouts?status=open").await.json().await.unwrap();
        assert_eq!(listed["data"][0]["id"], id.to_string());
        let none: serde_json::Value = app.get_as("pmx_test_other", "/v1/checkouts").await.json().await.unwrap();
        assert_eq!(none["data"].as_array().unwrap().len(), 0);
    }

    async fn metrics_count_requests_by_route_and_status(backend) {
        let app = spawn_app(backend).await;
        app.get("/v1/events").await;
        app.get_as("nope", "/v1/events").await;
        let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(
            text.contains(r#"paymux_http_requests_total{method="GET",route="/v1/events",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"route="/v1/events",status="401"} 1"#), "{text}");
        assert!(text.contains("paymux_http_request_duration_seconds_bucket"), "{text}");
    }
}
