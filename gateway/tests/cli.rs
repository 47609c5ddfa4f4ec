//! The `paymux` binary run as an operator would: the configuration check, SIGHUP reloads,
//! webhooks delivered across a kill -9 and by two processes on one PostgreSQL, three nodes
//! sharing one PostgreSQL and Redis,
//! `paymux providers`, `paymux dev seed` and `paymux reconcile`.

// Helpers of an integration test: a broken fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn check(config: &str) -> (bool, String, String) {
    check_with(config, &[])
}

/// `paymux config check` of `config`, with the environment variables `env` set.
fn check_with(config: &str, env: &[(&str, String)]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paymux.toml");
    std::fs::write(&path, config).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_paymux"))
        .args(["config", "check"])
        .arg(&path)
        .env_remove("PAYMUX_CONFIG")
        .envs(env.iter().map(|(name, value)| (name, value)))
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_valid_config_passes() {
    let (ok, stdout, stderr) = check("[merchants.acme]\napi_keys = [\"pmx_test_acme\"]\n");
    assert!(ok, "{stderr}");
    assert!(stdout.contains("merchants acme, demo"), "{stdout}");
}

#[test]
fn an_unknown_provider_fails_and_is_named() {
    let (ok, _, stderr) = check("[merchants.demo.providers.paypal]\nenabled = true\n");
    assert!(!ok);
    assert!(
        stderr.contains("merchants.demo.providers.paypal: unknown provider `paypal`"),
        "{stderr}"
    );
}

#[test]
fn a_missing_env_secret_and_a_bad_url_are_named() {
    let (ok, _, stderr) = check(
        "[database]\nurl = \"mysql://db/paymux\"\n[merchants.acme]\napi_keys = [\"env:PAYMUX_CLI_TEST_UNSET\"]\n",
    );
    assert!(!ok);
    assert!(stderr.contains("database.url"), "{stderr}");
    assert!(
        stderr.contains(
            "merchants.acme.api_keys[0]: environment variable PAYMUX_CLI_TEST_UNSET is not set"
        ),
        "{stderr}"
    );
    let (ok, _, stderr) = check("[merchants.demo.providers.sknpay]\nbase_url = \"not a url\"\n");
    assert!(!ok);
    assert!(stderr.contains("base_url"), "{stderr}");
}

#[test]
fn a_redis_url_is_checked_as_a_node_would_connect() {
    let (ok, _, stderr) = check("[redis]\nurl = \"http://cache:6379\"\n");
    assert!(!ok);
    assert!(
        stderr.contains("redis.url: `http://` is not Redis"),
        "{stderr}"
    );
    let (ok, _, stderr) = check("[redis]\nurl = \"env:PAYMUX_TEST_UNSET_REDIS\"\n");
    assert!(!ok);
    assert!(
        stderr.contains("redis.url") && stderr.contains("PAYMUX_TEST_UNSET_REDIS"),
        "{stderr}"
    );
    // A password written in the file, outside the sandbox, is refused like any secret.
    let (ok, _, stderr) =
        check("[sandbox]\nenabled = false\n[redis]\nurl = \"redis://:hunter2@cache:6379/0\"\n");
    assert!(!ok);
    assert!(
        stderr.contains("redis.url: a password may not be written"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let (ok, _, stderr) = check("[redis]\nurl = \"redis://cache:6379/0\"\n");
    assert!(ok, "{stderr}");
}

#[test]
fn an_unknown_key_is_named() {
    let (ok, _, stderr) = check("[sandbox]\nenabeld = true\n");
    assert!(!ok);
    assert!(stderr.contains("enabeld"), "{stderr}");
}

/// Runs `paymux ARGS` on the SQLite database in `dir` with `PAYMUX_PROGRESS` set to `progress`
/// (unset: stderr is a pipe here, so progress is off); returns stdout and stderr, asserting
/// success.
fn paymux_progress(
    dir: &std::path::Path,
    args: &[&str],
    progress: Option<&str>,
) -> (String, String) {
    let url = format!("sqlite://{}", dir.join("paymux.db").display());
    let mut command = Command::new(env!("CARGO_BIN_EXE_paymux"));
    command
        .args(args)
        .env_remove("PAYMUX_CONFIG")
        .env_remove("PAYMUX_PROGRESS")
        // Its stderr is asserted whole: no log settings from the environment.
        .env_remove("RUST_LOG")
        .env_remove("PAYMUX_LOG_FORMAT")
        .env("PAYMUX__DATABASE__URL", url);
    if let Some(progress) = progress {
        command.env("PAYMUX_PROGRESS", progress);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "paymux {args:?}: {stderr}");
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

/// Runs `paymux ARGS` on the SQLite database in `dir`; returns stdout, asserting success.
fn paymux_on(dir: &std::path::Path, args: &[&str]) -> String {
    paymux_progress(dir, args, None).0
}

const SEED_600: [&str; 8] = [
    "dev",
    "seed",
    "--events",
    "600",
    "--from",
    "2026-09-01",
    "--to",
    "2026-10-01",
];
const RECONCILE: [&str; 5] = ["reconcile", "--from", "2026-09-01", "--to", "2026-10-01"];

#[test]
fn seed_and_reconcile_show_no_progress_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (seeded, stderr) = paymux_progress(dir.path(), &SEED_600, None);
    assert!(seeded.starts_with("seeded "), "{seeded}");
    assert_eq!(stderr, "");
    let (report, stderr) = paymux_progress(dir.path(), &RECONCILE, None);
    assert!(report.starts_with('{'), "{report}");
    assert_eq!(stderr, "");
    let (_, stderr) = paymux_progress(dir.path(), &RECONCILE, Some("never"));
    assert_eq!(stderr, "");
}

#[test]
fn forced_progress_is_one_line_on_stderr_and_leaves_stdout_as_it_is() {
    let (quiet, forced) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (quiet_seeded, _) = paymux_progress(quiet.path(), &SEED_600, None);
    let (seeded, stderr) = paymux_progress(forced.path(), &SEED_600, Some("always"));
    assert_eq!(seeded, quiet_seeded);
    // Redrawn in place (a shorter line padded with spaces over a longer one), then ended with
    // the only newline.
    assert!(stderr.starts_with("\rseeding: "), "{stderr:?}");
    assert!(stderr.contains(" / 600 events (100%), "), "{stderr:?}");
    assert!(
        stderr.trim_end().ends_with(" s")
            && stderr.ends_with('\n')
            && stderr.matches('\n').count() == 1,
        "{stderr:?}"
    );

    let (quiet_report, _) = paymux_progress(forced.path(), &RECONCILE, None);
    let (report, stderr) = paymux_progress(forced.path(), &RECONCILE, Some("always"));
    assert_eq!(report, quiet_report, "the report is the same byte for byte");
    // Drawn in place and blanked out before the report: no newline is left behind.
    assert!(
        stderr.starts_with("\rreconciling demo: events 0 read · "),
        "{stderr:?}"
    );
    assert!(
        stderr.ends_with('\r') && !stderr.contains('\n'),
        "{stderr:?}"
    );
}

#[test]
fn a_seeded_dataset_reconciles_from_the_command_line_as_its_seed_expects() {
    let dir = tempfile::tempdir().unwrap();
    let expect = dir.path().join("expect.json");
    let seed = [&SEED_600[..], &["--expect", expect.to_str().unwrap()]].concat();
    let seeded = paymux_on(dir.path(), &seed);
    assert!(
        seeded.contains("paymux reconcile --from 2026-09-01T00:00:00+00:00"),
        "{seeded}"
    );
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&expect).unwrap()).unwrap();
    let json = paymux_on(dir.path(), &RECONCILE);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["totals"], expected["totals"]);
    assert_eq!(report["currency_totals"], expected["currency_totals"]);
    assert_eq!(
        report["discrepancies"].as_array().unwrap().len(),
        expected["discrepancies"].as_array().unwrap().len()
    );

    let csv_args = [&RECONCILE[..], &["--merchant", "demo", "--format", "csv"]].concat();
    let csv = paymux_on(dir.path(), &csv_args);
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with("section,provider,currency,succeeded_count,gross"),
        "{header}"
    );
    let totals = csv
        .lines()
        .filter(|line| line.starts_with("total,"))
        .count();
    assert_eq!(totals, expected["totals"].as_array().unwrap().len());

    let nobody_args = [&RECONCILE[..], &["--merchant", "nobody"]].concat();
    let nobody = paymux_on(dir.path(), &nobody_args);
    let nobody: serde_json::Value = serde_json::from_str(&nobody).unwrap();
    assert_eq!(nobody["totals"], serde_json::json!([]));
}

