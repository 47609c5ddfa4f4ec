//! The checks several providers' wire formats make alike of a unified checkout request before
//! anything is sent: the currency, text within a documented length, an ISO country code, and
//! `provider_options` as an object of known keys. Each provider passes its own name and limits;
//! every refusal names the unified request's field (`customer.email`,
//! `provider_options.kwik.invoice`), so the storefront learns what to fix.

use paymux_domain::{Currency, Money};
use serde_json::Value;

use crate::ProviderError;

/// Refuses an amount in a currency `provider` does not charge in: `Kwik charges in ZAR only,
/// not USD`.
pub fn currency(
    amount: Money,
    provider: &str,
    currencies: &[Currency],
) -> Result<(), ProviderError> {
    if currencies.contains(&amount.currency) {
        return Ok(());
    }
    let codes: Vec<&str> = currencies.iter().map(|currency| currency.code()).collect();
    Err(ProviderError::invalid(
        format!(
            "{provider} charges in {} only, not {}",
            codes.join(" or "),
            amount.currency
        ),
        "currency",
    ))
}

/// `value`, refused when it is longer than `max` characters (Unicode scalar values), which is
/// what `provider` documents for the field the unified request calls `param`.
pub fn bounded(
    value: Option<&str>,
    max: usize,
    param: &str,
    provider: &str,
) -> Result<Option<String>, ProviderError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let length = value.chars().count();
    if length > max {
        return Err(ProviderError::invalid(
            format!("{param} must be at most {max} characters for {provider}, got {length}"),
            param,
        ));
    }
    Ok(Some(value.to_owned()))
}

/// `customer.address.country` in upper case, when it is an ISO 3166-1 alpha-2 code; the
/// refusal shows `example` (the provider's own country) as one.
pub fn country_code(country: Option<&str>, example: &str) -> Result<Option<String>, ProviderError> {
    match country {
        None => Ok(None),
        Some(code) if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(Some(code.to_ascii_uppercase()))
        }
        Some(_) => Err(ProviderError::invalid(
            format!(
                "customer.address.country must be an ISO 3166-1 alpha-2 code such as \
                 \"{example}\""
            ),
            "customer.address.country",
        )),
    }
}

/// Reads `provider_options.{id}`, the create fields the unified request has no place for:
/// absent or `null` is none; otherwise it must be a JSON object whose keys are all in
/// `allowed`. Each key's value, unless `null`, goes to `read` with the key and its `param`
/// (`provider_options.{id}.{key}`), in the object's order; an unknown key is refused there,
/// naming the allowed ones.
pub fn provider_options(
    options: Option<&Value>,
    (id, provider): (&str, &str),
    allowed: &[&str],
    mut read: impl FnMut(&str, &Value, &str) -> Result<(), ProviderError>,
) -> Result<(), ProviderError> {
    let entries = match options {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(entries)) => entries,
        Some(_) => {
            return Err(ProviderError::invalid(
                format!("provider_options.{id} must be a JSON object"),
                format!("provider_options.{id}"),
            ));
        }
    };
    for (key, value) in entries {
        let param = format!("provider_options.{id}.{key}");
        if !allowed.contains(&key.as_str()) {
            return Err(ProviderError::invalid(
                format!(
                    "unknown {provider} option `{key}`; allowed: {}",
                    allowed.join(", ")
                ),
                param,
            ));
        }
        if !value.is_null() {
            read(key, value, &param)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param<T: std::fmt::Debug>(result: Result<T, ProviderError>) -> String {
        crate::test_support::refused_param(result)
    }

    #[test]
    fn currencies_are_listed_in_the_refusal() {
        let usd = Money::new(100, Currency::Usd);
        assert_eq!(
            currency(usd, "SKN Pay", &[Currency::Usd, Currency::Xcd]),
            Ok(())
        );
        assert_eq!(
            currency(usd, "Kwik", &[Currency::Zar]),
            Err(ProviderError::invalid(
                "Kwik charges in ZAR only, not USD",
                "currency"
            ))
        );
        let zar = Money::new(100, Currency::Zar);
        assert_eq!(
            currency(zar, "SKN Pay", &[Currency::Usd, Currency::Xcd]),
            Err(ProviderError::invalid(
                "SKN Pay charges in USD or XCD only, not ZAR",
                "currency"
            ))
        );
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert_eq!(bounded(None, 2, "reference", "X"), Ok(None));
        assert_eq!(
            bounded(Some("éé"), 2, "reference", "X"),
            Ok(Some("éé".into()))
        );
        assert_eq!(
            bounded(Some("abc"), 2, "reference", "X"),
            Err(ProviderError::invalid(
                "reference must be at most 2 characters for X, got 3",
                "reference"
            ))
        );
    }

    #[test]
    fn country_codes_are_two_letters_upper_cased() {
        assert_eq!(country_code(Some("kn"), "KN"), Ok(Some("KN".into())));
        assert_eq!(country_code(None, "KN"), Ok(None));
        for bad in ["", "KNA", "K1", "é"] {
            assert_eq!(
                param(country_code(Some(bad), "KN")),
                "customer.address.country"
            );
        }
    }

    #[test]
    fn provider_options_are_an_object_of_known_keys_read_in_order() {
        let read = |options: Value| {
            let mut seen = vec![];
            provider_options(
                Some(&options),
                ("x", "X"),
                &["a", "b"],
                |key, value, param| {
                    seen.push((key.to_owned(), value.clone(), param.to_owned()));
                    Ok(())
                },
            )
            .map(|()| seen)
        };
        assert_eq!(read(json!({ "a": null })), Ok(vec![]));
        assert_eq!(
            read(json!({ "b": 1 })),
            Ok(vec![("b".into(), json!(1), "provider_options.x.b".into())])
        );
        assert_eq!(param(read(json!([]))), "provider_options.x");
        let error = read(json!({ "c": null })).unwrap_err();
        assert_eq!(
            error,
            ProviderError::invalid(
                "unknown X option `c`; allowed: a, b",
                "provider_options.x.c"
            )
        );
        assert_eq!(
            provider_options(None, ("x", "X"), &[], |_, _, _| Ok(())),
            Ok(())
        );
    }
}
