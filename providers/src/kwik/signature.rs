//! Kwik's two signatures.
//!
//! **Request signature** (`signature` member of `POST /checkout/link`, sent when the merchant
//! downloaded a passphrase): lower-case hex HMAC-SHA256 under the passphrase of the payload's
//! canonical JSON, exactly as the doc's JavaScript reference `canonicalize` computes it:
//!
//! - objects: keys sorted as JavaScript's `Array.prototype.sort()` sorts strings (by UTF-16
//!   code units, so `"😀"` sorts before `"｡"`), every member named `signature` left out *at
//!   every depth*, members whose value is `undefined` skipped (JSON has none: an absent key is
//!   simply absent), `{"k":v,…}` with no whitespace;
//! - arrays: `[a,b,…]`;
//! - strings and keys: `JSON.stringify` escaping (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`,
//!   other controls as lower-case `\u00xx`, everything else, `/`, DEL and non-ASCII included,
//!   as is);
//! - numbers: as JavaScript prints the double the JSON text denotes (`1e21` → `1e+21`,
//!   `-0` → `0`, `100.0` → `100`, `12345678901234567890` → `12345678901234567000`);
//! - `true`, `false`, `null`.
//!
//! The doc also shows PHP, C#, Java and Python versions; they disagree with the JavaScript one
//! (PHP escapes `/` and non-ASCII, Python escapes non-ASCII and prints `1e+21` differently,
//! Java escapes nothing, C# and Java keep nested `signature` members…). paymux follows the
//! JavaScript function, the first and the only complete one, and checks it against outputs of
//! that very function run under Node (`fixtures/canonical_vectors.json`).
//!
//! Money never goes through a number here: paymux sends amounts as decimal strings, so the
//! only numbers in a payload are quantities and minutes. Printing a number the JavaScript way
//! does need its double, which is what the receiving `JSON.parse` makes of it.
//!
//! **Webhook signature**: `X-Signature` is the lower-case hex HMAC-SHA256 of the raw body under
//! the webhook secret; `X-Timestamp` the Unix time (seconds) of sending, accepted for 300 s and
//! up to 30 s ahead of paymux's clock (the doc says "within 300 s" and gives no reference
//! verifier; a sender whose clock runs slightly fast or that rounds must not be refused half the
//! time). The doc does not put the timestamp under the signature, so it bounds
//! how long a captured delivery is accepted as is, no more; paymux's dedupe on the derived
//! event id makes a replay harmless anyway.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use crate::ProviderError;
use crate::json;
use crate::signing::{
    check_hmac_sha256_hex, check_timestamp_window, hmac_sha256_hex, required_header,
    verify_hmac_sha256_hex,
};

/// The request member that carries the signature, and that canonicalization leaves out.
pub const SIGNATURE_FIELD: &str = "signature";
/// The webhook header carrying the hex HMAC of the raw body.
pub const SIGNATURE_HEADER: &str = "X-Signature";
/// The webhook header carrying the Unix time of sending.
pub const TIMESTAMP_HEADER: &str = "X-Timestamp";
/// The `User-Agent` Kwik sends webhooks with.
pub const WEBHOOK_USER_AGENT: &str = "Kwik-Webhooks/1.0";
/// How old a webhook's `X-Timestamp` may be, in seconds.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;
/// How far ahead of paymux's clock an `X-Timestamp` may be: senders' clocks drift and round.
pub const CLOCK_SKEW_SECS: i64 = 30;

// ---------------------------------------------------------------------------------------------
// Canonical JSON
// ---------------------------------------------------------------------------------------------

/// The canonical JSON text of `value`, as the doc's JavaScript `canonicalize(JSON.parse(text))`
/// returns it for the JSON text of `value`.
pub fn canonicalize(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => out.push_str(&js_number(number)),
        Value::String(text) => write_js_string(text, out),
        Value::Array(items) => write_list(out, ('[', ']'), items, write_canonical),
        Value::Object(members) => {
            let mut keys: Vec<&String> = members
                .keys()
                .filter(|key| key.as_str() != SIGNATURE_FIELD)
                .collect();
            keys.sort_by(|a, b| utf16_order(a, b));
            write_list(out, ('{', '}'), keys, |key, out| {
                write_js_string(key, out);
                out.push(':');
                if let Some(member) = members.get(key) {
                    write_canonical(member, out);
                }
            });
        }
    }
}

