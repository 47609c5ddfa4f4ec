//! The `SknPay-Signature` webhook header: `t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC
//! taken over `t + "." + raw body` with the endpoint's `whsec_…` secret (Stripe's scheme).
//!
//! The header must match the doc's reference verifier exactly, `^t=(\d+),v1=([0-9a-f]{64})$`,
//! parsed here by hand. Checks run in the order that reveals the least: the header's shape,
//! then the 300 s replay window, then the HMAC, compared in constant time.

use chrono::{DateTime, TimeZone, Utc};

use crate::ProviderError;
use crate::signing::{
    check_hmac_sha256_hex, check_timestamp_window, hmac_sha256_hex, required_header,
};

/// The header SKN Pay signs every delivery with.
pub const SIGNATURE_HEADER: &str = "SknPay-Signature";
/// How old a signature may be, in seconds; signatures from the future are refused too.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

const SHAPE: &str = "must be exactly `t=<unix seconds>,v1=<64 lower-case hex digits>`";

/// The two parts of a well-formed header, as sent: the timestamp's digits are signed verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SignatureHeader<'a> {
    timestamp: &'a str,
    v1: &'a str,
}

fn parse(header: &str) -> Result<SignatureHeader<'_>, ProviderError> {
    let malformed = || ProviderError::InvalidSignature(format!("{SIGNATURE_HEADER} {SHAPE}"));
    let (timestamp, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .ok_or_else(malformed)?;
    let digits = !timestamp.is_empty() && timestamp.bytes().all(|b| b.is_ascii_digit());
    let lower_hex = v1.len() == 64 && v1.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !digits || !lower_hex {
        return Err(malformed());
    }
    Ok(SignatureHeader { timestamp, v1 })
}

/// Checks a delivery: `header` is the `SknPay-Signature` value (`None` when missing), `body`
/// the exact bytes received, `secret` the endpoint's signing secret.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<(), ProviderError> {
    let SignatureHeader { timestamp, v1 } = parse(required_header(header, SIGNATURE_HEADER)?)?;
    let signed_at = timestamp
        .parse::<i64>()
        .ok()
        .and_then(|seconds| Utc.timestamp_opt(seconds, 0).single())
        .ok_or_else(|| {
            ProviderError::StaleTimestamp(format!(
                "the `t` of {SIGNATURE_HEADER} is not a plausible time (Unix seconds)"
            ))
        })?;
    // SKN Pay's reference verifier refuses any time ahead of the receiver's clock.
    check_timestamp_window(signed_at, now, SIGNATURE_TOLERANCE_SECS, 0)?;
    let signed = [timestamp.as_bytes(), b".", body];
    check_hmac_sha256_hex(secret, &signed, v1, SIGNATURE_HEADER)
}

/// The header SKN Pay would send for `body` signed at `timestamp` (Unix seconds): what the
/// sandbox's simulated SKN Pay signs its webhooks with.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let v1 = hmac_sha256_hex(secret, &[t.as_bytes(), b".", body]);
    format!("t={t},v1={v1}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    const SECRET: &[u8] = b"whsec_test_secret";
    const NOW: i64 = 1_778_276_991;
    const BODY: &[u8] = include_bytes!("fixtures/event.json");

    /// An independent signer: the doc's algorithm written against the `hmac` crate directly.
    fn signed(secret: &[u8], t: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(NOW, 0).unwrap()
    }

    fn check(header: &str, body: &[u8]) -> Result<(), ProviderError> {
        verify(Some(header), body, SECRET, now())
    }

    #[test]
    fn a_valid_signature_is_accepted() {
        let header = signed(SECRET, &NOW.to_string(), BODY);
        assert_eq!(check(&header, BODY), Ok(()));
        // Up to 300 s old is fine.
        let header = signed(SECRET, &(NOW - 300).to_string(), BODY);
        assert_eq!(check(&header, BODY), Ok(()));
    }

    #[test]
    fn our_signer_agrees_with_the_independent_one() {
        assert_eq!(
            sign(SECRET, NOW, BODY),
            signed(SECRET, &NOW.to_string(), BODY)
        );
    }

    #[test]
    fn one_changed_byte_is_rejected() {
        let header = signed(SECRET, &NOW.to_string(), BODY);
        let mut tampered = BODY.to_vec();
        let at = tampered.iter().position(|&b| b == b'5').unwrap();
        tampered[at] = b'6';
        assert!(matches!(
            check(&header, &tampered),
            Err(ProviderError::InvalidSignature(_))
        ));
        // A different timestamp under the same v1 is a different signed message.
        let other_t = header.replacen(&NOW.to_string(), &(NOW - 1).to_string(), 1);
        assert!(matches!(
            check(&other_t, BODY),
            Err(ProviderError::InvalidSignature(_))
        ));
    }

    #[test]
    fn the_wrong_secret_is_rejected() {
        let header = signed(b"whsec_someone_else", &NOW.to_string(), BODY);
        let error = check(&header, BODY).unwrap_err();
        assert!(matches!(error, ProviderError::InvalidSignature(_)));
        assert!(!error.to_string().contains("whsec_"), "{error}");
    }

    #[test]
    fn old_and_future_timestamps_are_stale() {
        for t in [NOW - 301, NOW + 1, NOW + 3600] {
            let header = signed(SECRET, &t.to_string(), BODY);
            assert!(
                matches!(check(&header, BODY), Err(ProviderError::StaleTimestamp(_))),
                "t={t}"
            );
        }
        // Digits that are no possible time.
        let header = signed(SECRET, "99999999999999999999999", BODY);
        assert!(matches!(
            check(&header, BODY),
            Err(ProviderError::StaleTimestamp(_))
        ));
    }

    #[test]
    fn the_timestamp_is_checked_before_the_hmac() {
        // A stale header with a bad signature says stale: the shape, then the time, then the MAC.
        let header = format!("t={},v1={}", NOW - 301, "0".repeat(64));
        assert!(matches!(
            check(&header, BODY),
            Err(ProviderError::StaleTimestamp(_))
        ));
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let valid = signed(SECRET, &NOW.to_string(), BODY);
        let v1 = valid.split_once(",v1=").unwrap().1.to_owned();
        let t = NOW.to_string();
        for header in [
            format!("t={t},v1={}", v1.to_ascii_uppercase()),
            format!("v1={v1}"),
            format!("t=,v1={v1}"),
            format!("t={t}, v1={v1}"),
            format!(" t={t},v1={v1}"),
            format!("t={t},v1={v1} "),
            format!("t = {t},v1={v1}"),
            format!("t={t},v1={}", &v1[..63]),
            format!("t={t},v1={v1}0"),
            format!("t={t},v1={v1},v1={v1}"),
            format!("v1={v1},t={t}"),
            format!("t=-{t},v1={v1}"),
            format!("t={t}.0,v1={v1}"),
            format!("t={t},v0={v1}"),
            format!("t={t}"),
            String::new(),
        ] {
            let result = check(&header, BODY);
            assert!(
                matches!(&result, Err(ProviderError::InvalidSignature(message)) if message.contains("must be exactly")),
                "{header:?} gave {result:?}"
            );
        }
    }

    #[test]
    fn a_missing_header_is_rejected() {
        let error = verify(None, BODY, SECRET, now()).unwrap_err();
        assert_eq!(
            error,
            ProviderError::InvalidSignature("missing SknPay-Signature header".into())
        );
    }
}
