//! Signing helpers every adapter shares: hex HMAC-SHA256, constant-time comparison, the
//! webhook checks built on them (a required header, a signature refused naming its header),
//! the timestamp window of replay protection, and ids derived from payloads.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ProviderError;

type HmacSha256 = Hmac<Sha256>;

fn mac_over(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac_over(key, parts).finalize().into_bytes().into()
}

/// Lower-case hex HMAC-SHA256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256_hex(key: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(hmac_sha256(key, parts))
}

/// Checks a hex HMAC-SHA256 signature (either case) of `parts` under `key` in constant time.
pub fn verify_hmac_sha256_hex(key: &[u8], parts: &[&[u8]], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex) else {
        return false;
    };
    mac_over(key, parts).verify_slice(&signature).is_ok()
}

/// The value of a webhook header the check needs (`None` when the webhook has none), refused
/// as an invalid signature naming the header: `missing SknPay-Signature header`.
pub fn required_header<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, ProviderError> {
    value.ok_or_else(|| ProviderError::InvalidSignature(format!("missing {name} header")))
}

/// Checks, in constant time, that `signature` (hex, either case) is the HMAC-SHA256 of `parts`
/// under the webhook secret `key`; a mismatch is refused naming the `header` it came in.
pub fn check_hmac_sha256_hex(
    key: &[u8],
    parts: &[&[u8]],
    signature: &str,
    header: &str,
) -> Result<(), ProviderError> {
    if verify_hmac_sha256_hex(key, parts, signature) {
        return Ok(());
    }
    Err(ProviderError::InvalidSignature(format!(
        "{header} does not match the body and the webhook secret"
    )))
}

/// Compares two secrets without leaking, through timing, how long a prefix they share.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Checks that a webhook signed at `signed_at` is not older than `max_age_secs` and not more
/// than `max_ahead_secs` in the future (0 where the provider's own reference verifier allows no
/// clock skew).
///
/// The messages give the bounds, not how far off the time was: that is the sender's timestamp
/// again, and the sender is not known yet.
pub fn check_timestamp_window(
    signed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    max_age_secs: i64,
    max_ahead_secs: i64,
) -> Result<(), ProviderError> {
    let age = now.signed_duration_since(signed_at).num_seconds();
    if signed_at > now + chrono::TimeDelta::seconds(max_ahead_secs) {
        return Err(ProviderError::StaleTimestamp(format!(
            "signed ahead of paymux's clock by more than the {max_ahead_secs}s allowed"
        )));
    }
    if age > max_age_secs {
        return Err(ProviderError::StaleTimestamp(format!(
            "signed longer ago than the {max_age_secs}s allowed"
        )));
    }
    Ok(())
}

/// Hex SHA-256 of `bytes`.
pub fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A deterministic event id for providers that send none: hex SHA-256 over the parts, each
/// length-prefixed so that `["ab", "c"]` and `["a", "bc"]` differ.
pub fn derived_event_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn hmac_matches_the_rfc_4231_vector() {
        // RFC 4231, test case 2.
        let mac = hmac_sha256_hex(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            mac,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_hmac_sha256_hex(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &mac
        ));
        assert!(verify_hmac_sha256_hex(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &mac.to_ascii_uppercase()
        ));
    }

    #[test]
    fn verification_refuses_tampering_wrong_keys_and_junk() {
        let signature = hmac_sha256_hex(b"whsec_test", &[b"1700000000", b".", b"{\"a\":1}"]);
        let parts: [&[u8]; 3] = [b"1700000000", b".", b"{\"a\":1}"];
        assert!(verify_hmac_sha256_hex(b"whsec_test", &parts, &signature));
        assert!(!verify_hmac_sha256_hex(
            b"whsec_test",
            &[b"1700000000", b".", b"{\"a\":2}"],
            &signature
        ));
        assert!(!verify_hmac_sha256_hex(b"whsec_other", &parts, &signature));
        assert!(!verify_hmac_sha256_hex(
            b"whsec_test",
            &parts,
            &signature[..62]
        ));
        assert!(!verify_hmac_sha256_hex(b"whsec_test", &parts, "not hex"));
        assert!(!verify_hmac_sha256_hex(b"whsec_test", &parts, ""));
    }

    #[test]
    fn webhook_checks_name_the_header_and_show_no_value() {
        assert_eq!(required_header(Some("t=1"), "X-Sig"), Ok("t=1"));
        assert_eq!(
            required_header(None, "X-Sig"),
            Err(ProviderError::InvalidSignature(
                "missing X-Sig header".into()
            ))
        );
        let signature = hmac_sha256_hex(b"whsec_test", &[b"1700000000", b".", b"{}"]);
        let parts: [&[u8]; 3] = [b"1700000000", b".", b"{}"];
        assert_eq!(
            check_hmac_sha256_hex(b"whsec_test", &parts, &signature, "X-Sig"),
            Ok(())
        );
        assert_eq!(
            check_hmac_sha256_hex(b"whsec_other", &parts, &signature, "X-Sig"),
            Err(ProviderError::InvalidSignature(
                "X-Sig does not match the body and the webhook secret".into()
            ))
        );
    }

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abd12345", b"abd12345"));
        assert!(!constant_time_eq(b"abd12345", b"abd12346"));
        assert!(!constant_time_eq(b"abd12345", b"abd1234"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn the_timestamp_window_refuses_old_and_future_signatures() {
        let now = Utc.timestamp_opt(1_778_276_991, 0).unwrap();
        let at = |offset: i64| Utc.timestamp_opt(1_778_276_991 + offset, 0).unwrap();
        assert!(check_timestamp_window(now, now, 300, 0).is_ok());
        assert!(check_timestamp_window(at(-300), now, 300, 0).is_ok());
        assert!(check_timestamp_window(at(30), now, 300, 30).is_ok());
        assert!(check_timestamp_window(at(31), now, 300, 30).is_err());
        assert!(matches!(
            check_timestamp_window(at(-301), now, 300, 0),
            Err(ProviderError::StaleTimestamp(_))
        ));
        assert!(matches!(
            check_timestamp_window(at(1), now, 300, 0),
            Err(ProviderError::StaleTimestamp(_))
        ));
        // The bound is named, not how far off the sender's timestamp was.
        let old = check_timestamp_window(at(-123_456), now, 300, 0).unwrap_err();
        assert_eq!(
            old.to_string(),
            "timestamp outside the accepted window: signed longer ago than the 300s allowed"
        );
        let ahead = check_timestamp_window(at(123_456), now, 300, 30).unwrap_err();
        assert_eq!(
            ahead.to_string(),
            "timestamp outside the accepted window: signed ahead of paymux's clock by more than \
             the 30s allowed"
        );
    }

    #[test]
    fn derived_ids_are_stable_and_unambiguous() {
        let id = derived_event_id(&["pakhi", "TRX123", "completed"]);
        assert_eq!(id, derived_event_id(&["pakhi", "TRX123", "completed"]));
        assert_eq!(id.len(), 64);
        assert_ne!(id, derived_event_id(&["pakhi", "TRX123", "failed"]));
        assert_ne!(
            derived_event_id(&["ab", "c"]),
            derived_event_id(&["a", "bc"])
        );
    }
}
