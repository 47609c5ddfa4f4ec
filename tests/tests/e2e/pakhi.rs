//! Pakhi Pay end to end: callbacks signed by an independent HMAC implementation, confirmed by
//! the verify API (a fake one here, to make it agree or disagree), replays and forgeries, the
//! fields Pakhi requires, a payment through the sandbox, and hand-signed callbacks, which the
//! sandbox confirms only when told to.

use paymux_tests::{
    Backend, FAST_SANDBOX, TestApp, assert_error, assert_payer_page, demo_provider_setting,
    hmac_sha256_hex, on_both_backends, spawn_sandboxed, spawn_with_overlay,
};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SHOP_KEY: &str = "pakhi_shop_api_key";
const SHOP: &str = "pmx_test_shop";

/// A merchant `shop` whose Pakhi Pay is a fake server, beside the sandboxed demo merchant;
/// `confirms_unknown` is `sandbox.pakhi_confirms_unknown_transactions`.
fn overlay(pakhi: &MockServer, confirms_unknown: bool) -> String {
    format!(
        "{FAST_SANDBOX}pakhi_confirms_unknown_transactions = {confirms_unknown}\n\
         [merchants.shop]\napi_keys = [\"{SHOP}\"]\n\
         [merchants.shop.providers.pakhi]\nbase_url = \"{}/\"\napi_key = \"{SHOP_KEY}\"\n",
        pakhi.uri()
    )
}

async fn spawn_with_fake_pakhi(backend: Backend, pakhi: &MockServer) -> TestApp {
    spawn_with_overlay(backend, overlay(pakhi, false)).await
}

/// The demo merchant's Pakhi Pay key, which signs its callbacks.
fn demo_key() -> String {
    demo_provider_setting("pakhi", "api_key")
}

async fn fake_pakhi(verify_answer: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/request/payment/create/"))
        .and(header("api-key", SHOP_KEY))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"status": 1, "payment_url": "https://pakhipay.example/pay/abc"}),
            ),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/request/payment/verify/"))
        .and(header("api-key", SHOP_KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(verify_answer))
        .mount(&server)
        .await;
    server
}

/// HMAC-SHA256 keyed with the API key over the compact payload without `signature`.
fn signed_callback(key: &str, transaction_id: &str, amount: &str, order_id: &str) -> String {
    let payload = format!(
        r#"{{"status":"completed","transaction_id":"{transaction_id}","amount":"{amount}","order_id":"{order_id}"}}"#
    );
    let signature = hmac_sha256_hex(key, payload.as_bytes());
    format!(
        "{},\"signature\":\"{signature}\"}}",
        &payload[..payload.len() - 1]
    )
}

async fn create(app: &TestApp, key: &str, reference: &str) -> Value {
    let body = json!({
        "amount": 10_000, "currency": "BDT", "provider": "pakhi", "reference": reference,
        "customer": {"name": "Rahim Uddin", "email": "rahim@example.com"},
        "success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/cancel"
    });
    app.create_checkout_as(key, &body).await
}

async fn post_callback(app: &TestApp, merchant: &str, body: String) -> reqwest::Response {
    let json = [("content-type", "application/json")];
    app.post_webhook(&format!("/webhooks/{merchant}/pakhi"), &json, body)
        .await
}

async fn shop_events(app: &TestApp) -> Vec<Value> {
    let body = app.get_json_as(SHOP, "/v1/events").await;
    body["data"].as_array().unwrap().clone()
}

/// Asserts that the first webhook receipt is a success the verify API did not confirm.
async fn assert_unconfirmed(app: &TestApp) {
    let (outcome, reason): (String, Option<String>) = app
        .with_db(|conn| {
            use diesel::prelude::*;
            use paymux_schema::db::schema::webhook_receipts::dsl::*;
            webhook_receipts
                .select((outcome, reason))
                .first(conn)
                .unwrap()
        })
        .await;
    assert_eq!(outcome, "unconfirmed");
    assert!(reason.unwrap().contains("Transaction not found"));
}

