//! The reconciliation report: a generated dataset whose every figure and planted discrepancy
//! is known, payments made through the sandbox with figures worked out by hand, the CSV form
//! read back with a standard CSV reader, and the refusals.

use chrono::{NaiveDate, Utc};
use paymux_gateway::seed::{Planted, SeedOptions, Seeded, seed};
use paymux_schema::db::event::Event;
use paymux_schema::db::receipt::WebhookReceipt;
use paymux_schema::db::reconcile::{self, DiscrepancyKind, Scope};
use paymux_schema::db::schema::webhook_receipts;
use paymux_schema::db::truncate_to_micros;
use paymux_tests::{TestApp, assert_error, on_both_backends, spawn_sandboxed};
use serde_json::{Value, json};

const PERIOD: &str = "from=2026-09-01&to=2026-10-01";
const OTHER: &str = "[merchants.other]\napi_keys = [\"pmx_test_other\"]\n";

async fn seed_dataset(app: &TestApp, merchant: &str, events: u64, seed_value: u64) -> Seeded {
    let day = |d| {
        NaiveDate::from_ymd_opt(2026, d, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    };
    let options = SeedOptions {
        merchant: merchant.to_owned(),
        events,
        from: day(9),
        to: day(10),
        seed: seed_value,
    };
    app.with_db(move |conn| seed(conn, &options).unwrap()).await
}

/// The report's discrepancies by their ids, sorted, as the seed lists them.
fn found(report: &Value) -> Vec<Planted> {
    let mut found: Vec<Planted> = report["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            assert!(
                row["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{row}"
            );
            serde_json::from_value(json!({
                "kind": row["kind"],
                "checkout_id": row["checkout_id"],
                "event_id": row["event_id"],
                "receipt_id": row["receipt_id"],
            }))
            .unwrap()
        })
        .collect();
    found.sort();
    found
}

async fn report_as(app: &TestApp, key: &str, query: &str) -> Value {
    app.get_json_as(key, &format!("/v1/reconciliation?{query}"))
        .await
}

/// The events of a checkout, once one of `event_type` has arrived (webhooks come in the
/// background).
async fn await_event(app: &TestApp, checkout_id: &str, event_type: &str) {
    app.eventually(event_type, || async {
        let events = app
            .get_json(&format!("/v1/events?checkout_id={checkout_id}"))
            .await;
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|event| event["type"] == event_type)
            .then_some(())
    })
    .await;
}

async fn sknpay_checkout(app: &TestApp, amount: i64, outcome: &str) -> String {
    let body = json!({"amount": amount, "currency": "USD", "provider": "sknpay",
                      "success_url": "https://shop.example/thanks"});
    let checkout = app.create_checkout(&body).await;
    let link = checkout["provider_checkout_id"].as_str().unwrap();
    let pressed = app.press("sknpay", link, outcome, &json!({})).await;
    assert!(pressed.get("error").is_none(), "{pressed}");
    checkout["id"].as_str().unwrap().to_owned()
}

