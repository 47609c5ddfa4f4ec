//! A newcomer's first hour: what the README walks through works as written, and the answers
//! say what to do next.

use paymux_tests::{assert_error, assert_payer_page, on_both_backends, spawn_sandboxed};
use serde_json::{Value, json};

const README: &str = include_str!("../../../README.md");

on_both_backends! {
    async fn an_unknown_provider_is_a_400_naming_the_known_ones(backend) {
        let app = spawn_sandboxed(backend, "[merchants.acme]\napi_keys = [\"pmx_test_acme\"]\n").await;
        let body = json!({"amount": 1_000, "currency": "USD", "provider": "stripe"});
        let error = assert_error(app.post("/v1/checkouts", &body, None).await, 400, "invalid_request").await;
        assert_eq!(error["param"], "provider");
        let message = error["message"].as_str().unwrap();
        for known in ["sknpay", "pakhi", "kwik", "spankpay", "skipify"] {
            assert!(message.contains(known), "{message}");
        }
        // A provider paymux knows that this merchant has not configured stays a 403.
        let body = json!({"amount": 1_000, "currency": "USD", "provider": "sknpay"});
        let response = app.post_as("pmx_test_acme", "/v1/checkouts", &body, None).await;
        assert_error(response, 403, "provider_not_enabled").await;
    }

    async fn checkouts_are_found_by_the_providers_id(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let wanted = app.create_checkout(&json!({"amount": 1_000, "currency": "USD", "provider": "sknpay"})).await;
        app.create_checkout(&json!({"amount": 2_000, "currency": "USD", "provider": "sknpay"})).await;
        let provider_id = wanted["provider_checkout_id"].as_str().unwrap();
        let found = app.get_json(&format!("/v1/checkouts?provider_checkout_id={provider_id}")).await;
        let ids: Vec<&Value> = found["data"].as_array().unwrap().iter().map(|c| &c["id"]).collect();
        assert_eq!(ids, [&wanted["id"]]);
    }

    async fn a_spankpay_checkout_is_paid_by_the_control_alone(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = app.create_checkout(&json!({"amount": 6_969, "currency": "USD", "provider": "spankpay"})).await;
        // As the README says: the control takes the checkout's own id, no frame opened first.
        let id = checkout["id"].as_str().unwrap();
        let paid = app.press("spankpay", id, "pay", &json!({})).await;
        assert_eq!(paid["webhook"]["delivered"], true, "{paid}");
        assert_eq!(app.get_json(&format!("/v1/checkouts/{id}")).await["status"], "succeeded");
    }

    async fn the_metrics_the_readme_names_are_served(backend) {
        let app = spawn_sandboxed(backend, "").await;
        // The walk-through: a checkout paid, and the demo merchant told of it.
        let checkout = app.create_checkout(&json!({"amount": 1_000, "currency": "USD", "provider": "sknpay"})).await;
        let provider_id = checkout["provider_checkout_id"].as_str().unwrap();
        app.press("sknpay", provider_id, "pay", &json!({"card": "4111 1111 1111 1111"})).await;
        let metrics = app.eventually("the payment's webhook to reach the demo merchant", || async {
            let metrics = app.metrics().await;
            metrics.contains("paymux_webhook_deliveries_total{").then_some(metrics)
        }).await;
        let named: Vec<&str> = README
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("paymux_") && word.len() > "paymux_".len())
            .collect();
        assert!(named.len() >= 4, "{named:?}");
        for name in named {
            assert!(metrics.contains(name), "README names {name}, /metrics has no such metric");
        }
    }

    async fn every_provider_s_page_shows_whom_how_much_and_what_for_and_never_json(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let escaped = "Mugs &amp; &lt;b&gt;bowls&lt;/b&gt;";
        // Pakhi Pay's and SpankPay's requests carry no description: the order stands for one.
        // Skipify's pages name the merchant by its business name, as its webhooks do.
        for (provider, currency, merchant, described, form_field) in [
            ("sknpay", "USD", "demo", escaped, r#"name="card""#),
            ("pakhi", "BDT", "demo", "Order order-5821", r#"name="email" value="ann@example.com""#),
            ("kwik", "ZAR", "demo", escaped, r#"name="surname" value="O'Neil""#),
            ("skipify", "USD", "DEMO", escaped, r#"name="card""#),
            ("spankpay", "USD", "demo", "Order order-5821", r#"name="inputCurrency""#),
        ] {
            let body = json!({
                "amount": 125_000, "currency": currency, "provider": provider, "reference": "order-5821",
                "description": "Mugs & <b>bowls</b>",
                "customer": {"name": "Ann O'Neil", "email": "ann@example.com"},
                "success_url": "https://shop.example/thanks", "cancel_url": "https://shop.example/cart",
            });
            let checkout = app.create_checkout(&body).await;
            let redirect_url = checkout["redirect_url"].as_str().unwrap();
            let page_url = if provider == "spankpay" {
                // paymux's own page, which opens the frame.
                let page = assert_payer_page(app.client.get(redirect_url).send().await.unwrap(), 200).await;
                assert!(page.contains("USD 1,250.00") && page.contains(escaped), "{page}");
                checkout["client_action"]["frame_url"].as_str().unwrap()
            } else {
                redirect_url
            };
            let response = app.client.get(page_url).send().await.unwrap();
            let policy = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
            assert!(policy.contains("default-src 'none'"), "{provider}: {policy}");
            let page = assert_payer_page(response, 200).await;
            let price = format!("{currency} 1,250.00");
            for shown in [&format!("<strong>{merchant}</strong>"), &price, described, form_field,
                          r#"<form method="post">"#, r#"name="outcome" value="pay""#] {
                assert!(page.contains(shown), "{provider}'s page lacks {shown}: {page}");
            }
            assert!(!page.contains("<b>bowls"), "{provider}: {page}");
            // The page's stylesheet is the provider's.
            let stylesheet = app.client.get(app.url(&format!("/sandbox/{provider}/page.css"))).send().await.unwrap();
            assert_eq!(stylesheet.status(), 200);
            assert!(stylesheet.text().await.unwrap().starts_with(":root { --brand:"));

            let unknown = if provider == "spankpay" { "frame/chk_01J00000000000000000000000" } else { "pay/nope" };
            let missing = app.client.get(app.url(&format!("/sandbox/{provider}/{unknown}"))).send().await.unwrap();
            assert!(assert_payer_page(missing, 404).await.contains("No such payment"), "{provider}");
        }
    }
}
