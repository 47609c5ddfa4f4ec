//! How a Skipify webhook proves where it comes from: not a signature but a shared secret.
//!
//! The merchant gives Skipify "an encryption secret" and, optionally, "a custom header key/value
//! pair (i.e. - x-api-key)" (`shared/providers/skipify.txt`, Merchant Portal Setup). Skipify
//! echoes the secret in the body's top-level `secret` member (every doc sample ends with
//! `"secret": "abd12345"`); paymux also accepts it in an `X-Skipify-Secret` header. Every
//! comparison runs in constant time, and a failure never says which byte was wrong.
//!
//! Because the secret travels with the request, it must never be stored with the receipt:
//! as [`Redacts`], [`WebhookAuth`] names the headers to drop and blanks the body's `secret`
//! member.

use std::fmt;
use std::ops::Range;

use reqwest::header::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::{Deserializer as _, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::ConfigError;
use crate::model::WebhookRequest;
use crate::signing::{constant_time_eq, required_header};
use crate::{ProviderError, Redacts};

/// The header that may carry the shared secret instead of the body.
pub const SECRET_HEADER: &str = "X-Skipify-Secret";
/// The top-level body member carrying the shared secret.
pub const SECRET_MEMBER: &str = "secret";
/// What a stored body shows instead of the secret.
pub const REDACTED: &str = "[redacted]";

/// Headers paymux never sees (the gateway drops them before verification), so they cannot
/// carry the custom header.
const DROPPED_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// The optional custom header the merchant asked Skipify to send. Its `Debug` output shows the
/// name only: the value is a [`SecretString`].
#[derive(Clone, Debug)]
pub struct CustomHeader {
    /// Lower-case, as HTTP/2 and the gateway spell header names.
    name: String,
    value: SecretString,
}

impl CustomHeader {
    /// Checks a configured pair: the name must be a valid header name paymux can receive, the
    /// value something HTTP can carry unchanged. Errors name the config key, never the value.
    pub fn new(name: &str, value: SecretString) -> Result<CustomHeader, ConfigError> {
        let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ConfigError::new(
                "custom_header_name",
                format!("`{name}` is not a valid HTTP header name"),
            )
        })?;
        let lower = parsed.as_str();
        if DROPPED_HEADERS.contains(&lower) {
            return Err(ConfigError::new(
                "custom_header_name",
                format!(
                    "paymux never passes the `{lower}` header to verification; choose another name such as x-api-key"
                ),
            ));
        }
        if lower.eq_ignore_ascii_case(SECRET_HEADER) {
            return Err(ConfigError::new(
                "custom_header_name",
                format!("{SECRET_HEADER} already carries the shared secret; choose another name"),
            ));
        }
        let text = value.expose_secret();
        if !is_visible_ascii(text) || HeaderValue::from_str(text).is_err() || text.trim() != text {
            return Err(ConfigError::new(
                "custom_header_value",
                "the custom header value must be printable ASCII without leading or trailing \
                 spaces, or HTTP cannot carry it unchanged",
            ));
        }
        Ok(CustomHeader {
            name: lower.to_owned(),
            value,
        })
    }

    /// The lower-case header name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The header as the simulated Skipify sends it.
    pub fn pair(&self) -> (String, String) {
        (self.name.clone(), self.value.expose_secret().to_owned())
    }
}

