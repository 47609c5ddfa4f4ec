//! Webhooks paymux sends merchants: endpoints, Standard Webhooks signatures checked by a
//! verifier written here from the spec (not by paymux's signer), retries under one
//! `webhook-id`, filters, rotation, resend, 410 Gone, and the addresses refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use hmac::{Hmac, Mac};
use paymux_tests::{
    TestApp, assert_error, assert_json, demo_provider_setting, on_both_backends, spawn_sandboxed,
    stripe_signature,
};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Retries within milliseconds.
const FAST_RETRIES: &str = "[outbound_webhooks]\nretry_speedup = 1000\n";

/// The Standard Webhooks check: is one of the `v1,` signatures in `header` the base64
/// HMAC-SHA256, keyed with the base64 after `whsec_`, of `id.timestamp.body`?
fn verifies(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let key = BASE64.decode(secret.trim_start_matches("whsec_")).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
    header.split(' ').any(|signature| signature == expected)
}

#[test]
fn the_verifier_passes_the_specs_test_vector() {
    let (secret, id, timestamp) = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
    );
    let body = br#"{"test": 2432232314}"#;
    let header = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    assert!(verifies(secret, id, timestamp, body, header));
    assert!(!verifies(secret, id, "1614265331", body, header));
}

async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

/// Makes an endpoint at `server`'s `/hooks`; returns it, secret included.
async fn endpoint(app: &TestApp, server: &MockServer, extra: Value) -> Value {
    let mut body = json!({"url": format!("{}/hooks", server.uri())});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    assert_json(app.post("/v1/webhook_endpoints", &body, None).await, 201).await
}

/// Waits until `server` got at least `count` requests; returns them.
async fn received(app: &TestApp, server: &MockServer, count: usize) -> Vec<wiremock::Request> {
    app.eventually("webhooks to arrive", || async {
        let requests = server.received_requests().await.unwrap();
        (requests.len() >= count).then_some(requests)
    })
    .await
}

fn header<'a>(request: &'a wiremock::Request, name: &str) -> &'a str {
    request.headers.get(name).unwrap().to_str().unwrap()
}

/// An SKN Pay checkout paid through its signed webhook; the checkout.
async fn paid_checkout(app: &TestApp) -> Value {
    let body = json!({"amount": 1250, "currency": "USD", "provider": "sknpay"});
    let checkout = app.create_checkout(&body).await;
    let event = json!({
        "id": format!("evt_{}", ulid::Ulid::new()), "object": "event", "type": "payment.succeeded",
        "created": Utc::now().timestamp(), "livemode": false,
        "data": {"object": {
            "object": "payment", "id": checkout["provider_checkout_id"], "livemode": false,
            "url": checkout["redirect_url"], "amount": 1250, "currency": "USD",
            "status": "succeeded", "metadata": {}, "expires_at": null,
            "created_at": "2026-05-08T18:42:11.000Z"
        }}
    })
    .to_string();
    let secret = demo_provider_setting("sknpay", "webhook_secret");
    let signature = stripe_signature(&secret, Utc::now().timestamp(), event.as_bytes());
    let headers = [
        ("content-type", "application/json"),
        ("SknPay-Signature", signature.as_str()),
    ];
    let response = app
        .post_webhook("/webhooks/demo/sknpay", &headers, event)
        .await;
    assert_eq!(response.status(), 200);
    checkout
}

