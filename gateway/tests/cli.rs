//! The `paymux` binary's configuration check, run as an operator would.

// Helpers of an integration test: a broken fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn check(config: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paymux.toml");
    std::fs::write(&path, config).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_paymux"))
        .args(["config", "check"])
        .arg(&path)
        .env_remove("PAYMUX_CONFIG")
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
fn an_unknown_key_is_named() {
    let (ok, _, stderr) = check("[sandbox]\nenabeld = true\n");
    assert!(!ok);
    assert!(stderr.contains("enabeld"), "{stderr}");
}

/// Runs `paymux ARGS` on the SQLite database in `dir`; returns stdout, asserting success.
fn paymux_on(dir: &std::path::Path, args: &[&str]) -> String {
    let url = format!("sqlite://{}", dir.join("paymux.db").display());
    let output = Command::new(env!("CARGO_BIN_EXE_paymux"))
        .args(args)
        .env_remove("PAYMUX_CONFIG")
        .env("PAYMUX__DATABASE__URL", url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "paymux {args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_seeded_dataset_reconciles_from_the_command_line_as_its_seed_expects() {
    let dir = tempfile::tempdir().unwrap();
    let expect = dir.path().join("expect.json");
    let seeded = paymux_on(
        dir.path(),
        &[
            "dev",
            "seed",
            "--events",
            "600",
            "--from",
            "2026-09-01",
            "--to",
            "2026-10-01",
            "--expect",
            expect.to_str().unwrap(),
        ],
    );
    assert!(
        seeded.contains("paymux reconcile --from 2026-09-01T00:00:00+00:00"),
        "{seeded}"
    );
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&expect).unwrap()).unwrap();
    let period = ["--from", "2026-09-01", "--to", "2026-10-01"];
    let json = paymux_on(dir.path(), &[&["reconcile"], &period[..]].concat());
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["totals"], expected["totals"]);
    assert_eq!(report["currency_totals"], expected["currency_totals"]);
    assert_eq!(
        report["discrepancies"].as_array().unwrap().len(),
        expected["discrepancies"].as_array().unwrap().len()
    );

    let csv = paymux_on(
        dir.path(),
        &[
            &["reconcile", "--merchant", "demo", "--format", "csv"],
            &period[..],
        ]
        .concat(),
    );
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

    let nobody = paymux_on(
        dir.path(),
        &[&["reconcile", "--merchant", "nobody"], &period[..]].concat(),
    );
    let nobody: serde_json::Value = serde_json::from_str(&nobody).unwrap();
    assert_eq!(nobody["totals"], serde_json::json!([]));
}
