//! Reading JSON request bodies taken as raw bytes (the idempotency hash needs the bytes), with
//! the API's error shape.

use chrono::{DateTime, Utc};
use paymux_providers::json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::ApiError;
use crate::routes::list::in_range;

/// Parses a JSON body; nesting past [`json::MAX_DEPTH`], a syntax error or an unknown, missing
/// or mistyped field is a 400 that names what serde found.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    json::check_depth(body, json::MAX_DEPTH).map_err(|error| {
        ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("invalid request body: {error}"),
        )
    })?;
    serde_json::from_slice(body).map_err(|error| {
        let api_error = ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("invalid request body: {error}"),
        );
        // serde names the field between backticks: `unknown field `x``, `missing field `y``.
        match error.to_string().split('`').nth(1) {
            Some(field) if !field.contains(' ') && !field.is_empty() => api_error.with_param(field),
            _ => api_error,
        }
    })
}

/// A time given as Unix seconds or as an RFC 3339 string.
pub fn deserialize_optional_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Time {
        Seconds(i64),
        Text(String),
    }
    let time = match Option::<Time>::deserialize(deserializer)? {
        None => return Ok(None),
        Some(Time::Seconds(seconds)) => DateTime::<Utc>::from_timestamp(seconds, 0),
        Some(Time::Text(text)) => DateTime::parse_from_rfc3339(&text)
            .ok()
            .map(|time| time.with_timezone(&Utc)),
    };
    time.and_then(|time| in_range(time.naive_utc()))
        .map(|time| Some(time.and_utc()))
        .ok_or_else(|| {
            serde::de::Error::custom(
                "expected Unix seconds or an RFC 3339 time between year 1 and year 9999",
            )
        })
}
