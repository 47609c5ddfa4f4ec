//! The dashboard over HTTP: signing in and out, what each kind of session sees, the guards on
//! its forms, and what its pages show after a payment.

use paymux_tests::{
    ADMIN_TOKEN, DEMO_KEY, TestApp, assert_json, on_both_backends, spawn_sandboxed,
};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};

/// A second merchant, with SKN Pay through the sandbox.
pub(crate) const OTHER: &str = "\n[merchants.other]\napi_keys = [\"pmx_test_other\"]\n\
    [merchants.other.providers.sknpay]\nsandbox = true\napi_key = \"sk_test_other_0a1b\"\n\
    webhook_secret = \"whsec_other_2c3d\"\n";
pub(crate) const OTHER_KEY: &str = "pmx_test_other";

/// A browser: it follows no redirect and keeps the session cookie it was given.
struct Browser {
    client: reqwest::Client,
    base: String,
    /// The `Origin` its forms say they come from: the site it shows.
    origin: String,
    cookie: Option<String>,
}

/// What a page answered.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map_or("", |value| value.to_str().unwrap())
    }

    /// The session's CSRF token, as its forms carry it.
    fn csrf(&self) -> String {
        self.field("csrf")
    }

    /// The value of the first hidden field `name` of the page's forms.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name}"));
        let rest = &self.body[start + marker.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            client,
            base: app.address.clone(),
            origin: app.address.clone(),
            cookie: None,
        }
    }

    async fn read(response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Page {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        Browser::read(request.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header(header::ORIGIN, &self.origin)
            .form(fields);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        Browser::read(request.send().await.unwrap()).await
    }

    /// Signs in with `token`, keeping the cookie; the answer.
    async fn sign_in(&mut self, token: &str) -> Page {
        let page = self.post("/dashboard/sign-in", &[("token", token)]).await;
        if let Some(cookie) = page.headers.get(header::SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            self.cookie = Some(cookie.split(';').next().unwrap().to_owned());
        }
        page
    }
}

/// A checkout of `amount` cents at SKN Pay for `key`'s merchant, paid through the simulator.
pub(crate) async fn paid_checkout(app: &TestApp, key: &str, amount: i64) -> Value {
    let body = json!({"amount": amount, "currency": "USD", "provider": "sknpay", "reference": format!("order-{amount}")});
    let checkout = assert_json(app.post_as(key, "/v1/checkouts", &body, None).await, 201).await;
    let payment = checkout["provider_checkout_id"].as_str().unwrap();
    let paid = app.press("sknpay", payment, "pay", &json!({})).await;
    assert!(paid.get("error").is_none(), "{paid}");
    app.eventually("the payment to be recorded", || async {
        let id = checkout["id"].as_str().unwrap();
        let now = app.get_json_as(key, &format!("/v1/checkouts/{id}")).await;
        (now["status"] == "succeeded").then_some(())
    })
    .await;
    checkout
}

on_both_backends! {
    async fn a_page_without_a_session_sends_the_browser_to_sign_in(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let mut browser = Browser::new(&app);
        for path in ["/dashboard", "/dashboard/checkouts", "/dashboard/checkouts/chk_01m8zr6r92rjbs1nbct0hbz298"] {
            let page = browser.get(path).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(page.location(), "/dashboard/sign-in", "{path}");
        }
        // A cookie of no session is none.
        browser.cookie = Some("paymux_session=forged".to_owned());
        assert_eq!(browser.get("/dashboard").await.location(), "/dashboard/sign-in");
        let form = browser.get("/dashboard/sign-in").await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("name=\"token\""), "{}", form.body);
    }

    async fn a_merchant_key_signs_in_to_that_merchant_alone(backend) {
        let app = spawn_sandboxed(backend, OTHER).await;
        let demo_checkout = paid_checkout(&app, DEMO_KEY, 2500).await;
        let other_checkout = paid_checkout(&app, OTHER_KEY, 4200).await;
        let mut browser = Browser::new(&app);
        let signed_in = browser.sign_in(OTHER_KEY).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
        assert_eq!(signed_in.location(), "/dashboard");
        let cookie = signed_in.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
            assert!(cookie.contains(flag), "{cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain http: {cookie}");

        let other_id = other_checkout["id"].as_str().unwrap();
        let demo_id = demo_checkout["id"].as_str().unwrap();
        // Asking for another merchant changes nothing for a merchant's session.
        let list = browser.get("/dashboard/checkouts?merchant=demo").await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.body.contains(other_id), "{}", list.body);
        assert!(!list.body.contains(demo_id), "{}", list.body);
        let theirs = browser.get(&format!("/dashboard/checkouts/{demo_id}")).await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND);
        assert!(theirs.body.starts_with("<!DOCTYPE html>"), "a page: {}", theirs.body);
        assert!(!theirs.body.contains("25.00"), "{}", theirs.body);
        // Within the navigation, its section marked, so the person goes on from there.
        assert!(theirs.body.contains(&format!("No checkout `{demo_id}`")), "{}", theirs.body);
        assert!(
            theirs.body.contains(r#"<a href="/dashboard/checkouts" aria-current="page">"#),
            "{}",
            theirs.body
        );
        assert!(theirs.body.contains("Sign out"), "{}", theirs.body);
        let overview = browser.get("/dashboard").await;
        assert!(overview.body.contains("42.00 USD"), "{}", overview.body);
        assert!(!overview.body.contains("25.00 USD"), "{}", overview.body);
    }

    async fn ops_sign_in_with_the_admin_token_and_choose_the_merchant(backend) {
        let app = spawn_sandboxed(backend, OTHER).await;
        let demo_checkout = paid_checkout(&app, DEMO_KEY, 2500).await;
        let other_checkout = paid_checkout(&app, OTHER_KEY, 4200).await;
        let mut browser = Browser::new(&app);
        assert_eq!(browser.sign_in(ADMIN_TOKEN).await.status, StatusCode::SEE_OTHER);
        for (merchant, checkout) in [("demo", &demo_checkout), ("other", &other_checkout)] {
            let id = checkout["id"].as_str().unwrap();
            let list = browser.get(&format!("/dashboard/checkouts?merchant={merchant}")).await;
            assert!(list.body.contains(id), "{merchant}: {}", list.body);
            let timeline = browser.get(&format!("/dashboard/checkouts/{id}?merchant={merchant}")).await;
            assert_eq!(timeline.status, StatusCode::OK, "{}", timeline.body);
        }
        let demo_list = browser.get("/dashboard/checkouts?merchant=demo").await;
        assert!(!demo_list.body.contains(other_checkout["id"].as_str().unwrap()), "{}", demo_list.body);
        let unknown = browser.get("/dashboard?merchant=nobody").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    }

    async fn a_paid_checkout_is_on_the_overview_and_its_timeline(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = paid_checkout(&app, DEMO_KEY, 2500).await;
        let mut browser = Browser::new(&app);
        browser.sign_in(DEMO_KEY).await;
        let overview = browser.get("/dashboard").await;
        assert_eq!(overview.status, StatusCode::OK);
        assert!(overview.body.contains("<svg"), "a chart: {}", overview.body);
        assert!(overview.body.contains("25.00 USD"), "{}", overview.body);
        assert!(overview.body.contains("sknpay"), "{}", overview.body);
        assert!(overview.body.contains("100%"), "sknpay's success rate: {}", overview.body);

        let id = checkout["id"].as_str().unwrap();
        let found = browser.get("/dashboard/checkouts?reference=order-2500&status=succeeded").await;
        assert!(found.body.contains(id), "{}", found.body);
        let missed = browser.get("/dashboard/checkouts?reference=order-2500&status=failed").await;
        assert!(!missed.body.contains(id), "{}", missed.body);
        // An id in the search box opens that checkout.
        let opened = browser.get(&format!("/dashboard/checkouts?id={id}")).await;
        assert_eq!(opened.status, StatusCode::SEE_OTHER);
        assert_eq!(opened.location(), format!("/dashboard/checkouts/{id}"));

        let timeline = browser.get(&format!("/dashboard/checkouts/{id}")).await;
        assert_eq!(timeline.status, StatusCode::OK);
        for text in ["Created", "payment.succeeded", "25.00 USD", "order-2500"] {
            assert!(timeline.body.contains(text), "{text}: {}", timeline.body);
        }
        // The webhook each event came from, as received, with its headers; no secret.
        let webhook = &timeline.body[timeline.body.find("<details>").expect("the webhook")..];
        assert!(webhook.contains("<summary><code>rcpt_"), "{webhook}");
        assert!(webhook.contains(&checkout["provider_checkout_id"].as_str().unwrap()[..10]), "its body: {webhook}");
        assert!(!timeline.body.contains("whsec_demo_8d2e6a1f4b9c0e7d"), "{}", timeline.body);
    }

    async fn every_page_forbids_inline_script_and_framing(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let checkout = paid_checkout(&app, DEMO_KEY, 2500).await;
        let mut browser = Browser::new(&app);
        let sign_in = browser.get("/dashboard/sign-in").await;
        browser.sign_in(DEMO_KEY).await;
        let id = checkout["id"].as_str().unwrap();
        let pages = [
            sign_in,
            browser.get("/dashboard").await,
            browser.get("/dashboard/checkouts").await,
            browser.get(&format!("/dashboard/checkouts/{id}")).await,
            browser.get("/dashboard/receipts").await,
            browser.get("/dashboard/providers").await,
            browser.get("/dashboard/reconciliation").await,
            browser.get("/dashboard/webhooks").await,
            browser.get("/dashboard/audit").await,
        ];
        for page in pages {
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            let policy = page.headers.get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
            assert!(policy.contains("default-src 'none'"), "{policy}");
            assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
            assert!(!policy.contains("unsafe-inline"), "{policy}");
            assert!(!page.body.contains("<script"), "{}", page.body);
            assert_eq!(page.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        }
    }

    async fn a_wrong_token_is_refused_and_attempts_are_limited(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let mut browser = Browser::new(&app);
        let refused = browser.sign_in("pmx_test_wrong").await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert!(refused.body.contains("signs nobody in"), "{}", refused.body);
        assert!(refused.headers.get(header::SET_COOKIE).is_none());
        let mut limited = None;
        for _ in 0..20 {
            let page = browser.sign_in("pmx_test_wrong").await;
            if page.status == StatusCode::TOO_MANY_REQUESTS {
                limited = Some(page);
                break;
            }
        }
        let limited = limited.expect("sign-in attempts are limited");
        assert!(limited.headers.get(header::RETRY_AFTER).is_some());
        // The right token is held back too: the limit is the address's, not the token's.
        assert_eq!(browser.sign_in(DEMO_KEY).await.status, StatusCode::TOO_MANY_REQUESTS);
    }

    async fn signing_out_needs_the_forms_token_and_ends_the_session(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let mut browser = Browser::new(&app);
        browser.sign_in(DEMO_KEY).await;
        let overview = browser.get("/dashboard").await;
        let csrf = overview.csrf();
        assert!(csrf.len() >= 32, "{csrf}");
        for forged in [vec![], vec![("csrf", "forged")]] {
            let refused = browser.post("/dashboard/sign-out", &forged).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        }
        assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK);
        let out = browser.post("/dashboard/sign-out", &[("csrf", &csrf)]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert_eq!(out.location(), "/dashboard/sign-in");
        // The old cookie opens nothing any more.
        assert_eq!(browser.get("/dashboard").await.location(), "/dashboard/sign-in");
        // A form posted from another site is refused before anything else.
        let foreign = browser
            .client
            .post(format!("{}/dashboard/sign-in", browser.base))
            .header(header::ORIGIN, "https://elsewhere.example")
            .form(&[("token", DEMO_KEY)])
            .send()
            .await
            .unwrap();
        assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
        assert!(foreign.headers().get(header::SET_COOKIE).is_none());
    }

    async fn refused_webhooks_are_listed_first_with_why(backend) {
        let app = spawn_sandboxed(backend, "").await;
        paid_checkout(&app, DEMO_KEY, 2500).await;
        let forged = app
            .post_webhook("/webhooks/demo/sknpay", &[("content-type", "application/json")], "{\"id\": \"evt_forged\"}")
            .await;
        assert_eq!(forged.status(), 400);
        let mut browser = Browser::new(&app);
        browser.sign_in(DEMO_KEY).await;
        let page = browser.get("/dashboard/receipts").await;
        assert_eq!(page.status, StatusCode::OK);
        let (refused, accepted) = page.body.split_once("<h2>Accepted</h2>").unwrap();
        assert!(refused.contains("rejected"), "{refused}");
        assert!(refused.contains("signature"), "the reason: {refused}");
        assert!(accepted.contains("accepted"), "{accepted}");
        assert!(!accepted.contains("rejected"), "{accepted}");
    }

    async fn ops_reload_from_the_providers_page_and_see_what_changed(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let mut merchant = Browser::new(&app);
        merchant.sign_in(DEMO_KEY).await;
        let page = merchant.get("/dashboard/providers").await;
        assert!(page.body.contains("skipify"), "{}", page.body);
        assert!(!page.body.contains("/dashboard/providers/reload"), "no reload for a merchant");
        let refused = merchant.post("/dashboard/providers/reload", &[("csrf", &page.csrf())]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);

        let mut ops = Browser::new(&app);
        ops.sign_in(ADMIN_TOKEN).await;
        let page = ops.get("/dashboard/providers").await;
        app.write_config("[merchants.demo.providers.kwik]\nenabled = false\n");
        let reloaded = ops.post("/dashboard/providers/reload", &[("csrf", &page.csrf())]).await;
        assert_eq!(reloaded.status, StatusCode::OK, "{}", reloaded.body);
        assert!(reloaded.body.contains("Configuration reloaded"), "{}", reloaded.body);
        assert!(reloaded.body.contains("demo · kwik"), "{}", reloaded.body);
        assert!(reloaded.body.contains("enabled, priority 4, ZAR → disabled"), "{}", reloaded.body);

        app.write_config("[merchants.demo.providers.kwik]\nnot_a_setting = 1\n");
        let refused = ops.post("/dashboard/providers/reload", &[("csrf", &page.csrf())]).await;
        assert!(refused.body.contains("Reload refused"), "{}", refused.body);
        assert!(refused.body.contains("not_a_setting"), "{}", refused.body);
    }

    async fn reconciliation_shows_the_period_and_downloads_its_csv(backend) {
        let app = spawn_sandboxed(backend, "").await;
        paid_checkout(&app, DEMO_KEY, 2500).await;
        let mut browser = Browser::new(&app);
        browser.sign_in(DEMO_KEY).await;
        let page = browser.get("/dashboard/reconciliation").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Net in USD"), "{}", page.body);
        assert!(page.body.contains("25.00 USD"), "{}", page.body);
        let none = browser.get("/dashboard/reconciliation?from=2020-01-01&to=2020-02-01").await;
        assert!(none.body.contains("Nothing was paid"), "{}", none.body);
        let bad = browser.get("/dashboard/reconciliation?from=2020-02-01&to=2020-01-01").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);

        let csv = browser.get("/dashboard/reconciliation.csv?currency=USD").await;
        assert_eq!(csv.status, StatusCode::OK);
        let disposition = csv.headers.get(header::CONTENT_DISPOSITION).unwrap().to_str().unwrap();
        assert!(disposition.starts_with("attachment; filename=\"reconciliation-demo-"), "{disposition}");
        assert!(csv.body.starts_with("section,"), "{}", csv.body);
        assert!(csv.body.contains("total,sknpay,USD,1,2500"), "{}", csv.body);
    }

    async fn a_revoked_key_ends_its_sessions(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let mut browser = Browser::new(&app);
        browser.sign_in(DEMO_KEY).await;
        assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK);
        let reloaded = app.reload("[merchants.demo]\napi_keys = [\"pmx_test_rotated\"]\n").await;
        assert_eq!(reloaded.status(), 200);
        assert_eq!(browser.get("/dashboard").await.location(), "/dashboard/sign-in");
        // A session of the new key works; the admin token's ends with the token too.
        browser.sign_in("pmx_test_rotated").await;
        assert_eq!(browser.get("/dashboard").await.status, StatusCode::OK);
        let mut ops = Browser::new(&app);
        ops.sign_in(ADMIN_TOKEN).await;
        assert_eq!(ops.get("/dashboard").await.status, StatusCode::OK);
        let reloaded = app.reload("[admin]\ntoken = \"pmx_admin_rotated\"\n").await;
        assert_eq!(reloaded.status(), 200);
        assert_eq!(ops.get("/dashboard").await.location(), "/dashboard/sign-in");
    }

    async fn a_form_must_say_it_comes_from_the_dashboards_site(backend) {
        let app = spawn_sandboxed(backend, "[server]\npublic_url = \"https://pay.example/\"\n").await;
        let mut browser = Browser::new(&app);
        // The request's own host is not the site when public_url names another.
        assert_eq!(browser.sign_in(DEMO_KEY).await.status, StatusCode::FORBIDDEN);
        browser.origin = "https://pay.example".to_owned();
        let signed_in = browser.sign_in(DEMO_KEY).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
        let cookie = signed_in.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
        assert!(cookie.contains("; Secure"), "served over https: {cookie}");
        // Without Origin, only a browser's `Sec-Fetch-Site: same-origin` will do.
        let post = |site: Option<&'static str>| {
            let mut request = browser
                .client
                .post(format!("{}/dashboard/sign-in", browser.base))
                .form(&[("token", DEMO_KEY)]);
            if let Some(site) = site {
                request = request.header("sec-fetch-site", site);
            }
            request.send()
        };
        assert_eq!(post(None).await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(post(Some("cross-site")).await.unwrap().status(), StatusCode::FORBIDDEN);
        assert_eq!(post(Some("same-origin")).await.unwrap().status(), StatusCode::SEE_OTHER);
        // The API's errors stay JSON.
        let unknown = app.get("/v1/nothing-here").await;
        assert_eq!(unknown.status(), 404);
        assert_eq!(unknown.headers()[header::CONTENT_TYPE], "application/json");
    }

    async fn refund_and_cancel_from_a_checkouts_page_and_the_audit_log_keeps_them(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let mut browser = Browser::new(&app);
        browser.sign_in(DEMO_KEY).await;
        let checkout = paid_checkout(&app, DEMO_KEY, 2500).await;
        let path = format!("/dashboard/checkouts/{}", checkout["id"].as_str().unwrap());
        let page = browser.get(&path).await;
        assert!(page.body.contains("/refund\""), "a paid checkout offers a refund: {}", page.body);
        assert!(!page.body.contains("/cancel\""), "a paid checkout cannot be canceled");
        let (csrf, refund_id) = (page.csrf(), page.field("refund_id"));
        let refund = format!("{path}/refund");

        // Refused amounts say why, and refund nothing.
        for (amount, why) in [("1.005", "decimal"), ("0", "more than zero"), ("99.00", "exceeds")] {
            let refused = browser.post(&refund, &[("csrf", &csrf), ("refund_id", &refund_id), ("amount", amount)]).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{amount}");
            assert!(refused.body.contains("Not refunded") && refused.body.contains(why), "{amount}: {}", refused.body);
        }
        let refunded = browser.post(&refund, &[("csrf", &csrf), ("refund_id", &refund_id), ("amount", "10.00")]).await;
        assert_eq!(refunded.status, StatusCode::OK, "{}", refunded.body);
        assert!(refunded.body.contains(&format!("Refund {refund_id} of 10.00 USD")), "{}", refunded.body);
        // The same form posted twice (a double click, a reload) is the same refund.
        let again = browser.post(&refund, &[("csrf", &csrf), ("refund_id", &refund_id), ("amount", "10.00")]).await;
        assert!(again.body.contains(&format!("Refund {refund_id}")), "{}", again.body);
        let id = checkout["id"].as_str().unwrap();
        let now = app.get_json(&format!("/v1/checkouts/{id}")).await;
        assert_eq!(now["amount_refunded"], 1000, "{now}");
        // Without the CSRF token nothing happens.
        let forged = browser.post(&refund, &[("refund_id", "re_01m8zr6r92rjbs1nbct0hbz298")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);

        // An unpaid checkout is canceled with its button.
        let body = json!({"amount": 700, "currency": "USD", "provider": "sknpay"});
        let open = assert_json(app.post("/v1/checkouts", &body, None).await, 201).await;
        let open_path = format!("/dashboard/checkouts/{}", open["id"].as_str().unwrap());
        let page = browser.get(&open_path).await;
        assert!(page.body.contains("/cancel\""), "{}", page.body);
        assert!(!page.body.contains("/refund\""), "nothing to refund yet");
        let canceled = browser.post(&format!("{open_path}/cancel"), &[("csrf", &csrf)]).await;
        assert_eq!(canceled.status, StatusCode::OK, "{}", canceled.body);
        assert!(canceled.body.contains("The checkout is canceled."), "{}", canceled.body);
        assert_eq!(app.get_json(&format!("/v1/checkouts/{}", open["id"].as_str().unwrap())).await["status"], "canceled");

        // The audit log has each, newest first, with the merchant as actor.
        let audit = browser.get("/dashboard/audit").await;
        assert_eq!(audit.status, StatusCode::OK);
        let body = &audit.body;
        let at = |needle: &str| body.find(needle).unwrap_or_else(|| panic!("{needle} in {body}"));
        assert!(at("checkout.cancel") < at("refund.create"), "newest first");
        assert!(body.contains("Not refunded"), "refusals are kept too");
        assert!(body.contains("sign_in"), "{body}");
        assert!(body.contains("merchant demo"), "{body}");
    }

    async fn webhooks_out_tests_replays_and_resends_and_each_is_audited(backend) {
        let app = spawn_sandboxed(backend, &format!("[outbound_webhooks]\nretry_speedup = 1000\n{OTHER}")).await;
        let endpoints = app.get_json("/v1/webhook_endpoints").await;
        let endpoint = endpoints["data"][0]["id"].as_str().unwrap().to_owned();
        let checkout = paid_checkout(&app, DEMO_KEY, 1500).await;
        let mut browser = Browser::new(&app);
        browser.sign_in(DEMO_KEY).await;
        let delivered = app.eventually("the payment's delivery to show", || async {
            let page = browser.get("/dashboard/webhooks").await;
            page.body.contains("delivered").then_some(page)
        }).await;
        assert!(delivered.body.contains(&endpoint), "{}", delivered.body);
        let csrf = delivered.csrf();

        let tested = browser.post(&format!("/dashboard/webhooks/{endpoint}/test"), &[("csrf", &csrf)]).await;
        assert_eq!(tested.status, StatusCode::OK, "{}", tested.body);
        assert!(tested.body.contains("A test event"), "{}", tested.body);
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let replayed = browser.post(&format!("/dashboard/webhooks/{endpoint}/replay"), &[("csrf", &csrf), ("since", &today)]).await;
        assert_eq!(replayed.status, StatusCode::OK, "{}", replayed.body);
        assert!(replayed.body.contains("events since"), "{}", replayed.body);
        let bad = browser.post(&format!("/dashboard/webhooks/{endpoint}/replay"), &[("csrf", &csrf), ("since", "yesterday")]).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let event = app.events_of(&checkout).await[0]["id"].as_str().unwrap().to_owned();
        let resent = browser.post("/dashboard/webhooks/resend", &[("csrf", &csrf), ("event", &event), ("endpoint", &endpoint)]).await;
        assert_eq!(resent.status, StatusCode::OK, "{}", resent.body);
        assert!(resent.body.contains("is queued again"), "{}", resent.body);
        // Another merchant's endpoint is not found from this session.
        let elsewhere = browser.post("/dashboard/webhooks/we_01m8zr6r92rjbs1nbct0hbz298/test", &[("csrf", &csrf)]).await;
        assert_eq!(elsewhere.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(elsewhere.body.contains("no such webhook endpoint"), "{}", elsewhere.body);

        // Through the API too: the endpoint API's changes are audited.
        let patched = app.client.patch(app.url(&format!("/v1/webhook_endpoints/{endpoint}")))
            .bearer_auth(DEMO_KEY).json(&json!({"description": "renamed"})).send().await.unwrap();
        assert_eq!(patched.status(), 200);
        let audit = browser.get("/dashboard/audit").await.body;
        for action in ["endpoint.test", "endpoint.replay", "event.resend", "endpoint.update"] {
            assert!(audit.contains(action), "{action}: {audit}");
        }
        assert!(audit.contains("dashboard") && audit.contains(">api<"), "{audit}");

        // Ops see the refused sign-in and the reload; another merchant sees none of demo's.
        let mut guesser = Browser::new(&app);
        assert_eq!(guesser.sign_in("pmx_guess").await.status, StatusCode::UNAUTHORIZED);
        let reloaded = app.admin(reqwest::Method::POST, "/v1/admin/reload", None).await;
        assert_eq!(reloaded.status(), 200);
        let mut ops = Browser::new(&app);
        ops.sign_in(ADMIN_TOKEN).await;
        let all = ops.get("/dashboard/audit").await.body;
        for action in ["sign_in_refused", "config.reload", "endpoint.test"] {
            assert!(all.contains(action), "{action}: {all}");
        }
        assert!(!all.contains("pmx_guess"), "no token is written down");
        let mut other = Browser::new(&app);
        other.sign_in(OTHER_KEY).await;
        let theirs = other.get("/dashboard/audit").await.body;
        assert!(theirs.contains("sign_in"), "{theirs}");
        assert!(!theirs.contains("endpoint.test") && !theirs.contains("config.reload"), "{theirs}");
    }

    async fn the_playground_runs_each_providers_scenarios_with_one_click(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let mut browser = Browser::new(&app);
        browser.sign_in(DEMO_KEY).await;
        let page = browser.get("/dashboard/playground").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for provider in ["sknpay", "pakhi", "kwik", "skipify", "spankpay"] {
            assert!(page.body.contains(&format!("name=\"provider\" value=\"{provider}\"")), "{provider}");
        }
        assert!(page.body.contains("value=\"3ds_challenge\""), "SKN Pay's 3DS cards");
        assert!(page.body.contains("value=\"partial_payment\""), "SpankPay's partial payment");
        let csrf = page.csrf();
        let run = |provider: &'static str, scenario: &'static str| {
            let csrf = csrf.clone();
            let browser = &browser;
            async move {
                let page = browser.post("/dashboard/playground/run", &[("csrf", &csrf), ("provider", provider), ("scenario", scenario)]).await;
                assert_eq!(page.status, StatusCode::OK, "{provider} {scenario}: {}", page.body);
                page.body
            }
        };
        // Each run shows the API's requests and answers, the webhook and the notification.
        let refunded = run("sknpay", "refund").await;
        assert!(refunded.contains("POST /v1/checkouts") && refunded.contains("POST /v1/refunds"), "{refunded}");
        assert!(refunded.contains("is refunded."), "{refunded}");
        assert!(refunded.contains("payment.succeeded"), "the webhook and the events: {refunded}");
        assert!(refunded.contains("attempt 1: 2"), "a notification delivered: {refunded}");
        assert!(!refunded.contains(DEMO_KEY), "the key is never shown");
        assert!(run("sknpay", "3ds_challenge").await.contains("is succeeded."));
        assert!(run("pakhi", "paid").await.contains("is succeeded."));
        let unconfirmed = run("pakhi", "unconfirmed_success").await;
        assert!(unconfirmed.contains("is open."), "an unconfirmed success is not recorded: {unconfirmed}");
        assert!(run("kwik", "declined").await.contains("is failed."));
        assert!(run("skipify", "expired").await.contains("is expired."));
        assert!(run("spankpay", "storefront_cancel").await.contains("is canceled."));
        assert!(run("kwik", "canceled").await.contains("is canceled."));
        assert!(run("spankpay", "partial_payment").await.contains("is partially paid."));
        let retried = run("skipify", "idempotent_retry").await;
        assert!(retried.contains("Idempotent-Replayed: true") && retried.contains("one checkout"), "{retried}");
        // A scenario a provider has not is refused, as is a run without the form's token.
        let refused = browser.post("/dashboard/playground/run", &[("csrf", &csrf), ("provider", "kwik"), ("scenario", "refund")]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        let forged = browser.post("/dashboard/playground/run", &[("provider", "sknpay"), ("scenario", "paid")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
    }
}
