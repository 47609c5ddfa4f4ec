//! Merchants and ops end to end: two merchants kept apart, routing with failover over the
//! sandbox's injected faults, circuit breakers, reload through the admin API (a broken config
//! keeps the old one serving), webhooks of a disabled provider, rate limits, the admin view.

use reqwest::Method;
use serde_json::{Value, json};

use paymux_tests::{
    Backend, FAST_SANDBOX, TestApp, assert_error, on_both_backends, spawn_sandboxed,
};

const ACME: &str = "pmx_test_acme";
const GLOBEX: &str = "pmx_test_globex";
const INITECH: &str = "pmx_test_initech";

/// Two merchants: acme with SKN Pay (priority 1) and Skipify (2), globex with SKN Pay only.
const TWO_MERCHANTS: &str = r#"
[merchants.acme]
api_keys = ["pmx_test_acme"]
providers.sknpay = { sandbox = true, priority = 1, api_key = "sk_test_acme_7d1e0c", webhook_secret = "whsec_acme_2b9f" }
providers.skipify = { sandbox = true, priority = 2, merchant_id = "acme-skipify-merchant", api_key = "skipify_acme_key_41c2", secret = "acme_skipify_secret" }

[merchants.globex]
api_keys = ["pmx_test_globex"]
providers.sknpay = { sandbox = true, priority = 1, api_key = "sk_test_globex_5a3c", webhook_secret = "whsec_globex_8e41" }
"#;

/// [`TWO_MERCHANTS`] with SKN Pay switched off for acme, as ops would edit the file.
fn acme_sknpay_disabled() -> String {
    let edited = TWO_MERCHANTS.replacen(
        "{ sandbox = true, priority = 1, api_key = \"sk_test_acme",
        "{ enabled = false, sandbox = true, priority = 1, api_key = \"sk_test_acme",
        1,
    );
    assert_ne!(edited, TWO_MERCHANTS);
    edited
}

/// A third merchant: SKN Pay (priority 1), then the fake provider, which creates checkouts but
/// answers unreadably unless `readable`.
fn initech(readable: bool) -> String {
    format!(
        r#"
[merchants.initech]
api_keys = ["pmx_test_initech"]
providers.sknpay = {{ sandbox = true, priority = 1, api_key = "sk_test_initech_0c1d", webhook_secret = "whsec_initech_77aa" }}
providers.fake = {{ priority = 2, secret = "fake_initech_secret", unreadable_answers = {} }}
"#,
        !readable
    )
}

/// The ids of the payments SKN Pay's simulator made with `reference`.
fn sknpay_payments(app: &TestApp, reference: &str) -> Vec<String> {
    app.sandbox
        .as_ref()
        .and_then(|sandbox| sandbox.simulator::<paymux_sandbox::sknpay::SknSandbox>())
        .unwrap()
        .payments_with_reference(reference)
}

/// A server with [`TWO_MERCHANTS`] and `extra`, its simulators retrying at once.
async fn spawn(backend: Backend, extra: &str) -> TestApp {
    spawn_sandboxed(backend, &format!("{TWO_MERCHANTS}\n{extra}")).await
}

/// SKN Pay's simulator answering every call with a 503.
const SKNPAY_UNAVAILABLE: &str = "[sandbox.faults.sknpay]\nmode = \"unavailable\"\n";

/// Circuit breakers that open after `failures` in a row and try again after `cooldown_secs`,
/// over [`SKNPAY_UNAVAILABLE`].
fn breakers_over_failing_sknpay(failures: u32, cooldown_secs: u64) -> String {
    format!(
        "[routing]\nfailure_threshold = {failures}\ncooldown_secs = {cooldown_secs}\n{SKNPAY_UNAVAILABLE}"
    )
}

/// Replaces the server's merchants with `merchants` and reloads; returns the reload's answer.
async fn reload(app: &TestApp, merchants: &str) -> reqwest::Response {
    app.reload(&format!("{FAST_SANDBOX}{merchants}")).await
}

