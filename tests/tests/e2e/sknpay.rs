//! SKN Pay end to end, through paymux's own API and the SKN sandbox: the doc's "End-to-end
//! checklist" (happy path, decline, cancel, refunds, idempotency, mode strictness, tampered
//! signatures, replays) and webhooks signed by an independent Stripe-compatible signer.

use chrono::Utc;
use paymux_tests::{
    TestApp, assert_error, assert_json, assert_payer_page, demo_provider_setting, on_both_backends,
    spawn_sandboxed, stripe_signature,
};
use serde_json::{Value, json};

/// The demo merchant's SKN webhook secret, read from `config/default.toml` as a user would.
fn demo_webhook_secret() -> String {
    demo_provider_setting("sknpay", "webhook_secret")
}

async fn create_checkout(app: &TestApp, amount: i64, key: Option<&str>) -> Value {
    let body = json!({
        "amount": amount,
        "currency": "USD",
        "provider": "sknpay",
        "reference": format!("order-{}", ulid::Ulid::new()),
        "description": "Order #5821",
        "customer": {"name": "Alice Brown", "email": "alice@example.com", "phone": "+18694619400",
                     "address": {"line1": "123 Main St", "city": "Basseterre", "country": "KN"}},
        "success_url": "https://shop.example/orders/5821/thanks",
        "cancel_url": "https://shop.example/orders/5821",
        "metadata": {"order_id": "5821"}
    });
    assert_json(app.post("/v1/checkouts", &body, key).await, 201).await
}

/// Presses a hosted page button through the control endpoint.
async fn control(app: &TestApp, checkout: &Value, outcome: &str, options: Value) -> Value {
    let provider_id = checkout["provider_checkout_id"].as_str().unwrap();
    app.press("sknpay", provider_id, outcome, &options).await
}

async fn status_of(app: &TestApp, checkout: &Value) -> String {
    let id = checkout["id"].as_str().unwrap();
    app.get_json(&format!("/v1/checkouts/{id}")).await["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until the checkout has an event of `event_type` (webhooks sent in the background).
async fn await_event(app: &TestApp, checkout: &Value, event_type: &str) -> Value {
    app.eventually(event_type, || async {
        app.events_of(checkout)
            .await
            .into_iter()
            .find(|event| event["type"] == event_type)
    })
    .await
}

fn signed_event(checkout: &Value, event_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": event_id,
        "object": "event",
        "type": "payment.succeeded",
        "created": Utc::now().timestamp(),
        "livemode": false,
        "data": {"object": {
            "object": "payment",
            "id": checkout["provider_checkout_id"],
            "livemode": false,
            "url": checkout["redirect_url"],
            "amount": checkout["amount"],
            "currency": "USD",
            "status": "succeeded",
            "metadata": {"order_id": "5821"},
            "expires_at": null,
            "created_at": "2026-05-08T18:42:11.000Z"
        }}
    }))
    .unwrap()
}

async fn post_webhook(app: &TestApp, body: &[u8], signature: &str) -> reqwest::Response {
    let headers = [
        ("content-type", "application/json"),
        ("SknPay-Signature", signature),
    ];
    app.post_webhook("/webhooks/demo/sknpay", &headers, body.to_vec())
        .await
}