on_both_backends! {
    async fn every_figure_and_every_planted_discrepancy_of_a_dataset_is_reported_once(backend) {
        let app = spawn_sandboxed(backend, OTHER).await;
        let demo = seed_dataset(&app, "demo", 4_000, 7).await;
        let other = seed_dataset(&app, "other", 1_500, 8).await;
        for kind in DiscrepancyKind::ALL {
            assert!(demo.discrepancies.iter().any(|planted| planted.kind == *kind), "{kind} planted");
        }

        let report = report_as(&app, paymux_tests::DEMO_KEY, PERIOD).await;
        assert_eq!(report["from"], "2026-09-01T00:00:00+00:00");
        assert_eq!(report["to"], "2026-10-01T00:00:00+00:00");
        assert_eq!(report["totals"], serde_json::to_value(&demo.totals).unwrap());
        assert_eq!(report["currency_totals"], serde_json::to_value(&demo.currency_totals).unwrap());
        assert_eq!(found(&report), demo.discrepancies);
        let currencies: Vec<&str> = report["currency_totals"].as_array().unwrap().iter()
            .map(|row| row["currency"].as_str().unwrap()).collect();
        assert_eq!(currencies, ["BDT", "USD", "XCD", "ZAR"], "one row a currency, never mixed");

        // The other merchant's data is its own, in its report only.
        let theirs = report_as(&app, "pmx_test_other", PERIOD).await;
        assert_eq!(theirs["totals"], serde_json::to_value(&other.totals).unwrap());
        assert_eq!(found(&theirs), other.discrepancies);

        // One currency: its rows alone, with the same figures.
        let zar = report_as(&app, paymux_tests::DEMO_KEY, &format!("{PERIOD}&currency=zar")).await;
        let expected: Vec<_> = demo.totals.iter().filter(|row| row.currency == "ZAR").collect();
        assert_eq!(zar["totals"], serde_json::to_value(&expected).unwrap());
        assert_eq!(zar["currency_totals"].as_array().unwrap().len(), 1);

        // A period that holds none of it.
        let empty = report_as(&app, paymux_tests::DEMO_KEY, "from=2025-01-01&to=2025-02-01").await;
        assert_eq!(empty["totals"], json!([]));
        assert_eq!(empty["discrepancies"], json!([]));
    }

    async fn the_csv_form_parses_with_a_csv_reader_and_holds_the_same_report(backend) {
        let app = spawn_sandboxed(backend, "").await;
        seed_dataset(&app, "demo", 800, 3).await;
        let report = report_as(&app, paymux_tests::DEMO_KEY, PERIOD).await;
        let response = app.get(&format!("/v1/reconciliation?{PERIOD}&format=csv")).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = response.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(header[0], "section");
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let section = |name: &str| -> Vec<Value> {
            rows.iter()
                .filter(|row| &row[0] == name)
                .map(|row| {
                    let mut object = serde_json::Map::new();
                    for (column, value) in header.iter().zip(row.iter()).skip(1) {
                        if !value.is_empty() {
                            let value = value.parse::<i64>().map_or_else(|_| json!(value), |n| json!(n));
                            object.insert(column.clone(), value);
                        }
                    }
                    Value::Object(object)
                })
                .collect()
        };
        assert_eq!(Value::Array(section("total")), report["totals"]);
        assert_eq!(Value::Array(section("currency_total")), report["currency_totals"]);
        let discrepancies = section("discrepancy");
        assert_eq!(discrepancies.len(), report["discrepancies"].as_array().unwrap().len());
        for (csv_row, json_row) in discrepancies.iter().zip(report["discrepancies"].as_array().unwrap()) {
            for field in ["kind", "checkout_id", "event_id", "receipt_id", "message"] {
                assert_eq!(csv_row.get(field).unwrap_or(&Value::Null), &json_row[field], "{field}");
            }
        }
    }

    async fn sandbox_payments_a_refund_a_cancel_and_a_forgery_add_up_by_hand(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let from = Utc::now().timestamp() - 1;
        let paid = sknpay_checkout(&app, 2_500, "pay").await;
        await_event(&app, &paid, "payment.succeeded").await;
        let refund = app.post("/v1/refunds", &json!({"checkout_id": paid, "amount": 1_000}), None).await;
        assert_eq!(refund.status(), 201);
        let canceled = sknpay_checkout(&app, 1_500, "cancel").await;
        await_event(&app, &canceled, "payment.canceled").await;
        let forged = app.post_webhook("/webhooks/demo/sknpay", &[("SknPay-Signature", "t=1,v1=00")], "{}").await;
        assert!(forged.status().is_client_error());
        let receipt: String = app.with_db(|conn| {
            use diesel::prelude::*;
            webhook_receipts::table
                .filter(webhook_receipts::outcome.eq("rejected"))
                .select(WebhookReceipt::as_select())
                .first::<WebhookReceipt>(conn)
                .unwrap()
                .id
                .to_string()
        }).await;

        let to = Utc::now().timestamp() + 1;
        let report = report_as(&app, paymux_tests::DEMO_KEY, &format!("from={from}&to={to}")).await;
        assert_eq!(report["totals"], json!([{
            "provider": "sknpay", "currency": "USD", "succeeded_count": 1, "gross": 2_500,
            "refunded": 1_000, "fees": 0, "net": 1_500, "failed_count": 0, "canceled_count": 1,
            "expired_count": 0, "open_count": 0, "partially_paid_count": 0
        }]));
        assert_eq!(report["currency_totals"], json!([
            {"currency": "USD", "gross": 2_500, "refunded": 1_000, "fees": 0, "net": 1_500}
        ]));
        let discrepancies = report["discrepancies"].as_array().unwrap();
        assert_eq!(discrepancies.len(), 1, "{report}");
        assert_eq!(discrepancies[0]["kind"], "rejected_webhook");
        assert_eq!(discrepancies[0]["receipt_id"], receipt);

        // Looking the paid checkout up again records nothing new and counts nothing twice.
        app.get_json(&format!("/v1/checkouts/{paid}?refresh=true")).await;
        let again = report_as(&app, paymux_tests::DEMO_KEY, &format!("from={from}&to={to}")).await;
        assert_eq!(again["totals"], report["totals"]);
    }

    async fn amounts_beyond_the_bounds_are_reported_and_never_summed(backend) {
        let app = spawn_sandboxed(backend, "").await;
        app.with_db(|conn| {
            let at = truncate_to_micros(Utc::now());
            for n in 0..2 {
                let event = Event {
                    amount: Some(i64::MAX - 1),
                    occurred_at: at,
                    received_at: at,
                    ..paymux_tests::event_row("demo", "sknpay", &format!("huge_{n}"))
                };
                Event::insert_if_new(conn, &event).unwrap();
            }
        }).await;
        let (from, to) = (Utc::now().timestamp() - 60, Utc::now().timestamp() + 60);
        // Two of them once made every report of the period a 422: now each is reported.
        let report = report_as(&app, paymux_tests::DEMO_KEY, &format!("from={from}&to={to}")).await;
        assert_eq!(report["totals"], json!([]), "nothing summed");
        let kinds: Vec<&str> = report["discrepancies"].as_array().unwrap().iter()
            .map(|found| found["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["amount_mismatch", "amount_mismatch", "orphan_event", "orphan_event"]);
        let message = report["discrepancies"][0]["message"].as_str().unwrap();
        assert!(message.contains("10^12"), "{message}");
    }

    async fn any_page_size_gives_the_same_report(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let seeded = seed_dataset(&app, "demo", 2_500, 11).await;
        let day = |d| NaiveDate::from_ymd_opt(2026, d, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
        for page_size in [3, 97, reconcile::PAGE_SIZE] {
            let scope = Scope {
                from: day(9),
                to: day(10),
                merchant: Some("demo".into()),
                currency: None,
                now: Utc::now().naive_utc(),
                page_size,
            };
            let report = app.with_db(move |conn| reconcile::reconcile(conn, &scope).unwrap()).await;
            let report = serde_json::to_value(&report).unwrap();
            assert_eq!(report["totals"], serde_json::to_value(&seeded.totals).unwrap(), "{page_size}");
            assert_eq!(found(&report), seeded.discrepancies, "{page_size}");
        }
    }

    async fn bad_requests_are_refused_naming_the_parameter(backend) {
        let app = spawn_sandboxed(backend, "").await;
        for (query, param) in [
            ("to=2026-10-01", "from"),
            ("from=2026-09-01", "to"),
            ("from=2026-10-01&to=2026-09-01", "to"),
            ("from=yesterday&to=2026-09-01", "from"),
            (&format!("{PERIOD}&currency=XYZ") as &str, "currency"),
            (&format!("{PERIOD}&format=xml"), "format"),
            (&format!("{PERIOD}&merchant=other"), "merchant"),
        ] {
            let response = app.get(&format!("/v1/reconciliation?{query}")).await;
            let error = assert_error(response, 400, "invalid_request").await;
            assert_eq!(error["param"], param, "{query}");
        }
        let anonymous = app.client.get(app.url(&format!("/v1/reconciliation?{PERIOD}"))).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
    }
}
