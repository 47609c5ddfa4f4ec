//! What no request can do to paymux: crash it with nesting, hold its workers, fill its disk
//! with rejected webhooks, or put a payload's values into its logs.

use paymux_domain::ReceiptOutcome;
use paymux_tests::{ADMIN_TOKEN, Backend, DEMO_KEY, TestApp, on_both_backends, spawn_with_overlay};

/// The size limit of `config/default.toml`: each body below is built to fit under it, so it
/// reaches the route instead of being cut off as too large.
const MAX_BODY: usize = 262_144;

/// JSON nested as deep as fits in the size limit: objects (`{"a":{"a":…}}`) or arrays.
fn deepest(objects: bool) -> Vec<u8> {
    let (open, close) = if objects {
        ("{\"a\":", "}")
    } else {
        ("[", "]")
    };
    let depth = (MAX_BODY - 16) / (open.len() + close.len());
    let body = format!("{}1{}", open.repeat(depth), close.repeat(depth));
    assert!(body.len() < MAX_BODY && depth > 40_000, "{depth}");
    body.into_bytes()
}

/// The same nesting inside a field of an otherwise ordinary object.
fn deep_in_a_field() -> Vec<u8> {
    let depth = (MAX_BODY - 64) / 2;
    format!(
        r#"{{"status":"x","signature":"00","y":{}1{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
    .into_bytes()
}

/// Request headers by name.
type Headers = Vec<(&'static str, String)>;

/// Every route that reads a body (all POST), with the credentials that get the body read.
fn routes_with_bodies() -> Vec<(&'static str, Headers)> {
    let bearer = |key: &str| vec![("authorization", format!("Bearer {key}"))];
    vec![
        ("/webhooks/demo/sknpay", vec![]),
        ("/webhooks/demo/pakhi", vec![]),
        ("/webhooks/demo/kwik", vec![]),
        ("/webhooks/demo/spankpay", vec![]),
        ("/webhooks/demo/skipify", vec![]),
        ("/webhooks/demo/nobody", vec![]),
        ("/v1/checkouts", bearer(DEMO_KEY)),
        ("/v1/refunds", bearer(DEMO_KEY)),
        ("/v1/admin/sandbox/faults/sknpay", bearer(ADMIN_TOKEN)),
        ("/sandbox/sknpay/checkouts/x/pay", vec![]),
        ("/sandbox/sknpay/pay/x", vec![]),
        ("/sandbox/spankpay/frame/x", vec![]),
        (
            "/sandbox/sknpay/api/v1/payments",
            bearer("sk_test_demo_4f1c2b7e9a0d3c5e"),
        ),
        (
            "/sandbox/sknpay/api/v1/refunds",
            bearer("sk_test_demo_4f1c2b7e9a0d3c5e"),
        ),
        (
            "/sandbox/pakhi/api/request/payment/create/",
            vec![("api-key", "pakhi_demo_api_key_3b9d5e".to_owned())],
        ),
        (
            "/sandbox/pakhi/api/request/payment/verify/",
            vec![("api-key", "pakhi_demo_api_key_3b9d5e".to_owned())],
        ),
        (
            "/sandbox/kwik/2.0/checkout/link",
            vec![(
                "authorization",
                // kwik_demo_key_51a0:kwik_demo_secret_9e27
                "Basic a3dpa19kZW1vX2tleV81MWEwOmt3aWtfZGVtb19zZWNyZXRfOWUyNw==".to_owned(),
            )],
        ),
        (
            "/sandbox/skipify/",
            vec![
                (
                    "x-merchant-id",
                    "c1brc8b60-6dd4-4136-88e1-c9e5b670f1ca0".to_owned(),
                ),
                (
                    "authorization",
                    "ApiKey skipify_demo_api_key_7c1e".to_owned(),
                ),
            ],
        ),
    ]
}

async fn post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

/// A server whose rejected-webhook limit is out of the way.
async fn spawn_raised(backend: Backend) -> TestApp {
    let overlay = "[webhook_limits]\nrejected_per_second = 1000000\nrejected_burst = 1000000\n";
    spawn_with_overlay(backend, overlay).await
}

/// An SKN Pay event, signed as SKN Pay signs, for a payment no checkout has (stored all the
/// same, flagged).
fn signed_skn_event(event_id: &str) -> (Vec<u8>, String) {
    let body = serde_json::to_vec(&serde_json::json!({
        "id": event_id, "object": "event", "type": "payment.succeeded",
        "created": chrono::Utc::now().timestamp(), "livemode": false,
        "data": {"object": {
            "object": "payment", "id": format!("plink_{event_id}"), "livemode": false,
            "url": "https://pay.sknpay.example/p/x", "amount": 1000, "currency": "USD",
            "status": "succeeded", "metadata": {}, "expires_at": null,
            "created_at": "2026-05-08T18:42:11.000Z"
        }}
    }))
    .unwrap();
    let secret = paymux_tests::demo_provider_setting("sknpay", "webhook_secret");
    let signature = paymux_tests::stripe_signature(&secret, chrono::Utc::now().timestamp(), &body);
    (body, signature)
}

/// 250 KiB that no provider signed, different for each `n`.
fn forged_body(n: usize) -> Vec<u8> {
    let mut body = format!("{{\"forged\":{n:06},\"pad\":\"").into_bytes();
    body.extend((0..250 * 1024).map(|i| b'a' + ((i * 7 + n) % 26) as u8));
    body.extend(b"\"}");
    body
}

/// Bytes the server's database takes on disk (SQLite: the file and its write-ahead log).
async fn store_bytes(app: &TestApp) -> u64 {
    use diesel::RunQueryDsl;
    match app.database_url.strip_prefix("sqlite://") {
        Some(path) => ["", "-wal"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(format!("{path}{suffix}")).ok())
            .map(|meta| meta.len())
            .sum(),
        None => {
            #[derive(diesel::QueryableByName)]
            struct Size {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                size: i64,
            }
            app.with_db(|conn| {
                diesel::sql_query("SELECT pg_database_size(current_database()) AS size")
                    .get_result::<Size>(conn)
                    .unwrap()
                    .size as u64
            })
            .await
        }
    }
}

/// A forgery sent through a proxy that says it came from `client`; the status it got.
async fn forged(app: &TestApp, path: &str, client: &str) -> u16 {
    let headers = [("x-forwarded-for", client.to_owned())];
    post(app, path, &headers, forged_body(1))
        .await
        .status()
        .as_u16()
}

/// The receipts of the demo merchant's SKN Pay webhooks, oldest first.
async fn receipts(app: &TestApp) -> Vec<paymux_schema::db::receipt::WebhookReceipt> {
    use diesel::prelude::*;
    use paymux_schema::db::schema::webhook_receipts;
    app.with_db(|conn| {
        webhook_receipts::table
            .order(webhook_receipts::id.asc())
            .select(paymux_schema::db::receipt::WebhookReceipt::as_select())
            .load(conn)
            .unwrap()
    })
    .await
}

on_both_backends! {
    async fn no_body_nested_to_the_size_limit_crashes_any_route(backend) {
        // Rejected webhooks are rate limited; this test is about crashes, so the limit is off.
        let app = spawn_raised(backend).await;
        for (path, headers) in routes_with_bodies() {
            for body in [deepest(true), deepest(false), deep_in_a_field()] {
                let response = post(&app, path, &headers, body).await;
                let status = response.status();
                let text = response.text().await.unwrap();
                assert!(status.is_client_error(), "POST {path}: {status} {text}");
            }
        }
        // The process is alive, and the webhook routes said why.
        let response = post(&app, "/webhooks/demo/pakhi", &[], deepest(true)).await;
        assert_eq!(response.status(), 400);
        let text = response.text().await.unwrap();
        assert!(text.contains("64 levels"), "{text}");
        let health = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
    }

    async fn a_flood_of_forgeries_keeps_only_a_prefix_of_each(backend) {
        let app = spawn_raised(backend).await;
        let before = store_bytes(&app).await;
        // Eight clients at once, 250 forgeries each.
        let mut clients = tokio::task::JoinSet::new();
        for client in 0..8 {
            let (http, url) = (app.client.clone(), app.url("/webhooks/demo/sknpay"));
            clients.spawn(async move {
                let mut statuses = vec![];
                for n in (client..2_000).step_by(8) {
                    let response = http.post(&url).body(forged_body(n)).send().await.unwrap();
                    statuses.push(response.status().as_u16());
                }
                statuses
            });
        }
        let statuses: Vec<u16> = clients.join_all().await.into_iter().flatten().collect();
        assert_eq!(statuses.len(), 2_000);
        assert!(statuses.iter().all(|status| *status == 400), "{statuses:?}");
        let grown = store_bytes(&app).await.saturating_sub(before);
        assert!(grown < 20 * 1024 * 1024, "2,000 forgeries of 250 KiB grew the store by {grown} bytes");
        let receipts = receipts(&app).await;
        assert_eq!(receipts.len(), 2_000);
        for receipt in &receipts {
            assert_eq!(receipt.outcome, ReceiptOutcome::Rejected);
            assert_eq!(receipt.body.len(), 4096);
            assert_eq!(receipt.body_length, forged_body(0).len() as i64);
            assert_eq!(receipt.body_sha256.as_ref().map(String::len), Some(64));
            assert!(receipt.reason.as_deref().is_some_and(|reason| reason.contains("SknPay-Signature")));
        }
    }

    async fn over_the_limit_forgeries_get_429_while_a_signed_webhook_lands(backend) {
        let app = paymux_tests::spawn_app(backend).await;
        let forge = |n| post(&app, "/webhooks/demo/sknpay", &[], forged_body(n));
        // The default limit (10 a second, a burst of 50) refuses a flood: it meets a 429
        // within its first 50 or so, depending on how fast the refill catches up.
        let (mut rejected, mut refused) = (0, 0);
        let mut n = 0;
        while refused == 0 {
            let response = forge(n).await;
            n += 1;
            match response.status().as_u16() {
                400 => rejected += 1,
                429 => {
                    refused += 1;
                    let retry_after = response.headers()["retry-after"].to_str().unwrap().to_owned();
                    assert!(retry_after.parse::<u64>().unwrap() >= 1, "{retry_after}");
                    paymux_tests::assert_error(response, 429, "rate_limited").await;
                }
                status => panic!("forgery {n}: {status}"),
            }
            assert!(n < 1_000, "no 429 after {n} forgeries");
        }
        assert!(rejected >= 50, "the burst is let through: {rejected}");
        // The flood goes on, and a webhook SKN Pay signed lands in the middle of it.
        let (body, signature) = signed_skn_event("evt_during_flood");
        let response = post(&app, "/webhooks/demo/sknpay", &[("sknpay-signature", signature)], body).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        for _ in 0..20 {
            match forge(n).await.status().as_u16() {
                400 => rejected += 1,
                429 => refused += 1,
                status => panic!("forgery {n}: {status}"),
            }
            n += 1;
        }
        assert!(refused > 1, "the flood is still refused");
        let receipts = receipts(&app).await;
        let (accepted, stored_rejections): (Vec<_>, Vec<_>) =
            receipts.iter().partition(|receipt| receipt.outcome == ReceiptOutcome::Accepted);
        assert_eq!(accepted.len(), 1);
        assert_eq!(stored_rejections.len(), rejected, "refusals over the limit store nothing");
        let events = app.get_json("/v1/events?provider=sknpay").await;
        assert_eq!(events["data"][0]["provider_event_id"], "evt_during_flood");
    }

    async fn clients_behind_a_trusted_proxy_have_buckets_of_their_own(backend) {
        let overlay = "[webhook_limits]\nrejected_per_second = 0.001\nrejected_burst = 3\n";
        // Without trusted proxies the header is the client's own word: ignored.
        let app = spawn_with_overlay(backend.clone(), overlay).await;
        for _ in 0..3 {
            assert_eq!(forged(&app, "/webhooks/demo/sknpay", "203.0.113.1").await, 400);
        }
        assert_eq!(forged(&app, "/webhooks/demo/kwik", "203.0.113.2").await, 429, "one peer, one bucket");

        let app = spawn_with_overlay(backend, format!("{overlay}[server]\ntrusted_proxies = [\"127.0.0.0/8\"]\n")).await;
        for _ in 0..3 {
            assert_eq!(forged(&app, "/webhooks/demo/sknpay", "203.0.113.1").await, 400);
        }
        assert_eq!(forged(&app, "/webhooks/demo/kwik", "203.0.113.1").await, 429, "the client's bucket is empty");
        assert_eq!(forged(&app, "/webhooks/demo/kwik", "203.0.113.2").await, 400, "another client");
        // Made-up paths share one bucket, whoever sends them.
        for n in 0..3 {
            let path = ["/webhooks/demo/nobody", "/webhooks/nobody/sknpay", "/webhooks/x/y"][n];
            assert_eq!(forged(&app, path, ["203.0.113.3", "203.0.113.4", "203.0.113.5"][n]).await, 404);
        }
        assert_eq!(forged(&app, "/webhooks/z/z", "203.0.113.6").await, 429);
    }

    async fn a_redelivery_keeps_a_pointer_to_the_first_receipt(backend) {
        let app = paymux_tests::spawn_app(backend).await;
        let (body, signature) = signed_skn_event("evt_twice");
        for _ in 0..2 {
            let headers = [("sknpay-signature", signature.clone())];
            let response = post(&app, "/webhooks/demo/sknpay", &headers, body.clone()).await;
            assert_eq!(response.status(), 200);
        }
        let receipts = receipts(&app).await;
        assert_eq!(receipts.len(), 2);
        let (first, second) = (&receipts[0], &receipts[1]);
        assert_eq!((first.outcome, first.body.as_slice()), (ReceiptOutcome::Accepted, body.as_slice()));
        assert_eq!(second.outcome, ReceiptOutcome::Duplicate);
        assert!(second.body.is_empty(), "no second copy");
        assert_eq!(second.duplicate_of.as_ref(), Some(&first.id));
        assert_eq!(second.body_length, body.len() as i64);
        assert_eq!(second.body_sha256, first.body_sha256);
    }

    async fn old_rejected_receipts_and_idempotency_keys_are_deleted(backend) {
        use chrono::{TimeDelta, Utc};
        use paymux_schema::db::idempotency::{Claim, IdempotencyRecord};
        use paymux_domain::ReceiptId;
        use paymux_schema::db::column::Json;
        use paymux_schema::db::receipt::WebhookReceipt;
        let app = paymux_tests::spawn_app(backend).await;
        let now = paymux_schema::db::truncate_to_micros(Utc::now());
        let receipt = move |id: ReceiptId, outcome: ReceiptOutcome, age: TimeDelta| WebhookReceipt {
            id, merchant: "demo".into(), provider: "sknpay".into(),
            headers: Json(serde_json::json!({})), body: vec![], outcome, reason: None,
            event_count: 0, received_at: now - age, body_length: 0, body_sha256: None,
            duplicate_of: None, checkout_id: None,
        };
        let key = move |key: &str, age: TimeDelta| IdempotencyRecord {
            merchant: "demo".into(), idempotency_key: key.into(), request_method: "POST".into(),
            request_path: "/v1/checkouts".into(), request_hash: "h".into(),
            resource_id: "chk_x".into(), locked_until: None, response_status: Some(201),
            response_body: Some("{}".into()), created_at: now - age, providers_tried: None,
        };
        let (old_rejected, new_rejected, old_accepted) =
            (ReceiptId::generate(), ReceiptId::generate(), ReceiptId::generate());
        app.with_db(move |conn| {
            for row in [
                receipt(old_rejected, ReceiptOutcome::Rejected, TimeDelta::days(31)),
                receipt(new_rejected, ReceiptOutcome::Rejected, TimeDelta::days(29)),
                receipt(old_accepted, ReceiptOutcome::Accepted, TimeDelta::days(400)),
            ] {
                WebhookReceipt::insert(conn, &row).unwrap();
            }
            for row in [key("old", TimeDelta::hours(25)), key("new", TimeDelta::hours(23))] {
                assert!(matches!(IdempotencyRecord::claim(conn, &row).unwrap(), Claim::Claimed(_)));
            }
        }).await;
        let run = paymux_gateway::jobs::run_once(&app.state).await.unwrap();
        // Run again: nothing more is old enough.
        let again = paymux_gateway::jobs::run_once(&app.state).await.unwrap();
        // Only the planner statistics may still be refreshed (PostgreSQL), after the inserts above.
        assert_eq!(again, paymux_gateway::jobs::Run { tables_analyzed: again.tables_analyzed, ..Default::default() });
        assert_eq!((run.rejected_receipts_deleted, run.idempotency_keys_deleted), (1, 1));
        let mut ids: Vec<ReceiptId> = receipts(&app).await.into_iter().map(|receipt| receipt.id).collect();
        ids.sort();
        let mut kept = vec![new_rejected, old_accepted];
        kept.sort();
        assert_eq!(ids, kept);
        let kept = app.with_db(|conn| {
            (IdempotencyRecord::find(conn, "demo", "old").unwrap(), IdempotencyRecord::find(conn, "demo", "new").unwrap())
        }).await;
        assert!(kept.0.is_none() && kept.1.is_some());
    }
}
