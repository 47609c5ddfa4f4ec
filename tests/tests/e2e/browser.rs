//! The dashboard and the sandbox's hosted pages in a real browser: headless chromium driven
//! through chromedriver ([`Chrome`]), clicking as a person would. Each step leaves a screenshot
//! in `target/browser-screenshots/`. Without chromedriver these tests skip (fail with
//! `CI=true`).
//!
//! A module of the end-to-end binary, so the gateway is linked once and the HTTP tests' helpers
//! are shared. SQLite only: the pages' queries are proven on both backends by `dashboard.rs`;
//! what a browser adds (cookies, forms, redirects, downloads, scripts) has no backend in it.

use paymux_tests::webdriver::Chrome;
use paymux_tests::{
    ADMIN_TOKEN, Backend, DEMO_KEY, FAST_SANDBOX, TestApp, eventually, spawn_sandboxed,
};
use serde_json::{Value, json};

use crate::dashboard::{OTHER, OTHER_KEY, paid_checkout};

/// Waits for the browser to be on `app`'s `target` (a path and maybe a query), with perhaps
/// more of the query after it.
async fn arrive(chrome: &Chrome, app: &TestApp, target: &str) {
    let target = app.url(target);
    eventually(&format!("the browser to reach {target}"), || async {
        let url = chrome.current_url().await;
        let rest = url.strip_prefix(&target)?;
        (rest.is_empty() || rest.starts_with(['?', '&'])).then_some(())
    })
    .await;
}

/// Types `token` into the sign-in form and submits it.
async fn sign_in(chrome: &Chrome, app: &TestApp, token: &str) {
    chrome.open(&app.url("/dashboard/sign-in")).await;
    chrome.find("#token").await.send_keys(token).await;
    chrome
        .find("main form button[type=submit]")
        .await
        .click()
        .await;
}

/// Follows the navigation's link to `path`.
async fn go_to(chrome: &Chrome, app: &TestApp, path: &str) {
    let link = format!("header.top nav a[href^='{path}']");
    chrome.find(&link).await.click().await;
    arrive(chrome, app, path).await;
}

#[tokio::test]
async fn a_merchant_key_and_the_admin_token_sign_in() {
    let Some(chrome) = Chrome::start("sign_in").await else {
        return;
    };
    let app = spawn_sandboxed(Backend::Sqlite, OTHER).await;
    chrome.open(&app.url("/dashboard")).await;
    arrive(&chrome, &app, "/dashboard/sign-in").await;
    chrome.screenshot("sign-in").await;

    sign_in(&chrome, &app, OTHER_KEY).await;
    arrive(&chrome, &app, "/dashboard").await;
    assert_eq!(chrome.find("main h1").await.text().await, "Overview");
    assert_eq!(chrome.find(".who strong").await.text().await, "other");
    assert!(chrome.cookie("paymux_session").await.is_some());
    assert_eq!(
        chrome.count("select#merchant").await,
        0,
        "a merchant picks no merchant"
    );
    chrome.screenshot("merchant-overview").await;

    chrome.find(".who button.link").await.click().await;
    arrive(&chrome, &app, "/dashboard/sign-in").await;
    sign_in(&chrome, &app, ADMIN_TOKEN).await;
    arrive(&chrome, &app, "/dashboard").await;
    assert_eq!(
        chrome.find(".who label").await.text().await,
        "ops · merchant"
    );
    chrome
        .find("#merchant option[value=other]")
        .await
        .click()
        .await;
    chrome.find(".who form.merchant button").await.click().await;
    arrive(&chrome, &app, "/dashboard?merchant=other").await;
    let chosen = chrome
        .execute("return document.getElementById('merchant').value")
        .await;
    assert_eq!(chosen, "other");
    chrome.screenshot("ops-overview-other").await;
}

#[tokio::test]
async fn a_wrong_token_is_refused() {
    let Some(chrome) = Chrome::start("wrong_token").await else {
        return;
    };
    let app = spawn_sandboxed(Backend::Sqlite, "").await;
    sign_in(&chrome, &app, "pmx_test_wrong").await;
    let alert = chrome.find("p.error[role=alert]").await.text().await;
    assert!(alert.contains("signs nobody in"), "{alert}");
    assert_eq!(chrome.current_url().await, app.url("/dashboard/sign-in"));
    assert_eq!(chrome.cookie("paymux_session").await, None);
    chrome.screenshot("refused").await;
    // Still signed out: the dashboard sends the browser back.
    chrome.open(&app.url("/dashboard")).await;
    arrive(&chrome, &app, "/dashboard/sign-in").await;
}