/// Printable ASCII (spaces included): what an HTTP header carries unchanged.
pub(super) fn is_visible_ascii(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// One merchant's webhook credentials. Its `Debug` output shows no secret: both are
/// [`SecretString`]s.
#[derive(Clone, Debug)]
pub struct WebhookAuth {
    secret: SecretString,
    custom_header: Option<CustomHeader>,
}

/// The body's `secret` member, as far as it can be read.
enum BodySecret {
    /// No such member, `null`, or a body that is not a JSON object.
    Absent,
    Text(String),
    /// Present but not a string: it cannot match.
    NotText,
    /// The body is not a JSON object paymux can read a secret from.
    Unreadable,
}

/// Reads only the `secret` member; everything else is skipped. Not `Debug`: it holds a secret.
#[derive(Deserialize)]
struct SecretOnly {
    #[serde(default)]
    secret: Option<serde_json::Value>,
}

fn body_secret(body: &[u8]) -> BodySecret {
    match serde_json::from_slice::<SecretOnly>(&super::wire::without_trailing_commas(body)) {
        Ok(SecretOnly {
            secret: Some(serde_json::Value::String(text)),
        }) => BodySecret::Text(text),
        Ok(SecretOnly {
            secret: None | Some(serde_json::Value::Null),
        }) => BodySecret::Absent,
        Ok(SecretOnly { secret: Some(_) }) => BodySecret::NotText,
        // Not a JSON object, or one with two `secret` members: no secret paymux can trust.
        Err(_) => BodySecret::Unreadable,
    }
}

impl WebhookAuth {
    pub fn new(secret: SecretString, custom_header: Option<CustomHeader>) -> WebhookAuth {
        WebhookAuth {
            secret,
            custom_header,
        }
    }

    pub fn custom_header(&self) -> Option<&CustomHeader> {
        self.custom_header.as_ref()
    }

    /// The secret as the simulated Skipify puts it in the body.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// Accepts a delivery when the shared secret arrived (body `secret` member or
    /// `X-Skipify-Secret` header), every secret presented matches, and the custom header, when
    /// configured, is present with its value. Anything else is
    /// [`ProviderError::InvalidSignature`].
    pub fn verify(&self, request: &WebhookRequest<'_>) -> Result<(), ProviderError> {
        let expected = self.secret.expose_secret().as_bytes();
        let mut presented = 0;
        let mut all_match = true;
        let body_secret = body_secret(request.body);
        if matches!(body_secret, BodySecret::Unreadable) && request.header(SECRET_HEADER).is_none()
        {
            return Err(ProviderError::MalformedPayload(
                "the body is not a JSON object, so it carries no readable secret".to_owned(),
            ));
        }
        match body_secret {
            BodySecret::Absent | BodySecret::Unreadable => {}
            BodySecret::Text(text) => {
                presented += 1;
                all_match &= constant_time_eq(text.as_bytes(), expected);
            }
            BodySecret::NotText => {
                presented += 1;
                all_match = false;
            }
        }
        if let Some(header) = request.header(SECRET_HEADER) {
            presented += 1;
            all_match &= constant_time_eq(header.as_bytes(), expected);
        }
        if presented == 0 {
            return Err(ProviderError::InvalidSignature(format!(
                "no webhook secret: expected the body's `{SECRET_MEMBER}` member or the \
                 {SECRET_HEADER} header"
            )));
        }
        if !all_match {
            return Err(ProviderError::InvalidSignature(
                "the webhook secret does not match the merchant's Skipify secret".to_owned(),
            ));
        }
        if let Some(custom) = &self.custom_header {
            let value = required_header(request.header(&custom.name), &custom.name)?;
            if !constant_time_eq(value.as_bytes(), custom.value.expose_secret().as_bytes()) {
                return Err(ProviderError::InvalidSignature(format!(
                    "the {} header does not match the configured value",
                    custom.name
                )));
            }
        }
        Ok(())
    }
}

impl Redacts for WebhookAuth {
    /// Whether a request header carries a secret: `X-Skipify-Secret` or the custom header.
    fn is_secret_header(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(SECRET_HEADER)
            || self
                .custom_header
                .as_ref()
                .is_some_and(|custom| name.eq_ignore_ascii_case(&custom.name))
    }

    /// The body as it may be stored: every top-level `secret` member's value (whatever it is,
    /// right or wrong) replaced by `"[redacted]"`, everything else byte for byte. `None` when
    /// there is nothing to hide.
    ///
    /// `serde_json` here keeps no key order (its `preserve_order` feature is off), so the body
    /// is not re-serialized: the members are walked in place and only the value's bytes are
    /// replaced. A body that is not valid JSON is redacted as far as it could be read, and
    /// every occurrence of the merchant's secret in it is blanked too.
    fn redact_body(&self, raw: &[u8]) -> Option<Vec<u8>> {
        let (ranges, complete) = top_level_secret_ranges(raw);
        let quoted = format!("\"{REDACTED}\"");
        let mut redacted = replace_ranges(raw, &ranges, quoted.as_bytes());
        let mut changed = !ranges.is_empty();
        if !complete {
            let secret = self.secret.expose_secret().as_bytes();
            if let Some(blanked) = replace_all(&redacted, secret, REDACTED.as_bytes()) {
                redacted = blanked;
                changed = true;
            }
        }
        changed.then_some(redacted)
    }
}

/// The byte ranges of the values of the top-level `secret` members of `raw`, and whether the
/// whole body was a readable JSON object. On a parse error the ranges found before it are kept.
fn top_level_secret_ranges(raw: &[u8]) -> (Vec<Range<usize>>, bool) {
    struct Collector<'r> {
        raw: &'r [u8],
        ranges: &'r mut Vec<Range<usize>>,
    }

    impl<'de> Visitor<'de> for Collector<'_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                // The value exactly as received: a slice of `raw`, so its position is known.
                let value: &'de RawValue = map.next_value()?;
                if key == SECRET_MEMBER {
                    let text = value.get();
                    let start = text.as_ptr().addr().checked_sub(self.raw.as_ptr().addr());
                    if let Some(start) = start
                        && start + text.len() <= self.raw.len()
                    {
                        self.ranges.push(start..start + text.len());
                    }
                }
            }
            Ok(())
        }
    }

    let mut ranges = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let parsed = (&mut deserializer).deserialize_map(Collector {
        raw,
        ranges: &mut ranges,
    });
    let complete = parsed.is_ok() && deserializer.end().is_ok();
    (ranges, complete)
}