on_both_backends! {
    async fn a_confirmed_callback_is_stored_once_in_minor_units(backend) {
        let pakhi = fake_pakhi(json!({"status": 1, "message": "completed"})).await;
        let app = spawn_with_fake_pakhi(backend, &pakhi).await;
        let checkout = create(&app, SHOP, "ORDER-1").await;
        assert_eq!(checkout["redirect_url"], "https://pakhipay.example/pay/abc");

        let forged = signed_callback("not_the_key", "TRX1", "100.00", "ORDER-1");
        assert_eq!(post_callback(&app, "shop", forged).await.status(), 403);
        assert!(shop_events(&app).await.is_empty());

        let callback = signed_callback(SHOP_KEY, "TRX1", "100.00", "ORDER-1");
        assert_eq!(post_callback(&app, "shop", callback.clone()).await.status(), 200);
        let stored = shop_events(&app).await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0]["type"], "payment.succeeded");
        assert_eq!(stored[0]["amount"], 10_000);
        assert_eq!(stored[0]["currency"], "BDT");
        assert_eq!(stored[0]["checkout_id"], checkout["id"]);
        let verify_calls: Vec<String> = pakhi
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|request| request.url.path() == "/api/request/payment/verify/")
            .map(|request| String::from_utf8_lossy(&request.body).into_owned())
            .collect();
        assert_eq!(verify_calls.len(), 1, "the success was confirmed with the verify API");
        assert!(verify_calls[0].contains(r#""transaction_id":"TRX1""#), "{}", verify_calls[0]);
        assert!(verify_calls[0].contains(r#""amount":100.00"#), "the exact amount: {}", verify_calls[0]);

        assert_eq!(post_callback(&app, "shop", callback).await.status(), 200, "a replay is acknowledged");
        assert_eq!(shop_events(&app).await.len(), 1, "and stores nothing new");
        let id = checkout["id"].as_str().unwrap();
        let paid = app.get_json_as(SHOP, &format!("/v1/checkouts/{id}")).await;
        assert_eq!(paid["status"], "succeeded");
    }

    async fn a_hand_signed_callback_to_the_demo_merchant_is_confirmed_by_the_sandbox_when_told(backend) {
        let pakhi = fake_pakhi(json!({"status": 1, "message": "completed"})).await;
        let app = spawn_with_overlay(backend, overlay(&pakhi, true)).await;
        let checkout = create(&app, paymux_tests::DEMO_KEY, "ORDER-HAND").await;
        let callback = signed_callback(&demo_key(), "TRX_HAND_1", "100.00", "ORDER-HAND");
        assert_eq!(post_callback(&app, "demo", callback.clone()).await.status(), 200);
        assert_eq!(post_callback(&app, "demo", callback).await.status(), 200);
        let id = checkout["id"].as_str().unwrap();
        let events = app.get_json(&format!("/v1/events?checkout_id={id}")).await;
        let events = events["data"].as_array().unwrap();
        assert_eq!(events.len(), 1, "stored once: {events:?}");
        assert_eq!(events[0]["type"], "payment.succeeded");
        assert_eq!(events[0]["amount"], 10_000);
        assert_eq!(events[0]["currency"], "BDT");
    }

    async fn the_sandbox_does_not_confirm_a_transaction_it_never_made_until_told_to(backend) {
        let pakhi = fake_pakhi(json!({"status": 1, "message": "completed"})).await;
        let app = spawn_with_fake_pakhi(backend, &pakhi).await;
        let checkout = create(&app, paymux_tests::DEMO_KEY, "ORDER-HAND").await;
        let id = checkout["id"].as_str().unwrap();
        let callback = signed_callback(&demo_key(), "TRX_HAND_1", "100.00", "ORDER-HAND");
        assert_eq!(post_callback(&app, "demo", callback).await.status(), 200);
        let events = app.get_json(&format!("/v1/events?checkout_id={id}")).await;
        assert_eq!(events["data"], json!([]), "a real Pakhi Pay knows no such transaction");
        assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], "open");
        assert_unconfirmed(&app).await;

        // The switch, turned on by a reload, confirms the next hand-signed callback.
        assert_eq!(app.reload(&overlay(&pakhi, true)).await.status(), 200);
        let callback = signed_callback(&demo_key(), "TRX_HAND_2", "100.00", "ORDER-HAND");
        assert_eq!(post_callback(&app, "demo", callback).await.status(), 200);
        let events = app.get_json(&format!("/v1/events?checkout_id={id}")).await;
        let events = events["data"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["type"], "payment.succeeded");
        assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], "succeeded");
    }

    async fn a_success_the_verify_api_denies_is_not_recorded(backend) {
        let pakhi = fake_pakhi(json!({"status": 0, "message": "Transaction not found"})).await;
        let app = spawn_with_fake_pakhi(backend, &pakhi).await;
        let checkout = create(&app, SHOP, "ORDER-2").await;
        let callback = signed_callback(SHOP_KEY, "TRX2", "100.00", "ORDER-2");
        assert_eq!(post_callback(&app, "shop", callback).await.status(), 200);
        assert!(shop_events(&app).await.is_empty(), "no success without the verify API");
        let id = checkout["id"].as_str().unwrap();
        let open = app.get_json_as(SHOP, &format!("/v1/checkouts/{id}")).await;
        assert_eq!(open["status"], "open");
        assert_unconfirmed(&app).await;
    }

    async fn a_checkout_without_customer_email_is_refused_naming_it(backend) {
        let pakhi = fake_pakhi(json!({"status": 1, "message": "completed"})).await;
        let app = spawn_with_fake_pakhi(backend, &pakhi).await;
        let body = json!({"amount": 10_000, "currency": "BDT", "provider": "pakhi",
                          "customer": {"name": "Rahim Uddin"},
                          "success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/cancel"});
        let response = app.post_as(SHOP, "/v1/checkouts", &body, None).await;
        let error = assert_error(response, 400, "invalid_request").await;
        assert_eq!(error["param"], "customer.email");
        assert!(pakhi.received_requests().await.unwrap().is_empty(), "refused before any call");
    }

    async fn a_sandbox_payment_is_confirmed_and_a_disputed_one_is_not(backend) {
        let pakhi = fake_pakhi(json!({"status": 1, "message": "completed"})).await;
        let app = spawn_with_fake_pakhi(backend, &pakhi).await;
        for (options, expected) in [(json!({}), "succeeded"), (json!({"verify": "fail"}), "open")] {
            let checkout = create(&app, paymux_tests::DEMO_KEY, &format!("ORDER-{}", ulid::Ulid::new())).await;
            let link = checkout["redirect_url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
            let paid = app.press("pakhi", &link, "pay", &options).await;
            assert_eq!(paid["webhook"]["status"], 200, "{paid}");
            let id = checkout["id"].as_str().unwrap();
            assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], expected, "{options}");
        }
        let id = create(&app, paymux_tests::DEMO_KEY, "ORDER-X").await["id"].as_str().unwrap().to_owned();
        let cancel = app.post(&format!("/v1/checkouts/{id}/cancel"), &json!({}), None).await;
        assert_error(cancel, 422, "unsupported_operation").await;
    }

    async fn the_page_s_form_sends_the_payer_to_the_success_or_the_cancel_url(backend) {
        let app = spawn_sandboxed(backend, "").await;
        for (outcome, location, status) in [
            ("pay", "https://shop.example/ok", "succeeded"),
            ("cancel", "https://shop.example/cancel", "canceled"),
        ] {
            let checkout = create(&app, paymux_tests::DEMO_KEY, &format!("ORDER-{}", ulid::Ulid::new())).await;
            let page_url = checkout["redirect_url"].as_str().unwrap();
            let page = assert_payer_page(app.client.get(page_url).send().await.unwrap(), 200).await;
            assert!(page.contains("BDT 100.00") && page.contains(r#"value="Rahim Uddin""#), "{page}");
            let answer = app.submit(page_url, outcome, &[("verify", "pass")]).await;
            assert_eq!(answer.status(), 303, "{outcome}");
            // The doc names no query parameter: the URL as the merchant gave it.
            assert_eq!(answer.headers()["location"], location);
            let id = checkout["id"].as_str().unwrap();
            assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], status, "{outcome}");
            assert_payer_page(app.client.get(page_url).send().await.unwrap(), 410).await;
        }
        // A switch the sandbox does not know is refused on a page, with a way back.
        let checkout = create(&app, paymux_tests::DEMO_KEY, "ORDER-Y").await;
        let page_url = checkout["redirect_url"].as_str().unwrap();
        let refused = assert_payer_page(app.submit(page_url, "pay", &[("verify", "maybe")]).await, 409).await;
        assert!(refused.contains("`verify` must be") && refused.contains("Back to the payment page"), "{refused}");
    }
}