#[tokio::test]
async fn a_paid_checkout_is_found_by_filtering_and_its_timeline_shows_the_payment() {
    let Some(chrome) = Chrome::start("timeline").await else {
        return;
    };
    let app = spawn_sandboxed(Backend::Sqlite, "").await;
    let paid = paid_checkout(&app, DEMO_KEY, 2500).await;
    let unpaid =
        json!({"amount": 990, "currency": "USD", "provider": "sknpay", "reference": "order-990"});
    app.create_checkout(&unpaid).await;
    let id = paid["id"].as_str().unwrap();

    sign_in(&chrome, &app, DEMO_KEY).await;
    arrive(&chrome, &app, "/dashboard").await;
    go_to(&chrome, &app, "/dashboard/checkouts").await;
    assert_eq!(chrome.count("tbody tr").await, 2);
    chrome.screenshot("all").await;

    chrome
        .find("input[name=reference]")
        .await
        .send_keys("order-2500")
        .await;
    chrome
        .find("select[name=status] option[value=succeeded]")
        .await
        .click()
        .await;
    chrome.find("form.filters button").await.click().await;
    arrive(&chrome, &app, "/dashboard/checkouts?status=succeeded").await;
    assert_eq!(chrome.count("tbody tr").await, 1);
    let link = chrome.find("tbody tr a").await;
    assert_eq!(link.text().await, id);
    chrome.screenshot("filtered").await;

    link.click().await;
    arrive(&chrome, &app, &format!("/dashboard/checkouts/{id}")).await;
    assert_eq!(
        chrome.find("main h1").await.text().await,
        format!("Checkout {id}")
    );
    let timeline = chrome.find("ol.timeline").await.text().await;
    assert!(timeline.contains("Created at sknpay"), "{timeline}");
    assert!(
        timeline.contains("payment.succeeded · 25.00 USD"),
        "{timeline}"
    );
    chrome.screenshot("timeline").await;
}

#[tokio::test]
async fn a_refund_by_its_button_then_webhooks_out_the_audit_log_and_the_playground() {
    let Some(chrome) = Chrome::start("actions").await else {
        return;
    };
    let app = spawn_sandboxed(Backend::Sqlite, "").await;
    let paid = paid_checkout(&app, DEMO_KEY, 2500).await;
    let id = paid["id"].as_str().unwrap();
    sign_in(&chrome, &app, DEMO_KEY).await;
    arrive(&chrome, &app, "/dashboard").await;
    chrome
        .open(&app.url(&format!("/dashboard/checkouts/{id}")))
        .await;
    chrome
        .find("input[name=amount]")
        .await
        .send_keys("5.00")
        .await;
    chrome.screenshot("refund-form").await;
    chrome
        .find("section.actions form button")
        .await
        .click()
        .await;
    let notice = chrome.find("section.notice").await.text().await;
    assert!(notice.contains("of 5.00 USD: succeeded"), "{notice}");
    let timeline = chrome.find("ol.timeline").await.text().await;
    assert!(timeline.contains("Refund 5.00 USD"), "{timeline}");
    chrome.screenshot("refunded").await;

    go_to(&chrome, &app, "/dashboard/webhooks").await;
    chrome.find("div.actions form button").await.click().await;
    let notice = chrome.find("section.notice").await.text().await;
    assert!(notice.contains("A test event"), "{notice}");
    chrome.screenshot("webhooks-out").await;

    go_to(&chrome, &app, "/dashboard/audit").await;
    let log = chrome.find("section.table").await.text().await;
    for action in ["endpoint.test", "refund.create", "sign_in"] {
        assert!(log.contains(action), "{action}: {log}");
    }
    chrome.screenshot("audit").await;

    go_to(&chrome, &app, "/dashboard/playground").await;
    chrome.screenshot("playground").await;
    chrome
        .find("form:has(input[name=provider][value=spankpay]):has(input[value=partial_payment]) button")
        .await
        .click()
        .await;
    let notice = chrome.find("section.run section.notice").await.text().await;
    assert!(notice.contains("is partially paid."), "{notice}");
    assert!(chrome.count("ol.steps li").await >= 3);
    chrome.screenshot("playground-run").await;
}

#[tokio::test]
async fn the_pages_fit_a_phones_screen() {
    let Some(chrome) = Chrome::start("phone").await else {
        return;
    };
    let app = spawn_sandboxed(Backend::Sqlite, "").await;
    let paid = paid_checkout(&app, DEMO_KEY, 2500).await;
    chrome.resize(390, 844).await;
    sign_in(&chrome, &app, DEMO_KEY).await;
    arrive(&chrome, &app, "/dashboard").await;
    let id = paid["id"].as_str().unwrap();
    let pages = [
        ("overview", "/dashboard".to_owned()),
        ("checkouts", "/dashboard/checkouts".to_owned()),
        ("timeline", format!("/dashboard/checkouts/{id}")),
        ("reconciliation", "/dashboard/reconciliation".to_owned()),
        ("playground", "/dashboard/playground".to_owned()),
    ];
    for (step, path) in pages {
        chrome.open(&app.url(&path)).await;
        chrome.find("main h1").await;
        // Nothing wider than the screen but tables, which scroll inside their own box.
        let overflow = chrome
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            )
            .await;
        assert_eq!(overflow.as_i64(), Some(0), "{path} is wider than a phone");
        chrome.screenshot(step).await;
    }
}

