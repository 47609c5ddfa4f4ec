//! Webhooks arrive unauthenticated, and the reason one is rejected is logged and kept with its
//! receipt: it must say what was wrong without quoting anything the sender put in the request.
//!
//! For each provider, its own webhook fixtures are sent with one value at a time (every value,
//! leaf or not) replaced by a canary (a marked string, a long string, numbers made of marked
//! digits, `1e400`), with an unknown member added to each object, and as broken JSON; and its
//! signature headers are sent made of canaries (timestamps whose age is the marked digits,
//! signatures, keys). No message of `verify_webhook` or `parse_webhook` may contain a canary,
//! and none may be longer than [`MAX_REASON_CHARS`].

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use crate::model::WebhookRequest;
use crate::signing::hmac_sha256_hex;
use crate::testing::test_context;
use crate::{Provider, ProviderError, ProviderFactory};
use crate::{kwik, pakhi, skipify, sknpay, spankpay};

const CANARY: &str = "CANARY-9f3a";
/// Digits no message has a reason to print: the numeric canaries are made of them, and so are
/// the timestamps of the header canaries (their age is `DIGITS` seconds).
const DIGITS: i64 = 314_159_265_358;
/// What no message may contain: the canary, the digits (also inside a float's `3.14159265358…e23`
/// form), and the exponent of `1e400`.
const NEEDLES: [&str; 3] = [CANARY, "14159265358", "e400"];
const MAX_REASON_CHARS: usize = 300;
/// Stands in the JSON for the value being replaced, then is replaced by the canary's text.
const PLACEHOLDER: &str = "__paymux_canary_placeholder__";

/// The clock of every check: far enough from zero that a timestamp `DIGITS` seconds old or
/// ahead is still a valid time.
fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(2 * DIGITS, 0)
        .single()
        .unwrap_or_else(|| panic!("{} is a valid time", 2 * DIGITS))
}

/// The JSON texts put in place of one value.
fn canaries() -> Vec<String> {
    vec![
        format!("\"{CANARY}\""),
        format!("\"{CANARY}{}\"", "x".repeat(5_000)),
        "1e400".to_owned(),
        "-1e400".to_owned(),
        format!("{DIGITS}"),
        format!("-{DIGITS}"),
        format!("{DIGITS}{DIGITS}"),
        format!("3.{DIGITS}"),
        format!("[\"{CANARY}\"]"),
        format!("{{\"{CANARY}\":\"{CANARY}\"}}"),
    ]
}

/// JSON pointers to every value below the root, and to every object (the root included).
fn pointers(value: &Value, at: &str, values: &mut Vec<String>, objects: &mut Vec<String>) {
    let escape = |key: &str| key.replace('~', "~0").replace('/', "~1");
    match value {
        Value::Object(members) => {
            objects.push(at.to_owned());
            for (key, member) in members {
                let path = format!("{at}/{}", escape(key));
                values.push(path.clone());
                pointers(member, &path, values, objects);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let path = format!("{at}/{index}");
                values.push(path.clone());
                pointers(item, &path, values, objects);
            }
        }
        _ => {}
    }
}

/// Every variant of `fixture`, named: one value replaced by each canary, an unknown member in
/// each object, a top-level member sent twice, and bodies that are not the JSON expected.
fn variants(fixture: &str) -> Vec<(String, Vec<u8>)> {
    let original: Value = serde_json::from_str(fixture).unwrap();
    let (mut values, mut objects) = (vec![], vec![]);
    pointers(&original, "", &mut values, &mut objects);
    let mut out = vec![];
    for path in &values {
        let mut edited = original.clone();
        *edited.pointer_mut(path).unwrap() = Value::String(PLACEHOLDER.to_owned());
        let text = edited.to_string();
        for canary in canaries() {
            let body = text.replace(&format!("\"{PLACEHOLDER}\""), &canary);
            let shown: String = canary.chars().take(40).collect();
            out.push((format!("{path} = {shown}"), body.into_bytes()));
        }
    }
    for path in &objects {
        let mut edited = original.clone();
        let object = edited.pointer_mut(path).unwrap().as_object_mut().unwrap();
        object.insert(CANARY.to_owned(), json!(CANARY));
        out.push((
            format!("unknown member in `{path}`"),
            edited.to_string().into_bytes(),
        ));
    }
    let compact = original.to_string();
    for key in original.as_object().unwrap().keys() {
        let twice = format!("{{\"{key}\":\"{CANARY}\",{}", &compact[1..]);
        out.push((format!("`{key}` twice"), twice.into_bytes()));
    }
    for (name, body) in [
        ("trailing text", format!("{compact}{CANARY}")),
        ("a bare word", format!("{{\"a\":{CANARY}}}")),
        ("cut short", format!("{{\"{CANARY}")),
        ("an array", format!("[\"{CANARY}\"]")),
        ("a string", format!("\"{CANARY}\"")),
        ("not JSON", CANARY.to_owned()),
    ] {
        out.push((name.to_owned(), body.into_bytes()));
    }
    let mut not_utf8 = format!("{{\"{CANARY}\":\"").into_bytes();
    not_utf8.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    out.push(("not UTF-8".to_owned(), not_utf8));
    out
}