#[test]
fn commands_that_only_read_never_create_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("data").join("paymux.db");
    for args in [&["providers"][..], &RECONCILE[..]] {
        let output = Command::new(env!("CARGO_BIN_EXE_paymux"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("PAYMUX_CONFIG")
            .env(
                "PAYMUX__DATABASE__URL",
                format!("sqlite://{}", missing.display()),
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr.contains("there is no database at"),
            "{args:?}: {stderr}"
        );
        assert!(
            !missing.exists() && !missing.parent().unwrap().exists(),
            "{args:?} created a store"
        );
    }
}

/// Two merchants with SKN Pay through the sandbox, on a SQLite database in `dir`.
fn two_merchants(dir: &std::path::Path, acme_sknpay_enabled: bool) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
[database]
url = "sqlite://{db}"
[merchants.acme]
api_keys = ["pmx_test_acme"]
[merchants.acme.providers.sknpay]
enabled = {acme_sknpay_enabled}
sandbox = true
api_key = "sk_test_acme_7d1e0c"
webhook_secret = "whsec_acme_2b9f"
[merchants.globex]
api_keys = ["pmx_test_globex"]
[merchants.globex.providers.sknpay]
sandbox = true
api_key = "sk_test_globex_5a3c"
webhook_secret = "whsec_globex_8e41"
"#,
        db = dir.join("paymux.db").display()
    )
}

