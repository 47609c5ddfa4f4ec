//! One node among several: with its Redis down it still serves and says so, it lists itself
//! among the nodes, and a worker serves only what monitoring needs. Three nodes together are
//! the gateway crate's `cli` test, which runs the binary.

use paymux_tests::{DEMO_KEY, assert_json, on_both_backends, spawn_sandboxed};
use serde_json::json;

/// Redis on a port where nothing listens.
const REDIS_DOWN: &str = "[redis]\nurl = \"redis://127.0.0.1:1/0\"\n";

on_both_backends! {
    async fn a_node_whose_redis_is_down_serves_and_says_so(backend) {
        let app = spawn_sandboxed(backend, REDIS_DOWN).await;
        let body = json!({"amount": 2500, "currency": "USD", "provider": "sknpay"});
        assert_json(app.post("/v1/checkouts", &body, None).await, 201).await;
        for _ in 0..3 {
            assert_eq!(app.get("/v1/checkouts").await.status(), 200, "its own buckets decide");
        }
        let ready = assert_json(app.get("/readyz").await, 200).await;
        assert_eq!(ready["status"], "ready");
        let degraded = ready["degraded"].as_str().unwrap_or_default();
        assert!(degraded.contains("redis does not answer"), "{ready}");
        let metrics = app.metrics().await;
        assert!(metrics.contains("paymux_redis_up 0"), "{metrics}");
        let fallbacks = metrics
            .lines()
            .find_map(|line| line.strip_prefix("paymux_redis_fallbacks_total "))
            .and_then(|count| count.parse::<u64>().ok())
            .unwrap_or_default();
        assert!(fallbacks >= 1, "{metrics}");
        assert!(!metrics.contains("127.0.0.1:1"), "no Redis URL in the metrics");
    }

    async fn a_node_whose_redis_hangs_still_answers(backend) {
        // Takes connections and never answers: a stalled server, not a refused port.
        let stalled = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = stalled.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let held: Vec<_> = stalled.incoming().map_while(Result::ok).collect();
            drop(held);
        });
        let overlay = format!("[redis]\nurl = \"redis://127.0.0.1:{port}/0\"\nanswer_within_ms = 100\n");
        let app = spawn_sandboxed(backend, &overlay).await;
        let body = json!({"amount": 2500, "currency": "USD", "provider": "sknpay"});
        assert_json(app.post("/v1/checkouts", &body, None).await, 201).await;
        for _ in 0..5 {
            assert_eq!(app.get("/v1/checkouts").await.status(), 200);
        }
        let ready = assert_json(app.get("/readyz").await, 200).await;
        assert!(ready["degraded"].as_str().is_some(), "{ready}");
        assert!(app.metrics().await.contains("paymux_redis_up 0"));
    }

    async fn the_admin_api_lists_the_node_that_answers(backend) {
        let app = spawn_sandboxed(backend, "").await;
        let nodes = assert_json(app.admin(reqwest::Method::GET, "/v1/admin/nodes", None).await, 200).await;
        let this: Vec<_> = nodes["data"].as_array().unwrap().iter().filter(|node| node["this_node"] == true).collect();
        assert_eq!(this.len(), 1, "{nodes}");
        assert_eq!(this[0]["alive"], true);
        assert_eq!(this[0]["role"], "all");
        assert_eq!(this[0]["config_hash"].as_str().unwrap().len(), 64);
        let refused = app.client.get(app.url("/v1/admin/nodes")).bearer_auth(DEMO_KEY).send().await.unwrap();
        assert_eq!(refused.status(), 401, "a merchant key is not the admin token");
    }

    async fn a_worker_serves_only_health_and_metrics(backend) {
        let app = spawn_sandboxed(backend, "[server]\nrole = \"worker\"\n").await;
        assert_eq!(app.get("/readyz").await.status(), 200);
        assert_eq!(app.get("/metrics").await.status(), 200);
        assert_eq!(app.get("/v1/checkouts").await.status(), 404, "no API on a worker");
        let webhook = app.client.post(app.url("/webhooks/demo/sknpay")).body("{}").send().await.unwrap();
        assert_eq!(webhook.status(), 404);
        let sandbox = app.client.get(app.url("/sandbox/merchant/demo/webhooks")).send().await.unwrap();
        assert_eq!(sandbox.status(), 404, "nor the sandbox's pages");
    }
}
