//! Reading JSON request bodies taken as raw bytes (the idempotency hash needs the bytes), with
//! the API's error shape.

use chrono::{DateTime, NaiveDateTime, Utc};
use paymux_providers::json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;
use crate::routes::list::{parse_time_text, time_of_seconds};

/// Parses a JSON body; nesting past [`json::MAX_DEPTH`], a syntax error or an unknown, missing
/// or mistyped field is a 400 whose `param` is the path of the field at fault
/// (`items[0].quantity`).
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    json::check_depth(body, json::MAX_DEPTH)
        .map_err(|error| invalid_json(format!("invalid request body: {error}")))?;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(field_error)?;
    deserializer
        .end()
        .map_err(|error| invalid_json(format!("invalid request body: {error}")))?;
    Ok(value)
}

fn invalid_json(message: String) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        "invalid_json",
        message,
    )
}

/// The 400 for a body that does not fit its type, naming the field. A missing field's path
/// stops at the object that lacks it; serde names the field between backticks.
fn field_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let (path, error) = (error.path().to_string(), error.into_inner());
    let message = error.to_string();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let param = match (path.as_str(), missing) {
        // Broken JSON is no field's fault.
        _ if !error.is_data() => String::new(),
        (".", Some(field)) => field.to_owned(),
        (_, Some(field)) => format!("{path}.{field}"),
        (path, None) => path.to_owned(),
    };
    let is_amount = param
        .rsplit(['.', ']'])
        .next()
        .is_some_and(|field| field.ends_with("amount"));
    let message = if is_amount && message.starts_with("invalid type") {
        format!(
            "`{param}` is an integer number of minor units (2500 for 25.00), not a decimal or a \
             string: {message}"
        )
    } else {
        format!("invalid request body: {message}")
    };
    let error = invalid_json(message);
    match param.as_str() {
        "." | "" => error,
        _ => error.with_param(param),
    }
}

/// A time in a body: Unix seconds (a JSON number without a fraction, `1764806400.0` too, as
/// JSON Schema counts it an integer), or an RFC 3339 time or a date as a string.
fn time_of(value: serde_json::Value) -> Result<NaiveDateTime, String> {
    match value {
        serde_json::Value::Number(number) => number
            .as_i64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|seconds| seconds.fract() == 0.0 && seconds.abs() < 1e15)
                    .map(|seconds| seconds as i64)
            })
            .ok_or_else(|| format!("`{number}` is not a whole number of Unix seconds"))
            .and_then(time_of_seconds),
        serde_json::Value::String(text) => parse_time_text(&text),
        _ => Err("expected Unix seconds, an RFC 3339 time or a date".to_owned()),
    }
}

/// A required time: see [`time_of`].
pub fn deserialize_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<NaiveDateTime, D::Error> {
    time_of(serde_json::Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
}

/// An optional time: see [`time_of`].
pub fn deserialize_optional_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<serde_json::Value>::deserialize(deserializer)?
        .map(|value| time_of(value).map(|time| time.and_utc()))
        .transpose()
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        amount: i64,
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        quantity: u32,
        unit_amount: i64,
    }

    fn refusal(body: &str) -> ApiError {
        parse_body::<Body>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn param_names_the_field_at_fault_never_its_value() {
        let cases = [
            (r#"{"amount": 25.0}"#, Some("amount")),
            (r#"{"amount": "25.00"}"#, Some("amount")),
            (r#"{}"#, Some("amount")),
            (r#"{"amount": 1, "colour": "red"}"#, Some("colour")),
            (
                r#"{"amount": 1, "items": [{"quantity": 1, "unit_amount": 1.5}]}"#,
                Some("items[0].unit_amount"),
            ),
            (
                r#"{"amount": 1, "items": [{"quantity": 1}]}"#,
                Some("items[0].unit_amount"),
            ),
            (
                r#"{"amount": 1, "items": [{"quantity": 1, "unit_amount": 1, "x": 2}]}"#,
                Some("items[0].x"),
            ),
            (r#"{"amount": 1} trailing"#, None),
            (r#"{"amount": "#, None),
        ];
        for (body, param) in cases {
            let error = refusal(body);
            assert_eq!(
                (error.status.as_u16(), error.code),
                (400, "invalid_json"),
                "{body}"
            );
            assert_eq!(error.param.as_deref(), param, "{body}: {}", error.message);
        }
    }

    #[test]
    fn a_decimal_amount_is_told_that_amounts_are_integer_minor_units() {
        for body in [r#"{"amount": 25.5}"#, r#"{"amount": "25.00"}"#] {
            let error = refusal(body);
            assert!(
                error.message.contains("minor units"),
                "{body}: {}",
                error.message
            );
        }
        let other = refusal(r#"{"amount": 1, "colour": "red"}"#);
        assert!(!other.message.contains("minor units"), "{}", other.message);
    }
}
