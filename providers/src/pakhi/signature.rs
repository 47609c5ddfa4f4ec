//! Pakhi Pay's callback signature: a `signature` member inside the JSON it signs.
//!
//! The doc says the signature is "an HMAC-SHA256 hash of the JSON payload using your API key",
//! and its sample verifiers hash the whole raw body, `signature` member included, which no
//! sender can produce (a signature cannot sign itself). paymux's decision (DESIGN.md): the HMAC,
//! keyed with the merchant's API key, is taken over the payload with its `signature` member
//! removed, and two forms of that payload are accepted:
//!
//! 1. **the received text with the member cut out**: `"signature": "…"` and the comma joining
//!    it to its neighbour are removed, every other byte stays as received (what a sender that
//!    signs `json_encode($payload)` and then sends `json_encode($payload + signature)` produces,
//!    whatever its spacing);
//! 2. **the compact form**: the members in received order, no whitespace, keys and strings as
//!    `serde_json::to_string` writes them (only `"`, `\` and control characters escaped), and
//!    numbers, `true`, `false` and `null` as received (a sender's own encoder wrote them).
//!
//! The member is found structurally (a scanner over the top-level object), never by a text
//! search, so `"signature"` inside a string value cannot be cut. Duplicate top-level keys are
//! refused: a body whose parsers might disagree on a member is not worth verifying. The
//! comparison is constant-time. The payload carries no timestamp, so there is no replay window:
//! a replay maps to the same derived event id and stores nothing new.
//!
//! All of this runs before the signature is known to be good, on bytes anyone can send: the
//! nesting is bounded first ([`crate::json::check_depth`]), and the scanner is iterative and visits each
//! byte a bounded number of times (it counts its steps, and a test holds them to the body's
//! length), so no body can make it recurse or go quadratic.

use std::collections::HashSet;

use crate::ProviderError;
use crate::json;
use crate::signing::{hmac_sha256_hex, verify_hmac_sha256_hex};

/// The member carrying the signature.
pub const SIGNATURE_FIELD: &str = "signature";

/// One member of a JSON object, as byte offsets into the text it was scanned from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    /// The decoded key.
    key: String,
    /// Where the key's opening quote is.
    start: usize,
    value_start: usize,
    /// Just after the value's last byte.
    value_end: usize,
}

/// The top-level object of a body.
#[derive(Debug)]
struct Object<'a> {
    text: &'a str,
    /// Where `{` and `}` are.
    open: usize,
    close: usize,
    members: Vec<Member>,
}

fn malformed(reason: &str) -> ProviderError {
    ProviderError::MalformedPayload(format!("Pakhi Pay callback: {reason}"))
}

