//! Kwik end to end: a checkout link created through the sandbox (which checks the request
//! signature), webhooks signed over the raw body by an independent signer, stale timestamps,
//! tampering, and a webhook whose `data` holds two events.

use chrono::Utc;
use paymux_tests::{
    TestApp, assert_payer_page, demo_provider_setting, hmac_sha256_hex, on_both_backends,
    spawn_sandboxed,
};
use serde_json::{Value, json};

const WEBHOOK: &str = include_str!("../../../providers/src/kwik/fixtures/webhook.json");

/// Kwik's scheme: hex HMAC-SHA256 of the raw body, keyed with the merchant's webhook secret.
fn sign(body: &[u8]) -> String {
    hmac_sha256_hex(&demo_provider_setting("kwik", "webhook_secret"), body)
}

async fn post_webhook(
    app: &TestApp,
    body: &[u8],
    signature: &str,
    timestamp: i64,
) -> reqwest::Response {
    let timestamp = timestamp.to_string();
    let headers = [
        ("content-type", "application/json"),
        ("X-Signature", signature),
        ("X-Timestamp", &timestamp),
        ("User-Agent", "Kwik-Webhooks/1.0"),
    ];
    app.post_webhook("/webhooks/demo/kwik", &headers, body.to_vec())
        .await
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
    app.create_checkout(&body).await
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
        let app = spawn_sandboxed(backend, "").await;
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
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_link(&app).await;
        let body = webhook_for(&checkout, &["tra_first", "tra_second"]);
        let signature = sign(&body);
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
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_link(&app).await;
        let body = webhook_for(&checkout, &["tra_same", "tra_same"]);
        let signature = sign(&body);
        assert_eq!(post_webhook(&app, &body, &signature, Utc::now().timestamp()).await.status(), 200);
        assert_eq!(app.events_of(&checkout).await.len(), 2);
    }

    async fn the_page_s_form_sends_the_payer_back_as_the_link_s_redirects_say(backend) {
        let app = spawn_sandboxed(backend, "").await;
        for (outcome, location, status) in [
            ("pay", "https://shop.example/ok", "succeeded"),
            ("cancel", "https://shop.example/cancel", "canceled"),
        ] {
            let checkout = create_link(&app).await;
            let page_url = checkout["redirect_url"].as_str().unwrap();
            let page = assert_payer_page(app.client.get(page_url).send().await.unwrap(), 200).await;
            for shown in ["ZAR 1,200.00", "Annual plan", r#"name="name" value="Thandi""#, r#"name="email" value="thandi@example.co.za""#] {
                assert!(page.contains(shown), "the page lacks {shown}: {page}");
            }
            let answer = app.submit(page_url, outcome, &[("card", "4111 1111 1111 1111")]).await;
            assert_eq!(answer.status(), 303, "{outcome}");
            // Kwik "may append signature" without saying what it signs: nothing is appended.
            assert_eq!(answer.headers()["location"], location);
            let id = checkout["id"].as_str().unwrap();
            assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], status, "{outcome}");
        }
        // A decline keeps the payer on the page, which says so.
        let checkout = create_link(&app).await;
        let page_url = checkout["redirect_url"].as_str().unwrap();
        let declined = assert_payer_page(app.submit(page_url, "decline", &[]).await, 200).await;
        assert!(declined.contains("The payment was declined.") && declined.contains("<form"), "{declined}");
        // Expired: a page that says so, then a 410.
        let expired = assert_payer_page(app.submit(page_url, "expire", &[]).await, 200).await;
        assert!(expired.contains("Payment link expired"), "{expired}");
        assert_payer_page(app.client.get(page_url).send().await.unwrap(), 410).await;
    }
}
