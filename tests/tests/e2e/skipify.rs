//! Skipify end to end: the doc's webhook samples posted as Skipify would, the shared-secret
//! checks, expiry, replays, and a PayLink paid through the sandbox.

use paymux_tests::{TestApp, assert_error, assert_payer_page, on_both_backends, spawn_sandboxed};
use serde_json::{Value, json};

const SUCCEEDED: &str =
    include_str!("../../../providers/src/skipify/fixtures/order_payment_succeeded.json");
const EXPIRED: &str =
    include_str!("../../../providers/src/skipify/fixtures/payment_request_expired.json");

/// Posts `body` as Skipify sends its webhooks: JSON, authenticated by the secret inside it.
async fn post_webhook(app: &TestApp, body: impl ToString) -> reqwest::Response {
    let json = [("content-type", "application/json")];
    app.post_webhook("/webhooks/demo/skipify", &json, body.to_string())
        .await
}

async fn create_paylink(app: &TestApp, amount: i64) -> Value {
    let body = json!({
        "amount": amount, "currency": "USD", "provider": "skipify", "reference": format!("inv-{}", ulid::Ulid::new()),
        "customer": {"name": "Alice Brown", "email": "alice@example.com"}
    });
    app.create_checkout(&body).await
}

fn with_paylink(sample: &str, checkout: &Value) -> Value {
    let mut body: Value = serde_json::from_str(sample).unwrap();
    body["payload"]["paylinkId"] = checkout["provider_checkout_id"].clone();
    body
}

async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    app.get_json(&format!("/v1/events?{query}")).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

on_both_backends! {
    async fn the_docs_success_sample_is_stored_once_with_its_fee(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let sample: Value = serde_json::from_str(SUCCEEDED).unwrap();
        let response = post_webhook(&app, &sample).await;
        assert_eq!(response.status(), 200);
        let stored = events(&app, "provider=skipify").await;
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0]["type"], "payment.succeeded");
        assert_eq!(stored[0]["amount"], 112);
        assert_eq!(stored[0]["currency"], "USD");
        assert_eq!(stored[0]["fee"], 22);
        assert_eq!(stored[0]["details"]["card_last_four"], "0005", "{}", stored[0]);
        assert_eq!(post_webhook(&app, &sample).await.status(), 200, "a replay is acknowledged");
        assert_eq!(events(&app, "provider=skipify").await.len(), 1, "and stores nothing new");

        let raw = app.get_json(&format!("/v1/events/{}", stored[0]["id"].as_str().unwrap())).await["raw"].clone();
        assert!(!raw.as_str().unwrap().contains("abd12345"), "the shared secret is not kept: {raw}");
    }

    async fn a_wrong_or_missing_secret_is_a_401_and_no_event(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let mut forged: Value = serde_json::from_str(SUCCEEDED).unwrap();
        forged["secret"] = json!("abd12346");
        let refused = post_webhook(&app, &forged).await;
        assert_eq!(refused.status(), 401);
        let reply: Value = refused.json().await.unwrap();
        assert!(!reply.to_string().contains("abd12345"), "the reply names no secret: {reply}");
        forged.as_object_mut().unwrap().remove("secret");
        assert_eq!(post_webhook(&app, &forged).await.status(), 401);
        assert!(events(&app, "provider=skipify").await.is_empty());
    }

    async fn the_expiry_sample_expires_its_checkout(backend) {
        let app = spawn_sandboxed(backend, "").await;
        // Linked by its paylinkId.
        let checkout = create_paylink(&app, 51).await;
        assert_eq!(post_webhook(&app, &with_paylink(EXPIRED, &checkout)).await.status(), 200);
        let id = checkout["id"].as_str().unwrap();
        assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], "expired");

        // The sample as it is: linked by its merchantInvoiceId, the checkout's reference.
        let body = json!({"amount": 51, "currency": "USD", "provider": "skipify",
                          "reference": "MYMerchantOrderNumberABC123 20240129 150335"});
        let by_reference = app.create_checkout(&body).await;
        let sample: Value = serde_json::from_str(EXPIRED).unwrap();
        assert_eq!(post_webhook(&app, &sample).await.status(), 200);
        let id = by_reference["id"].as_str().unwrap();
        assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], "expired");
    }

    async fn the_docs_sample_is_taken_as_printed_with_its_trailing_comma(backend) {
        let app = spawn_sandboxed(backend, "").await;
        // The doc's text, comments stripped, still has `"orderAmount": 112,` before `}`.
        let printed = SUCCEEDED.replace("\"orderAmount\": 112", "\"orderAmount\": 112,");
        assert!(serde_json::from_str::<Value>(&printed).is_err(), "the sample as printed is not strict JSON");
        let response = post_webhook(&app, printed).await;
        assert_eq!(response.status(), 200);
        assert_eq!(events(&app, "provider=skipify").await[0]["amount"], 112);
    }

    async fn a_paylink_paid_in_the_sandbox_succeeds_with_its_charges(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_paylink(&app, 1_000).await;
        assert!(checkout["redirect_url"].as_str().unwrap().contains("/sandbox/skipify/pay/"));
        let paylink = checkout["provider_checkout_id"].as_str().unwrap();
        let charges = json!({"charges": [{"type": "SURCHARGE_FEE", "amount": 30}]});
        let paid = app.press("skipify", paylink, "pay", &charges).await;
        assert_eq!(paid["webhook"]["delivered"], true, "{paid}");
        let id = checkout["id"].as_str().unwrap();
        assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], "succeeded");
        let stored = events(&app, &format!("checkout_id={id}")).await;
        assert_eq!(stored[0]["amount"], 1_000);
        assert_eq!(stored[0]["fee"], 30);
    }

    async fn cancel_and_refund_are_unsupported(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_paylink(&app, 1_000).await;
        let id = checkout["id"].as_str().unwrap();
        let cancel = app.post(&format!("/v1/checkouts/{id}/cancel"), &json!({}), None).await;
        assert_error(cancel, 422, "unsupported_operation").await;
        let paylink = checkout["provider_checkout_id"].as_str().unwrap();
        app.press("skipify", paylink, "pay", &json!({})).await;
        let refund = app.post("/v1/refunds", &json!({"checkout_id": id}), None).await;
        assert_error(refund, 422, "unsupported_operation").await;
    }

    async fn a_paylink_paid_on_its_page_says_so_with_the_card_typed(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = create_paylink(&app, 125_000).await;
        let page_url = checkout["redirect_url"].as_str().unwrap();
        let page = assert_payer_page(app.client.get(page_url).send().await.unwrap(), 200).await;
        for shown in ["<strong>DEMO</strong>", "USD 1,250.00", r#"name="email" value="alice@example.com""#,
                      r#"name="holder" value="Alice Brown""#] {
            assert!(page.contains(shown), "the page lacks {shown}: {page}");
        }
        // Skipify has no cancel event: the page offers no cancel.
        assert!(!page.contains(r#"value="cancel""#), "{page}");
        // A PayLink names no return URL: the page itself says the payment went through.
        let paid = assert_payer_page(app.submit(page_url, "pay", &[("card", "5555 5555 5555 4444")]).await, 200).await;
        assert!(paid.contains("Payment complete"), "{paid}");
        let id = checkout["id"].as_str().unwrap();
        let stored = events(&app, &format!("checkout_id={id}")).await;
        assert_eq!(stored[0]["details"]["card_last_four"], "4444", "{}", stored[0]);
        assert_eq!(stored[0]["details"]["card_brand"], "mastercard");
        assert_payer_page(app.client.get(page_url).send().await.unwrap(), 410).await;
    }
}