/// Walks valid JSON text byte by byte, counting every byte it looks at.
struct Scanner<'a> {
    bytes: &'a [u8],
    /// Bytes looked at so far: the measure of the scanner's work.
    steps: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            bytes: text.as_bytes(),
            steps: 0,
        }
    }

    fn byte(&mut self, at: usize) -> Option<u8> {
        self.steps += 1;
        self.bytes.get(at).copied()
    }

    fn skip_whitespace(&mut self, mut at: usize) -> usize {
        while self
            .byte(at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            at += 1;
        }
        at
    }

    /// The end (just after the closing quote) of the string starting at `at`.
    fn string_end(&mut self, at: usize) -> Option<usize> {
        if self.byte(at)? != b'"' {
            return None;
        }
        let mut at = at + 1;
        loop {
            match self.byte(at)? {
                b'\\' => at += 2,
                b'"' => return Some(at + 1),
                _ => at += 1,
            }
        }
    }

    /// The end of the value starting at `at`: strings are skipped whole, containers by
    /// counting their depth, so nested values are walked once, without recursion.
    fn value_end(&mut self, at: usize) -> Option<usize> {
        let mut depth = 0usize;
        let mut at = at;
        loop {
            match self.byte(at)? {
                b'"' => at = self.string_end(at)?,
                b'{' | b'[' => {
                    depth += 1;
                    at += 1;
                }
                b'}' | b']' => {
                    depth = depth.checked_sub(1)?;
                    at += 1;
                }
                b',' | b' ' | b'\t' | b'\n' | b'\r' | b':' if depth > 0 => at += 1,
                // A scalar (number, literal) ends at the first delimiter.
                _ if depth == 0 => {
                    let start = at;
                    while self.byte(at).is_some_and(|b| {
                        !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                    }) {
                        at += 1;
                    }
                    return (at > start).then_some(at);
                }
                _ => at += 1,
            }
            if depth == 0 {
                return Some(at);
            }
        }
    }

    /// The members of the object whose `{` is at `open`, and where its `}` is.
    fn object_members(&mut self, text: &str, open: usize) -> Option<(Vec<Member>, usize)> {
        let mut members = vec![];
        let mut at = self.skip_whitespace(open + 1);
        if self.byte(at)? == b'}' {
            return Some((members, at));
        }
        loop {
            let start = at;
            let key_end = self.string_end(start)?;
            let key = serde_json::from_str::<String>(text.get(start..key_end)?).ok()?;
            at = self.skip_whitespace(key_end);
            if self.byte(at)? != b':' {
                return None;
            }
            let value_start = self.skip_whitespace(at + 1);
            let value_end = self.value_end(value_start)?;
            members.push(Member {
                key,
                start,
                value_start,
                value_end,
            });
            at = self.skip_whitespace(value_end);
            match self.byte(at)? {
                b',' => at = self.skip_whitespace(at + 1),
                b'}' => return Some((members, at)),
                _ => return None,
            }
        }
    }

    /// Appends the compact form of the value in `text[start..end]` to `out`: whitespace
    /// between tokens dropped, strings decoded and written again as `serde_json` writes them,
    /// everything else copied. One pass, whatever the nesting.
    fn compact_value(
        &mut self,
        text: &str,
        start: usize,
        end: usize,
        out: &mut String,
    ) -> Option<()> {
        let mut at = start;
        while at < end {
            match self.byte(at)? {
                b'"' => {
                    let string_end = self.string_end(at)?;
                    let decoded = serde_json::from_str::<String>(text.get(at..string_end)?).ok()?;
                    out.push_str(&serde_json::to_string(&decoded).ok()?);
                    at = string_end;
                }
                b' ' | b'\t' | b'\n' | b'\r' => at += 1,
                _ => {
                    // Up to the next string or whitespace: structure, numbers and literals.
                    let run_start = at;
                    while at < end
                        && self
                            .byte(at)
                            .is_some_and(|b| !matches!(b, b'"' | b' ' | b'\t' | b'\n' | b'\r'))
                    {
                        at += 1;
                    }
                    out.push_str(text.get(run_start..at)?);
                }
            }
        }
        Some(())
    }
}

/// Reads a body as one JSON object. The nesting is bounded first, then serde_json checks that
/// the text is valid JSON (its check of a value it ignores does not recurse), so the scanner
/// only finds boundaries in valid JSON.
fn scan(body: &[u8]) -> Result<(Object<'_>, usize), ProviderError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("the body is not UTF-8"))?;
    json::check_depth(body, json::MAX_DEPTH).map_err(|error| malformed(&error.to_string()))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|error| malformed(&json::describe_error(&error)))?;
    let mut scanner = Scanner::new(text);
    let open = scanner.skip_whitespace(0);
    if scanner.byte(open) != Some(b'{') {
        return Err(malformed("the body is not a JSON object"));
    }
    let unreadable = || malformed("the body could not be scanned");
    let (members, close) = scanner.object_members(text, open).ok_or_else(unreadable)?;
    if scanner.skip_whitespace(close + 1) != body.len() {
        return Err(unreadable());
    }
    let mut seen = HashSet::with_capacity(members.len());
    if members
        .iter()
        .any(|member| !seen.insert(member.key.as_str()))
    {
        return Err(malformed("a top-level member appears more than once"));
    }
    let object = Object {
        text,
        open,
        close,
        members,
    };
    Ok((object, scanner.steps))
}