/// `items` written one after the other with `write`, separated by commas, between `open` and
/// `close`: an array's or an object's body.
fn write_list<T>(
    out: &mut String,
    (open, close): (char, char),
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(T, &mut String),
) {
    out.push(open);
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write(item, out);
    }
    out.push(close);
}

/// JavaScript's default string order: by UTF-16 code units, not by code points (they differ
/// for characters above U+FFFF against U+E000..U+FFFF).
fn utf16_order(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// A string as `JSON.stringify` writes it.
fn write_js_string(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let code = u32::from(c) as usize;
                out.push_str("\\u00");
                out.push(char::from(HEX[code >> 4]));
                out.push(char::from(HEX[code & 0xf]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON number as JavaScript prints it: the nearest double, then ECMAScript's
/// `Number::toString`. A JSON text cannot hold `NaN` or infinities; `JSON.stringify` would
/// print them `null`.
fn js_number(number: &Number) -> String {
    // u64 and i64 convert to the nearest double, ties to even, as `JSON.parse` rounds the
    // integer's digits.
    let double = match (number.as_u64(), number.as_i64()) {
        (Some(unsigned), _) => unsigned as f64,
        (None, Some(signed)) => signed as f64,
        (None, None) => number.as_f64().unwrap_or(f64::NAN),
    };
    format_js_double(double)
}

/// ECMAScript `Number::toString(x)` for radix 10 (ECMA-262, 6.1.6.1.20).
fn format_js_double(x: f64) -> String {
    if !x.is_finite() {
        return "null".to_owned();
    }
    if x == 0.0 {
        // Both zeros print `0`.
        return "0".to_owned();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    // Rust's `{:e}` prints the shortest digits that round-trip, choosing the closest when
    // several do, as ECMAScript requires: `d[.ddd]e[-]x`.
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    // x = 0.digits × 10^n, with k significant digits.
    let k = digits.len() as i64;
    let n = exponent + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (whole, fraction) = digits.split_at(n as usize);
        format!("{whole}.{fraction}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let e_sign = if e >= 0 { '+' } else { '-' };
        let (first, rest) = digits.split_at(1);
        if rest.is_empty() {
            format!("{first}e{e_sign}{}", e.abs())
        } else {
            format!("{first}.{rest}e{e_sign}{}", e.abs())
        }
    };
    format!("{sign}{body}")
}

/// Parses a JSON text as JavaScript's `JSON.parse` reads it, for checking a received body's
/// signature: each number literal becomes its correctly rounded double (integers that fit stay
/// integers, which print the same), and of duplicate keys the last wins. serde_json's default
/// float parsing may land one unit in the last place off for literals of 17 significant digits,
/// which would change their canonical text; Rust's `f64::from_str` is exact.
///
/// Number literals beyond the double range (`1e400`, which JavaScript reads as `Infinity`) are
/// refused, and so is nesting past [`json::MAX_DEPTH`]: each level is read again from its
/// text, so the bound keeps the work linear and the recursion shallow.
pub fn parse_exact(text: &str) -> Result<Value, serde_json::Error> {
    json::check_depth(text.as_bytes(), json::MAX_DEPTH)
        .map_err(<serde_json::Error as serde::de::Error>::custom)?;
    let raw: &RawValue = serde_json::from_str(text)?;
    exact_value(raw)
}

fn exact_value(raw: &RawValue) -> Result<Value, serde_json::Error> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'{') => {
            let members: BTreeMap<String, &RawValue> = serde_json::from_str(text)?;
            let mut object = Map::new();
            for (key, member) in members {
                object.insert(key, exact_value(member)?);
            }
            Ok(Value::Object(object))
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            items
                .into_iter()
                .map(exact_value)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        Some(b'-' | b'0'..=b'9') => exact_number(text),
        _ => serde_json::from_str(text),
    }
}

fn exact_number(text: &str) -> Result<Value, serde_json::Error> {
    let integer = !text.contains(['.', 'e', 'E']);
    if integer {
        if let Ok(unsigned) = text.parse::<u64>() {
            return Ok(Value::from(unsigned));
        }
        if let Ok(signed) = text.parse::<i64>() {
            return Ok(Value::from(signed));
        }
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| {
            <serde_json::Error as serde::de::Error>::custom(format!(
                "number {text} is out of the range of a double"
            ))
        })
}

// ---------------------------------------------------------------------------------------------
// Request signature
// ---------------------------------------------------------------------------------------------

/// The request signature of `payload`: hex HMAC-SHA256 under `passphrase` of its canonical
/// JSON (which leaves any `signature` member out).
pub fn request_signature(passphrase: &[u8], payload: &Value) -> String {
    hmac_sha256_hex(passphrase, &[canonicalize(payload).as_bytes()])
}

/// Signs a request body in place: sets its `signature` member.
pub fn sign_request(passphrase: &[u8], body: &mut Map<String, Value>) {
    body.remove(SIGNATURE_FIELD);
    let signature = request_signature(passphrase, &Value::Object(body.clone()));
    body.insert(SIGNATURE_FIELD.to_owned(), Value::String(signature));
}

/// Whether `body`'s `signature` member is the signature of the rest under `passphrase`,
/// compared in constant time: what Kwik checks when the API key has a passphrase.
pub fn verify_request(passphrase: &[u8], body: &Value) -> bool {
    let Some(signature) = body.get(SIGNATURE_FIELD).and_then(Value::as_str) else {
        return false;
    };
    verify_hmac_sha256_hex(passphrase, &[canonicalize(body).as_bytes()], signature)
}

// ---------------------------------------------------------------------------------------------
// Webhook signature
// ---------------------------------------------------------------------------------------------

/// The `X-Signature` of a webhook body: what the simulated Kwik signs with.
pub fn sign_webhook(secret: &[u8], body: &[u8]) -> String {
    hmac_sha256_hex(secret, &[body])
}

/// Checks a delivery: `signature` and `timestamp` are the `X-Signature` and `X-Timestamp`
/// values (`None` when missing), `body` the exact bytes received. Checks run in the order that
/// reveals the least: the headers' shape, then the 300 s window, then the HMAC, compared in
/// constant time.
pub fn verify_webhook(
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<(), ProviderError> {
    let signature = required_header(signature, SIGNATURE_HEADER)?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ProviderError::InvalidSignature(format!(
            "{SIGNATURE_HEADER} must be 64 hex digits (HMAC-SHA256)"
        )));
    }
    let timestamp = timestamp.ok_or_else(|| {
        ProviderError::StaleTimestamp(format!("missing {TIMESTAMP_HEADER} header"))
    })?;
    let signed_at = parse_timestamp(timestamp)?;
    check_timestamp_window(signed_at, now, TIMESTAMP_TOLERANCE_SECS, CLOCK_SKEW_SECS)?;
    check_hmac_sha256_hex(secret, &[body], signature, SIGNATURE_HEADER)
}

/// `X-Timestamp`: Unix seconds, digits only.
fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, ProviderError> {
    let digits = !text.is_empty() && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| text.parse::<i64>().ok())
        .flatten()
        .and_then(|seconds| Utc.timestamp_opt(seconds, 0).single())
        .ok_or_else(|| {
            ProviderError::StaleTimestamp(format!(
                "{TIMESTAMP_HEADER} must be Unix seconds (at most 12 digits)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use serde::Deserialize;
    use sha2::Sha256;

    /// Inputs, and what the doc's JavaScript `canonicalize` and `generateKwikSignature` made of
    /// them under Node 20 (the JavaScript itself is not kept in the repository).
    const VECTORS: &str = include_str!("fixtures/canonical_vectors.json");
    const WEBHOOK: &[u8] = include_bytes!("fixtures/webhook.json");
    const SECRET: &[u8] = b"kwik_whsec_test";
    const NOW: i64 = 1_757_766_600;

    #[derive(Deserialize)]
    struct Vector {
        name: String,
        passphrase: String,
        /// The exact JSON text both sides parse.
        payload_json: String,
        canonical: String,
        signature: String,
    }

    fn vectors() -> Vec<Vector> {
        serde_json::from_str(VECTORS).unwrap()
    }

    #[test]
    fn the_docs_example_canonicalizes_as_the_doc_prints_it() {
        let payload = serde_json::json!({
            "type": "CHOOSE_WHAT_TO_PAY",
            "item": { "title": "My product name", "frequency": ["ONE_TIME"], "amount": "1200.00" }
        });
        assert_eq!(
            canonicalize(&payload),
            r#"{"item":{"amount":"1200.00","frequency":["ONE_TIME"],"title":"My product name"},"type":"CHOOSE_WHAT_TO_PAY"}"#
        );
        let doc = vectors()
            .into_iter()
            .find(|v| v.name == "doc_example")
            .unwrap();
        assert_eq!(
            request_signature(b"your-secure-passphrase", &payload),
            doc.signature
        );
    }

    #[test]
    fn every_vector_matches_the_javascript_reference() {
        let vectors = vectors();
        assert!(vectors.len() >= 15);
        for vector in vectors {
            let payload = parse_exact(&vector.payload_json).unwrap();
            assert_eq!(canonicalize(&payload), vector.canonical, "{}", vector.name);
            assert_eq!(
                request_signature(vector.passphrase.as_bytes(), &payload),
                vector.signature,
                "{}",
                vector.name
            );
        }
    }

    #[test]
    fn exact_parsing_reads_numbers_as_javascript_does() {
        // serde_json's default parser reads this literal one unit in the last place off (it
        // prints back as 5.413255752064286e-35); Node and `f64::from_str` read it exactly.
        let literal = "5.413255752064287e-35";
        let exact = parse_exact(literal).unwrap();
        assert_eq!(exact.as_f64(), Some(5.413255752064287e-35));
        assert_eq!(canonicalize(&exact), "5.413255752064287e-35");
        for (text, canonical) in [
            ("-0", "0"),
            ("-0.0", "0"),
            ("18446744073709551616", "18446744073709552000"),
            ("-9223372036854775809", "-9223372036854776000"),
            ("1E+2", "100"),
            (r#"{"a":1,"a":[2.50]}"#, r#"{"a":[2.5]}"#),
            (" [ true , null , \"\\u00e9\" ] ", "[true,null,\"é\"]"),
        ] {
            assert_eq!(
                canonicalize(&parse_exact(text).unwrap()),
                canonical,
                "{text}"
            );
        }
        for bad in ["1e400", "-1e400", "{\"a\":", "01", "NaN", ""] {
            assert!(parse_exact(bad).is_err(), "{bad}");
        }
        // Nesting that once overflowed the stack is refused before any parse.
        for depth in [65, 15_000] {
            let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            let error = parse_exact(&deep).unwrap_err();
            assert!(error.to_string().contains("64 levels"), "{error}");
        }
    }

    #[test]
    fn ordinary_values_canonicalize_as_javascript_does() {
        // Parsed by serde_json, every vector but the 17-digit random doubles is read exactly.
        for vector in vectors().into_iter().filter(|v| v.name != "random_doubles") {
            let payload: Value = serde_json::from_str(&vector.payload_json).unwrap();
            assert_eq!(canonicalize(&payload), vector.canonical, "{}", vector.name);
        }
    }

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        for (double, expected) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (0.1, "0.1"),
            (-0.0, "0"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (-1.25e-7, "-1.25e-7"),
            (123_456.789, "123456.789"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
        ] {
            assert_eq!(format_js_double(double), expected, "{double:e}");
        }
        let big: Value =
            serde_json::from_str("[12345678901234567890,-9223372036854775808]").unwrap();
        assert_eq!(
            canonicalize(&big),
            "[12345678901234567000,-9223372036854776000]"
        );
    }

    #[test]
    fn signing_sets_the_signature_over_the_rest() {
        let mut body = serde_json::json!({
            "type": "CHOOSE_WHAT_TO_PAY",
            "signature": "stale",
            "item": { "title": "My product name", "frequency": ["ONE_TIME"], "amount": "1200.00" }
        });
        let members = body.as_object_mut().unwrap();
        sign_request(b"your-secure-passphrase", members);
        let doc = vectors()
            .into_iter()
            .find(|v| v.name == "doc_example")
            .unwrap();
        assert_eq!(body[SIGNATURE_FIELD], doc.signature);
        assert!(verify_request(b"your-secure-passphrase", &body));
        assert!(!verify_request(b"another-passphrase", &body));
        let mut tampered = body.clone();
        tampered["item"]["amount"] = "1.00".into();
        assert!(!verify_request(b"your-secure-passphrase", &tampered));
        let mut unsigned = body.clone();
        unsigned.as_object_mut().unwrap().remove(SIGNATURE_FIELD);
        assert!(!verify_request(b"your-secure-passphrase", &unsigned));
        unsigned[SIGNATURE_FIELD] = 5.into();
        assert!(!verify_request(b"your-secure-passphrase", &unsigned));
    }

    /// An independent webhook signer: the doc's scheme against the `hmac` crate directly.
    fn signed(secret: &[u8], body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(NOW, 0).unwrap()
    }

    fn check(
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
    ) -> Result<(), ProviderError> {
        verify_webhook(signature, timestamp, body, SECRET, now())
    }

    #[test]
    fn a_signed_webhook_is_accepted_for_300_seconds() {
        let signature = signed(SECRET, WEBHOOK);
        assert_eq!(sign_webhook(SECRET, WEBHOOK), signature);
        for t in [NOW, NOW - 300] {
            assert_eq!(
                check(Some(&signature), Some(&t.to_string()), WEBHOOK),
                Ok(())
            );
        }
        let upper = signature.to_ascii_uppercase();
        assert_eq!(check(Some(&upper), Some(&NOW.to_string()), WEBHOOK), Ok(()));
    }

    #[test]
    fn a_changed_byte_or_another_secret_is_rejected() {
        let signature = signed(SECRET, WEBHOOK);
        let mut tampered = WEBHOOK.to_vec();
        let at = tampered.iter().position(|&b| b == b'2').unwrap();
        tampered[at] = b'3';
        let t = NOW.to_string();
        assert!(matches!(
            check(Some(&signature), Some(&t), &tampered),
            Err(ProviderError::InvalidSignature(_))
        ));
        let other = signed(b"someone-else", WEBHOOK);
        let error = check(Some(&other), Some(&t), WEBHOOK).unwrap_err();
        assert!(matches!(error, ProviderError::InvalidSignature(_)));
        assert!(!error.to_string().contains("kwik_whsec"), "{error}");
    }

    #[test]
    fn stale_future_and_malformed_timestamps_are_refused() {
        let signature = signed(SECRET, WEBHOOK);
        for t in [
            (NOW - 301).to_string(),
            (NOW + 31).to_string(),
            (NOW + 3_600).to_string(),
            // Milliseconds are a time far in the future.
            (NOW * 1_000).to_string(),
            String::new(),
            "-1".into(),
            " 1757766600".into(),
            "1757766600.0".into(),
            "yesterday".into(),
            "99999999999999999999999".into(),
        ] {
            assert!(
                matches!(
                    check(Some(&signature), Some(&t), WEBHOOK),
                    Err(ProviderError::StaleTimestamp(_))
                ),
                "{t:?}"
            );
        }
        assert_eq!(
            check(Some(&signature), None, WEBHOOK),
            Err(ProviderError::StaleTimestamp(
                "missing X-Timestamp header".into()
            ))
        );
    }

    #[test]
    fn missing_and_malformed_signatures_are_refused() {
        let signature = signed(SECRET, WEBHOOK);
        let t = NOW.to_string();
        assert_eq!(
            check(None, Some(&t), WEBHOOK),
            Err(ProviderError::InvalidSignature(
                "missing X-Signature header".into()
            ))
        );
        for bad in [
            String::new(),
            format!("sha256={signature}"),
            signature[..63].to_owned(),
            format!("{signature}0"),
            format!(" {signature}"),
            "z".repeat(64),
        ] {
            assert!(
                matches!(
                    check(Some(&bad), Some(&t), WEBHOOK),
                    Err(ProviderError::InvalidSignature(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_signature_shape_is_checked_before_the_time_and_the_time_before_the_hmac() {
        let stale = (NOW - 301).to_string();
        assert!(matches!(
            check(Some("nope"), Some(&stale), WEBHOOK),
            Err(ProviderError::InvalidSignature(_))
        ));
        assert!(matches!(
            check(Some(&"0".repeat(64)), Some(&stale), WEBHOOK),
            Err(ProviderError::StaleTimestamp(_))
        ));
    }
}