fn usd(provider: Option<&str>) -> Value {
    let mut body = json!({
        "amount": 2500,
        "currency": "USD",
        "reference": format!("order-{}", ulid::Ulid::new()),
        "success_url": "https://shop.example/thanks",
    });
    if let Some(provider) = provider {
        body["provider"] = json!(provider);
    }
    body
}

async fn create(app: &TestApp, api_key: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
    let response = app.post_as(api_key, "/v1/checkouts", body, key).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn created(app: &TestApp, api_key: &str, body: &Value) -> Value {
    app.create_checkout_as(api_key, body).await
}

async fn set_fault(app: &TestApp, provider: &str, fault: Value) {
    let path = format!("/v1/admin/sandbox/faults/{provider}");
    let response = app.admin(Method::POST, &path, Some(fault)).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn clear_fault(app: &TestApp, provider: &str) {
    let path = format!("/v1/admin/sandbox/faults/{provider}");
    let response = app.admin(Method::DELETE, &path, None).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn admin_providers(app: &TestApp) -> Vec<Value> {
    let response = app.admin(Method::GET, "/v1/admin/providers", None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [Value], merchant: &str, provider: &str) -> &'a Value {
    rows.iter()
        .find(|row| row["merchant"] == merchant && row["provider"] == provider)
        .unwrap_or_else(|| panic!("no row for {merchant}/{provider}"))
}

on_both_backends! {
    async fn one_merchants_key_never_reaches_anothers_objects(backend) {
        let app = spawn(backend, "").await;
        let checkout = created(&app, ACME, &usd(Some("sknpay"))).await;
        let id = checkout["id"].as_str().unwrap();
        assert_eq!(checkout["merchant"], "acme");

        let response = app.get_as(GLOBEX, &format!("/v1/checkouts/{id}")).await;
        assert_error(response, 404, "resource_missing").await;
        let response = app
            .post_as(GLOBEX, &format!("/v1/checkouts/{id}/cancel"), &json!({}), None)
            .await;
        assert_error(response, 404, "resource_missing").await;
        let response = app
            .post_as(GLOBEX, "/v1/refunds", &json!({"checkout_id": id}), None)
            .await;
        assert_error(response, 404, "resource_missing").await;
        let listed = app.get_json_as(GLOBEX, "/v1/checkouts").await;
        assert_eq!(listed["data"], json!([]));
        // The owner sees it.
        let response = app.get_as(ACME, &format!("/v1/checkouts/{id}")).await;
        assert_eq!(response.status(), 200);
    }

    async fn a_checkout_without_provider_fails_over_when_the_first_answers_503(backend) {
        let app = spawn(backend, SKNPAY_UNAVAILABLE).await;
        let checkout = created(&app, ACME, &usd(None)).await;
        assert_eq!(checkout["provider"], "skipify");
        assert_eq!(checkout["providers_tried"], json!(["sknpay", "skipify"]));
        let id = checkout["id"].as_str().unwrap();
        let read = app.get_json_as(ACME, &format!("/v1/checkouts/{id}")).await;
        assert_eq!(read["providers_tried"], json!(["sknpay", "skipify"]));

        // Named explicitly, SKN Pay's failure is the answer: no failover.
        let (status, body) = create(&app, ACME, &usd(Some("sknpay")), None).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["error"]["code"], "provider_error");

        let metrics = app.metrics().await;
        assert!(
            metrics.contains(
                r#"paymux_routing_decisions_total{merchant="acme",outcome="failed",provider="sknpay"} 2"#
            ),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                r#"paymux_routing_decisions_total{merchant="acme",outcome="created",provider="skipify"} 1"#
            ),
            "{metrics}"
        );
    }

    async fn refused_connections_fail_over_and_clearing_the_fault_restores_the_order(backend) {
        let app = spawn(backend, "").await;
        set_fault(&app, "sknpay", json!({"mode": "refuse_connections"})).await;
        let checkout = created(&app, ACME, &usd(None)).await;
        assert_eq!(checkout["provider"], "skipify");
        assert_eq!(checkout["providers_tried"], json!(["sknpay", "skipify"]));

        clear_fault(&app, "sknpay").await;
        let checkout = created(&app, ACME, &usd(None)).await;
        assert_eq!(checkout["provider"], "sknpay");
        assert_eq!(checkout["providers_tried"], json!(["sknpay"]));

        let response = app
            .admin(Method::POST, "/v1/admin/sandbox/faults/sknpay", Some(json!({"mode": "delay"})))
            .await;
        let error = assert_error(response, 400, "invalid_request").await;
        assert!(error["message"].as_str().unwrap().contains("delay_ms"), "{error}");
    }

    async fn an_unknown_outcome_is_not_failed_over_and_its_retry_returns_the_one_payment(backend) {
        let app = spawn(backend, "[http]\ntotal_timeout_ms = 300").await;
        set_fault(&app, "sknpay", json!({"mode": "delay", "delay_ms": 2000})).await;
        let body = usd(None);
        let reference = body["reference"].as_str().unwrap();
        let (status, answer) = create(&app, ACME, &body, Some("order-ambiguous")).await;
        assert_eq!(status, 504, "{answer}");
        assert_eq!(answer["error"]["code"], "provider_timeout");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains("same Idempotency-Key is safe"),
            "{answer}"
        );
        // The simulator did create the payment: paymux just never heard of it.
        let made = sknpay_payments(&app, reference);
        assert_eq!(made.len(), 1, "{made:?}");

        // The retry goes to SKN Pay again, even though it now fails and Skipify would work.
        set_fault(&app, "sknpay", json!({"mode": "unavailable"})).await;
        let (status, answer) = create(&app, ACME, &body, Some("order-ambiguous")).await;
        assert_eq!(status, 502, "{answer}");

        // Once SKN Pay answers, the retry gets the payment the first attempt made, not another.
        clear_fault(&app, "sknpay").await;
        let (status, checkout) = create(&app, ACME, &body, Some("order-ambiguous")).await;
        assert_eq!(status, 201, "{checkout}");
        assert_eq!(checkout["provider"], "sknpay");
        assert_eq!(checkout["providers_tried"], json!(["sknpay"]));
        assert_eq!(checkout["provider_checkout_id"], made[0]);
        assert_eq!(sknpay_payments(&app, reference), made);

        // Without a key the same failure is answered the same way, but promises no safe
        // retry, and nothing is recorded for one: the only key acme has is the one above.
        set_fault(&app, "sknpay", json!({"mode": "delay", "delay_ms": 2000})).await;
        let (status, answer) = create(&app, ACME, &usd(None), None).await;
        assert_eq!(status, 504, "{answer}");
        assert!(
            !answer["error"]["message"].as_str().unwrap().contains("Idempotency-Key"),
            "{answer}"
        );
        let keys = app
            .with_db(|conn| {
                use paymux_schema::db::schema::idempotency_keys::dsl::*;
                use diesel::prelude::*;
                idempotency_keys
                    .filter(merchant.eq("acme"))
                    .select(idempotency_key)
                    .load::<String>(conn)
                    .unwrap()
            })
            .await;
        assert_eq!(keys, ["order-ambiguous"]);

        // A provider that takes no idempotency key: the advice says what a retry may do there.
        set_fault(&app, "skipify", json!({"mode": "delay", "delay_ms": 2000})).await;
        let (status, answer) =
            create(&app, ACME, &usd(Some("skipify")), Some("order-skipify")).await;
        assert_eq!(status, 504, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("may create a second payment link"), "{message}");
        assert!(!message.contains("is safe"), "{message}");
    }

    async fn a_provider_that_may_have_acted_gets_the_retry_whatever_ended_the_request(backend) {
        let app = spawn(
            backend,
            &format!("{}\n{SKNPAY_UNAVAILABLE}", initech(false)),
        )
        .await;
        // SKN Pay fails before creating anything; the fake creates the checkout but its
        // answer cannot be read.
        let body = usd(None);
        let (status, answer) = create(&app, INITECH, &body, Some("order-unreadable")).await;
        assert_eq!(status, 502, "{answer}");
        assert_eq!(answer["error"]["code"], "provider_error");

        // SKN Pay is back, but the retry goes where a checkout may exist, not to SKN Pay.
        clear_fault(&app, "sknpay").await;
        let (status, answer) = create(&app, INITECH, &body, Some("order-unreadable")).await;
        assert_eq!(status, 502, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("no checkout id"), "{answer}");

        // Once the fake answers readably, the retry gets its checkout.
        let response = reload(&app, &format!("{TWO_MERCHANTS}\n{}", initech(true))).await;
        assert_eq!(response.status(), 200);
        let (status, checkout) = create(&app, INITECH, &body, Some("order-unreadable")).await;
        assert_eq!(status, 201, "{checkout}");
        assert_eq!(checkout["provider"], "fake");
        assert_eq!(checkout["providers_tried"], json!(["sknpay", "fake"]));
        assert!(sknpay_payments(&app, body["reference"].as_str().unwrap()).is_empty());

        // When every provider failed before creating anything, the retry routes afresh.
        set_fault(&app, "sknpay", json!({"mode": "unavailable"})).await;
        set_fault(&app, "skipify", json!({"mode": "unavailable"})).await;
        let body = usd(None);
        let (status, answer) = create(&app, ACME, &body, Some("order-afresh")).await;
        assert_eq!(status, 502, "{answer}");
        clear_fault(&app, "sknpay").await;
        let (status, checkout) = create(&app, ACME, &body, Some("order-afresh")).await;
        assert_eq!(status, 201, "{checkout}");
        assert_eq!(checkout["providers_tried"], json!(["sknpay"]));
    }

    async fn a_replay_and_a_pinned_retry_do_not_depend_on_the_config_of_the_moment(backend) {
        let app = spawn(backend, "[http]\ntotal_timeout_ms = 300").await;
        let body = usd(Some("sknpay"));
        let (status, first) = create(&app, ACME, &body, Some("order-replayed")).await;
        assert_eq!(status, 201, "{first}");
        set_fault(&app, "sknpay", json!({"mode": "delay", "delay_ms": 2000})).await;
        let pending = usd(None);
        let (status, answer) = create(&app, ACME, &pending, Some("order-pinned")).await;
        assert_eq!(status, 504, "{answer}");

        // Ops switch SKN Pay off for acme (the reload also drops the fault).
        assert_eq!(reload(&app, &acme_sknpay_disabled()).await.status(), 200);

        // The finished key replays its first answer unchanged.
        let response = app.post_as(ACME, "/v1/checkouts", &body, Some("order-replayed")).await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["idempotent-replayed"], "true");
        let replayed: Value = response.json().await.unwrap();
        assert_eq!(replayed, first);

        // The pinned retry goes back to SKN Pay, disabled or not, for the payment it made.
        let (status, checkout) = create(&app, ACME, &pending, Some("order-pinned")).await;
        assert_eq!(status, 201, "{checkout}");
        assert_eq!(checkout["provider"], "sknpay");
        let made = sknpay_payments(&app, pending["reference"].as_str().unwrap());
        assert_eq!(made.len(), 1, "{made:?}");
        assert_eq!(checkout["provider_checkout_id"], made[0]);

        // New checkouts keep away from it.
        let (status, answer) = create(&app, ACME, &usd(Some("sknpay")), None).await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["error"]["code"], "provider_disabled");
    }

    async fn a_half_open_trial_refused_as_invalid_does_not_hold_the_circuit(backend) {
        let app = spawn(backend, &breakers_over_failing_sknpay(1, 1)).await;
        let (status, answer) = create(&app, ACME, &usd(Some("sknpay")), None).await;
        assert_eq!(status, 502, "{answer}");
        clear_fault(&app, "sknpay").await;
        app.eventually("acme's SKN Pay circuit to be half-open", || async {
            app.metrics()
                .await
                .contains(r#"paymux_circuit_state{merchant="acme",provider="sknpay"} 1"#)
                .then_some(())
        })
        .await;
        // The trial call is refused as invalid: that says nothing of SKN Pay's health.
        let mut invalid = usd(Some("sknpay"));
        invalid["amount"] = json!(50);
        let (status, answer) = create(&app, ACME, &invalid, None).await;
        assert_eq!(status, 400, "{answer}");
        // So the next call is the trial, and its success closes the circuit.
        created(&app, ACME, &usd(Some("sknpay"))).await;
        let rows = admin_providers(&app).await;
        assert_eq!(row(&rows, "acme", "sknpay")["circuit"]["state"], "closed");
    }

    async fn an_open_circuit_is_skipped_and_named_it_is_a_503(backend) {
        let app = spawn(backend, &breakers_over_failing_sknpay(2, 3600)).await;
        for _ in 0..2 {
            let (status, body) = create(&app, ACME, &usd(Some("sknpay")), None).await;
            assert_eq!(status, 502, "{body}");
        }
        let response = app.post_as(ACME, "/v1/checkouts", &usd(Some("sknpay")), None).await;
        let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry_after > 0 && retry_after <= 3600, "{retry_after}");
        assert_error(response, 503, "provider_unavailable").await;

        // Routing passes over the open circuit without calling SKN Pay.
        let checkout = created(&app, ACME, &usd(None)).await;
        assert_eq!(checkout["provider"], "skipify");
        assert_eq!(checkout["providers_tried"], json!(["skipify"]));
        // Another merchant's SKN Pay circuit is its own.
        let (status, _) = create(&app, GLOBEX, &usd(Some("sknpay")), None).await;
        assert_eq!(status, 502);

        let rows = admin_providers(&app).await;
        let skn = row(&rows, "acme", "sknpay");
        assert_eq!(skn["circuit"]["state"], "open", "{skn}");
        assert_eq!(skn["circuit"]["consecutive_failures"], 2);
        assert!(skn["circuit"]["last_failure"].as_str().unwrap().contains("503"), "{skn}");
        assert_eq!(skn["enabled"], true);
        assert_eq!(skn["priority"], 1);
        let skipify = row(&rows, "acme", "skipify");
        assert_eq!(skipify["circuit"]["state"], "closed");
        assert!(skipify["circuit"]["last_success_at"].is_string(), "{skipify}");
        assert_eq!(skipify["checkouts"], 1);
        assert_eq!(row(&rows, "globex", "sknpay")["circuit"]["state"], "closed");

        let metrics = app.metrics().await;
        assert!(
            metrics.contains(r#"paymux_circuit_state{merchant="acme",provider="sknpay"} 2"#),
            "{metrics}"
        );
        assert!(
            metrics.contains(r#"paymux_circuit_state{merchant="acme",provider="skipify"} 0"#),
            "{metrics}"
        );
    }

    async fn a_reload_applies_a_valid_config_and_keeps_the_old_one_for_a_broken_one(backend) {
        let app = spawn(backend, "").await;
        let reload_request = || app.client.post(app.url("/v1/admin/reload"));
        for request in [reload_request().bearer_auth("not-the-token"), reload_request()] {
            assert_error(request.send().await.unwrap(), 401, "invalid_admin_token").await;
        }

        let disabled = acme_sknpay_disabled();
        let response = reload(&app, &disabled).await;
        assert_eq!(response.status(), 200);
        let report: Value = response.json().await.unwrap();
        assert_eq!(report["merchants"], json!(["acme", "demo", "globex"]));
        assert_eq!(report["restart_required"], json!([]));

        let (status, body) = create(&app, ACME, &usd(Some("sknpay")), None).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "provider_disabled");
        created(&app, GLOBEX, &usd(Some("sknpay"))).await;
        // Routing leaves the disabled provider out.
        let checkout = created(&app, ACME, &usd(None)).await;
        assert_eq!(checkout["providers_tried"], json!(["skipify"]));

        // A misspelt key: refused, every reason named, the running config unchanged.
        let misspelt = disabled.replacen("api_key = \"sk_test_globex", "api_kye = \"sk_test_globex", 1);
        let error = assert_error(reload(&app, &misspelt).await, 400, "invalid_config").await;
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("merchants.globex.providers.sknpay.api_kye"), "{message}");
        assert!(!message.contains("sk_test_globex"), "no secret in errors: {message}");
        assert!(message.contains("the running one stays"), "{message}");
        let (status, _) = create(&app, ACME, &usd(Some("sknpay")), None).await;
        assert_eq!(status, 403);
        created(&app, GLOBEX, &usd(Some("sknpay"))).await;

        // A file that is not TOML at all: the same.
        assert_error(reload(&app, "[merchants.acme").await, 400, "invalid_config").await;
        created(&app, GLOBEX, &usd(Some("sknpay"))).await;
    }

    async fn a_disabled_providers_webhooks_are_verified_stored_applied_and_flagged(backend) {
        let app = spawn(backend, "").await;
        let checkout = created(&app, ACME, &usd(Some("sknpay"))).await;
        let id = checkout["id"].as_str().unwrap().to_owned();
        assert_eq!(reload(&app, &acme_sknpay_disabled()).await.status(), 200);

        let provider_id = checkout["provider_checkout_id"].as_str().unwrap();
        let paid = app.press("sknpay", provider_id, "pay", &json!({"card": "4111 1111 1111 1111"})).await;
        assert_eq!(paid["webhook"]["status"], 200, "{paid}");

        let read = app.get_json_as(ACME, &format!("/v1/checkouts/{id}")).await;
        assert_eq!(read["status"], "succeeded", "{read}");
        let events = app.get_json_as(ACME, &format!("/v1/events?checkout_id={id}")).await;
        let event = &events["data"][0];
        assert_eq!(event["type"], "payment.succeeded", "{events}");
        assert_eq!(event["details"]["flags"], json!(["disabled_provider"]), "{event}");

        // Verified with acme's secret only: the same delivery to globex's URL is refused.
        let (stored_headers, stored_body) = app.with_db(|conn| {
            use diesel::prelude::*;
            use paymux_schema::db::schema::webhook_receipts::dsl::*;
            let acme = webhook_receipts.filter(merchant.eq("acme"));
            acme.select((headers, body)).first::<(String, Vec<u8>)>(conn).unwrap()
        }).await;
        let stored_headers: Value = serde_json::from_str(&stored_headers).unwrap();
        let signature = stored_headers["sknpay-signature"].as_str().unwrap();
        let headers = [("content-type", "application/json"), ("sknpay-signature", signature)];
        let response = app.post_webhook("/webhooks/globex/sknpay", &headers, stored_body).await;
        assert_eq!(response.status(), 400);
    }

    async fn each_api_key_has_a_token_bucket(backend) {
        let app = spawn(
            backend,
            "[merchants.acme.rate_limit]\nrequests_per_second = 0.001\nburst = 2",
        )
        .await;
        for _ in 0..2 {
            assert_eq!(app.get_as(ACME, "/v1/events").await.status(), 200);
        }
        let response = app.get_as(ACME, "/v1/events").await;
        let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        // One token every 1000 s, rounded up to whole seconds.
        assert!((990..=1000).contains(&retry_after), "{retry_after}");
        assert_error(response, 429, "rate_limited").await;
        // Another merchant's key has its own bucket (and the default limit).
        assert_eq!(app.get_as(GLOBEX, "/v1/events").await.status(), 200);
    }

    async fn routing_passes_over_a_provider_that_would_refuse_the_fields(backend) {
        let app = spawn(backend, "").await;
        // The demo merchant takes BDT through Pakhi Pay only, which needs a name and email.
        let body = json!({"amount": 10000, "currency": "BDT"});
        let response = app.post("/v1/checkouts", &body, None).await;
        let error = assert_error(response, 400, "invalid_request").await;
        assert_eq!(error["param"], "customer.name");
        assert!(error["message"].as_str().unwrap().contains("pakhi"), "{error}");
        let body = json!({
            "amount": 10000, "currency": "BDT",
            "customer": {"name": "Rahim Uddin", "email": "rahim@example.com"},
            "success_url": "https://shop.example/thanks", "cancel_url": "https://shop.example/cart"
        });
        let response = app.post("/v1/checkouts", &body, None).await;
        let checkout: Value = response.json().await.unwrap();
        assert_eq!(checkout["provider"], "pakhi", "{checkout}");
    }
}
