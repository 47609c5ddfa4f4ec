//! The event export: a period streamed page by page as CSV or NDJSON, in the documented
//! columns, parsed back here with a standard CSV reader.

use chrono::{Duration, Utc};
use paymux_domain::Currency;
use paymux_schema::db::event::Event;
use paymux_schema::db::{truncate_to_micros, write_transaction};
use paymux_tests::{
    TestApp, assert_error, event_row, on_both_backends, spawn_app, spawn_with_overlay,
};
use serde_json::Value;

const EXPORTS_DOC: &str = include_str!("../../../docs/exports.md");

/// The columns `docs/exports.md` documents, in its table's order: the names in the first cell
/// of each row (`merchant`, `provider` share one).
fn documented_columns() -> Vec<&'static str> {
    let first_cells = EXPORTS_DOC
        .lines()
        .filter_map(|line| line.strip_prefix("| `"));
    let names = first_cells.flat_map(|cell| {
        let cell = cell.split(" |").next().unwrap();
        cell.split(['`', ',', ' ']).filter(|name| !name.is_empty())
    });
    names.collect()
}

/// `count` events of `merchant`, `age` seconds old, alternating providers and currencies.
async fn seed(app: &TestApp, merchant: &'static str, count: usize, age: i64) {
    app.with_db(move |conn| {
        write_transaction::<_, diesel::result::Error>(conn, |conn| {
            let at = truncate_to_micros(Utc::now() - Duration::seconds(age));
            for n in 0..count {
                let (provider, currency, amount) = if n % 2 == 0 {
                    ("sknpay", Currency::Usd, 12_500)
                } else {
                    ("kwik", Currency::Zar, 120_000)
                };
                let event = Event {
                    reference: Some(format!("order, \"{n}\"")),
                    amount: Some(amount),
                    currency: Some(currency),
                    fee: (n % 3 == 0).then_some(22),
                    occurred_at: at,
                    received_at: at,
                    ..event_row(merchant, provider, &format!("pe_{merchant}_{age}_{n}"))
                };
                Event::insert_if_new(conn, &event)?;
            }
            Ok(())
        })
        .unwrap();
    })
    .await;
}

fn window() -> String {
    format!(
        "created_gte={}&created_lt={}",
        (Utc::now() - Duration::seconds(500)).timestamp(),
        (Utc::now() + Duration::seconds(5)).timestamp()
    )
}

on_both_backends! {
    async fn a_period_exports_every_event_once_in_the_documented_columns(backend) {
        let app = spawn_with_overlay(backend, "[merchants.other]\napi_keys = [\"pmx_test_other\"]\n").await;
        seed(&app, "demo", 2_503, 100).await;
        seed(&app, "demo", 7, 1_000).await;
        seed(&app, "other", 5, 100).await;

        let response = app.get(&format!("/v1/events/export?format=csv&{}", window())).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = response.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let columns = documented_columns();
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), columns);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2_503, "three pages, every event of the period once, no other merchant's");
        let mut ids: Vec<&str> = rows.iter().map(|row| &row[0]).collect();
        ids.dedup();
        assert_eq!(ids.len(), 2_503);
        assert!(rows.iter().all(|row| &row[2] == "demo"));
        let first = &rows[0];
        assert_eq!(&first[6], "order, \"0\"", "CSV escaping of commas and quotes");
        assert_eq!((&first[7], &first[8], &first[9], &first[10]), ("12500", "125.00", "USD", "22"));
        let second = &rows[1];
        assert_eq!((&second[7], &second[8], &second[9], &second[10]), ("120000", "1200.00", "ZAR", ""));

        let ndjson = app.get(&format!("/v1/events/export?format=ndjson&provider=kwik&{}", window())).await;
        let lines: Vec<Value> = ndjson.text().await.unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 1_251);
        assert!(lines.iter().all(|line| line["provider"] == "kwik" && line["amount_decimal"] == "1200.00"));

        let empty = app.get("/v1/events/export?format=csv&created_gte=0&created_lt=1").await.text().await.unwrap();
        assert_eq!(empty.trim_end(), columns.join(","), "an empty period still has its header");
    }

    async fn an_export_needs_its_format_and_period(backend) {
        let app = spawn_app(backend).await;
        let error = assert_error(app.get(&format!("/v1/events/export?{}", window())).await, 400, "invalid_request").await;
        assert_eq!(error["param"], "format");
        let error = assert_error(app.get("/v1/events/export?format=csv&created_lt=1").await, 400, "invalid_request").await;
        assert_eq!(error["param"], "created_gte");
        assert_error(app.get(&format!("/v1/events/export?format=xml&{}", window())).await, 400, "invalid_request").await;
    }
}
