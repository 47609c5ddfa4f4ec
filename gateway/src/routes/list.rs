//! Stripe-shaped lists: `{"object": "list", "data": [...], "has_more": bool}`, newest first,
//! `limit` (default 20, at most 100) and `starting_after=<id>` for the next page. Filters on
//! creation time take Unix seconds, RFC 3339 or a date. Unknown parameters are refused, not ignored.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use paymux_domain::ids::{Id, IdKind};
use paymux_schema::db::{Page, PageRequest};
use serde::Serialize;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{RefOr, Required};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListOut<T> {
    #[schema(example = "list")]
    pub object: &'static str,
    pub data: Vec<T>,
    /// Whether more follow: ask for them with `starting_after` the last id of `data`.
    pub has_more: bool,
}

impl<T> ListOut<T> {
    pub fn from_page<R>(page: Page<R>, render: impl Fn(R) -> T) -> ListOut<T> {
        ListOut {
            object: "list",
            data: page.items.into_iter().map(render).collect(),
            has_more: page.has_more,
        }
    }
}

/// A time given as Unix seconds, RFC 3339, or a date `YYYY-MM-DD` (its midnight, UTC), from
/// year 1 to year 9999: the store keeps times as text on SQLite, which only sorts as time
/// for four-digit years. Otherwise, what to say about it.
pub fn parse_time(text: &str) -> Result<NaiveDateTime, String> {
    match text.parse::<i64>() {
        Ok(seconds) => time_of_seconds(seconds),
        Err(_) => parse_time_text(text),
    }
}

/// Unix seconds as a time in the store's years.
pub fn time_of_seconds(seconds: i64) -> Result<NaiveDateTime, String> {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .and_then(|time| in_range(time.naive_utc()))
        .ok_or_else(|| format!("`{seconds}` is not between year 1 and year 9999"))
}

/// An RFC 3339 time or a date, written out: where JSON can say a number, a string of digits is
/// not Unix seconds.
pub fn parse_time_text(text: &str) -> Result<NaiveDateTime, String> {
    let time = match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(date) => Some(date.and_time(NaiveTime::MIN)),
        Err(_) => DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| time.naive_utc()),
    };
    let time = time
        .ok_or_else(|| format!("`{text}` is neither Unix seconds, an RFC 3339 time nor a date"))?;
    in_range(time).ok_or_else(|| format!("`{text}` is not between year 1 and year 9999"))
}

/// `time`, if it lies in the years the store can compare (1 to 9999).
pub fn in_range(time: NaiveDateTime) -> Option<NaiveDateTime> {
    use chrono::Datelike;
    (1..=9999).contains(&time.year()).then_some(time)
}

fn time_param(name: &str, text: Option<String>) -> Result<Option<NaiveDateTime>, ApiError> {
    text.map(|text| parse_time(&text).map_err(|message| ApiError::invalid(name, message)))
        .transpose()
}

fn parse_id<K: IdKind>(name: &str, text: &str) -> Result<Id<K>, ApiError> {
    Id::<K>::parse(text).map_err(|error| ApiError::invalid(name, error.to_string()))
}

/// A list's paging parameters as given, over ids of kind `K`: what [`ListParams::page`] reads,
/// and what the API document says of them.
pub struct Paging<K> {
    limit: Option<String>,
    starting_after: Option<String>,
    kind: PhantomData<K>,
}

impl<K: IdKind> IntoParams for Paging<K> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_LIMIT));
        let query = |name: &str, description: &str, schema: RefOr<Schema>| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(schema))
                .build()
        };
        vec![
            query(
                "limit",
                "Objects per page, from 1 to 100; 20 when absent.",
                limit.into(),
            ),
            query(
                "starting_after",
                "The last id of the page before: the objects created before it follow.",
                Id::<K>::schema(),
            ),
        ]
    }
}

/// A list's period as given ([`ListParams::created`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Created {
    /// Objects created at or after this time.
    #[param(value_type = Option<Time>)]
    created_gte: Option<String>,
    /// Objects created before this time.
    #[param(value_type = Option<Time>)]
    created_lt: Option<String>,
}

/// How a time is given in a query or a body ([`parse_time`]), for the API document.
pub struct Time;

impl PartialSchema for Time {
    fn schema() -> RefOr<Schema> {
        let string = |format: KnownFormat| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(MIN_UNIX_SECONDS))
                    .maximum(Some(MAX_UNIX_SECONDS)),
            )
            .item(string(KnownFormat::DateTime))
            .item(string(KnownFormat::Date))
            .description(Some(
                "Unix seconds, an RFC 3339 time or a date (`YYYY-MM-DD`, its midnight UTC), \
                 from year 1 to year 9999.",
            ))
            .examples([
                serde_json::json!(1_764_806_400),
                serde_json::json!("2025-12-04"),
            ])
            .into()
    }
}

impl ToSchema for Time {}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the times the store can compare.
const MIN_UNIX_SECONDS: i64 = -62_135_596_800;
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