/// Stops the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn sknpay_checkout(client: &reqwest::Client, base: &str, api_key: &str) -> u16 {
    client
        .post(format!("{base}/v1/checkouts"))
        .bearer_auth(api_key)
        .json(&serde_json::json!({"amount": 2500, "currency": "USD", "provider": "sknpay"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sighup_reloads_the_config_file_without_a_restart_and_providers_reads_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paymux.toml");
    std::fs::write(&config, two_merchants(dir.path(), true)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_paymux"))
        .env("PAYMUX_CONFIG", &config)
        .env_remove("PAYMUX_LOG_FORMAT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    // The welcome line says where it listens: "paymux is listening on http://127.0.0.1:PORT …";
    // the log on stderr says when a reload has been applied.
    let addresses = watch_lines(stdout, |line| {
        line.strip_prefix("paymux is listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    });
    let reloads = watch_lines(stderr, |line| {
        line.contains("configuration reload")
            .then(|| line.to_owned())
    });
    let wait = std::time::Duration::from_secs(60);
    let base = addresses.recv_timeout(wait).unwrap();
    let client = reqwest::Client::new();
    assert_eq!(sknpay_checkout(&client, &base, "pmx_test_acme").await, 201);

    std::fs::write(&config, two_merchants(dir.path(), false)).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    // The reload runs in the background; its log line says when it is done.
    let reloaded = reloads.recv_timeout(wait).unwrap();
    assert!(reloaded.contains("configuration reloaded"), "{reloaded}");
    assert_eq!(sknpay_checkout(&client, &base, "pmx_test_acme").await, 403);
    assert_eq!(
        sknpay_checkout(&client, &base, "pmx_test_globex").await,
        201
    );

    let output = Command::new(env!("CARGO_BIN_EXE_paymux"))
        .arg("providers")
        .arg(&config)
        .env_remove("PAYMUX_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    // merchant, provider, enabled, priority, checkouts, events, …
    assert_eq!(
        row(&stdout, "acme")[..5],
        ["acme", "sknpay", "no", "0", "1"]
    );
    assert_eq!(
        row(&stdout, "globex")[..5],
        ["globex", "sknpay", "yes", "0", "1"]
    );
    drop(server);
}

/// Reads `pipe` to its end on a thread of its own (so the server never writes to a full or
/// closed pipe) and sends what `pick` finds in each line.
fn watch_lines(
    pipe: impl std::io::Read + Send + 'static,
    pick: impl Fn(&str) -> Option<String> + Send + 'static,
) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (sender, found) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(picked) = pick(&line) {
                let _ = sender.send(picked);
            }
        }
    });
    found
}

/// The repository's own file at `path`.
fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap()
}

#[test]
fn the_deploy_overlay_passes_the_config_check_with_its_secrets_set() {
    let overlay = repo_file("deploy/paymux.toml");
    let named: Vec<&str> = overlay
        .split("\"env:")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(named.contains(&"PAYMUX_ADMIN_TOKEN"), "{named:?}");
    // Values of the forms the providers' keys take.
    let env: Vec<(&str, String)> = named
        .iter()
        .map(|name| {
            let value = match *name {
                name if name.ends_with("SKNPAY_API_KEY") => "sk_test_deploy_check".to_owned(),
                name if name.ends_with("WEBHOOK_SECRET") => "whsec_deploy_check".to_owned(),
                name => format!("test_value_of_{name}"),
            };
            (*name, value)
        })
        .collect();
    let (ok, _, stderr) = check_with(&overlay, &env);
    assert!(ok, "{stderr}");
    // Without them, the check fails and names what is missing (the first of each provider).
    let (ok, _, stderr) = check(&overlay);
    assert!(!ok);
    assert!(stderr.contains("ACME_API_KEY"), "{stderr}");
}

#[test]
fn the_compose_file_has_what_compose_needs() {
    use yaml_rust2::{Yaml, YamlLoader};
    let text = repo_file("compose.yaml");
    let documents = YamlLoader::load_from_str(&text).unwrap();
    assert_eq!(documents.len(), 1);
    let compose = &documents[0];
    assert!(
        compose["version"].is_badvalue(),
        "the Compose Specification has no version"
    );
    let services = compose["services"].as_hash().expect("services");
    let names: Vec<&str> = services.keys().filter_map(Yaml::as_str).collect();
    for needed in ["postgres", "redis", "api-1", "api-2", "worker", "lb"] {
        assert!(names.contains(&needed), "{needed} in {names:?}");
    }
    let declared_volumes = compose["volumes"].as_hash().cloned().unwrap_or_default();
    for (name, service) in services {
        let name = name.as_str().unwrap();
        assert!(
            !service["image"].is_badvalue() || !service["build"].is_badvalue(),
            "{name} needs an image or a build"
        );
        for dependency in service["depends_on"]
            .as_hash()
            .into_iter()
            .flat_map(|map| map.keys())
        {
            assert!(
                services.contains_key(dependency),
                "{name} depends on {dependency:?}"
            );
        }
        for volume in service["volumes"].as_vec().into_iter().flatten() {
            let source = volume.as_str().unwrap().split(':').next().unwrap();
            if !source.starts_with('.') && !source.starts_with('/') {
                assert!(
                    declared_volumes.contains_key(&Yaml::String(source.to_owned())),
                    "{name}: volume {source}"
                );
            }
        }
    }
    // The nodes: paymux in each role, with Redis and the same configuration.
    let role = |service: &str| -> Vec<String> {
        compose["services"][service]["command"]
            .as_vec()
            .unwrap_or_else(|| panic!("{service}'s command"))
            .iter()
            .map(|word| word.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(role("api-1"), ["serve", "--role", "api"]);
    assert_eq!(role("api-2"), ["serve", "--role", "api"]);
    assert_eq!(role("worker"), ["serve", "--role", "worker"]);
    for node in ["api-1", "api-2", "worker"] {
        let environment = &compose["services"][node]["environment"];
        assert_eq!(
            environment["PAYMUX_CONFIG"].as_str(),
            Some("/etc/paymux/paymux.toml"),
            "{node}"
        );
    }
    assert!(repo_file("deploy/paymux.toml").contains("[redis]"));
    let ports = compose["services"]["lb"]["ports"].as_vec().unwrap();
    assert!(ports.iter().any(|port| port.as_str() == Some("8080:8080")));
    let nginx = repo_file("deploy/nginx.conf");
    assert!(
        nginx.contains("api-1:8080") && nginx.contains("api-2:8080"),
        "{nginx}"
    );
}

/// The words of `merchant`'s row in the `paymux providers` table.
fn row(table: &str, merchant: &str) -> Vec<String> {
    table
        .lines()
        .find(|line| line.starts_with(merchant))
        .unwrap_or_else(|| panic!("no {merchant} row in {table}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The demo merchant on the store at `database_url`, retrying webhooks within milliseconds.
fn fast_retries(database_url: &str) -> String {
    format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"{database_url}\"\n\
         [outbound_webhooks]\nretry_speedup = 1000\n"
    )
}

/// Starts `paymux` on `config` with `args` (`serve` when none); the server and its base URL.
fn start(config: &std::path::Path, args: &[&str]) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paymux"))
        .args(args)
        .env("PAYMUX_CONFIG", config)
        .env_remove("PAYMUX_LOG_FORMAT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addresses = watch_lines(child.stdout.take().unwrap(), |line| {
        line.strip_prefix("paymux is listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    });
    let server = Server(child);
    let base = addresses
        .recv_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    (server, base)
}

/// `POST {url}` with a JSON body as the demo merchant, asserting a 2xx; its JSON answer.
async fn demo_post(
    client: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> serde_json::Value {
    let response = client
        .post(url)
        .bearer_auth("pmx_test_demo")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

/// An endpoint of the demo merchant at `receiver`'s `/hooks` for `events`.
async fn demo_endpoint(
    client: &reqwest::Client,
    base: &str,
    receiver: &wiremock::MockServer,
    events: &[&str],
) -> serde_json::Value {
    let body =
        serde_json::json!({"url": format!("{}/hooks", receiver.uri()), "enabled_events": events});
    demo_post(client, format!("{base}/v1/webhook_endpoints"), body).await
}

/// An SKN Pay checkout of the demo merchant, paid at the simulator (which sends its webhook).
async fn paid_sknpay_checkout(client: &reqwest::Client, base: &str) -> serde_json::Value {
    let body = serde_json::json!({"amount": 2500, "currency": "USD", "provider": "sknpay"});
    let checkout = demo_post(client, format!("{base}/v1/checkouts"), body).await;
    let pay = format!(
        "{base}/sandbox/sknpay/checkouts/{}/pay",
        checkout["provider_checkout_id"].as_str().unwrap()
    );
    demo_post(
        client,
        pay,
        serde_json::json!({"card": "4111 1111 1111 1111"}),
    )
    .await;
    checkout
}

/// Reads the endpoint's deliveries as the demo merchant until `done` holds, for at most
/// `within`; the last page read.
async fn deliveries_until(
    client: &reqwest::Client,
    base: &str,
    endpoint: &serde_json::Value,
    within: std::time::Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let url = format!(
        "{base}/v1/webhook_endpoints/{}/deliveries?limit=100",
        endpoint["id"].as_str().unwrap()
    );
    let deadline = std::time::Instant::now() + within;
    loop {
        let page: serde_json::Value = client
            .get(&url)
            .bearer_auth("pmx_test_demo")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&page) {
            return page;
        }
        assert!(std::time::Instant::now() < deadline, "not yet: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The `webhook-id` of each request `receiver` got.
async fn webhook_ids(receiver: &wiremock::MockServer) -> Vec<String> {
    let requests = receiver.received_requests().await.unwrap();
    requests
        .iter()
        .map(|request| request.headers["webhook-id"].to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_delivery_due_when_the_server_is_killed_is_made_after_the_restart() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paymux.toml");
    let database = format!("sqlite://{}", dir.path().join("paymux.db").display());
    std::fs::write(&config, fast_retries(&database)).unwrap();
    let receiver = MockServer::start().await;
    let failing = Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .mount_as_scoped(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&receiver)
        .await;

    let (server, base) = start(&config, &[]);
    let client = reqwest::Client::new();
    let endpoint = demo_endpoint(&client, &base, &receiver, &["*"]).await;
    paid_sknpay_checkout(&client, &base).await;
    // The first attempt failed: the delivery is due again when the server dies.
    let first_attempt = async {
        loop {
            if let Some(first) = webhook_ids(&receiver).await.into_iter().next() {
                break first;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), first_attempt)
        .await
        .unwrap_or_else(|_| panic!("the first attempt never reached the receiver"));
    drop(server); // SIGKILL
    drop(failing);

    let (_server, base) = start(&config, &[]);
    // A message held by the killed server is taken over once its lease (30 s) lapses.
    let within = std::time::Duration::from_secs(90);
    let delivered = deliveries_until(&client, &base, &endpoint, within, |page| {
        page["data"][0]["response_status"] == 200
    })
    .await;
    // The same message: its failed attempt was recorded, or (killed between the send and the
    // record) it was made again; either way under the webhook id the receiver saw first.
    assert_eq!(
        delivered["data"][0]["webhook_id"],
        first.as_str(),
        "{delivered}"
    );
}

/// A PostgreSQL database of its own on the server `PAYMUX_TEST_DATABASE_URL` names, dropped
/// with it.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    fn create() -> PgDatabase {
        use diesel::{Connection, RunQueryDsl};
        let admin_url = std::env::var("PAYMUX_TEST_DATABASE_URL").unwrap_or_else(|_| {
            panic!(
                "this test needs PAYMUX_TEST_DATABASE_URL (a server paymux may create databases on)"
            )
        });
        let name = format!(
            "paymux_cli_{}",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        );
        let mut conn = diesel::PgConnection::establish(&admin_url).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{name}"));
        PgDatabase {
            admin_url,
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use diesel::{Connection, RunQueryDsl};
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin_url) {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = diesel::sql_query(drop).execute(&mut conn);
        }
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run with --ignored and PAYMUX_TEST_DATABASE_URL"]
async fn two_processes_on_one_postgresql_deliver_every_event_once() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let database = PgDatabase::create();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paymux.toml");
    std::fs::write(&config, fast_retries(&database.url)).unwrap();
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let (_first, first) = start(&config, &[]);
    let (_second, second) = start(&config, &[]);
    let client = reqwest::Client::new();
    let endpoint = demo_endpoint(&client, &first, &receiver, &["payment.succeeded"]).await;
    // Payments through both processes: each stores its own and both send.
    const PAYMENTS: usize = 30;
    for round in 0..PAYMENTS {
        let base = if round % 2 == 0 { &first } else { &second };
        paid_sknpay_checkout(&client, base).await;
    }
    // Every message delivered, by either process; delivered is recorded after the send and
    // only a claimed message is sent, so nothing more can arrive after.
    let within = std::time::Duration::from_secs(60);
    deliveries_until(&client, &first, &endpoint, within, |page| {
        let attempts = page["data"].as_array().unwrap().iter();
        attempts
            .filter(|attempt| attempt["response_status"] == 200)
            .count()
            == PAYMENTS
    })
    .await;
    let mut ids = webhook_ids(&receiver).await;
    assert_eq!(ids.len(), PAYMENTS, "one request per event");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), PAYMENTS, "no event sent twice");
}

/// The settings of three nodes on one PostgreSQL and Redis: two merchants of this run's own
/// (ids no other run shares, so nothing a past run left in Redis applies), each with SKN Pay and
/// Skipify in the sandbox; `limited`'s key allows nine requests, then one an hour.
fn three_nodes(database_url: &str, redis_url: &str, run: &str) -> String {
    let merchant = |id: &str, limit: &str| {
        format!(
            "[merchants.{id}_{run}]\napi_keys = [\"pmx_test_{id}_{run}\"]\n{limit}\
             [merchants.{id}_{run}.providers.sknpay]\nsandbox = true\npriority = 1\n\
             api_key = \"sk_test_{id}_{run}\"\nwebhook_secret = \"whsec_{id}_{run}\"\n\
             [merchants.{id}_{run}.providers.skipify]\nsandbox = true\npriority = 2\n\
             merchant_id = \"{id}-{run}\"\napi_key = \"skipify_{id}_{run}\"\nsecret = \"s_{id}_{run}\"\n"
        )
    };
    format!(
        "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"{database_url}\"\n\
         [redis]\nurl = \"{redis_url}\"\nprefix = \"paymux_test_{run}\"\nanswer_within_ms = 2000\n[routing]\nfailure_threshold = 2\ncooldown_secs = 600\n\
         [outbound_webhooks]\nretry_speedup = 1000\n{}{}",
        merchant("shop", ""),
        merchant(
            "limited",
            &format!(
                "[merchants.limited_{run}.rate_limit]\nrequests_per_second = 0.0003\nburst = 9\n"
            )
        ),
    )
}

/// An SKN Pay event about a payment no checkout names, signed for `merchant`: each is a new
/// event.
fn skn_event(merchant: &str, run: &str, n: usize) -> (String, Vec<u8>, String) {
    use hmac::{Hmac, Mac};
    let id = format!("evt_{run}_{n}");
    let body = serde_json::to_vec(&serde_json::json!({
        "id": id, "object": "event", "type": "payment.succeeded",
        "created": chrono::Utc::now().timestamp(), "livemode": false,
        "data": {"object": {"object": "payment", "id": format!("plink_{run}_{n}"), "livemode": false,
            "amount": 100, "currency": "USD", "status": "succeeded"}}
    }))
    .unwrap();
    let timestamp = chrono::Utc::now().timestamp();
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(format!("whsec_{merchant}").as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&body);
    let signature = format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    );
    (id, body, signature)
}

/// Sends events `range` of `merchant` to the nodes in turn, eight at a time, counting each
/// acknowledged (2xx) in `acks`; their ids. A node that is gone refuses the connection: those
/// are not acknowledged.
async fn flood(
    client: &reqwest::Client,
    nodes: &[String],
    merchant: &str,
    run: &str,
    range: std::ops::Range<usize>,
    acks: &std::sync::atomic::AtomicUsize,
) -> Vec<String> {
    use futures_util::StreamExt;
    futures_util::stream::iter(range)
        .map(|n| {
            let base = nodes[n % nodes.len()].clone();
            let (id, body, signature) = skn_event(merchant, run, n);
            async move {
                let sent = client
                    .post(format!("{base}/webhooks/{merchant}/sknpay"))
                    .header("content-type", "application/json")
                    .header("SknPay-Signature", signature)
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => {
                        acks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        Some(id)
                    }
                    Ok(response) => panic!("{base} answered {}", response.status()),
                    Err(_) => None,
                }
            }
        })
        .buffer_unordered(8)
        .filter_map(|acked| async move { acked })
        .collect()
        .await
}

/// Rows of `sql` on the test's database, each its first column as text.
fn column(database_url: &str, sql: &str) -> Vec<String> {
    use diesel::{Connection, QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let mut conn = diesel::PgConnection::establish(database_url).unwrap();
    let rows: Vec<Row> = diesel::sql_query(sql).load(&mut conn).unwrap();
    rows.into_iter().map(|row| row.value).collect()
}

/// Polls `probe` every 50 ms until it holds, for at most `within`.
async fn until(what: &str, within: std::time::Duration, probe: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !probe() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Three nodes on one store, their merchants and keys, as the three-node test drives them.
struct Cluster {
    client: reqwest::Client,
    nodes: [String; 3],
    database_url: String,
    run: String,
    shop: String,
    shop_key: String,
    limited_key: String,
}

impl Cluster {
    /// `POST {base}{path}` with `key`, and an `Idempotency-Key` when given.
    async fn post(
        &self,
        base: &str,
        key: &str,
        path: &str,
        body: &serde_json::Value,
        idempotency: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .json(body);
        if let Some(idempotency) = idempotency {
            request = request.header("Idempotency-Key", idempotency);
        }
        request.send().await.unwrap()
    }

    /// Every node is seen from any one, alive, with the same configuration, once each has
    /// beaten.
    async fn every_node_is_listed(&self) {
        let mut listed = serde_json::Value::Null;
        for _ in 0..100 {
            listed = self
                .client
                .get(format!("{}/v1/admin/nodes", self.nodes[2]))
                .bearer_auth("pmx_admin_demo")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if listed["data"].as_array().map_or(0, Vec::len) == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let seen = listed["data"].as_array().unwrap();
        assert_eq!(seen.len(), 3, "{listed}");
        assert!(
            seen.iter()
                .all(|node| node["alive"] == true && node["config_hash"] == seen[0]["config_hash"]),
            "{listed}"
        );
        let mut roles: Vec<&str> = seen
            .iter()
            .map(|node| node["role"].as_str().unwrap())
            .collect();
        roles.sort_unstable();
        assert_eq!(roles, ["all", "all", "api"]);
    }

    /// Idempotent twins spread over the nodes make one checkout.
    async fn twins_make_one_checkout(&self) {
        let order = serde_json::json!({"amount": 2500, "currency": "USD", "provider": "sknpay", "reference": "twins"});
        let twins = self
            .nodes
            .iter()
            .map(|base| self.post(base, &self.shop_key, "/v1/checkouts", &order, Some("twins")));
        let mut ids = vec![];
        for answer in futures_util::future::join_all(twins).await {
            let status = answer.status().as_u16();
            let body: serde_json::Value = answer.json().await.unwrap();
            match status {
                201 => ids.push(body["id"].as_str().unwrap().to_owned()),
                409 => assert_eq!(body["error"]["code"], "idempotency_conflict", "{body}"),
                other => panic!("{other}: {body}"),
            }
        }
        assert!(!ids.is_empty());
        ids.dedup();
        assert_eq!(ids.len(), 1, "one checkout: {ids:?}");
        let made = column(
            &self.database_url,
            &format!(
                "SELECT id AS value FROM checkouts WHERE merchant = '{}'",
                self.shop
            ),
        );
        assert_eq!(made, ids);
    }

    /// The limited key's nine tokens hold across the nodes: within one token per node.
    async fn the_limit_holds_across_nodes(&self) {
        let mut allowed = 0;
        for round in 0..30 {
            let answer = self
                .client
                .get(format!("{}/v1/checkouts", self.nodes[round % 3]))
                .bearer_auth(&self.limited_key)
                .send()
                .await
                .unwrap();
            match answer.status().as_u16() {
                200 => allowed += 1,
                429 => {}
                other => panic!("{other}"),
            }
        }
        assert!(
            (9..=12).contains(&allowed),
            "{allowed} of 30 allowed: the limit is 9 for all nodes"
        );
    }

    /// Failures seen by the first node open SKN Pay's circuit on every node.
    async fn failures_on_one_node_open_the_circuit_on_all(&self) {
        let [node_a, node_b, node_c] = &self.nodes;
        let fault = self
            .client
            .post(format!("{node_a}/v1/admin/sandbox/faults/sknpay"))
            .bearer_auth("pmx_admin_demo")
            .json(&serde_json::json!({"mode": "unavailable"}))
            .send()
            .await
            .unwrap();
        assert_eq!(fault.status(), 200);
        let unnamed = serde_json::json!({"amount": 1000, "currency": "USD"});
        for _ in 0..2 {
            let (providers, body) = self.tried(node_a, &unnamed).await;
            assert_eq!(
                providers,
                serde_json::json!(["sknpay", "skipify"]),
                "{body}"
            );
        }
        for base in [node_b, node_c] {
            let (providers, body) = self.tried(base, &unnamed).await;
            assert_eq!(
                providers,
                serde_json::json!(["skipify"]),
                "{base} skips SKN Pay: {body}"
            );
        }
    }

    /// Creates `order` at `base` for the shop: the providers it tried, and the answer.
    async fn tried(
        &self,
        base: &str,
        order: &serde_json::Value,
    ) -> (serde_json::Value, serde_json::Value) {
        let answer = self.post(base, &self.shop_key, "/v1/checkouts", order, None);
        let body: serde_json::Value = answer.await.json().await.unwrap();
        (body["providers_tried"].clone(), body)
    }

    /// While every node lives, each of 60 events is delivered exactly once to `receiver`.
    async fn each_event_delivered_once(
        &self,
        receiver: &wiremock::MockServer,
        acks: &std::sync::atomic::AtomicUsize,
    ) {
        let endpoint = serde_json::json!({"url": format!("{}/hooks", receiver.uri())});
        let made = self
            .post(
                &self.nodes[0],
                &self.shop_key,
                "/v1/webhook_endpoints",
                &endpoint,
                None,
            )
            .await;
        assert_eq!(made.status(), 201);
        let acked = flood(
            &self.client,
            &self.nodes,
            &self.shop,
            &self.run,
            0..60,
            acks,
        )
        .await;
        assert_eq!(acked.len(), 60);
        until(
            "every message delivered",
            std::time::Duration::from_secs(60),
            || self.messages("<>").is_empty() && self.messages("=").len() >= 60,
        )
        .await;
        let mut sent = webhook_ids(receiver).await;
        let messages = self.messages("=").len();
        assert_eq!(sent.len(), messages, "one request per message");
        sent.sort_unstable();
        sent.dedup();
        assert_eq!(sent.len(), messages, "no message sent twice");
    }

    /// kill -9 of `node` a hundred acknowledgements into a flood of 400: no acknowledged event
    /// is lost, and no delivery stays undelivered once the killed node's leases lapse.
    async fn no_event_lost_to_a_kill(&self, node: Server, acks: &std::sync::atomic::AtomicUsize) {
        let before = acks.load(std::sync::atomic::Ordering::Relaxed);
        let flooding = flood(
            &self.client,
            &self.nodes,
            &self.shop,
            &self.run,
            60..460,
            acks,
        );
        let killing = async {
            // Bounded, so that a flood every node refuses fails the test instead of hanging it.
            let hundred_acknowledged = async {
                while acks.load(std::sync::atomic::Ordering::Relaxed) < before + 100 {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            };
            let waited =
                tokio::time::timeout(std::time::Duration::from_secs(60), hundred_acknowledged)
                    .await;
            assert!(waited.is_ok(), "not 100 acknowledgements within a minute");
            drop(node);
        };
        let (acked, ()) = tokio::join!(flooding, killing);
        assert!(
            acked.len() < 400,
            "some went to the killed node: {}",
            acked.len()
        );
        let stored = column(
            &self.database_url,
            &format!(
                "SELECT provider_event_id AS value FROM events WHERE merchant = '{}'",
                self.shop
            ),
        );
        let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(id)).collect();
        assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
        // The killed node's claims lapse after their lease (30 s); another takes them over.
        let after_the_kill = std::time::Duration::from_secs(120);
        until(
            "every message delivered after the kill",
            after_the_kill,
            || self.messages("<>").is_empty(),
        )
        .await;
    }

    /// The shop's messages with (`=`) or without (`<>`) the status delivered.
    fn messages(&self, delivered: &str) -> Vec<String> {
        column(
            &self.database_url,
            &format!(
                "SELECT m.id AS value FROM webhook_messages m JOIN webhook_endpoints e \
                 ON e.id = m.endpoint_id WHERE e.merchant = '{}' AND m.status {delivered} 'delivered'",
                self.shop
            ),
        )
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL and Redis: run with --ignored, PAYMUX_TEST_DATABASE_URL and PAYMUX_TEST_REDIS_URL"]
async fn three_nodes_on_one_postgresql_and_redis_share_limits_circuits_and_work() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let redis_url = std::env::var("PAYMUX_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!("this test needs PAYMUX_TEST_REDIS_URL (a Redis it may write to)")
    });
    let database = PgDatabase::create();
    let run = ulid::Ulid::new().to_string().to_ascii_lowercase()[16..].to_owned();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("paymux.toml");
    std::fs::write(&config, three_nodes(&database.url, &redis_url, &run)).unwrap();
    // Two whole gateways and one that serves the API alone: each of the first two sends.
    let (a, node_a) = start(&config, &["serve", "--role", "all"]);
    let (b, node_b) = start(&config, &["serve", "--role", "all"]);
    let (_c, node_c) = start(&config, &["serve", "--role", "api"]);
    let cluster = Cluster {
        client: reqwest::Client::new(),
        nodes: [node_a, node_b, node_c],
        database_url: database.url.clone(),
        shop: format!("shop_{run}"),
        shop_key: format!("pmx_test_shop_{run}"),
        limited_key: format!("pmx_test_limited_{run}"),
        run,
    };
    cluster.every_node_is_listed().await;
    cluster.twins_make_one_checkout().await;
    cluster.the_limit_holds_across_nodes().await;
    cluster.failures_on_one_node_open_the_circuit_on_all().await;

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let acks = std::sync::atomic::AtomicUsize::new(0);
    cluster.each_event_delivered_once(&receiver, &acks).await;
    cluster.no_event_lost_to_a_kill(b, &acks).await;
    drop(a);
}
