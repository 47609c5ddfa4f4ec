//! SpankPay end to end: webhooks signed with the doc's own procedure, replays, stale
//! signatures, a canceled checkout refused with `{"received": false}`, and a partial payment
//! through the stand-in frame of the sandbox.

use chrono::Utc;
use paymux_tests::{
    TestApp, assert_payer_page, demo_provider_setting, hmac_sha256_hex, on_both_backends,
    spawn_sandboxed,
};
use serde_json::{Value, json};

/// The demo merchant's public key and API secret.
fn demo() -> (String, String) {
    let setting = |key| demo_provider_setting("spankpay", key);
    (setting("public_key"), setting("api_secret"))
}

/// The doc's Python procedure: `hmac(secret, "%s.%s" % (timestamp, data), sha256).hexdigest()`.
fn doc_signature(secret: &str, timestamp: i64, data: &str) -> String {
    let signed = format!("{timestamp}.{data}");
    format!(
        "t={timestamp}&s={}",
        hmac_sha256_hex(secret, signed.as_bytes())
    )
}

fn payment(checkout: &Value, payment_id: &str, amount: &str) -> String {
    json!({
        "type": "payment",
        "payment_id": payment_id,
        "timestamp": Utc::now().to_rfc3339(),
        "status": "succeeded",
        "purchaseId": "pur_f95d778c35f",
        "purchase": {"metadata": checkout["client_action"]["metadata"].clone()},
        "amount": amount,
        "amountCurrency": "TEST-USD",
        "inputAmount": "0.6969",
        "inputCurrency": "ETH",
        "inputTx": "0x2144292c5ad",
        "receipt": {"type": "webhook", "status": "called"}
    })
    .to_string()
}

async fn post(app: &TestApp, key: &str, signature: &str, body: &str) -> reqwest::Response {
    let headers = [
        ("content-type", "text/plain"),
        ("X-SpankPay-Key", key),
        ("X-SpankPay-Signature", signature),
    ];
    app.post_webhook("/webhooks/demo/spankpay", &headers, body.to_owned())
        .await
}

async fn create(app: &TestApp) -> Value {
    let body = json!({"amount": 6_969, "currency": "USD", "provider": "spankpay", "reference": "sc696969"});
    app.create_checkout(&body).await
}