/// A list request's query parameters, consumed one by one so that leftovers can be refused.
pub struct ListParams {
    params: BTreeMap<String, String>,
}

impl ListParams {
    pub fn parse(query_string: &str) -> Result<ListParams, ApiError> {
        let mut params = BTreeMap::new();
        for (key, value) in url::form_urlencoded::parse(query_string.as_bytes()) {
            if params.insert(key.to_string(), value.to_string()).is_some() {
                let message = format!("`{key}` is given more than once");
                return Err(ApiError::invalid(key, message));
            }
        }
        Ok(ListParams { params })
    }

    /// `limit` and `starting_after`, the cursor over ids of kind `K`.
    pub fn page<K: IdKind>(&mut self) -> Result<PageRequest, ApiError> {
        let given = Paging::<K> {
            limit: self.params.remove("limit"),
            starting_after: self.params.remove("starting_after"),
            kind: PhantomData,
        };
        let limit = match given.limit {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| {
                    ApiError::invalid(
                        "limit",
                        format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    )
                })?,
        };
        let starting_after = given
            .starting_after
            .map(|text| parse_id::<K>("starting_after", &text))
            .transpose()?
            .map(|id| id.to_string());
        Ok(PageRequest {
            limit,
            starting_after,
        })
    }

    /// `created_gte` and `created_lt`.
    pub fn created(&mut self) -> Result<(Option<NaiveDateTime>, Option<NaiveDateTime>), ApiError> {
        let given = Created {
            created_gte: self.params.remove("created_gte"),
            created_lt: self.params.remove("created_lt"),
        };
        Ok((
            time_param("created_gte", given.created_gte)?,
            time_param("created_lt", given.created_lt)?,
        ))
    }

    /// A free-text parameter.
    pub fn text(&mut self, name: &str) -> Option<String> {
        self.params.remove(name)
    }

    /// A parameter that must be one of `allowed`.
    pub fn one_of(&mut self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.params.remove(name) {
            Some(value) if !allowed.contains(&value.as_str()) => Err(ApiError::invalid(
                name,
                format!("`{value}` is not one of: {}", allowed.join(", ")),
            )),
            value => Ok(value),
        }
    }

    /// A parameter that must name one of `all` (the values of a text enum), as that value.
    pub fn value<T: Copy + std::fmt::Display>(
        &mut self,
        name: &str,
        all: &[T],
    ) -> Result<Option<T>, ApiError> {
        let names: Vec<String> = all.iter().map(ToString::to_string).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let Some(chosen) = self.one_of(name, &names)? else {
            return Ok(None);
        };
        Ok(all
            .iter()
            .copied()
            .find(|value| value.to_string() == chosen))
    }

    /// A parameter holding an id of kind `K`.
    pub fn id<K: IdKind>(&mut self, name: &str) -> Result<Option<Id<K>>, ApiError> {
        self.params
            .remove(name)
            .map(|text| parse_id::<K>(name, &text))
            .transpose()
    }

    /// A time: see [`parse_time`].
    pub fn time(&mut self, name: &str) -> Result<Option<NaiveDateTime>, ApiError> {
        time_param(name, self.params.remove(name))
    }

    /// Refuses whatever parameter was not consumed.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.params.into_keys().next() {
            Some(unknown) => Err(ApiError::invalid(
                unknown.clone(),
                format!("unknown parameter `{unknown}`"),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paymux_domain::ids::EventKind;

    #[test]
    fn defaults_and_bounds_of_limit() {
        let page = ListParams::parse("").unwrap().page::<EventKind>().unwrap();
        assert_eq!(page.limit, DEFAULT_LIMIT);
        for bad in ["0", "101", "-1", "ten"] {
            let error = ListParams::parse(&format!("limit={bad}"))
                .unwrap()
                .page::<EventKind>()
                .unwrap_err();
            assert_eq!(error.param.as_deref(), Some("limit"));
        }
    }

    #[test]
    fn cursors_must_be_ids_of_the_listed_kind() {
        let error = ListParams::parse("starting_after=chk_01jd0000000000000000000000")
            .unwrap()
            .page::<EventKind>()
            .unwrap_err();
        assert_eq!(error.param.as_deref(), Some("starting_after"));
    }

    #[test]
    fn times_accept_unix_seconds_and_rfc3339() {
        let mut params =
            ListParams::parse("a=1700000000&b=2023-11-14T22:13:20Z&c=yesterday&d=2023-11-14")
                .unwrap();
        assert_eq!(params.time("a").unwrap(), params.time("b").unwrap());
        assert_eq!(params.time("c").unwrap_err().param.as_deref(), Some("c"));
        assert_eq!(
            params.time("d").unwrap().map(|day| day.to_string()),
            Some("2023-11-14 00:00:00".to_owned())
        );
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        let params = ListParams::parse("limit=5&colour=red").unwrap();
        assert_eq!(
            params.finish().unwrap_err().param.as_deref(),
            Some("colour")
        );
        assert!(ListParams::parse("limit=5&limit=6").is_err());
    }
}