impl Object<'_> {
    fn member(&self, key: &str) -> Option<(usize, &Member)> {
        self.members
            .iter()
            .enumerate()
            .find(|(_, member)| member.key == key)
    }

    fn raw_value(&self, member: &Member) -> &str {
        self.text
            .get(member.value_start..member.value_end)
            .unwrap_or_default()
    }

    /// Form 1: the received text without the member at `index` and the comma that joins it.
    fn cut(&self, index: usize) -> String {
        let text = self.text;
        let Some(member) = self.members.get(index) else {
            return text.to_owned();
        };
        let (from, to) = if self.members.len() == 1 {
            // The only member: what is left is an empty object.
            (self.open + 1, self.close)
        } else if let Some(previous) = index.checked_sub(1).and_then(|i| self.members.get(i)) {
            // Last or middle: from the end of the previous value, its comma included.
            (previous.value_end, member.value_end)
        } else {
            // First: up to the next member's key, the comma and spacing after it included.
            let next = self
                .members
                .get(1)
                .map_or(member.value_end, |next| next.start);
            (member.start, next)
        };
        let mut kept = String::with_capacity(text.len());
        kept.push_str(text.get(..from).unwrap_or_default());
        kept.push_str(text.get(to..).unwrap_or_default());
        kept
    }

    /// Form 2: the compact form of the object without the member named `without`, and the
    /// steps it took.
    fn compact(&self, without: &str) -> Option<(String, usize)> {
        let mut scanner = Scanner::new(self.text);
        let mut out = String::with_capacity(self.text.len());
        out.push('{');
        let mut first = true;
        for member in self.members.iter().filter(|member| member.key != without) {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&serde_json::to_string(&member.key).ok()?);
            out.push(':');
            scanner.compact_value(self.text, member.value_start, member.value_end, &mut out)?;
        }
        out.push('}');
        Some((out, scanner.steps))
    }
}

/// What a callback's signature is checked against.
struct SignedForms {
    signature: String,
    /// Form 1 of the module doc.
    cut: String,
    /// Form 2 of the module doc.
    compact: String,
    /// Bytes the scanner looked at to find them: what the linearity test measures.
    #[cfg_attr(not(test), allow(dead_code))]
    steps: usize,
}

fn signed_forms(body: &[u8]) -> Result<SignedForms, ProviderError> {
    let (object, scan_steps) = scan(body)?;
    let (index, member) = object.member(SIGNATURE_FIELD).ok_or_else(|| {
        ProviderError::InvalidSignature(format!("the callback has no `{SIGNATURE_FIELD}` member"))
    })?;
    let signature = serde_json::from_str::<String>(object.raw_value(member)).map_err(|_| {
        ProviderError::InvalidSignature(format!("`{SIGNATURE_FIELD}` must be a string"))
    })?;
    let (compact, compact_steps) = object
        .compact(SIGNATURE_FIELD)
        .ok_or_else(|| malformed("the body could not be scanned"))?;
    Ok(SignedForms {
        signature,
        cut: object.cut(index),
        compact,
        steps: scan_steps + compact_steps,
    })
}

/// Checks a callback body's `signature` member with the merchant's API key, accepting either
/// signed form described in the module doc.
pub fn verify(body: &[u8], api_key: &[u8]) -> Result<(), ProviderError> {
    let signed = signed_forms(body)?;
    // Both are always checked, so the time taken does not say which form matched.
    let as_received = verify_hmac_sha256_hex(api_key, &[signed.cut.as_bytes()], &signed.signature);
    let as_compact =
        verify_hmac_sha256_hex(api_key, &[signed.compact.as_bytes()], &signed.signature);
    if as_received | as_compact {
        Ok(())
    } else {
        Err(ProviderError::InvalidSignature(format!(
            "`{SIGNATURE_FIELD}` does not match the payload and the merchant's API key"
        )))
    }
}

