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

/// A string with at least one character that is not white space: what an adapter's
/// `trim().is_empty()` refuses.
pub const NOT_BLANK: &str = "[^\\s]";

/// A URL with the `https` scheme in any letter case, naming a host.
pub const HTTPS_URL: &str = "^[hH][tT][tT][pP][sS]://[^/?#\\s]";

/// A URL with the `http` or `https` scheme in any letter case, naming a host.
pub const HTTP_URL: &str = "^[hH][tT][tT][pP][sS]?://[^/?#\\s]";

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
pub fn options_object(properties: Value) -> Value {
    let nullable = match properties {
        Value::Object(properties) => properties
            .into_iter()
            .map(|(key, schema)| (key, json!({ "anyOf": [schema, { "type": "null" }] })))
            .collect(),
        _ => Map::new(),
    };
    json!({ "type": "object", "properties": nullable, "additionalProperties": false })
}

/// The JSON Schema of a wire type the adapter reads an option as, inlined.
pub fn schema_of<T: utoipa::PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or_else(|_| none())
}

/// Every line item has a name that is not blank.
pub fn named_items() -> Value {
    json!({ "items": { "properties": { "name": { "pattern": NOT_BLANK } } } })
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
            options_object(json!({ "a": { "type": "string" } })),
            json!({
                "type": "object",
                "properties": { "a": { "anyOf": [{ "type": "string" }, { "type": "null" }] } },
                "additionalProperties": false
            })
        );
    }
}
