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