on_both_backends! {
    async fn a_doc_signed_webhook_is_received_once_and_stale_ones_are_refused(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let (key, secret) = demo();
        let checkout = create(&app).await;
        assert_eq!(checkout["client_action"]["type"], "spankpay_frame");
        assert_eq!(checkout["client_action"]["amount"], "69.69");
        assert_eq!(checkout["client_action"]["currency"], "TEST-USD");
        let id = checkout["id"].as_str().unwrap();
        assert!(checkout["redirect_url"].as_str().unwrap().ends_with(&format!("/pay/{id}")));

        let body = payment(&checkout, "pay_c493715653c", "69.69");
        let stale = post(&app, &key, &doc_signature(&secret, Utc::now().timestamp() - 660, &body), &body).await;
        assert_eq!(stale.status(), 400);
        let wrong_key = post(&app, "test_other_key", &doc_signature(&secret, Utc::now().timestamp(), &body), &body).await;
        assert_eq!(wrong_key.status(), 400);
        assert!(app.events_of(&checkout).await.is_empty());

        let signature = doc_signature(&secret, Utc::now().timestamp(), &body);
        let accepted = post(&app, &key, &signature, &body).await;
        assert_eq!(accepted.status(), 200);
        assert_eq!(accepted.json::<Value>().await.unwrap()["received"], true);
        let replay = post(&app, &key, &signature, &body).await;
        assert_eq!(replay.json::<Value>().await.unwrap()["received"], true);
        let events = app.events_of(&checkout).await;
        assert_eq!(events.len(), 1, "stored once: {events:?}");
        assert_eq!(events[0]["type"], "payment.succeeded");
        assert_eq!(events[0]["amount"], 6_969);
        assert_eq!(events[0]["details"]["inputAmount"], "0.6969");
        assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], "succeeded");
    }

    async fn a_payment_for_a_canceled_checkout_is_refused_and_recorded_as_failed(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let (key, secret) = demo();
        let checkout = create(&app).await;
        let id = checkout["id"].as_str().unwrap();
        let canceled = app.post(&format!("/v1/checkouts/{id}/cancel"), &json!({}), None).await;
        assert_eq!(canceled.json::<Value>().await.unwrap()["status"], "canceled");
        let closed = app.client.get(app.url(&format!("/pay/{id}"))).send().await.unwrap();
        assert_eq!(closed.status(), 410, "the page stops offering the frame");

        let body = payment(&checkout, "pay_late", "69.69");
        let reply = post(&app, &key, &doc_signature(&secret, Utc::now().timestamp(), &body), &body).await;
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.json::<Value>().await.unwrap()["received"], false);
        let events = app.events_of(&checkout).await;
        assert_eq!(events[0]["type"], "payment.failed");
        assert!(events[0]["details"]["reason"].as_str().unwrap().contains("canceled"));
        assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], "canceled");
    }

    async fn a_payment_after_the_checkout_expired_is_refused(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let (key, secret) = demo();
        let checkout = create(&app).await;
        let checkout_id = checkout["id"].as_str().unwrap().to_owned();
        // Its expiry passes while the payer still has the frame open.
        app.with_db(move |conn| {
            use diesel::prelude::*;
            use paymux_schema::db::schema::checkouts;
            let past = paymux_schema::db::truncate_to_micros(Utc::now() - chrono::TimeDelta::minutes(1));
            let updated = diesel::update(checkouts::table.find(checkout_id))
                .set(checkouts::expires_at.eq(Some(past)))
                .execute(conn)
                .unwrap();
            assert_eq!(updated, 1);
        })
        .await;
        let body = payment(&checkout, "pay_after_expiry", "69.69");
        let reply = post(&app, &key, &doc_signature(&secret, Utc::now().timestamp(), &body), &body).await;
        assert_eq!(reply.json::<Value>().await.unwrap()["received"], false);
        let events = app.events_of(&checkout).await;
        assert_eq!(events[0]["type"], "payment.failed");
        assert!(events[0]["details"]["reason"].as_str().unwrap().contains("expired"));
    }

    async fn a_partial_payment_through_the_stand_in_frame_records_what_was_received(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create(&app).await;
        let id = checkout["id"].as_str().unwrap();
        let page = app.client.get(app.url(&format!("/pay/{id}"))).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let frame_url = checkout["client_action"]["frame_url"].as_str().unwrap();
        assert!(page.text().await.unwrap().contains(frame_url));
        assert_eq!(app.client.get(frame_url).send().await.unwrap().status(), 200);
        let paid = app.press("spankpay", id, "pay", &json!({"inputCurrency": "ETH", "amount": "50.00"})).await;
        assert_eq!(paid["webhook"]["delivered"], true, "{paid}");
        let events = app.events_of(&checkout).await;
        assert_eq!(events[0]["amount"], 5_000, "the amount received, not the amount asked");
        assert_eq!(events[0]["details"]["inputCurrency"], "ETH");
        // 50.00 of 69.69 does not pay the order: a polling storefront must not ship it.
        let partial = app.get_json(&format!("/v1/checkouts/{id}")).await;
        assert_eq!((partial["status"].as_str(), partial["amount_received"].as_i64()), (Some("partially_paid"), Some(5_000)));
        // The rest arrives: paid.
        let rest = app.press("spankpay", id, "pay", &json!({"inputCurrency": "ETH", "amount": "19.69"})).await;
        assert_eq!(rest["webhook"]["delivered"], true, "{rest}");
        let paid = app.get_json(&format!("/v1/checkouts/{id}")).await;
        assert_eq!((paid["status"].as_str(), paid["amount_received"].as_i64()), (Some("succeeded"), Some(6_969)));
        let payments: Vec<Value> = app.events_of(&checkout).await;
        assert_eq!(payments.len(), 2, "two payments, two events: {payments:?}");
        assert_ne!(payments[0]["provider_payment_id"], payments[1]["provider_payment_id"]);
    }

    async fn the_frame_takes_part_then_the_rest_and_sends_the_payer_to_the_success_url(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let body = json!({"amount": 6_969, "currency": "USD", "provider": "spankpay", "reference": "sc696969",
                          "description": "Booty & <i>more</i>", "success_url": "https://shop.example/thanks?order=sc696969"});
        let checkout = app.create_checkout(&body).await;
        let id = checkout["id"].as_str().unwrap();
        let page = assert_payer_page(app.client.get(app.url(&format!("/pay/{id}"))).send().await.unwrap(), 200).await;
        let frame_url = checkout["client_action"]["frame_url"].as_str().unwrap();
        for shown in ["<strong>demo</strong>", "USD 69.69", "Booty &amp; &lt;i&gt;more&lt;/i&gt;", frame_url] {
            assert!(page.contains(shown), "paymux's page lacks {shown}: {page}");
        }
        let frame = assert_payer_page(app.client.get(frame_url).send().await.unwrap(), 200).await;
        assert!(frame.contains(r#"<option value="ETH">0.6969 ETH</option>"#), "{frame}");
        assert!(!frame.contains(r#"value="cancel""#), "the frame has no cancel: {frame}");

        // Part of it: the frame stays, saying what is left.
        let part = app.submit(frame_url, "pay", &[("inputCurrency", "ETH"), ("amount", "50.00")]).await;
        let part = assert_payer_page(part, 200).await;
        assert!(part.contains("Received USD 50.00 so far: USD 19.69 still to pay."), "{part}");
        assert!(part.contains(r#"name="amount" value="19.69""#), "{part}");
        // The rest, once the callback took it: the payer goes to the success URL.
        let rest = app.submit(frame_url, "pay", &[("inputCurrency", "BTC"), ("amount", "19.69")]).await;
        assert_eq!(rest.status(), 303);
        assert_eq!(rest.headers()["location"], "https://shop.example/thanks?order=sc696969");
        assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], "succeeded");

        let closed = assert_payer_page(app.client.get(app.url(&format!("/pay/{id}"))).send().await.unwrap(), 410).await;
        assert!(closed.contains("no longer accepts payment"), "{closed}");
        assert_payer_page(app.client.get(frame_url).send().await.unwrap(), 410).await;
        for unknown in ["/pay/chk_01J00000000000000000000000", "/pay/not-a-checkout"] {
            let missing = assert_payer_page(app.client.get(app.url(unknown)).send().await.unwrap(), 404).await;
            assert!(missing.contains("No such checkout"), "{unknown}: {missing}");
        }
    }

    async fn a_payment_the_callback_refuses_is_said_to_be_refused(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let body = json!({"amount": 6_969, "currency": "USD", "provider": "spankpay",
                          "success_url": "https://shop.example/thanks"});
        let checkout = app.create_checkout(&body).await;
        let id = checkout["id"].as_str().unwrap();
        let frame_url = checkout["client_action"]["frame_url"].as_str().unwrap();
        assert_payer_page(app.client.get(frame_url).send().await.unwrap(), 200).await;
        // Canceled while the payer has the frame open: paymux answers `{"received": false}`.
        let canceled = app.post(&format!("/v1/checkouts/{id}/cancel"), &json!({}), None).await;
        assert_eq!(canceled.status(), 200);
        let refused = assert_payer_page(app.submit(frame_url, "pay", &[]).await, 200).await;
        assert!(refused.contains("Payment refused"), "not sent to the success URL: {refused}");
    }
}
