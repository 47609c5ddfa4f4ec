//! What no request can do to paymux: crash it with nesting, hold its workers, fill its disk
//! with rejected webhooks, or put a payload's values into its logs.

use paymux_tests::{ADMIN_TOKEN, Backend, DEMO_KEY, TestApp, on_both_backends};

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
}

/// A server whose rejected-webhook limit is out of the way.
async fn spawn_raised(backend: Backend) -> TestApp {
    paymux_tests::spawn_app_with(
        backend,
        paymux_tests::SpawnOptions {
            overlay: "[webhook_limits]\nrejected_per_second = 1000000\nrejected_burst = 1000000\n"
                .to_owned(),
            ..Default::default()
        },
    )
    .await
}