/// `raw` with each of the ascending, disjoint `ranges` replaced by `with`.
fn replace_ranges(raw: &[u8], ranges: &[Range<usize>], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    for range in ranges {
        if range.start < at {
            continue;
        }
        out.extend_from_slice(&raw[at..range.start]);
        out.extend_from_slice(with);
        at = range.end;
    }
    out.extend_from_slice(&raw[at..]);
    out
}

/// `haystack` with every occurrence of `needle` replaced by `with`, or `None` if there is none.
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut at = 0;
    let mut found = false;
    while at < haystack.len() {
        if haystack[at..].starts_with(needle) {
            out.extend_from_slice(with);
            at += needle.len();
            found = true;
        } else {
            out.push(haystack[at]);
            at += 1;
        }
    }
    found.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SECRET: &str = "abd12345";
    const SUCCEEDED: &str = include_str!("fixtures/order_payment_succeeded.json");
    const EXPIRED: &str = include_str!("fixtures/payment_request_expired.json");

    fn auth() -> WebhookAuth {
        WebhookAuth::new(SecretString::from(SECRET), None)
    }

    fn with_custom_header() -> WebhookAuth {
        let custom = CustomHeader::new("X-Api-Key", SecretString::from("hdr-value-42")).unwrap();
        WebhookAuth::new(SecretString::from(SECRET), Some(custom))
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn check(auth: &WebhookAuth, pairs: &[(&str, &str)], body: &str) -> Result<(), ProviderError> {
        let headers = headers(pairs);
        auth.verify(&WebhookRequest {
            headers: &headers,
            body: body.as_bytes(),
        })
    }

    /// `SUCCEEDED` with its `secret` member set to `secret` (or removed for `None`).
    fn body_with_secret(secret: Option<Value>) -> String {
        let mut body: Value = serde_json::from_str(SUCCEEDED).unwrap();
        match secret {
            Some(secret) => body["secret"] = secret,
            None => {
                body.as_object_mut().unwrap().remove("secret");
            }
        }
        body.to_string()
    }

    fn is_invalid_signature(result: Result<(), ProviderError>) -> bool {
        matches!(result, Err(ProviderError::InvalidSignature(_)))
    }

    #[test]
    fn the_docs_samples_carry_the_secret_in_the_body() {
        assert_eq!(check(&auth(), &[], SUCCEEDED), Ok(()));
        assert_eq!(check(&auth(), &[], EXPIRED), Ok(()));
    }

    #[test]
    fn the_secret_may_come_in_the_header_instead() {
        let body = body_with_secret(None);
        assert_eq!(
            check(&auth(), &[("x-skipify-secret", SECRET)], &body),
            Ok(())
        );
        // Header names are case-insensitive.
        assert_eq!(
            check(&auth(), &[("X-Skipify-Secret", SECRET)], &body),
            Ok(())
        );
        // Both, when both match.
        assert_eq!(
            check(&auth(), &[("x-skipify-secret", SECRET)], SUCCEEDED),
            Ok(())
        );
    }

    #[test]
    fn a_missing_secret_is_rejected() {
        let error = check(&auth(), &[], &body_with_secret(None)).unwrap_err();
        assert!(
            matches!(&error, ProviderError::InvalidSignature(m) if m.contains("no webhook secret")),
            "{error:?}"
        );
        assert!(is_invalid_signature(check(
            &auth(),
            &[],
            &body_with_secret(Some(Value::Null))
        )));
        // A body paymux cannot read is malformed (a 400), not a wrong secret.
        for unreadable in ["not json", ""] {
            assert!(matches!(
                check(&auth(), &[], unreadable),
                Err(ProviderError::MalformedPayload(_))
            ));
        }
    }

    #[test]
    fn a_wrong_secret_is_rejected_and_never_echoed() {
        for wrong in [
            "abd12346",  // same length, last byte differs
            "abd1234",   // a prefix
            "abd123456", // the secret and more
            "ABD12345",
            "",
            " abd12345",
        ] {
            let error = check(&auth(), &[], &body_with_secret(Some(json!(wrong)))).unwrap_err();
            assert!(
                matches!(error, ProviderError::InvalidSignature(_)),
                "{wrong}"
            );
            assert!(!error.to_string().contains(SECRET), "{error}");
            if !wrong.is_empty() {
                assert!(!error.to_string().contains(wrong), "{error}");
            }
            let header_error = check(
                &auth(),
                &[("x-skipify-secret", wrong)],
                &body_with_secret(None),
            );
            assert!(is_invalid_signature(header_error), "{wrong}");
        }
        for not_text in [
            json!(12345),
            json!(true),
            json!(["abd12345"]),
            json!({ "v": SECRET }),
        ] {
            assert!(is_invalid_signature(check(
                &auth(),
                &[],
                &body_with_secret(Some(not_text))
            )));
        }
    }

    #[test]
    fn every_secret_presented_must_match() {
        // A right header does not excuse a wrong body secret, nor the reverse.
        let wrong_body = body_with_secret(Some(json!("nope")));
        assert!(is_invalid_signature(check(
            &auth(),
            &[("x-skipify-secret", SECRET)],
            &wrong_body
        )));
        assert!(is_invalid_signature(check(
            &auth(),
            &[("x-skipify-secret", "nope")],
            SUCCEEDED
        )));
    }

    #[test]
    fn two_secret_members_are_not_trusted() {
        let body = SUCCEEDED.replacen(
            "\"secret\": \"abd12345\"",
            "\"secret\": \"abd12345\", \"secret\": \"abd12345\"",
            1,
        );
        assert!(matches!(
            check(&auth(), &[], &body),
            Err(ProviderError::MalformedPayload(_))
        ));
    }

    #[test]
    fn a_configured_custom_header_is_required_with_its_value() {
        let auth = with_custom_header();
        assert_eq!(
            check(&auth, &[("x-api-key", "hdr-value-42")], SUCCEEDED),
            Ok(())
        );
        assert_eq!(
            check(&auth, &[("X-API-KEY", "hdr-value-42")], SUCCEEDED),
            Ok(())
        );
        let missing = check(&auth, &[], SUCCEEDED).unwrap_err();
        assert_eq!(
            missing,
            ProviderError::InvalidSignature("missing x-api-key header".into())
        );
        for wrong in ["hdr-value-43", "hdr-value-4", "hdr-value-420", ""] {
            let error = check(&auth, &[("x-api-key", wrong)], SUCCEEDED).unwrap_err();
            assert!(
                matches!(error, ProviderError::InvalidSignature(_)),
                "{wrong}"
            );
            assert!(!error.to_string().contains("hdr-value"), "{error}");
        }
        // The header alone is not enough: the secret is still required.
        assert!(is_invalid_signature(check(
            &auth,
            &[("x-api-key", "hdr-value-42")],
            &body_with_secret(None)
        )));
    }

    #[test]
    fn custom_header_settings_are_checked() {
        let value = || SecretString::from("v");
        let custom = CustomHeader::new("X-Api-Key", value()).unwrap();
        assert_eq!(custom.name(), "x-api-key");
        for (name, key) in [
            ("x api key", "custom_header_name"),
            ("", "custom_header_name"),
            ("Authorization", "custom_header_name"),
            ("cookie", "custom_header_name"),
            ("x-skipify-secret", "custom_header_name"),
        ] {
            assert_eq!(
                CustomHeader::new(name, value()).unwrap_err().key,
                key,
                "{name}"
            );
        }
        for bad in ["line\nbreak", " padded", "tab\t", "é"] {
            let error = CustomHeader::new("x-api-key", SecretString::from(bad)).unwrap_err();
            assert_eq!(error.key, "custom_header_value", "{bad:?}");
            assert!(!error.to_string().contains(bad), "{error}");
        }
        let debug = format!("{:?}", with_custom_header());
        assert!(debug.contains("x-api-key"), "{debug}");
        assert!(
            !debug.contains("hdr-value") && !debug.contains(SECRET),
            "{debug}"
        );
    }

    #[test]
    fn secret_headers_are_named() {
        let plain = auth();
        assert!(plain.is_secret_header("x-skipify-secret"));
        assert!(plain.is_secret_header("X-Skipify-Secret"));
        assert!(!plain.is_secret_header("x-api-key"));
        assert!(!plain.is_secret_header("content-type"));
        let custom = with_custom_header();
        assert!(custom.is_secret_header("x-skipify-secret"));
        assert!(custom.is_secret_header("x-api-key"));
        assert!(custom.is_secret_header("X-Api-Key"));
    }

    #[test]
    fn redaction_replaces_only_the_secret_value_and_keeps_every_other_byte() {
        let redacted =
            String::from_utf8(auth().redact_body(SUCCEEDED.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            redacted,
            SUCCEEDED.replace("\"secret\": \"abd12345\"", "\"secret\": \"[redacted]\"")
        );
        assert!(!redacted.contains(SECRET));
        // Still the same JSON, minus the secret.
        let mut expected: Value = serde_json::from_str(SUCCEEDED).unwrap();
        expected["secret"] = json!(REDACTED);
        assert_eq!(serde_json::from_str::<Value>(&redacted).unwrap(), expected);
    }

    #[test]
    fn redaction_handles_any_value_spacing_escapes_and_position() {
        let cases = [
            (
                r#"{"secret":"abd12345","eventName":"X"}"#,
                r#"{"secret":"[redacted]","eventName":"X"}"#,
            ),
            (
                r#"{ "a": {"secret": "nested stays"}, "secret" :  "wrong one" }"#,
                r#"{ "a": {"secret": "nested stays"}, "secret" :  "[redacted]" }"#,
            ),
            (
                r#"{"secret": "with \"quotes\" and \\ and \u00e9"}"#,
                r#"{"secret": "[redacted]"}"#,
            ),
            (
                r#"{"secr\u0065t": "escaped key"}"#,
                r#"{"secr\u0065t": "[redacted]"}"#,
            ),
            (r#"{"secret": 12345}"#, r#"{"secret": "[redacted]"}"#),
            (
                r#"{"secret": {"k": [1, 2]}, "b": 1}"#,
                r#"{"secret": "[redacted]", "b": 1}"#,
            ),
            (
                r#"{"secret": "a", "x": "secret", "secret": "b"}"#,
                r#"{"secret": "[redacted]", "x": "secret", "secret": "[redacted]"}"#,
            ),
            (
                "{\n\"eventName\": \"é\",\n\"secret\": \"abd12345\"\n}\n",
                "{\n\"eventName\": \"é\",\n\"secret\": \"[redacted]\"\n}\n",
            ),
        ];
        for (body, expected) in cases {
            let redacted = auth().redact_body(body.as_bytes());
            assert_eq!(
                redacted.as_deref().map(String::from_utf8_lossy).as_deref(),
                Some(expected),
                "{body}"
            );
        }
    }

    #[test]
    fn bodies_without_a_secret_member_are_kept_as_they_are() {
        for body in [
            r#"{"eventName": "X", "payload": {"secret": "nested"}}"#,
            r#"{"secretive": "abd12345x"}"#,
            "{}",
            "",
            "[1, 2]",
            "not json at all",
        ] {
            assert_eq!(auth().redact_body(body.as_bytes()), None, "{body}");
        }
        // The header, not the body, carried it.
        assert_eq!(auth().redact_body(body_with_secret(None).as_bytes()), None);
    }

    #[test]
    fn an_unreadable_body_loses_every_copy_of_the_secret() {
        for (body, expected) in [
            // Truncated after the secret: the member read so far is redacted.
            (
                r#"{"secret": "abd12345", "eventName": "#,
                r#"{"secret": "[redacted]", "eventName": "#,
            ),
            // Broken before it: the merchant's secret is blanked wherever it appears.
            (
                r#"{"eventName": , "secret": "abd12345"}"#,
                r#"{"eventName": , "secret": "[redacted]"}"#,
            ),
            (r#"{"secret": "abd12345"#, r#"{"secret": "[redacted]"#),
            (
                "secret=abd12345&x=abd12345",
                "secret=[redacted]&x=[redacted]",
            ),
            // Trailing bytes after a valid object.
            (
                r#"{"secret": "abd12345"} trailing abd12345"#,
                r#"{"secret": "[redacted]"} trailing [redacted]"#,
            ),
        ] {
            let redacted = auth().redact_body(body.as_bytes()).unwrap();
            assert_eq!(String::from_utf8_lossy(&redacted), expected, "{body}");
        }
        let mut invalid_utf8 = br#"{"secret": "abd12345", "x": ""#.to_vec();
        invalid_utf8.extend_from_slice(&[0xff, b'"', b'}']);
        let redacted = auth().redact_body(&invalid_utf8).unwrap();
        assert!(
            !redacted
                .windows(SECRET.len())
                .any(|w| w == SECRET.as_bytes())
        );
    }
}
