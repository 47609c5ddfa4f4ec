//! The store's guarantees on both backends: event dedupe, idempotency claims under
//! concurrency, rolled-back write transactions, and planner statistics kept fresh.

use std::sync::{Arc, Barrier};

use chrono::Utc;
use paymux_schema::db::event::Event;
use paymux_schema::db::idempotency::{Claim, IdempotencyRecord};
use paymux_schema::db::{self, truncate_to_micros, write_transaction};
use paymux_tests::{on_both_backends, spawn_app};

fn event(provider_event_id: &str, merchant: &str) -> Event {
    paymux_tests::event_row(merchant, "fake", provider_event_id)
}

fn record(key: &str, hash: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        merchant: "demo".into(),
        idempotency_key: key.into(),
        request_method: "POST".into(),
        request_path: "/v1/checkouts".into(),
        request_hash: hash.into(),
        resource_id: format!("chk_for_{key}"),
        locked_until: Some(truncate_to_micros(
            Utc::now() + chrono::TimeDelta::seconds(60),
        )),
        response_status: None,
        response_body: None,
        created_at: truncate_to_micros(Utc::now()),
        providers_tried: None,
    }
}

on_both_backends! {
    async fn a_provider_event_is_stored_once_per_merchant(backend) {
        let app = spawn_app(backend).await;
        let (first, again, other_merchant, count) = app
            .with_db(|conn| {
                let first = Event::insert_if_new(conn, &event("evt_1", "demo")).unwrap();
                let again = Event::insert_if_new(conn, &event("evt_1", "demo")).unwrap();
                let other = Event::insert_if_new(conn, &event("evt_1", "acme")).unwrap();
                use diesel::prelude::*;
                let count: i64 = db::schema::events::table.count().get_result(conn).unwrap();
                (first, again, other, count)
            })
            .await;
        assert!(first);
        assert!(!again, "a redelivery stores nothing new");
        assert!(other_merchant, "another merchant's account has its own event ids");
        assert_eq!(count, 2);
    }

    async fn concurrent_claims_of_one_idempotency_key_have_one_winner(backend) {
        let app = spawn_app(backend).await;
        let url = app.database_url.clone();
        let claims = tokio::task::spawn_blocking(move || {
            // One connection per contender, so that all eight really race.
            let pool = db::connect(&url, db::PoolOptions { max_connections: 8, ..Default::default() }).unwrap();
            let barrier = Arc::new(Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let pool = pool.clone();
                    let barrier = barrier.clone();
                    std::thread::spawn(move || {
                        let mut conn = pool.get().unwrap();
                        barrier.wait();
                        IdempotencyRecord::claim(&mut conn, &record("key-1", "h1")).unwrap()
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>()
        })
        .await
        .unwrap();
        let winners = claims.iter().filter(|claim| matches!(claim, Claim::Claimed(_))).count();
        assert_eq!(winners, 1, "{claims:?}");

        let replay = app
            .with_db(|conn| {
                IdempotencyRecord::complete(conn, "demo", "key-1", 201, r#"{"id":"chk_1"}"#).unwrap();
                IdempotencyRecord::claim(conn, &record("key-1", "h2")).unwrap()
            })
            .await;
        let Claim::Existing(existing) = replay else { panic!("expected the stored claim") };
        assert_eq!(existing.request_hash, "h1");
        assert_eq!(existing.response_status, Some(201));
        assert_eq!(existing.response_body.as_deref(), Some(r#"{"id":"chk_1"}"#));
    }

    async fn an_unlocked_key_is_taken_again_with_its_resource_id_but_a_completed_one_is_not(backend) {
        let app = spawn_app(backend).await;
        let (held, retaken, after_complete, relock_completed) = app
            .with_db(|conn| {
                let now = truncate_to_micros(Utc::now());
                let later = now + chrono::TimeDelta::seconds(60);
                assert!(matches!(IdempotencyRecord::claim(conn, &record("k", "h")).unwrap(), Claim::Claimed(_)));
                // Held by a running request: nobody else may take it.
                let held = IdempotencyRecord::lock(conn, "demo", "k", now, later).unwrap();
                IdempotencyRecord::unlock(conn, "demo", "k").unwrap();
                let retaken = IdempotencyRecord::lock(conn, "demo", "k", now, later).unwrap();
                IdempotencyRecord::complete(conn, "demo", "k", 201, "{}").unwrap();
                let relock_completed = IdempotencyRecord::lock(conn, "demo", "k", now, later).unwrap();
                (held, retaken, IdempotencyRecord::find(conn, "demo", "k").unwrap().unwrap(), relock_completed)
            })
            .await;
        assert!(!held);
        assert!(retaken, "after an unlock a retry takes the key");
        assert_eq!(after_complete.resource_id, "chk_for_k", "and creates the same object");
        assert_eq!(after_complete.response_status, Some(201));
        assert!(!relock_completed, "a finished request is replayed, never run again");
    }

    async fn a_failed_write_transaction_leaves_nothing_behind(backend) {
        let app = spawn_app(backend).await;
        let count = app
            .with_db(|conn| {
                let failed: Result<(), diesel::result::Error> = write_transaction(conn, |conn| {
                    Event::insert_if_new(conn, &event("evt_rolled_back", "demo"))?;
                    Err(diesel::result::Error::RollbackTransaction)
                });
                assert!(failed.is_err());
                use diesel::prelude::*;
                db::schema::events::table.count().get_result::<i64>(conn).unwrap()
            })
            .await;
        assert_eq!(count, 0);
    }

    async fn a_table_that_grew_gets_fresh_planner_statistics_once(backend) {
        let postgres = matches!(backend, paymux_tests::Backend::Postgres { .. });
        let app = spawn_app(backend).await;
        let (first, second) = app
            .with_db(|conn| {
                use diesel::connection::SimpleConnection;
                if let db::DbConnection::Postgresql(pg) = conn {
                    // Only this test analyzes the table, even where autovacuum runs.
                    pg.batch_execute("ALTER TABLE events SET (autovacuum_enabled = false)").unwrap();
                }
                for n in 0..60 {
                    Event::insert_if_new(conn, &event(&format!("evt_{n}"), "demo")).unwrap();
                }
                if let db::DbConnection::Postgresql(pg) = conn {
                    // A connection's counts reach the statistics at most once a second
                    // unless forced.
                    pg.batch_execute("SELECT pg_stat_force_next_flush()").unwrap();
                }
                (db::analyze_stale_tables(conn).unwrap(), db::analyze_stale_tables(conn).unwrap())
            })
            .await;
        assert_eq!(first.contains(&"events".to_owned()), postgres, "{first:?}");
        assert!(!second.contains(&"events".to_owned()), "analyzed once: {second:?}");
    }
}