/// An endpoint of the demo merchant written straight into the store, past the API's checks:
/// one made before its name turned private, or one failing since `failing_since`.
async fn stored_endpoint(
    app: &TestApp,
    url: &str,
    failing_since: Option<chrono::NaiveDateTime>,
) -> String {
    use paymux_schema::db::outbound::{EndpointSecret, WebhookEndpoint};
    let now = paymux_schema::db::now();
    let endpoint = WebhookEndpoint {
        id: paymux_domain::EndpointId::generate(),
        merchant: "demo".to_owned(),
        url: url.to_owned(),
        description: None,
        enabled_events: paymux_schema::db::column::Json(vec!["*".to_owned()]),
        status: paymux_domain::EndpointStatus::Enabled,
        disabled_reason: None,
        secret: EndpointSecret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
        previous_secret: None,
        previous_secret_until: None,
        failing_since,
        created_at: now,
        updated_at: now,
    };
    let id = endpoint.id.to_string();
    app.with_db(move |conn| WebhookEndpoint::insert(conn, &endpoint).unwrap())
        .await;
    id
}

on_both_backends! {
    async fn the_demo_merchant_is_notified_at_the_sandboxs_receiver_which_verifies_it(backend) {
        let app = spawn_sandboxed(backend, FAST_RETRIES).await;
        let endpoints = app.get_json("/v1/webhook_endpoints").await;
        let demo = &endpoints["data"][0];
        assert_eq!(endpoints["data"].as_array().unwrap().len(), 1);
        assert!(demo["url"].as_str().unwrap().ends_with("/sandbox/merchant/demo/webhooks"));
        let checkout = paid_checkout(&app).await;
        let received = app.eventually("the sandbox receiver to get the payment", || async {
            let list = app.get_json("/sandbox/merchant/demo/webhooks").await;
            list["data"].as_array().unwrap().iter()
                .find(|entry| entry["type"] == "payment.succeeded")
                .cloned()
        }).await;
        assert_eq!(received["signature_verified"], true);
        assert_eq!(received["payload"]["data"]["checkout"]["id"], checkout["id"]);

        // A forged one is refused and shown as such.
        let forged = app.client.post(app.url("/sandbox/merchant/demo/webhooks"))
            .header("webhook-id", "msg_forged")
            .header("webhook-timestamp", Utc::now().timestamp().to_string())
            .header("webhook-signature", "v1,bm90IGEgc2lnbmF0dXJl")
            .body(r#"{"type":"payment.succeeded"}"#).send().await.unwrap();
        assert_eq!(forged.status(), 400);
        let list = app.get_json("/sandbox/merchant/demo/webhooks").await;
        assert_eq!(list["data"][0]["webhook_id"], "msg_forged");
        assert_eq!(list["data"][0]["signature_verified"], false);
    }

    async fn a_stored_event_reaches_the_merchant_signed_with_the_checkout_as_it_stood(backend) {
        let app = spawn_sandboxed(backend, FAST_RETRIES).await;
        let server = receiver(200).await;
        let endpoint = endpoint(&app, &server, json!({"description": "orders"})).await;
        let secret = endpoint["secret"].as_str().unwrap();
        assert!(secret.starts_with("whsec_"));
        assert!(BASE64.decode(&secret[6..]).unwrap().len() >= 24);
        assert_eq!(endpoint["enabled_events"], json!(["*"]));
        assert_eq!(endpoint["status"], "enabled");

        let checkout = paid_checkout(&app).await;
        let requests = received(&app, &server, 1).await;
        let request = &requests[0];
        let (id, timestamp) = (header(request, "webhook-id"), header(request, "webhook-timestamp"));
        assert!(id.starts_with("msg_"));
        assert!((timestamp.parse::<i64>().unwrap() - Utc::now().timestamp()).abs() < 60);
        assert!(verifies(secret, id, timestamp, &request.body, header(request, "webhook-signature")));
        assert_eq!(header(request, "content-type"), "application/json");

        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "payment.succeeded");
        assert_eq!(body["data"]["object"], "event");
        assert_eq!(body["data"]["checkout_id"], checkout["id"]);
        assert_eq!(body["data"]["checkout"]["id"], checkout["id"]);
        assert_eq!(body["data"]["checkout"]["status"], "succeeded");
        assert!(body["data"].get("raw").is_none());
        let event = app.get_json(&format!("/v1/events/{}", body["data"]["id"].as_str().unwrap())).await;
        assert_eq!(event["type"], "payment.succeeded");

        // The endpoint's log says so; the secret is not shown again.
        let endpoint_id = endpoint["id"].as_str().unwrap();
        let shown = app.get_json(&format!("/v1/webhook_endpoints/{endpoint_id}")).await;
        assert!(shown.get("secret").is_none());
        let deliveries = app.get_json(&format!("/v1/webhook_endpoints/{endpoint_id}/deliveries")).await;
        let attempt = &deliveries["data"][0];
        assert_eq!(attempt["webhook_id"], id);
        assert_eq!(attempt["response_status"], 200);
        assert_eq!(attempt["attempt"], 1);
        assert_eq!(attempt["next_attempt_at"], Value::Null);
    }

    async fn a_failing_receiver_gets_retries_under_one_webhook_id_until_it_answers(backend) {
        let app = spawn_sandboxed(backend, FAST_RETRIES).await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(2)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(204))
            .with_priority(2)
            .mount(&server)
            .await;
        let endpoint = endpoint(&app, &server, json!({})).await;
        paid_checkout(&app).await;
        let requests = received(&app, &server, 3).await;
        let ids: Vec<&str> = requests.iter().map(|request| header(request, "webhook-id")).collect();
        assert_eq!(ids, vec![ids[0]; 3]);

        let endpoint_id = endpoint["id"].as_str().unwrap();
        let path = format!("/v1/webhook_endpoints/{endpoint_id}/deliveries");
        let deliveries = app.eventually("the delivery to be recorded", || async {
            let page = app.get_json(&path).await;
            (page["data"].as_array().unwrap().len() == 3).then_some(page)
        }).await;
        let statuses: Vec<&Value> = deliveries["data"].as_array().unwrap().iter().map(|attempt| &attempt["response_status"]).collect();
        assert_eq!(statuses, vec![&json!(204), &json!(503), &json!(503)]);
        let last_failure = &deliveries["data"][1];
        assert_eq!(last_failure["attempt"], 2);
        assert!(last_failure["next_attempt_at"].is_string());
        assert_eq!(last_failure["error"], "the endpoint answered 503");

        // Paged by its own ids.
        let first = app.get_json(&format!("{path}?limit=1")).await;
        assert_eq!(first["has_more"], true);
        let after = first["data"][0]["id"].as_str().unwrap();
        let next = app.get_json(&format!("{path}?limit=2&starting_after={after}")).await;
        assert_eq!(next["data"][0]["attempt"], 2);
    }

    async fn an_endpoint_gets_only_the_events_it_asked_for(backend) {
        let app = spawn_sandboxed(backend, FAST_RETRIES).await;
        let server = receiver(200).await;
        let response = app.post("/v1/webhook_endpoints", &json!({
            "url": format!("{}/hooks", server.uri()),
            "enabled_events": ["payment.failed", "payment.paid_maybe", "refund.nope"],
        }), None).await;
        let error = assert_error(response, 400, "invalid_request").await;
        assert_eq!(error["param"], "enabled_events");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("payment.paid_maybe") && message.contains("refund.nope"), "{message}");

        let failures_only = endpoint(&app, &server, json!({"enabled_events": ["payment.failed", "checkout.abandoned"]})).await;
        let everything = endpoint(&app, &server, json!({})).await;
        paid_checkout(&app).await;
        // The messages are written with the event: by the webhook's answer they are there.
        let queued = |endpoint: &Value| {
            let id = endpoint["id"].as_str().unwrap().to_owned();
            app.with_db(move |conn| {
                use diesel::prelude::*;
                use paymux_schema::db::schema::webhook_messages;
                webhook_messages::table
                    .filter(webhook_messages::endpoint_id.eq(id))
                    .count()
                    .get_result::<i64>(conn)
                    .unwrap()
            })
        };
        assert_eq!(queued(&failures_only).await, 0);
        assert_eq!(queued(&everything).await, 1);
    }

    async fn after_a_rotation_both_secrets_sign_and_resends_and_replays_keep_the_webhook_id(backend) {
        let app = spawn_sandboxed(backend, FAST_RETRIES).await;
        let server = receiver(200).await;
        let endpoint = endpoint(&app, &server, json!({})).await;
        let endpoint_id = endpoint["id"].as_str().unwrap();
        let old = endpoint["secret"].as_str().unwrap();
        paid_checkout(&app).await;
        let first = received(&app, &server, 1).await.remove(0);
        let body: Value = serde_json::from_slice(&first.body).unwrap();
        let event_id = body["data"]["id"].as_str().unwrap();

        let rotated = app.post(&format!("/v1/webhook_endpoints/{endpoint_id}/rotate_secret"), &json!({}), None).await;
        let new = assert_json(rotated, 200).await["secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);

        let resent = app.post(&format!("/v1/events/{event_id}/resend"), &json!({"endpoint": endpoint_id}), None).await;
        assert_eq!(assert_json(resent, 202).await["endpoints"], json!([endpoint_id]));
        let again = received(&app, &server, 2).await.remove(1);
        assert_eq!(header(&again, "webhook-id"), header(&first, "webhook-id"));
        let (id, timestamp, signature) = (header(&again, "webhook-id"), header(&again, "webhook-timestamp"), header(&again, "webhook-signature"));
        assert_eq!(signature.split(' ').count(), 2, "{signature}");
        assert!(verifies(old, id, timestamp, &again.body, signature));
        assert!(verifies(&new, id, timestamp, &again.body, signature));

        // A test event goes to this endpoint under a webhook id of its own.
        let tested = app.post(&format!("/v1/webhook_endpoints/{endpoint_id}/test"), &json!({}), None).await;
        let test = assert_json(tested, 202).await;
        let third = received(&app, &server, 3).await.remove(2);
        assert_eq!(header(&third, "webhook-id"), test["webhook_id"].as_str().unwrap());
        let body: Value = serde_json::from_slice(&third.body).unwrap();
        assert_eq!(body["type"], "webhook.test");

        // A replay of the last ten minutes sends the payment again, under its webhook id too.
        let since = Utc::now().timestamp() - 600;
        let replayed = app.post(&format!("/v1/webhook_endpoints/{endpoint_id}/replay"), &json!({"since": since}), None).await;
        assert_eq!(assert_json(replayed, 202).await["events"], 1);
        let fourth = received(&app, &server, 4).await.remove(3);
        assert_eq!(header(&fourth, "webhook-id"), header(&first, "webhook-id"));
        let bad = app.post(&format!("/v1/webhook_endpoints/{endpoint_id}/replay"), &json!({"since": "yesterday"}), None).await;
        assert_eq!(assert_error(bad, 400, "invalid_json").await["param"], "since");

        let missing = app.post("/v1/events/evt_01jc0000000000000000000000/resend", &json!({}), None).await;
        assert_error(missing, 404, "resource_missing").await;
    }

    async fn a_410_disables_the_endpoint_at_once(backend) {
        let app = spawn_sandboxed(backend, FAST_RETRIES).await;
        let server = receiver(410).await;
        let endpoint = endpoint(&app, &server, json!({})).await;
        paid_checkout(&app).await;
        let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
        let disabled = app.eventually("the endpoint to be disabled", || async {
            let shown = app.get_json(&format!("/v1/webhook_endpoints/{endpoint_id}")).await;
            (shown["status"] == "disabled").then_some(shown)
        }).await;
        assert_eq!(disabled["disabled_reason"], "the endpoint answered 410 Gone");
        assert_eq!(server.received_requests().await.unwrap().len(), 1);

        let enabled = app.client.patch(app.url(&format!("/v1/webhook_endpoints/{endpoint_id}")))
            .bearer_auth(paymux_tests::DEMO_KEY).json(&json!({"status": "enabled", "description": null}))
            .send().await.unwrap();
        let enabled = assert_json(enabled, 200).await;
        assert_eq!(enabled["status"], "enabled");
        assert_eq!(enabled["disabled_reason"], Value::Null);

        let deleted = app.client.delete(app.url(&format!("/v1/webhook_endpoints/{endpoint_id}")))
            .bearer_auth(paymux_tests::DEMO_KEY).send().await.unwrap();
        assert_eq!(assert_json(deleted, 200).await["deleted"], true);
        let gone = app.get(&format!("/v1/webhook_endpoints/{endpoint_id}")).await;
        assert_error(gone, 404, "resource_missing").await;
    }

    async fn two_servers_on_one_database_deliver_every_event_once(backend) {
        let app = spawn_sandboxed(backend, FAST_RETRIES).await;
        // A second server on the same database, as another process would be.
        let source = paymux_tests::test_source(app.config_path.clone(), &app.database_url);
        let other = paymux_gateway::Application::build_with(source, paymux_providers::Registry::standard())
            .await
            .unwrap();
        let other_handle = other.handle();
        tokio::spawn(other.run_until_stopped());
        let server = receiver(200).await;
        let endpoint = endpoint(&app, &server, json!({"enabled_events": ["payment.succeeded"]})).await;
        const EVENTS: usize = 24;
        for _ in 0..EVENTS {
            paid_checkout(&app).await;
        }
        let id = endpoint["id"].as_str().unwrap().to_owned();
        let app = &app;
        app.eventually("every message to be delivered", || {
            let id = id.clone();
            async move {
                let delivered = app.with_db(move |conn| {
                    use diesel::prelude::*;
                    use paymux_schema::db::schema::webhook_messages;
                    webhook_messages::table
                        .filter(webhook_messages::endpoint_id.eq(id))
                        .filter(webhook_messages::status.eq("delivered"))
                        .count()
                        .get_result::<i64>(conn)
                        .unwrap()
                }).await;
                (delivered == EVENTS as i64).then_some(())
            }
        }).await;
        // Delivered is recorded after the send, and only a claimed message is sent: nothing
        // more can arrive now.
        let requests = server.received_requests().await.unwrap();
        let mut ids: Vec<&str> = requests.iter().map(|request| header(request, "webhook-id")).collect();
        assert_eq!(ids.len(), EVENTS);
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), EVENTS);
        other_handle.stop(false).await;
    }

    async fn a_refund_paymux_makes_is_an_event_with_its_amount_and_the_merchant_is_sent_it(backend) {
        let app = spawn_sandboxed(backend, FAST_RETRIES).await;
        let server = receiver(200).await;
        let refunds_only = json!({"enabled_events": ["refund.pending", "refund.succeeded", "refund.failed"]});
        endpoint(&app, &server, refunds_only).await;
        // Paid at the simulator, which then refunds it.
        let checkout = app.create_checkout(&json!({"amount": 1250, "currency": "USD", "provider": "sknpay"})).await;
        let provider_id = checkout["provider_checkout_id"].as_str().unwrap();
        let paid = app.press("sknpay", provider_id, "pay", &json!({"card": "4111 1111 1111 1111"})).await;
        assert_eq!(paid["webhook"]["delivered"], true, "{paid}");
        let refunded = app.post("/v1/refunds", &json!({"checkout_id": checkout["id"], "amount": 500}), None).await;
        let refund = assert_json(refunded, 201).await;
        assert_eq!(refund["status"], "succeeded", "the simulator refunds at once: {refund}");
        let expected = "refund.succeeded";

        let events = app.events_of(&checkout).await;
        let event = events.iter().find(|event| event["type"] == expected).expect("the refund's event");
        assert_eq!(event["amount"], 500);
        assert_eq!(event["currency"], "USD");
        assert_eq!(event["source"], "paymux");
        assert_eq!(event["details"]["refund_id"], refund["id"]);

        let request = received(&app, &server, 1).await.remove(0);
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], expected);
        assert_eq!(body["data"]["id"], event["id"]);
        assert_eq!(body["data"]["amount"], 500);
        assert_eq!(body["data"]["checkout"]["amount_refunded"], 500);

        // Paid by a webhook the simulator never sent: it refuses the refund.
        let unknown = paid_checkout(&app).await;
        let refused = app.post("/v1/refunds", &json!({"checkout_id": unknown["id"]}), None).await;
        assert_eq!(refused.status(), 400);
        let events = app.events_of(&unknown).await;
        let failed = events.iter().find(|event| event["type"] == "refund.failed").expect("refund.failed");
        assert_eq!(failed["amount"], 1250);
        assert!(failed["details"]["reason"].as_str().is_some_and(|reason| !reason.is_empty()), "{failed}");
        let request = received(&app, &server, 2).await.remove(1);
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "refund.failed");
    }

    async fn an_endpoint_whose_name_turned_private_is_not_connected_to(backend) {
        let overlay = "[outbound_webhooks]\nallow_private_networks = false\nretry_speedup = 1000\n";
        let app = spawn_sandboxed(backend, overlay).await;
        let id = stored_endpoint(&app, "https://localhost:9/hooks", None).await;
        let tested = app.post(&format!("/v1/webhook_endpoints/{id}/test"), &json!({}), None).await;
        assert_json(tested, 202).await;
        let path = format!("/v1/webhook_endpoints/{id}/deliveries");
        let attempt = app.eventually("the attempt to be recorded", || async {
            app.get_json(&path).await["data"].as_array().unwrap().last().cloned()
        }).await;
        assert_eq!(attempt["response_status"], Value::Null);
        assert!(attempt["error"].as_str().unwrap().contains("private"), "{attempt}");
    }

    async fn an_endpoint_failing_for_five_days_is_disabled(backend) {
        let app = spawn_sandboxed(backend, FAST_RETRIES).await;
        let server = receiver(500).await;
        let six_days_ago = paymux_schema::db::now() - chrono::TimeDelta::days(6);
        let id = stored_endpoint(&app, &format!("{}/hooks", server.uri()), Some(six_days_ago)).await;
        let tested = app.post(&format!("/v1/webhook_endpoints/{id}/test"), &json!({}), None).await;
        assert_json(tested, 202).await;
        let disabled = app.eventually("the endpoint to be disabled", || async {
            let shown = app.get_json(&format!("/v1/webhook_endpoints/{id}")).await;
            (shown["status"] == "disabled").then_some(shown)
        }).await;
        assert_eq!(disabled["disabled_reason"], "every delivery failed for five days");
        let refused = app.post(&format!("/v1/webhook_endpoints/{id}/test"), &json!({}), None).await;
        assert_error(refused, 400, "invalid_request").await;
    }

    async fn private_and_plain_http_endpoints_are_refused_where_not_allowed(backend) {
        let app = spawn_sandboxed(backend, "[outbound_webhooks]\nallow_private_networks = false\n").await;
        for (url, says) in [
            ("http://example.com/hooks", "https"),
            ("https://localhost/hooks", "private"),
            ("https://127.0.0.1:8443/hooks", "private"),
            ("https://169.254.169.254/latest", "private"),
            ("https://[::1]/hooks", "private"),
            ("https://10.0.0.7/hooks", "private"),
            ("ftp://example.com/", "http"),
        ] {
            let response = app.post("/v1/webhook_endpoints", &json!({"url": url}), None).await;
            let error = assert_error(response, 400, "invalid_request").await;
            assert_eq!(error["param"], "url");
            assert!(error["message"].as_str().unwrap().contains(says), "{url}: {error}");
        }
    }
}