/// The signature Pakhi Pay puts in a callback whose payload, without `signature`, serializes to
/// `payload`: what the sandbox's simulated Pakhi Pay signs with.
pub fn sign(api_key: &[u8], payload: &[u8]) -> String {
    hmac_sha256_hex(api_key, &[payload])
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    const KEY: &[u8] = b"pk_brand_api_key_123";
    const SAMPLE: &str = include_str!("fixtures/callback.json");

    /// An independent signer: HMAC-SHA256 hex written against the `hmac` crate directly.
    fn hmac_hex(key: &[u8], payload: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(payload.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// `body` with the placeholder `SIG` replaced by the signature of `signed`.
    fn with_signature(body: &str, key: &[u8], signed: &str) -> Vec<u8> {
        body.replace("SIG", &hmac_hex(key, signed)).into_bytes()
    }

    fn check(body: &[u8]) -> Result<(), ProviderError> {
        verify(body, KEY)
    }

    fn cut_of(body: &str) -> String {
        let (object, _) = scan(body.as_bytes()).unwrap();
        let (index, _) = object.member(SIGNATURE_FIELD).unwrap();
        object.cut(index)
    }

    fn compact_of(body: &str) -> String {
        let (object, _) = scan(body.as_bytes()).unwrap();
        object.compact(SIGNATURE_FIELD).unwrap().0
    }

    #[test]
    fn the_member_is_cut_with_its_comma_in_every_position() {
        for (body, expected) in [
            // Last, as in the doc's sample.
            (
                r#"{"status":"completed","amount":"100.00","signature":"ab"}"#,
                r#"{"status":"completed","amount":"100.00"}"#,
            ),
            // First.
            (
                r#"{"signature":"ab","status":"completed","amount":"100.00"}"#,
                r#"{"status":"completed","amount":"100.00"}"#,
            ),
            // Middle.
            (
                r#"{"status":"completed","signature":"ab","amount":"100.00"}"#,
                r#"{"status":"completed","amount":"100.00"}"#,
            ),
            // Python's default separators.
            (
                r#"{"status": "completed", "signature": "ab", "amount": "100.00"}"#,
                r#"{"status": "completed", "amount": "100.00"}"#,
            ),
            (
                r#"{"signature": "ab", "status": "completed"}"#,
                r#"{"status": "completed"}"#,
            ),
            (
                r#"{"status": "completed", "signature": "ab"}"#,
                r#"{"status": "completed"}"#,
            ),
            // Pretty-printed, last and first.
            (
                "{\n  \"status\": \"completed\",\n  \"signature\": \"ab\"\n}",
                "{\n  \"status\": \"completed\"\n}",
            ),
            (
                "{\n  \"signature\": \"ab\",\n  \"status\": \"completed\"\n}",
                "{\n  \"status\": \"completed\"\n}",
            ),
            (
                "{\n  \"a\": 1,\n  \"signature\": \"ab\",\n  \"b\": 2\n}",
                "{\n  \"a\": 1,\n  \"b\": 2\n}",
            ),
            // Odd spacing around the key, the colon and the comma.
            (
                "{ \"a\" : 1 ,\t\"signature\"\r\n:\n\"ab\" , \"b\":2 }",
                "{ \"a\" : 1 , \"b\":2 }",
            ),
            ("{\"a\":1 , \"signature\" : \"ab\" }", "{\"a\":1 }"),
            // Alone.
            (r#"{"signature":"ab"}"#, "{}"),
            ("{ \"signature\" : \"ab\" }", "{}"),
        ] {
            assert_eq!(cut_of(body), expected, "{body}");
        }
    }

    #[test]
    fn only_the_top_level_member_is_cut() {
        let body =
            r#"{"note":"\"signature\": \"x\",","nested":{"signature":"inner"},"signature":"ab"}"#;
        assert_eq!(
            cut_of(body),
            r#"{"note":"\"signature\": \"x\",","nested":{"signature":"inner"}}"#
        );
        assert_eq!(compact_of(body), cut_of(body));
    }

    #[test]
    fn the_compact_form_keeps_the_received_order_and_numbers() {
        let body = "{ \"z\" : \"last\\u0021\", \"a\": [1, 2.50 ,{\"y\": null, \"b\": true}],\n \"signature\": \"ab\", \"m\": \"caf\u{e9} \\/ \\n\" }";
        assert_eq!(
            compact_of(body),
            r#"{"z":"last!","a":[1,2.50,{"y":null,"b":true}],"m":"café / \n"}"#
        );
        assert_eq!(compact_of(r#"{"signature":"ab"}"#), "{}");
        assert_eq!(
            compact_of(r#"{"e": {}, "f": [], "signature": "x"}"#),
            r#"{"e":{},"f":[]}"#
        );
    }

    #[test]
    fn the_docs_sample_verifies_in_both_forms() {
        let sample: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(sample["signature"], "a1b2c3d4e5f6...");
        // The sample exactly as printed, signed over its text without the member.
        let printed = SAMPLE.replace("a1b2c3d4e5f6...", "SIG");
        let without = cut_of(&printed);
        assert!(
            without.ends_with("\"order_id\": \"your-order-id\"\n}\n"),
            "{without}"
        );
        assert_eq!(check(&with_signature(&printed, KEY, &without)), Ok(()));
        // The same body, signed over the compact payload instead.
        let compact = r#"{"status":"completed","transaction_id":"TRX123456789","amount":"100.00","order_id":"your-order-id"}"#;
        assert_eq!(check(&with_signature(&printed, KEY, compact)), Ok(()));
    }

    #[test]
    fn both_forms_verify_wherever_the_signature_sits() {
        let compact =
            r#"{"status":"completed","transaction_id":"TRX1","amount":"100.00","order_id":"o-1"}"#;
        for body in [
            r#"{"status":"completed","transaction_id":"TRX1","amount":"100.00","order_id":"o-1","signature":"SIG"}"#,
            r#"{"signature":"SIG","status":"completed","transaction_id":"TRX1","amount":"100.00","order_id":"o-1"}"#,
            r#"{"status":"completed","transaction_id":"TRX1","signature":"SIG","amount":"100.00","order_id":"o-1"}"#,
            "{\n\t\"status\" : \"completed\",\"transaction_id\":  \"TRX1\" ,\n\"signature\":\"SIG\"  ,\"amount\":\"100.00\",\r\n\"order_id\":\"o-1\"}",
        ] {
            // Signed compact.
            assert_eq!(check(&with_signature(body, KEY, compact)), Ok(()), "{body}");
            // Signed as received, without the member.
            let as_received = cut_of(body);
            assert_eq!(
                check(&with_signature(body, KEY, &as_received)),
                Ok(()),
                "{body}"
            );
        }
    }

    #[test]
    fn upper_case_hex_is_accepted() {
        let payload = r#"{"status":"completed"}"#;
        let body = format!(
            r#"{{"status":"completed","signature":"{}"}}"#,
            hmac_hex(KEY, payload).to_ascii_uppercase()
        );
        assert_eq!(check(body.as_bytes()), Ok(()));
    }

    #[test]
    fn tampering_and_wrong_keys_are_rejected() {
        let compact =
            r#"{"status":"completed","transaction_id":"TRX1","amount":"100.00","order_id":"o-1"}"#;
        let body = r#"{"status":"completed","transaction_id":"TRX1","amount":"100.00","order_id":"o-1","signature":"SIG"}"#;
        let signed = String::from_utf8(with_signature(body, KEY, compact)).unwrap();
        assert_eq!(check(signed.as_bytes()), Ok(()));
        for tampered in [
            signed.replace("100.00", "1000.00"),
            signed.replace("100.00", "100.0"),
            signed.replace("completed", "Completed"),
            signed.replace("TRX1", "TRX2"),
            signed.replace(r#""order_id":"o-1","#, ""),
            signed.replace(r#""order_id":"o-1""#, r#""order_id":"o-1","extra":1"#),
        ] {
            let error = check(tampered.as_bytes()).unwrap_err();
            assert!(
                matches!(error, ProviderError::InvalidSignature(_)),
                "{tampered}: {error:?}"
            );
        }
        let other_key = with_signature(body, b"someone-elses-key", compact);
        let error = check(&other_key).unwrap_err();
        assert!(matches!(error, ProviderError::InvalidSignature(_)));
        assert!(!error.to_string().contains("pk_brand"), "{error}");
        // The signature over the whole body, as the doc's sample verifiers compute it, cannot
        // exist; a signature over the body with a placeholder does not verify either.
        let self_signed = with_signature(body, KEY, body);
        assert!(check(&self_signed).is_err());
    }

    #[test]
    fn a_missing_or_odd_signature_is_rejected() {
        let error = check(br#"{"status":"completed","amount":"100.00"}"#).unwrap_err();
        assert_eq!(
            error,
            ProviderError::InvalidSignature("the callback has no `signature` member".into())
        );
        for body in [
            r#"{"status":"completed","signature":null}"#,
            r#"{"status":"completed","signature":123}"#,
            r#"{"status":"completed","signature":""}"#,
            r#"{"status":"completed","signature":"not hex"}"#,
            r#"{"status":"completed","Signature":"ab"}"#,
        ] {
            assert!(
                matches!(
                    check(body.as_bytes()),
                    Err(ProviderError::InvalidSignature(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn duplicate_members_and_non_objects_are_malformed() {
        let payload = r#"{"status":"failed"}"#;
        let sig = hmac_hex(KEY, payload);
        // A second `status` could be read by one parser and not another: refused outright.
        let body = format!(r#"{{"status":"failed","signature":"{sig}","status":"completed"}}"#);
        assert!(matches!(
            check(body.as_bytes()),
            Err(ProviderError::MalformedPayload(message)) if message.contains("more than once")
        ));
        let body = format!(r#"{{"status":"failed","signature":"{sig}","signature":"{sig}"}}"#);
        assert!(matches!(
            check(body.as_bytes()),
            Err(ProviderError::MalformedPayload(_))
        ));
        // An escaped key is the same key.
        let body =
            format!(r#"{{"status":"failed","st\u0061tus":"completed","signature":"{sig}"}}"#);
        assert!(matches!(
            check(body.as_bytes()),
            Err(ProviderError::MalformedPayload(_))
        ));
        for body in [
            &b""[..],
            b"{not json",
            b"[]",
            b"\"signature\"",
            b"{\"a\":1} {}",
            b"{\"a\":\xff}",
        ] {
            assert!(
                matches!(check(body), Err(ProviderError::MalformedPayload(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn surrounding_whitespace_is_kept_in_the_cut_form() {
        let body = " \n{\"status\":\"completed\",\"signature\":\"SIG\"}\n";
        let signed = " \n{\"status\":\"completed\"}\n";
        assert_eq!(cut_of(body), signed);
        assert_eq!(check(&with_signature(body, KEY, signed)), Ok(()));
    }

    /// The bodies that made the old recursive scanner quadratic or overflow its stack, at
    /// growing sizes: the steps per byte stay under a constant.
    #[test]
    fn the_scanner_is_linear_in_the_body_for_the_worst_bodies() {
        type Build = fn(usize) -> String;
        let worst: [(&str, Build); 5] = [
            // Deep nesting, as deep as the bound lets through, repeated.
            ("deep", |n| {
                let deep = format!("{}1{}", "[".repeat(62), "]".repeat(62));
                format!(
                    r#"{{"status":"x","y":[{}],"signature":"00"}}"#,
                    vec![deep; n].join(",")
                )
            }),
            // Many distinct keys (the quadratic duplicate check).
            ("keys", |n| {
                let keys: Vec<String> = (0..n).map(|i| format!(r#""k{i}":1"#)).collect();
                format!(r#"{{{},"signature":"00"}}"#, keys.join(","))
            }),
            // Many elements inside nested arrays (the per-level re-scan of the compact form).
            ("wide", |n| {
                format!(
                    r#"{{"y":{}{}{},"signature":"00"}}"#,
                    "[".repeat(60),
                    vec!["1"; n].join(","),
                    "]".repeat(60)
                )
            }),
            // Strings full of escapes, and spacing between every token.
            ("strings", |n| {
                let value = r#""\"\\\u0041 x""#;
                format!(
                    r#"{{ "a" : [ {} ] , "signature" : "00" }}"#,
                    vec![value; n].join(" , ")
                )
            }),
            ("objects", |n| {
                format!(
                    r#"{{"a":{}[{}]{},"signature":"00"}}"#,
                    r#"{"b":"#.repeat(60),
                    vec![r#"{"c":1,"d":[2]}"#; n].join(","),
                    "}".repeat(60)
                )
            }),
        ];
        for (name, build) in worst {
            for n in [100, 1_000, 10_000] {
                let body = build(n);
                let forms = signed_forms(body.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
                // Each byte is looked at once by the scan and once by the compact form, plus
                // the key and delimiter peeks: a few steps per byte, whatever the shape.
                assert!(
                    forms.steps <= 4 * body.len(),
                    "{name} × {n}: {} steps for {} bytes",
                    forms.steps,
                    body.len()
                );
            }
        }
    }

    #[test]
    fn nesting_past_the_bound_is_refused_before_any_scan() {
        for depth in [65, 40_000] {
            let body = format!(
                r#"{{"status":"x","signature":"00","y":{}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            );
            let error = check(body.as_bytes()).unwrap_err();
            assert!(
                matches!(&error, ProviderError::MalformedPayload(message) if message.contains("64 levels")),
                "{error:?}"
            );
            let body = format!(
                r#"{{"status":"x","signature":"00","y":{}1{}}}"#,
                r#"{"a":"#.repeat(depth),
                "}".repeat(depth)
            );
            assert!(check(body.as_bytes()).is_err());
        }
    }

    #[test]
    fn our_signer_agrees_with_the_independent_one() {
        let payload = r#"{"status":"completed","amount":"100.00"}"#;
        assert_eq!(sign(KEY, payload.as_bytes()), hmac_hex(KEY, payload));
    }
}