#[tokio::test]
async fn a_reconciliation_is_run_for_a_period_and_its_csv_downloaded() {
    let Some(chrome) = Chrome::start("reconciliation").await else {
        return;
    };
    let app = spawn_sandboxed(Backend::Sqlite, "").await;
    paid_checkout(&app, DEMO_KEY, 2500).await;
    sign_in(&chrome, &app, DEMO_KEY).await;
    arrive(&chrome, &app, "/dashboard").await;
    go_to(&chrome, &app, "/dashboard/reconciliation").await;

    // Today and tomorrow, typed as a person does: a date field takes the digits in the
    // locale's order, month first for en-US chromium.
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today + chrono::TimeDelta::days(1);
    for (field, date) in [("from", today), ("to", tomorrow)] {
        let input = chrome.find(&format!("input[name={field}]")).await;
        input.send_keys(&date.format("%m%d%Y").to_string()).await;
    }
    chrome
        .find("select[name=currency] option[value=USD]")
        .await
        .click()
        .await;
    chrome.find("form.filters button").await.click().await;
    let period = format!("from={today}&to={tomorrow}&currency=USD");
    arrive(
        &chrome,
        &app,
        &format!("/dashboard/reconciliation?{period}"),
    )
    .await;
    assert_eq!(chrome.find(".card h2").await.text().await, "Net in USD");
    assert_eq!(chrome.find(".card .figure").await.text().await, "25.00 USD");
    let row = chrome.find("section.table tbody tr").await.text().await;
    assert!(row.starts_with("sknpay USD 1 25.00 USD"), "{row}");
    chrome.screenshot("totals").await;

    chrome.find("a.button[download]").await.click().await;
    let name = format!("reconciliation-demo-{today}-{tomorrow}.csv");
    let file = chrome.downloads().join(&name);
    // Chromium writes a `.crdownload` and renames it when the download is whole.
    let csv = eventually(&format!("{name} to be downloaded"), || async {
        std::fs::read_to_string(&file).ok()
    })
    .await;
    assert!(csv.starts_with("section,"), "{csv}");
    assert!(csv.contains("\ntotal,sknpay,USD,1,2500,"), "{csv}");
}

#[tokio::test]
async fn ops_reload_the_config_from_the_providers_page() {
    let Some(chrome) = Chrome::start("reload").await else {
        return;
    };
    let app = spawn_sandboxed(Backend::Sqlite, "").await;
    sign_in(&chrome, &app, ADMIN_TOKEN).await;
    arrive(&chrome, &app, "/dashboard").await;
    go_to(&chrome, &app, "/dashboard/providers").await;
    chrome.screenshot("before").await;

    app.write_config(&kwik_disabled());
    chrome
        .find("form[action='/dashboard/providers/reload'] button")
        .await
        .click()
        .await;
    let notice = chrome.find("section.notice").await.text().await;
    assert!(notice.starts_with("Configuration reloaded"), "{notice}");
    assert!(
        notice.contains("demo · kwik: enabled, priority 4, ZAR → disabled"),
        "{notice}"
    );
    assert!(!notice.contains("restart"), "only kwik changed: {notice}");
    let kwik = chrome.execute(KWIK_ROW).await;
    assert!(kwik.as_str().unwrap().contains("disabled"), "{kwik}");
    chrome.screenshot("reloaded").await;
}

/// The test server's configuration with one change: kwik disabled.
fn kwik_disabled() -> String {
    format!("{FAST_SANDBOX}[merchants.demo.providers.kwik]\nenabled = false\n")
}

/// The text of the providers table's kwik row.
const KWIK_ROW: &str = "return [...document.querySelectorAll('tbody tr')]\
    .map(row => row.innerText).find(text => text.startsWith('kwik'))";

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused() {
    let Some(chrome) = Chrome::start("csrf").await else {
        return;
    };
    let app = spawn_sandboxed(Backend::Sqlite, "").await;
    sign_in(&chrome, &app, ADMIN_TOKEN).await;
    arrive(&chrome, &app, "/dashboard").await;
    go_to(&chrome, &app, "/dashboard/providers").await;
    app.write_config(&kwik_disabled());

    let form = "form[action='/dashboard/providers/reload']";
    let removed = chrome
        .execute(&format!(
            "const input = document.querySelector(\"{form} input[name=csrf]\"); \
             input.remove(); return input.value.length"
        ))
        .await;
    assert!(
        removed.as_u64().unwrap() >= 32,
        "a token was removed: {removed}"
    );
    chrome.find(&format!("{form} button")).await.click().await;
    let alert = chrome.find("p.error[role=alert]").await.text().await;
    assert!(alert.contains("did not come from the dashboard"), "{alert}");
    assert_eq!(
        chrome.current_url().await,
        app.url("/dashboard/providers/reload")
    );
    chrome.screenshot("refused").await;
    // Nothing was reloaded: kwik is still enabled.
    chrome.open(&app.url("/dashboard/providers")).await;
    let kwik = chrome.execute(KWIK_ROW).await;
    assert!(kwik.as_str().unwrap().contains("enabled"), "{kwik}");
}

