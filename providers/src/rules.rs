//! What each provider requires of a checkout, written as JSON Schema. The API document applies
//! a provider's rules to `POST /v1/checkouts` when the request names that provider, and asks
//! that some provider's rules hold when routing chooses. Each provider builds its rules from the
//! constants its adapter checks with, so that the document and the checks cannot drift apart;
//! CI proves the two against the live server (schemathesis's positive and negative data).
//!
//! A rule no schema can state (an expiry within a window of the clock, a serialized size) is
//! said in the rules' `description`, and the adapter's 400 names the field.

use paymux_domain::Currency;
use serde_json::{Map, Value, json};

/// Builds a provider's rules: a JSON Schema object for the body of `POST /v1/checkouts`.
pub type CheckoutRules = fn() -> Value;

/// The rules of a provider that declares none: only the API's own.
pub fn none() -> Value {
    Value::Object(Map::new())
}

/// The characters Rust's `char::is_whitespace` and `str::trim` take for white space (Unicode's
/// White_Space), as the body of a regex class. Written out, because `\\s` differs between
/// JSON Schema's regex (ECMA-262) and the Python one schemathesis generates with.
pub const SPACE: &str =
    "\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// The end of the text. `$` would also match before a final newline in Python's regex.
pub const END: &str = "(?![\\s\\S])";

/// A class of one white-space character, `[...]`.
pub fn space() -> String {
    format!("[{SPACE}]")
}

/// A string with at least one character that is not white space: what an adapter's
/// `trim().is_empty()` refuses.
pub fn not_blank() -> String {
    format!("[^{SPACE}]")
}

/// A string of at most `max` characters once trimmed of white space at both ends.
pub fn trimmed_max_chars(max: usize) -> Value {
    let (space, text) = (space(), not_blank());
    let inner = max.saturating_sub(2);
    json!({ "pattern": format!("^{space}*(?:{text}(?:[\\s\\S]{{0,{inner}}}{text})?)?{space}*{END}") })
}

/// A return URL as the gateway takes one: `http://` or `https://` (`https_only`: the latter),
/// in any letter case, then a host, which `refused_host` (a lookahead, or empty) may refuse.
/// The gateway refuses white space and control characters anywhere in it.
pub fn return_url(https_only: bool, refused_host: &str) -> String {
    let scheme = if https_only {
        "[hH][tT][tT][pP][sS]"
    } else {
        "[hH][tT][tT][pP][sS]?"
    };
    format!("^{scheme}://{refused_host}[^/?#:@\\x00-\\x20\\x7f][^\\x00-\\x20\\x7f]*{END}")
}

/// `currency` is one of `currencies`.
pub fn currencies(currencies: &[Currency]) -> Value {
    let codes: Vec<&str> = currencies.iter().map(|currency| currency.code()).collect();
    json!({ "enum": codes })
}

/// At most `max` characters (Unicode scalar values, as JSON Schema and the adapters count).
pub fn max_chars(max: usize) -> Value {
    json!({ "maxLength": max })
}

/// `provider_options.{id}` must meet `schema`; null is always no options.
pub fn options(id: &str, schema: Value) -> Value {
    json!({ "properties": { id: { "anyOf": [schema, { "type": "null" }] } } })
}

/// `provider_options.{id}`, for a provider that takes no options: absent, null or `{}`.
pub fn no_options(id: &str) -> Value {
    options(id, json!({ "type": "object", "maxProperties": 0 }))
}

/// An object of `properties`, each of which may also be null (no value), and no other key.
pub fn options_object(properties: Vec<(&str, Value)>) -> Value {
    let nullable: Map<String, Value> = properties
        .into_iter()
        .map(|(key, schema)| {
            (
                key.to_owned(),
                json!({ "anyOf": [schema, { "type": "null" }] }),
            )
        })
        .collect();
    json!({ "type": "object", "properties": nullable, "additionalProperties": false })
}

/// The JSON Schema of a wire type the adapter reads an option as, inlined. Serializing a
/// schema cannot fail (its maps have string keys); were it to, the option would go
/// undescribed rather than the document be lost.
pub fn schema_of<T: utoipa::PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or_else(|_| none())
}

/// Every line item has a name that is not blank.
pub fn named_items() -> Value {
    json!({ "items": { "properties": { "name": { "pattern": not_blank() } } } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_their_codes() {
        assert_eq!(
            currencies(&[Currency::Usd, Currency::Xcd]),
            json!({ "enum": ["USD", "XCD"] })
        );
    }

    /// The option keys each provider's rules document, against the keys its adapter reads.
    #[test]
    fn the_documented_options_are_the_ones_the_adapters_read() {
        let documented = |id: &str, rules: Value| -> Vec<String> {
            let options = &rules["properties"]["provider_options"]["properties"][id]["anyOf"][0];
            let keys = options["properties"]
                .as_object()
                .map(|keys| keys.keys().cloned());
            let mut keys: Vec<String> = keys.into_iter().flatten().collect();
            keys.sort();
            keys
        };
        let read = |keys: &[&str]| -> Vec<String> {
            let mut keys: Vec<String> = keys.iter().map(|key| key.to_string()).collect();
            keys.sort();
            keys
        };
        assert_eq!(
            documented("sknpay", crate::sknpay::wire::checkout_rules()),
            read(&crate::sknpay::wire::PROVIDER_OPTIONS)
        );
        assert_eq!(
            documented("kwik", crate::kwik::wire::checkout_rules()),
            read(&crate::kwik::wire::PROVIDER_OPTIONS)
        );
        assert_eq!(
            documented("spankpay", crate::spankpay::FACTORY.checkout_rules()),
            read(&["acceptCurrencies"])
        );
    }

    #[test]
    fn every_option_may_be_null_and_no_other_key_is_allowed() {
        assert_eq!(
            options_object(vec![("a", json!({ "type": "string" }))]),
            json!({
                "type": "object",
                "properties": { "a": { "anyOf": [{ "type": "string" }, { "type": "null" }] } },
                "additionalProperties": false
            })
        );
    }
}
