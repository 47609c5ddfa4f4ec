//! Kwik end to end: a checkout link created through the sandbox (which checks the request
//! signature), webhooks signed over the raw body by an independent signer, stale timestamps,
//! tampering, and a webhook whose `data` holds two events.

use chrono::Utc;
use hmac::{Hmac, Mac};
use paymux_gateway::{Overlay, Settings};
use paymux_tests::{Backend, SpawnOptions, TestApp, on_both_backends, spawn_app_with};
use serde_json::{Value, json};
use sha2::Sha256;

const WEBHOOK: &str = include_str!("../../../providers/src/kwik/fixtures/webhook.json");

async fn spawn(backend: Backend) -> TestApp {
    let overlay = "[sandbox]\nretry_speedup = 60000\n".to_owned();
    spawn_app_with(
        backend,
        SpawnOptions {
            overlay,
            ..Default::default()
        },
    )
    .await
}

fn demo_webhook_secret() -> String {
    let settings = Settings::load(Overlay::Toml(String::new())).unwrap();
    settings.merchants["demo"].providers["kwik"].specific["webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn post_webhook(
    app: &TestApp,
    body: &[u8],
    signature: &str,
    timestamp: i64,
) -> reqwest::Response {
    app.client
        .post(app.url("/webhooks/demo/kwik"))
        .header("content-type", "application/json")
        .header("X-Signature", signature)
        .header("X-Timestamp", timestamp.to_string())
        .header("User-Agent", "Kwik-Webhooks/1.0")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

async fn create_link(app: &TestApp) -> Value {
    let body = json!({
        "amount": 120_000, "currency": "ZAR", "provider": "kwik", "reference": format!("inv-{}", ulid::Ulid::new()),
        "description": "Annual plan",
        "customer": {"name": "Thandi van der Merwe", "email": "thandi@example.co.za", "phone": "+27831234567",
                     "address": {"line1": "1 Loop Street", "city": "Cape Town", "state": "Western Cape",
                                 "postal_code": "8001", "country": "ZA"}},
        "success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/cancel"
    });
    let response = app.post("/v1/checkouts", &body, None).await;
    let status = response.status();
    let checkout: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{checkout}");
    checkout
}

/// The doc's webhook sample about `checkout`, with `extra` more elements in `data`.
fn webhook_for(checkout: &Value, transactions: &[&str]) -> Vec<u8> {
    let mut body: Value = serde_json::from_str(WEBHOOK).unwrap();
    let template = body["data"][0].clone();
    body["data"] = Value::Array(
        transactions
            .iter()
            .map(|transaction| {
                let mut element = template.clone();
                element["checkout"]["id"] = checkout["provider_checkout_id"].clone();
                element["checkout"]["transaction_id"] = json!(transaction);
                element
            })
            .collect(),
    );
    serde_json::to_vec(&body).unwrap()
}

on_both_backends! {
    async fn a_link_paid_in_the_sandbox_is_stored_in_rand_cents(backend) {
        let app = spawn(backend).await;
        let checkout = create_link(&app).await;
        assert!(checkout["redirect_url"].as_str().unwrap().contains("/sandbox/kwik/pay/"), "{checkout}");
        let link = checkout["provider_checkout_id"].as_str().unwrap();
        let paid = app.press("kwik", link, "pay", &json!({})).await;
        assert_eq!(paid["webhook"]["event_type"], "checkout.completed", "{paid}");
        assert_eq!(paid["webhook"]["status"], 200, "{paid}");
        let events = app.events_of(&checkout).await;
        assert_eq!(events[0]["type"], "payment.succeeded");
        assert_eq!(events[0]["amount"], 120_000);
        assert_eq!(events[0]["currency"], "ZAR");
        let id = checkout["id"].as_str().unwrap();
        assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], "succeeded");
    }

    async fn independently_signed_webhooks_are_checked_and_each_element_is_an_event(backend) {
        let app = spawn(backend).await;
        let secret = demo_webhook_secret();
        let checkout = create_link(&app).await;
        let body = webhook_for(&checkout, &["tra_first", "tra_second"]);
        let signature = sign(&secret, &body);
        let now = Utc::now().timestamp();

        let stale = post_webhook(&app, &body, &signature, now - 301).await;
        assert_eq!(stale.status(), 400);
        let mut changed = body.clone();
        let at = changed.iter().position(|&b| b == b'Z').unwrap();
        changed[at] = b'X';
        assert_eq!(post_webhook(&app, &changed, &signature, now).await.status(), 400);
        assert!(app.events_of(&checkout).await.is_empty());

        let accepted = post_webhook(&app, &body, &signature, now).await;
        assert_eq!(accepted.status(), 200);
        let events = app.events_of(&checkout).await;
        assert_eq!(events.len(), 2, "two data elements, two events: {events:?}");
        assert_ne!(events[0]["provider_event_id"], events[1]["provider_event_id"]);
        assert!(events.iter().all(|event| event["amount"] == 120_000 && event["currency"] == "ZAR"));

        assert_eq!(post_webhook(&app, &body, &signature, now).await.status(), 200);
        assert_eq!(app.events_of(&checkout).await.len(), 2, "a replay stores nothing new");
    }

    async fn two_identical_data_elements_are_two_events(backend) {
        let app = spawn(backend).await;
        let checkout = create_link(&app).await;
        let body = webhook_for(&checkout, &["tra_same", "tra_same"]);
        let signature = sign(&demo_webhook_secret(), &body);
        assert_eq!(post_webhook(&app, &body, &signature, Utc::now().timestamp()).await.status(), 200);
        assert_eq!(app.events_of(&checkout).await.len(), 2);
    }
}