/// A request's headers, as the gateway hands them over.
type Headers = Vec<(String, String)>;

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// One provider: its adapter with test credentials, its webhook fixtures, the headers that
/// make a body authentic, and header sets made of canaries for its first fixture.
struct Case {
    id: &'static str,
    adapter: Arc<dyn Provider>,
    fixtures: Vec<&'static str>,
    signed: fn(&[u8]) -> Headers,
    header_canaries: fn(&[u8]) -> Vec<(&'static str, Headers)>,
}

/// The adapter `factory` builds from `settings`, its literal secrets allowed.
fn built(factory: ProviderFactory, settings: &Value) -> Arc<dyn Provider> {
    let id = factory.id();
    factory
        .build(test_context(id, settings, None))
        .unwrap_or_else(|error| panic!("{id}: {error}"))
}

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

const SKNPAY_SECRET: &str = "whsec_reasons_test";

fn sknpay() -> Case {
    let settings = json!({ "api_key": "sk_test_reasons", "webhook_secret": SKNPAY_SECRET });
    Case {
        id: sknpay::ID,
        adapter: built(sknpay::FACTORY, &settings),
        fixtures: vec![include_str!("sknpay/fixtures/event.json")],
        signed: |body| {
            let header = sknpay::signature::sign(SKNPAY_SECRET.as_bytes(), 2 * DIGITS, body);
            headers(&[(sknpay::SIGNATURE_HEADER, &header)])
        },
        header_canaries: |body| {
            let sign = |secret: &str, t: i64| sknpay::signature::sign(secret.as_bytes(), t, body);
            let header = |value: String| headers(&[(sknpay::SIGNATURE_HEADER, &value)]);
            vec![
                ("no header", vec![]),
                ("the canary", header(CANARY.to_owned())),
                (
                    "a long canary",
                    header(format!("{CANARY}{}", "x".repeat(5_000))),
                ),
                ("t canary", header(format!("t={CANARY},v1={HEX}"))),
                ("v1 canary", header(format!("t={},v1={CANARY}", 2 * DIGITS))),
                (
                    "t overflows",
                    header(format!("t={DIGITS}{DIGITS},v1={HEX}")),
                ),
                ("t too old", header(sign(SKNPAY_SECRET, DIGITS))),
                ("t ahead", header(sign(SKNPAY_SECRET, 3 * DIGITS))),
                ("another secret", header(sign(CANARY, 2 * DIGITS))),
            ]
        },
    }
}

const PAKHI_KEY: &str = "pk_reasons_test";

fn pakhi() -> Case {
    let settings = json!({ "api_key": PAKHI_KEY });
    Case {
        id: pakhi::ID,
        adapter: built(pakhi::FACTORY, &settings),
        fixtures: vec![include_str!("pakhi/fixtures/callback.json")],
        // The signature is a member of the body: no header makes it authentic, and its
        // canaries (`signature` replaced, missing, repeated) are among the body variants. A
        // header of the same name changes nothing.
        signed: |_| vec![],
        header_canaries: |_| vec![("a signature header", headers(&[("signature", CANARY)]))],
    }
}

const KWIK_SECRET: &str = "kwik_whsec_reasons";

fn kwik() -> Case {
    let settings = json!({
        "api_key": "kwik_key_reasons",
        "api_secret": "kwik_secret_reasons",
        "webhook_secret": KWIK_SECRET,
    });
    Case {
        id: kwik::ID,
        adapter: built(kwik::FACTORY, &settings),
        fixtures: vec![include_str!("kwik/fixtures/webhook.json")],
        signed: |body| {
            let signature = hmac_sha256_hex(KWIK_SECRET.as_bytes(), &[body]);
            let t = (2 * DIGITS).to_string();
            headers(&[
                (kwik::signature::SIGNATURE_HEADER, &signature),
                (kwik::signature::TIMESTAMP_HEADER, &t),
            ])
        },
        header_canaries: |body| {
            let good = hmac_sha256_hex(KWIK_SECRET.as_bytes(), &[body]);
            let other = hmac_sha256_hex(CANARY.as_bytes(), &[body]);
            let pair = |signature: &str, t: String| {
                headers(&[
                    (kwik::signature::SIGNATURE_HEADER, signature),
                    (kwik::signature::TIMESTAMP_HEADER, &t),
                ])
            };
            vec![
                ("no headers", vec![]),
                (
                    "no timestamp",
                    headers(&[(kwik::signature::SIGNATURE_HEADER, &good)]),
                ),
                ("signature canary", pair(CANARY, (2 * DIGITS).to_string())),
                ("timestamp canary", pair(&good, CANARY.to_owned())),
                ("long timestamp", pair(&good, format!("{DIGITS}{DIGITS}"))),
                ("timestamp too old", pair(&good, DIGITS.to_string())),
                ("timestamp ahead", pair(&good, (3 * DIGITS).to_string())),
                ("another secret", pair(&other, (2 * DIGITS).to_string())),
            ]
        },
    }
}

const SPANKPAY_KEY: &str = "test_reasons_key";
const SPANKPAY_SECRET: &str = "sk_spankpay_reasons";

fn spankpay() -> Case {
    let settings = json!({ "public_key": SPANKPAY_KEY, "api_secret": SPANKPAY_SECRET });
    Case {
        id: spankpay::ID,
        adapter: built(spankpay::FACTORY, &settings),
        fixtures: vec![include_str!("spankpay/fixtures/webhook.json")],
        signed: |body| {
            let signature =
                spankpay::wire::signature_header(SPANKPAY_SECRET.as_bytes(), 2 * DIGITS, body);
            headers(&[
                (spankpay::wire::KEY_HEADER, SPANKPAY_KEY),
                (spankpay::wire::SIGNATURE_HEADER, &signature),
            ])
        },
        header_canaries: |body| {
            let sign =
                |secret: &str, t: i64| spankpay::wire::signature_header(secret.as_bytes(), t, body);
            let pair = |key: &str, signature: &str| {
                headers(&[
                    (spankpay::wire::KEY_HEADER, key),
                    (spankpay::wire::SIGNATURE_HEADER, signature),
                ])
            };
            let good = sign(SPANKPAY_SECRET, 2 * DIGITS);
            vec![
                ("no headers", vec![]),
                ("key canary", pair(CANARY, &good)),
                (
                    "no signature",
                    headers(&[(spankpay::wire::KEY_HEADER, SPANKPAY_KEY)]),
                ),
                ("signature canary", pair(SPANKPAY_KEY, CANARY)),
                (
                    "t canary",
                    pair(SPANKPAY_KEY, &format!("t={CANARY}&s={HEX}")),
                ),
                (
                    "s canary",
                    pair(SPANKPAY_KEY, &format!("t={}&s={CANARY}", 2 * DIGITS)),
                ),
                (
                    "t too old",
                    pair(SPANKPAY_KEY, &sign(SPANKPAY_SECRET, DIGITS)),
                ),
                (
                    "t ahead",
                    pair(SPANKPAY_KEY, &sign(SPANKPAY_SECRET, 3 * DIGITS)),
                ),
                (
                    "t out of range",
                    pair(SPANKPAY_KEY, &sign(SPANKPAY_SECRET, DIGITS * 1_000_000)),
                ),
                (
                    "another secret",
                    pair(SPANKPAY_KEY, &sign(CANARY, 2 * DIGITS)),
                ),
            ]
        },
    }
}

const SKIPIFY_CUSTOM_HEADER: &str = "x-api-key";
const SKIPIFY_CUSTOM_VALUE: &str = "hdr-reasons";

fn skipify() -> Case {
    let settings = json!({
        "merchant_id": "merchant-reasons",
        "api_key": "skp_test_reasons",
        // The fixtures' own `secret`.
        "secret": "abd12345",
        "custom_header_name": SKIPIFY_CUSTOM_HEADER,
        "custom_header_value": SKIPIFY_CUSTOM_VALUE,
    });
    Case {
        id: skipify::ID,
        adapter: built(skipify::FACTORY, &settings),
        fixtures: vec![
            include_str!("skipify/fixtures/order_payment_succeeded.json"),
            include_str!("skipify/fixtures/order_payment_failed.json"),
            include_str!("skipify/fixtures/payment_request_expired.json"),
        ],
        signed: |_| headers(&[(SKIPIFY_CUSTOM_HEADER, SKIPIFY_CUSTOM_VALUE)]),
        header_canaries: |_| {
            vec![
                ("no custom header", vec![]),
                (
                    "custom header canary",
                    headers(&[(SKIPIFY_CUSTOM_HEADER, CANARY)]),
                ),
                (
                    "secret header canary",
                    headers(&[
                        (skipify::SECRET_HEADER, CANARY),
                        (SKIPIFY_CUSTOM_HEADER, SKIPIFY_CUSTOM_VALUE),
                    ]),
                ),
            ]
        },
    }
}

/// What is wrong with `error`'s message, if anything: a canary quoted, or too many characters.
/// Each finding names the provider and the variant.
fn findings(provider: &str, variant: &str, error: &ProviderError) -> Vec<String> {
    let message = error.to_string();
    let length = message.chars().count();
    let shown: String = message.chars().take(200).collect();
    let mut found: Vec<String> = NEEDLES
        .iter()
        .filter(|needle| message.contains(*needle))
        .map(|needle| format!("{provider}, {variant}: quotes `{needle}`: {shown}"))
        .collect();
    if length > MAX_REASON_CHARS {
        found.push(format!(
            "{provider}, {variant}: {length} characters long: {shown}…"
        ));
    }
    found
}

/// Fails listing every finding (the first 200 of them).
fn assert_none(findings: &[String]) {
    assert!(
        findings.is_empty(),
        "{} reasons quote the request or are too long:\n{}",
        findings.len(),
        findings
            .iter()
            .take(200)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn cases() -> Vec<Case> {
    vec![sknpay(), pakhi(), kwik(), spankpay(), skipify()]
}

#[test]
fn rejected_bodies_are_described_without_their_values() {
    let mut found = vec![];
    for case in cases() {
        let mut rejected = 0;
        for fixture in &case.fixtures {
            for (variant, body) in variants(fixture) {
                let signed = (case.signed)(&body);
                let request = WebhookRequest {
                    headers: &signed,
                    body: &body,
                };
                let verified = case.adapter.verify_webhook(&request, now());
                let parsed = case.adapter.parse_webhook(&body).map(drop);
                for result in [verified, parsed] {
                    if let Err(error) = result {
                        rejected += 1;
                        found.extend(findings(case.id, &variant, &error));
                    }
                }
            }
        }
        // The variants do reach the checks: most of them are refused.
        assert!(rejected > 50, "{}: only {rejected} rejections", case.id);
    }
    assert_none(&found);
}

#[test]
fn rejected_headers_are_described_without_their_values() {
    let mut found = vec![];
    for case in cases() {
        let body = case.fixtures[0].as_bytes();
        // The fixture with its own headers is authentic (Pakhi Pay's placeholder signature is
        // not, and must be refused like any other).
        let signed = (case.signed)(body);
        let request = WebhookRequest {
            headers: &signed,
            body,
        };
        match case.adapter.verify_webhook(&request, now()) {
            Ok(()) => assert_ne!(case.id, pakhi::ID),
            Err(error) => {
                assert_eq!(case.id, pakhi::ID, "{error}");
                found.extend(findings(case.id, "the fixture", &error));
            }
        }
        for (variant, canary_headers) in (case.header_canaries)(body) {
            let request = WebhookRequest {
                headers: &canary_headers,
                body,
            };
            let error = case
                .adapter
                .verify_webhook(&request, now())
                .expect_err(variant);
            found.extend(findings(case.id, variant, &error));
        }
    }
    assert_none(&found);
}