on_both_backends! {
    async fn independently_signed_webhooks_are_verified_stored_once_and_applied(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let secret = demo_webhook_secret();
        let checkout = create_checkout(&app, 12_500, None).await;
        let body = signed_event(&checkout, "evt_e6b0b3c6ff198f6dfc05bb80");
        let now = Utc::now().timestamp();

        let tampered = {
            let mut tampered = body.clone();
            let at = tampered.iter().position(|&b| b == b'1').unwrap();
            tampered[at] = b'9';
            tampered
        };
        let response = post_webhook(&app, &tampered, &stripe_signature(&secret, now, &body)).await;
        let error = assert_error(response, 400, "invalid_signature").await;
        assert_eq!(error["param"], Value::Null);
        assert!(app.events_of(&checkout).await.is_empty(), "a tampered body stores no event");

        let stale = post_webhook(&app, &body, &stripe_signature(&secret, now - 301, &body)).await;
        assert_error(stale, 400, "stale_timestamp").await;
        let wrong_secret = post_webhook(&app, &body, &stripe_signature("whsec_other", now, &body)).await;
        assert_error(wrong_secret, 400, "invalid_signature").await;
        assert!(app.events_of(&checkout).await.is_empty());

        let signature = stripe_signature(&secret, now, &body);
        let accepted = post_webhook(&app, &body, &signature).await;
        assert_eq!(accepted.status(), 200);
        assert_eq!(accepted.json::<Value>().await.unwrap()["received"], true);
        let events = app.events_of(&checkout).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "payment.succeeded");
        assert_eq!(events[0]["amount"], 12_500);
        assert_eq!(events[0]["currency"], "USD");
        assert_eq!(events[0]["provider_event_id"], "evt_e6b0b3c6ff198f6dfc05bb80");
        assert_eq!(status_of(&app, &checkout).await, "succeeded");
        let single = app.get_json(&format!("/v1/events/{}", events[0]["id"].as_str().unwrap())).await;
        assert_eq!(single["raw"].as_str().unwrap().as_bytes(), body.as_slice());

        let replay = post_webhook(&app, &body, &signature).await;
        assert_eq!(replay.status(), 200, "a replay is acknowledged");
        assert_eq!(app.events_of(&checkout).await.len(), 1, "and stores nothing new");
    }

    async fn rejected_webhooks_keep_their_receipt_with_the_reason(backend) {
        use diesel::prelude::*;
        use paymux_schema::db::schema::webhook_receipts::dsl::*;
        let app = spawn_sandboxed(backend, "").await;
        let response = app.post_webhook("/webhooks/demo/sknpay", &[], "{not json").await;
        assert_eq!(response.status(), 400);
        let unknown_merchant = app.post_webhook("/webhooks/nobody/sknpay", &[], "{}").await;
        assert_error(unknown_merchant, 404, "not_found").await;
        let receipts: Vec<(String, Option<String>, Vec<u8>)> = app
            .with_db(|conn| {
                webhook_receipts
                    .order(id.asc())
                    .select((outcome, reason, body))
                    .load(conn)
                    .unwrap()
            })
            .await;
        assert_eq!(receipts.len(), 2);
        assert_eq!(receipts[0].0, "rejected");
        assert!(receipts[0].1.as_deref().unwrap().contains("SknPay-Signature"), "{:?}", receipts[0].1);
        assert_eq!(receipts[0].2, b"{not json");
        assert!(receipts[1].1.as_deref().unwrap().contains("nobody"));
    }

    async fn twenty_concurrent_twins_make_one_checkout_and_twenty_identical_answers(backend) {
        let app = std::sync::Arc::new(spawn_sandboxed(backend, "").await);
        let body = json!({"amount": 2_000, "currency": "USD", "provider": "sknpay", "reference": "twins"});
        let mut twins = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (app, body) = (app.clone(), body.clone());
            twins.spawn(async move {
                let response = app.post("/v1/checkouts", &body, Some("twenty-twins")).await;
                (response.status().as_u16(), response.text().await.unwrap())
            });
        }
        let answers = twins.join_all().await;
        assert!(answers.iter().all(|(status, _)| *status == 201), "{answers:?}");
        assert!(answers.iter().all(|(_, text)| *text == answers[0].1), "{answers:?}");
        let listed = app.get_json("/v1/checkouts?reference=twins").await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1);

        let different = app
            .post("/v1/checkouts", &json!({"amount": 2_001, "currency": "USD", "provider": "sknpay"}), Some("twenty-twins"))
            .await;
        assert_error(different, 409, "idempotency_conflict").await;
    }

    async fn happy_path_pays_with_the_test_card_and_redirects(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_checkout(&app, 1_000, None).await;
        assert_eq!(checkout["status"], "open");
        assert_eq!(checkout["provider"], "sknpay");
        let redirect = checkout["redirect_url"].as_str().unwrap();
        assert!(redirect.starts_with(&app.address), "{redirect}");
        let page = app.client.get(redirect).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("USD 10.00"));

        let paid = control(&app, &checkout, "pay", json!({"card": "4111 1111 1111 1111"})).await;
        assert_eq!(paid["status"], "succeeded");
        assert_eq!(paid["webhook"]["event_type"], "payment.succeeded");
        assert_eq!(paid["webhook"]["status"], 200);
        assert_eq!(paid["webhook"]["delivered"], true);
        let provider_id = checkout["provider_checkout_id"].as_str().unwrap();
        assert_eq!(
            paid["redirect_url"],
            format!("https://shop.example/orders/5821/thanks?payment_id={provider_id}")
        );
        assert_eq!(status_of(&app, &checkout).await, "succeeded");
        let event = &app.events_of(&checkout).await[0];
        assert_eq!(event["amount"], 1_000);
        assert_eq!(event["provider_payment_id"], provider_id);
    }

    async fn a_decline_keeps_the_link_open_for_a_3ds_card(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_checkout(&app, 1_000, None).await;
        let declined = control(&app, &checkout, "pay", json!({"card": "4000 0000 0000 0002"})).await;
        assert_eq!(declined["status"], "open");
        assert_eq!(declined["webhook"]["event_type"], "payment.failed");
        assert_eq!(status_of(&app, &checkout).await, "failed");
        let paid = control(&app, &checkout, "pay", json!({"card": "4000 0000 0000 2701"})).await;
        assert_eq!(paid["status"], "succeeded");
        assert_eq!(status_of(&app, &checkout).await, "succeeded");
        let types: Vec<Value> = app.events_of(&checkout).await.iter().map(|e| e["type"].clone()).collect();
        assert_eq!(types, [json!("payment.succeeded"), json!("payment.failed")]);
    }

    async fn cancel_closes_the_link_and_the_webhook_follows(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_checkout(&app, 1_000, None).await;
        let id = checkout["id"].as_str().unwrap();
        let canceled = app.post(&format!("/v1/checkouts/{id}/cancel"), &json!({}), None).await;
        assert_eq!(canceled.status(), 200);
        assert_eq!(canceled.json::<Value>().await.unwrap()["status"], "canceled");
        await_event(&app, &checkout, "payment.canceled").await;
        let refused = control(&app, &checkout, "pay", json!({})).await;
        assert!(refused["error"]["message"].as_str().unwrap().contains("canceled"), "{refused}");
        let again = app.post(&format!("/v1/checkouts/{id}/cancel"), &json!({}), None).await;
        assert_eq!(again.status(), 200, "canceling twice answers the canceled checkout");
    }

    async fn refunds_partial_then_the_rest_then_no_more(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_checkout(&app, 1_000, None).await;
        let id = checkout["id"].as_str().unwrap();
        let unpaid = app.post("/v1/refunds", &json!({"checkout_id": id}), None).await;
        assert_error(unpaid, 400, "checkout_not_refundable").await;
        control(&app, &checkout, "pay", json!({})).await;

        let partial = app.post("/v1/refunds", &json!({"checkout_id": id, "amount": 500}), Some("refund-1")).await;
        assert_eq!(partial.status(), 201);
        let partial: Value = partial.json().await.unwrap();
        assert!(partial["id"].as_str().unwrap().starts_with("re_"));
        assert_eq!(partial["amount"], 500);
        assert_eq!(partial["status"], "succeeded");
        assert_eq!(status_of(&app, &checkout).await, "partially_refunded");
        let replayed = app.post("/v1/refunds", &json!({"checkout_id": id, "amount": 500}), Some("refund-1")).await;
        assert_eq!(replayed.json::<Value>().await.unwrap(), partial, "a retried refund is not refunded twice");

        let too_much = app.post("/v1/refunds", &json!({"checkout_id": id, "amount": 501}), None).await;
        let error = assert_error(too_much, 400, "amount_too_large").await;
        assert!(error["message"].as_str().unwrap().contains("5.00 USD not yet refunded"), "{error}");

        let rest = app.post("/v1/refunds", &json!({"checkout_id": id}), None).await;
        assert_eq!(rest.status(), 201);
        assert_eq!(rest.json::<Value>().await.unwrap()["amount"], 500);
        let refunded = app.get_json(&format!("/v1/checkouts/{id}")).await;
        assert_eq!(refunded["status"], "refunded");
        assert_eq!(refunded["amount_refunded"], 1_000);

        let over = app.post("/v1/refunds", &json!({"checkout_id": id, "amount": 1}), None).await;
        let error = assert_error(over, 400, "amount_too_large").await;
        assert_eq!(error["param"], "amount");
        await_event(&app, &checkout, "payment.refunded").await;
    }

    async fn expiry_is_seen_on_refresh(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_checkout(&app, 1_000, None).await;
        let expired = control(&app, &checkout, "expire", json!({})).await;
        assert_eq!(expired["status"], "expired");
        assert_eq!(expired["webhook"], Value::Null, "SKN Pay sends no expiry event");
        let id = checkout["id"].as_str().unwrap();
        assert_eq!(status_of(&app, &checkout).await, "open");
        let refreshed = app.get_json(&format!("/v1/checkouts/{id}?refresh=true")).await;
        assert_eq!(refreshed["status"], "expired");
        app.get_json(&format!("/v1/checkouts/{id}?refresh=true")).await;
        let events = app.events_of(&checkout).await;
        assert_eq!(events.len(), 1, "a change found by lookup is recorded once: {events:?}");
        assert_eq!(events[0]["type"], "payment.expired");
        assert_eq!(events[0]["source"], "provider_lookup");
    }

    async fn a_payment_made_outside_paymux_never_pays_a_checkout_by_its_reference(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_checkout(&app, 1_000, None).await;
        let mut foreign = checkout.clone();
        foreign["provider_checkout_id"] = json!("plink_made_elsewhere");
        let body: Value = serde_json::from_slice(&signed_event(&foreign, "evt_foreign_1")).unwrap();
        let mut body = body;
        body["data"]["object"]["reference"] = checkout["reference"].clone();
        let body = serde_json::to_vec(&body).unwrap();
        let signature = stripe_signature(&demo_webhook_secret(), Utc::now().timestamp(), &body);
        assert_eq!(post_webhook(&app, &body, &signature).await.status(), 200);
        assert_eq!(status_of(&app, &checkout).await, "open");
        let stored = app.get_json("/v1/events?provider=sknpay").await;
        assert_eq!(stored["data"][0]["provider_event_id"], "evt_foreign_1");
        assert_eq!(stored["data"][0]["checkout_id"], Value::Null);
        assert_eq!(stored["data"][0]["details"]["flags"], json!(["no_checkout"]));
    }

    async fn a_refused_request_is_replayed_under_its_key_not_run_again(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let body = json!({"amount": 99, "currency": "USD", "provider": "sknpay"});
        let first = app.post("/v1/checkouts", &body, Some("too-small")).await;
        let first_error = assert_error(first, 400, "invalid_request").await;
        let again = app.post("/v1/checkouts", &body, Some("too-small")).await;
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(assert_error(again, 400, "invalid_request").await, first_error);
    }

    async fn idempotent_creates_return_the_same_checkout(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let first = create_checkout(&app, 1_500, Some("order-5821")).await;
        let body = json!({"amount": 1_500, "currency": "USD", "provider": "sknpay"});
        // Same key, different body: a conflict, not a second payment.
        let conflict = app.post("/v1/checkouts", &body, Some("order-5821")).await;
        assert_error(conflict, 409, "idempotency_conflict").await;
        let listed = app.get_json("/v1/checkouts").await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1);
        assert_eq!(listed["data"][0]["id"], first["id"]);
    }

    async fn a_live_key_cannot_see_a_test_payment(backend) {
        let live = "[merchants.live]\napi_keys = [\"pmx_live_test\"]\n\
             [merchants.live.providers.sknpay]\nsandbox = true\napi_key = \"sk_live_sandbox_1\"\nwebhook_secret = \"whsec_live\"\n";
        let app = spawn_sandboxed(backend, live).await;
        let checkout = create_checkout(&app, 1_000, None).await;
        assert_eq!(checkout["livemode"], false);
        let payment = format!("/sandbox/sknpay/api/v1/payments/{}", checkout["provider_checkout_id"].as_str().unwrap());
        let as_live = app.client.get(app.url(&payment)).bearer_auth("sk_live_sandbox_1").send().await.unwrap();
        assert_eq!(as_live.status(), 404);
        let as_test = app.client.get(app.url(&payment)).bearer_auth("sk_test_demo_4f1c2b7e9a0d3c5e").send().await.unwrap();
        assert_eq!(as_test.status(), 200);
        let foreign = app.get_as("pmx_live_test", &format!("/v1/checkouts/{}", checkout["id"].as_str().unwrap())).await;
        assert_error(foreign, 404, "resource_missing").await;
    }

    async fn documented_validation_is_refused_before_any_call(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let cases = [
            (json!({"amount": 99, "currency": "USD", "provider": "sknpay"}), "amount"),
            (json!({"amount": 1000, "currency": "EUR", "provider": "sknpay"}), "currency"),
            (json!({"amount": 1000, "currency": "USD", "provider": "sknpay", "success_url": "http://shop.example/"}), "success_url"),
            (json!({"amount": 1000, "currency": "USD", "provider": "paypal"}), "provider"),
            (json!({"amount": 1000, "currency": "USD", "provider": "sknpay", "colour": "red"}), "colour"),
        ];
        for (body, param) in cases {
            let response = app.post("/v1/checkouts", &body, None).await;
            assert!(response.status().is_client_error(), "{body}");
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error"]["param"], param, "{body}: {error}");
        }
        let malformed = app
            .client
            .post(app.url("/v1/checkouts"))
            .bearer_auth(paymux_tests::DEMO_KEY)
            .body("{\"amount\": ")
            .send()
            .await
            .unwrap();
        assert_error(malformed, 400, "invalid_json").await;
        assert!(app.get_json("/v1/checkouts").await["data"].as_array().unwrap().is_empty());
    }

    async fn a_webhook_that_cannot_be_stored_is_a_5xx_so_the_provider_retries(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_checkout(&app, 1_000, None).await;
        // Break the store under the running server: the events table is gone.
        app.with_db(|conn| {
            use diesel::connection::SimpleConnection;
            conn.batch_execute("DROP TABLE events").unwrap();
        })
        .await;
        let body = signed_event(&checkout, "evt_unstorable");
        let signature = stripe_signature(&demo_webhook_secret(), Utc::now().timestamp(), &body);
        let response = post_webhook(&app, &body, &signature).await;
        assert_error(response, 503, "webhook_not_stored").await;
        assert_eq!(status_of(&app, &checkout).await, "open", "nothing was applied");
        let receipts: i64 = app
            .with_db(|conn| {
                use diesel::prelude::*;
                paymux_schema::db::schema::webhook_receipts::table.count().get_result(conn).unwrap()
            })
            .await;
        assert_eq!(receipts, 0, "the receipt rolled back with the rest");
    }

    async fn the_page_s_form_declines_then_pays_and_sends_the_payer_to_the_success_url(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_checkout(&app, 125_000, None).await;
        let page_url = checkout["redirect_url"].as_str().unwrap();
        let page = assert_payer_page(app.client.get(page_url).send().await.unwrap(), 200).await;
        for shown in ["<strong>demo</strong>", "USD 1,250.00", "Order #5821",
                      r#"name="email" value="alice@example.com""#, r#"name="holder" value="Alice Brown""#,
                      r#"name="card" value="4111 1111 1111 1111""#, r#"<option value="4000 0000 0000 2420">"#] {
            assert!(page.contains(shown), "the page lacks {shown}: {page}");
        }

        // A card that is not a test card declines; the link stays open and says why.
        let declined = app.submit(page_url, "pay", &[("card", "4000 0000 0000 0002"), ("expiry", "12/30"), ("cvc", "123")]).await;
        let page = assert_payer_page(declined, 200).await;
        assert!(page.contains("Your card was declined.") && page.contains("<form"), "{page}");
        await_event(&app, &checkout, "payment.failed").await;
        assert_eq!(status_of(&app, &checkout).await, "failed");

        // The test card pays: straight to the success URL with `payment_id`, as the doc says.
        let paid = app.submit(page_url, "pay", &[("card", "4111 1111 1111 1111")]).await;
        assert_eq!(paid.status(), 303);
        let provider_id = checkout["provider_checkout_id"].as_str().unwrap();
        assert_eq!(
            paid.headers()["location"].to_str().unwrap(),
            format!("https://shop.example/orders/5821/thanks?payment_id={provider_id}")
        );
        assert_eq!(status_of(&app, &checkout).await, "succeeded");

        // Paid: the page, and its form, say so with a 410.
        let page = assert_payer_page(app.client.get(page_url).send().await.unwrap(), 410).await;
        assert!(page.contains("Payment complete") && !page.contains("<form"), "{page}");
        let again = assert_payer_page(app.submit(page_url, "pay", &[]).await, 410).await;
        assert!(again.contains("Payment complete"), "{again}");
        let unknown = app.client.get(app.url("/sandbox/sknpay/pay/plink_nope")).send().await.unwrap();
        assert_payer_page(unknown, 404).await;
    }

    async fn the_page_s_cancel_stays_on_skn_pay_as_the_doc_says(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_checkout(&app, 1_000, None).await;
        let page_url = checkout["redirect_url"].as_str().unwrap();
        // cancel_url is "informational only": SKN Pay's page says canceled and stays.
        let page = assert_payer_page(app.submit(page_url, "cancel", &[]).await, 200).await;
        assert!(page.contains("Payment canceled"), "{page}");
        await_event(&app, &checkout, "payment.canceled").await;
        let nonsense = app.submit(page_url, "refund", &[]).await;
        assert_payer_page(nonsense, 410).await;
    }
}