/// How a payer pays at one provider's sandbox page, which the `payer-pages` branch redraws:
/// its selectors live in [`hosted_payments`] alone.
struct HostedPayment {
    provider: &'static str,
    /// What the API is asked for: that provider's required fields.
    checkout: Value,
    /// CSS selectors clicked in turn, from the checkout's `redirect_url`.
    clicks: &'static [&'static str],
    paid: Paid,
}

/// How the browser shows that the payment went through.
enum Paid {
    /// Sent on to the checkout's `success_url`, which starts so.
    Redirected(&'static str),
    /// No `success_url` at this provider: the element `selector` says `text`.
    Says {
        selector: &'static str,
        text: &'static str,
    },
}

/// The shop's page after a payment: `.example` names no host, so the browser stops there.
const SUCCESS: &str = "https://shop.example/paid";

fn hosted_payments() -> [HostedPayment; 5] {
    const PAY: &str = "button[name=outcome][value=pay]";
    [
        HostedPayment {
            provider: "sknpay",
            checkout: json!({"amount": 2500, "currency": "USD", "success_url": SUCCESS}),
            clicks: &[PAY],
            paid: Paid::Redirected(SUCCESS),
        },
        HostedPayment {
            provider: "pakhi",
            checkout: json!({"amount": 10_000, "currency": "BDT",
                "customer": {"name": "Rahim Uddin", "email": "rahim@example.com"},
                "success_url": SUCCESS, "cancel_url": "https://shop.example/cancel"}),
            clicks: &[PAY],
            paid: Paid::Redirected(SUCCESS),
        },
        HostedPayment {
            provider: "kwik",
            checkout: json!({"amount": 120_000, "currency": "ZAR",
                "customer": {"name": "Thandi van der Merwe", "email": "thandi@example.co.za"},
                "success_url": SUCCESS}),
            clicks: &[PAY],
            paid: Paid::Redirected(SUCCESS),
        },
        HostedPayment {
            provider: "skipify",
            checkout: json!({"amount": 1_000, "currency": "USD"}),
            clicks: &[PAY],
            paid: Paid::Says {
                selector: "h1",
                text: "Payment complete",
            },
        },
        HostedPayment {
            provider: "spankpay",
            checkout: json!({"amount": 6_969, "currency": "USD", "success_url": SUCCESS}),
            // paymux's own page first, which opens the (simulated) frame.
            clicks: &["a[href*='/sandbox/spankpay/frame/']", PAY],
            paid: Paid::Redirected(SUCCESS),
        },
    ]
}

#[tokio::test]
async fn pay_through_each_providers_hosted_page_by_clicking() {
    let Some(chrome) = Chrome::start("hosted_pages").await else {
        return;
    };
    let app = spawn_sandboxed(Backend::Sqlite, "").await;
    for payment in hosted_payments() {
        let provider = payment.provider;
        let mut body = payment.checkout;
        body["provider"] = json!(provider);
        body["reference"] = json!(format!("browser-{provider}"));
        let checkout = app.create_checkout(&body).await;
        chrome
            .open(checkout["redirect_url"].as_str().unwrap())
            .await;
        chrome.screenshot(&format!("{provider}-page")).await;
        for selector in payment.clicks {
            chrome.find(selector).await.click().await;
        }
        match payment.paid {
            Paid::Redirected(success) => {
                let what = format!("{provider}'s page to send the browser to {success}");
                eventually(&what, || async {
                    chrome
                        .current_url()
                        .await
                        .starts_with(success)
                        .then_some(())
                })
                .await;
            }
            Paid::Says { selector, text } => {
                let status = chrome.find(selector).await;
                let what = format!("{provider}'s page to say {text}");
                eventually(&what, || async {
                    (status.text().await == text).then_some(())
                })
                .await;
            }
        }
        chrome.screenshot(&format!("{provider}-paid")).await;
        let id = checkout["id"].as_str().unwrap();
        app.eventually(&format!("the {provider} checkout to be paid"), || async {
            let now = app.get_json(&format!("/v1/checkouts/{id}")).await;
            (now["status"] == "succeeded").then_some(())
        })
        .await;
    }
}
