//! A checkout never says more than the money did: partial and over payments, payments of
//! nothing or in another currency, amounts and times within bounds, refunds that carry their
//! amounts, checkouts paymux expires itself, and unconfirmed successes that point at their
//! checkout.

use chrono::Utc;
use paymux_tests::{
    TestApp, assert_error, demo_provider_setting, on_both_backends, spawn_sandboxed,
    stripe_signature,
};
use serde_json::{Value, json};

const SKIPIFY_SUCCEEDED: &str =
    include_str!("../../../providers/src/skipify/fixtures/order_payment_succeeded.json");
const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

async fn skn_checkout(app: &TestApp, amount: i64) -> Value {
    let reference = format!("order-{}", ulid::Ulid::new());
    let body =
        json!({"amount": amount, "currency": "USD", "provider": "sknpay", "reference": reference});
    app.create_checkout(&body).await
}

async fn checkout_of(app: &TestApp, checkout: &Value) -> Value {
    let id = checkout["id"].as_str().unwrap();
    app.get_json(&format!("/v1/checkouts/{id}")).await
}

fn flags(event: &Value) -> Vec<&str> {
    event["details"]["flags"]
        .as_array()
        .map(|flags| flags.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A Skipify success for the checkout's PayLink, with its `transactionAmount` replaced.
async fn skipify_paid(app: &TestApp, checkout: &Value, transaction_amount: Value) -> u16 {
    let mut body: Value = serde_json::from_str(SKIPIFY_SUCCEEDED).unwrap();
    body["payload"]["paylinkId"] = checkout["provider_checkout_id"].clone();
    body["payload"]["transactionAmount"] = transaction_amount;
    body["payload"]["pspTransactionId"] = json!(ulid::Ulid::new().to_string());
    let response = app.post_webhook("/webhooks/demo/skipify", &JSON, body.to_string());
    response.await.status().as_u16()
}

/// An SKN Pay `payment.succeeded` for the checkout's payment, signed as SKN Pay signs.
async fn skn_paid(app: &TestApp, checkout: &Value, amount: i64, currency: &str) -> u16 {
    let body = json!({
        "id": format!("evt_{}", ulid::Ulid::new()), "object": "event", "type": "payment.succeeded",
        "created": Utc::now().timestamp(), "livemode": false,
        "data": {"object": {
            "object": "payment", "id": checkout["provider_checkout_id"], "livemode": false,
            "url": checkout["redirect_url"], "amount": amount, "currency": currency,
            "status": "succeeded", "metadata": {}, "expires_at": null,
            "created_at": "2026-05-08T18:42:11.000Z"
        }}
    })
    .to_string();
    let secret = demo_provider_setting("sknpay", "webhook_secret");
    let signature = stripe_signature(&secret, Utc::now().timestamp(), body.as_bytes());
    let headers = [JSON[0], ("SknPay-Signature", &signature)];
    let response = app.post_webhook("/webhooks/demo/sknpay", &headers, body);
    response.await.status().as_u16()
}

async fn report(app: &TestApp) -> Value {
    let (from, to) = (Utc::now().timestamp() - 600, Utc::now().timestamp() + 600);
    app.get_json(&format!("/v1/reconciliation?from={from}&to={to}"))
        .await
}

fn kinds(report: &Value) -> Vec<String> {
    report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|found| found["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Moves a checkout's expiry time into the past.
async fn lapse(app: &TestApp, checkout: &Value) {
    use diesel::prelude::*;
    use paymux_schema::db::schema::checkouts;
    let id = checkout["id"].as_str().unwrap().to_owned();
    app.with_db(move |conn| {
        let past = Utc::now().naive_utc() - chrono::TimeDelta::minutes(1);
        diesel::update(checkouts::table.find(id))
            .set(checkouts::expires_at.eq(Some(past)))
            .execute(conn)
            .unwrap();
    })
    .await;
}

on_both_backends! {
    async fn a_tampered_amount_overpays_and_is_flagged_not_believed_blindly(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = app.create_checkout(&json!({"amount": 1_000, "currency": "USD", "provider": "skipify"})).await;
        assert_eq!(skipify_paid(&app, &checkout, json!(9_000)).await, 200);
        let paid = checkout_of(&app, &checkout).await;
        assert_eq!((paid["status"].as_str(), paid["amount_received"].as_i64()), (Some("succeeded"), Some(9_000)));
        let events = app.events_of(&checkout).await;
        assert_eq!(flags(&events[0]), ["overpaid"]);
        let report = report(&app).await;
        assert_eq!(kinds(&report), ["amount_mismatch"]);
        assert_eq!(report["discrepancies"][0]["checkout_id"], checkout["id"]);
    }

    async fn a_success_of_nothing_or_another_currency_pays_nothing(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let skipify = app.create_checkout(&json!({"amount": 1_000, "currency": "USD", "provider": "skipify"})).await;
        assert_eq!(skipify_paid(&app, &skipify, json!(0)).await, 200);
        let skn = skn_checkout(&app, 1_000).await;
        assert_eq!(skn_paid(&app, &skn, 1_000, "XCD").await, 200);
        for checkout in [&skipify, &skn] {
            let row = checkout_of(&app, checkout).await;
            assert_eq!((row["status"].as_str(), row["amount_received"].as_i64()), (Some("open"), Some(0)), "{row}");
            let events = app.events_of(checkout).await;
            assert_eq!(flags(&events[0]), ["not_counted"], "{events:?}");
        }
        assert_eq!(kinds(&report(&app).await), ["amount_mismatch", "amount_mismatch"]);
    }

    async fn a_short_payment_is_partial_refundable_as_received_and_never_expired(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = skn_checkout(&app, 1_000).await;
        assert_eq!(skn_paid(&app, &checkout, 400, "USD").await, 200);
        let partial = checkout_of(&app, &checkout).await;
        assert_eq!((partial["status"].as_str(), partial["amount_received"].as_i64()), (Some("partially_paid"), Some(400)));
        let report = report(&app).await;
        assert_eq!(kinds(&report), ["underpaid"]);
        assert_eq!(report["totals"][0]["partially_paid_count"], 1);
        // Money moved: paymux never expires it, and it cannot be canceled, only refunded.
        lapse(&app, &checkout).await;
        let run = paymux_gateway::jobs::run_once(&app.state).await.unwrap();
        assert_eq!(run.checkouts_expired, 0);
        assert_eq!(checkout_of(&app, &checkout).await["status"], "partially_paid");
        let id = checkout["id"].as_str().unwrap();
        let cancel = app.post(&format!("/v1/checkouts/{id}/cancel"), &json!({}), None).await;
        let error = assert_error(cancel, 400, "checkout_not_cancelable").await;
        assert!(error["message"].as_str().unwrap().contains("refund"), "{error}");
        let too_much = app.post("/v1/refunds", &json!({"checkout_id": id, "amount": 401}), None).await;
        let error = assert_error(too_much, 400, "amount_too_large").await;
        assert!(error["message"].as_str().unwrap().contains("4.00 USD"), "{error}");
    }

    async fn amounts_past_ten_to_the_twelve_are_refused_or_never_summed(backend) {
        let app = spawn_sandboxed(backend, "").await;
        for amount in [json!(9_223_372_036_854_775_807_i64), json!(1_000_000_000_001_i64)] {
            let body = json!({"amount": amount, "currency": "USD", "provider": "skipify"});
            let error = assert_error(app.post("/v1/checkouts", &body, None).await, 400, "invalid_request").await;
            assert_eq!(error["param"], "amount");
        }
        let checkout = app.create_checkout(&json!({"amount": 1_000, "currency": "USD", "provider": "skipify"})).await;
        for _ in 0..2 {
            assert_eq!(skipify_paid(&app, &checkout, json!(9_223_372_036_854_775_000_i64)).await, 200);
        }
        assert_eq!(checkout_of(&app, &checkout).await["status"], "open");
        let events = app.events_of(&checkout).await;
        assert_eq!(events.len(), 2, "stored");
        assert!(events.iter().all(|event| flags(event) == ["not_counted"]));
        let report = report(&app).await;
        assert_eq!(kinds(&report), ["amount_mismatch", "amount_mismatch"]);
        assert_eq!(report["totals"][0]["gross"], 0);
    }

    async fn times_past_year_9999_are_refused(backend) {
        let app = spawn_sandboxed(backend, "").await;
        for path in [
            "/v1/events?created_gte=253402300800",
            "/v1/checkouts?created_lt=253402300800",
            "/v1/reconciliation?from=2026-01-01&to=253402300800",
            "/v1/events/export?format=csv&created_gte=0&created_lt=253402300800",
        ] {
            let error = assert_error(app.get(path).await, 400, "invalid_request").await;
            assert!(error["message"].as_str().unwrap().contains("9999"), "{path}: {error}");
        }
        let body = json!({"amount": 1_000, "currency": "USD", "provider": "sknpay", "expires_at": 253402300800_i64});
        let error = assert_error(app.post("/v1/checkouts", &body, None).await, 400, "invalid_json").await;
        assert!(error["message"].as_str().unwrap().contains("9999"), "{error}");
        // The last second of year 9999 is still a time.
        assert_eq!(app.get("/v1/events?created_gte=253402300799").await.status(), 200);
    }

    async fn refund_events_carry_the_amount_of_the_refund_they_confirm(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = skn_checkout(&app, 1_000).await;
        let provider_id = checkout["provider_checkout_id"].as_str().unwrap();
        app.press("sknpay", provider_id, "pay", &json!({})).await;
        let id = checkout["id"].as_str().unwrap();
        let mut refund_ids = vec![];
        for amount in [400, 600] {
            let refund = app.post("/v1/refunds", &json!({"checkout_id": id, "amount": amount}), None).await;
            assert_eq!(refund.status(), 201);
            refund_ids.push(refund.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
            app.eventually("the refund's webhook", || async {
                let events = app.events_of(&checkout).await;
                (events.iter().filter(|event| event["type"] == "payment.refunded").count() == refund_ids.len()).then_some(())
            }).await;
        }
        let mut refunded: Vec<(i64, String)> = app.events_of(&checkout).await.into_iter()
            .filter(|event| event["type"] == "payment.refunded")
            .map(|event| (event["amount"].as_i64().unwrap(), event["details"]["refund_id"].as_str().unwrap().to_owned()))
            .collect();
        refunded.sort();
        assert_eq!(refunded, [(400, refund_ids[0].clone()), (600, refund_ids[1].clone())]);
        // Counted once: from paymux's refunds, never again from their confirmations.
        assert_eq!(report(&app).await["totals"][0]["refunded"], 1_000);
        let (from, to) = (Utc::now().timestamp() - 600, Utc::now().timestamp() + 600);
        let csv = app.get(&format!("/v1/events/export?format=csv&created_gte={from}&created_lt={to}&type=payment.refunded")).await.text().await.unwrap();
        let amounts: Vec<&str> = csv.lines().skip(1).map(|line| line.split(',').nth(7).unwrap()).collect();
        assert_eq!(amounts.len(), 2);
        assert!(amounts.iter().all(|amount| !amount.is_empty()), "{csv}");
    }

    async fn paymux_expires_what_nobody_paid_and_closes_it_at_the_provider(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = skn_checkout(&app, 1_000).await;
        // No expiry asked for: the configured default, a day.
        let created = chrono::DateTime::parse_from_rfc3339(checkout["created_at"].as_str().unwrap()).unwrap();
        let expires = chrono::DateTime::parse_from_rfc3339(checkout["expires_at"].as_str().unwrap()).unwrap();
        assert!((expires - created - chrono::TimeDelta::days(1)).num_seconds().abs() <= 5, "{checkout}");
        let paid = skn_checkout(&app, 1_000).await;
        app.press("sknpay", paid["provider_checkout_id"].as_str().unwrap(), "pay", &json!({})).await;
        lapse(&app, &checkout).await;
        lapse(&app, &paid).await;
        let run = paymux_gateway::jobs::run_once(&app.state).await.unwrap();
        assert_eq!(run.checkouts_expired, 1);
        assert_eq!(checkout_of(&app, &checkout).await["status"], "expired");
        assert_eq!(checkout_of(&app, &paid).await["status"], "succeeded");
        let events = app.events_of(&checkout).await;
        let expired = events.iter().find(|event| event["type"] == "payment.expired").unwrap();
        assert_eq!(expired["source"], "paymux");
        assert_eq!(expired["provider_event_id"], format!("paymux:expired:{}", checkout["id"].as_str().unwrap()));
        // SKN Pay's link was canceled, so it takes no payment any more.
        let provider_id = checkout["provider_checkout_id"].as_str().unwrap();
        let pressed = app.press("sknpay", provider_id, "pay", &json!({})).await;
        assert!(pressed["error"].is_object(), "{pressed}");
        // Again: nothing more to expire, nothing stored twice.
        assert_eq!(paymux_gateway::jobs::run_once(&app.state).await.unwrap().checkouts_expired, 0);
        let again = app.events_of(&checkout).await;
        assert_eq!(again.iter().filter(|event| event["type"] == "payment.expired").count(), 1);
    }

    async fn an_unconfirmed_success_points_at_its_checkout(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = app.create_checkout(&json!({
            "amount": 10_000, "currency": "BDT", "provider": "pakhi",
            "customer": {"name": "Rahim Uddin", "email": "rahim@example.com"},
            "success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/cancel"
        })).await;
        let link = checkout["redirect_url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
        let paid = app.press("pakhi", &link, "pay", &json!({"verify": "fail"})).await;
        assert_eq!(paid["webhook"]["status"], 200, "{paid}");
        assert_eq!(checkout_of(&app, &checkout).await["status"], "open");
        let report = report(&app).await;
        assert_eq!(kinds(&report), ["unconfirmed"]);
        assert_eq!(report["discrepancies"][0]["checkout_id"], checkout["id"]);
    }
}
