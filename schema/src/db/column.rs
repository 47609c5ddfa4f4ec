//! Typed columns: rows hold domain types (ids, statuses, currencies, JSON), and the text the
//! database keeps is made and read here, at the diesel boundary, and nowhere else.
//!
//! Fields of a row declare `#[diesel(deserialize_as = Text, serialize_as = Text)]` (or
//! [`OptionalText`] for a nullable column): diesel reads and writes the text, and the
//! conversions below parse and print the domain type. A stored value that does not parse is a
//! deserialization error that says what it is not and what it was (`unknown checkout status
//! `payed``); the queries that load one row add which row ([`in_row`]).

use std::fmt::Display;
use std::str::FromStr;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, Text as SqlText};
use paymux_domain::ids::{Id, IdKind};
use paymux_domain::{
    AuditAction, AuditActor, AuditChannel, CheckoutStatus, Currency, EndpointStatus, EventSource,
    EventType, MessageStatus, ReceiptOutcome, RefundStatus,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The text of a `TEXT NOT NULL` column, on its way to or from a domain type.
#[derive(Debug, Clone, AsExpression, FromSqlRow)]
#[diesel(sql_type = SqlText)]
pub struct Text(pub String);

/// The text of a nullable `TEXT` column.
#[derive(Debug, Clone, AsExpression, FromSqlRow)]
#[diesel(sql_type = Nullable<SqlText>)]
pub struct OptionalText(pub Option<String>);

// Over any backend that stores text as a `String` (each of the connection's, and the
// multi-backend over them).
impl<DB: Backend> FromSql<SqlText, DB> for Text
where
    String: FromSql<SqlText, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        String::from_sql(bytes).map(Text)
    }
}

impl<DB: Backend> ToSql<SqlText, DB> for Text
where
    String: ToSql<SqlText, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

impl<DB: Backend> FromSql<Nullable<SqlText>, DB> for OptionalText
where
    String: FromSql<SqlText, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        String::from_sql(bytes).map(|text| OptionalText(Some(text)))
    }

    fn from_nullable_sql(bytes: Option<DB::RawValue<'_>>) -> deserialize::Result<Self> {
        bytes.map_or(Ok(OptionalText(None)), Self::from_sql)
    }
}

impl<DB: Backend> ToSql<Nullable<SqlText>, DB> for OptionalText
where
    Option<String>: ToSql<Nullable<SqlText>, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

/// A stored value that is not what its column holds.
#[derive(Debug, thiserror::Error)]
#[error("corrupt stored value: {0}")]
pub struct Corrupt(String);

fn parse<T: FromStr>(text: &str) -> Result<T, Corrupt>
where
    T::Err: Display,
{
    text.parse()
        .map_err(|error: T::Err| Corrupt(error.to_string()))
}

/// Conversions between a domain type's text form and the column wrappers.
macro_rules! stored_as_text {
    ($($ty:ty),* $(,)?) => {$(
        impl TryFrom<Text> for $ty {
            type Error = Corrupt;
            fn try_from(text: Text) -> Result<Self, Corrupt> {
                parse(&text.0)
            }
        }

        impl From<$ty> for Text {
            fn from(value: $ty) -> Text {
                Text(value.to_string())
            }
        }

        impl TryFrom<OptionalText> for Option<$ty> {
            type Error = Corrupt;
            fn try_from(text: OptionalText) -> Result<Self, Corrupt> {
                text.0.as_deref().map(parse).transpose()
            }
        }

        impl From<Option<$ty>> for OptionalText {
            fn from(value: Option<$ty>) -> OptionalText {
                OptionalText(value.map(|value| value.to_string()))
            }
        }
    )*};
}

stored_as_text!(
    AuditAction,
    AuditActor,
    AuditChannel,
    CheckoutStatus,
    Currency,
    EndpointStatus,
    MessageStatus,
    EventSource,
    EventType,
    ReceiptOutcome,
    RefundStatus
);

impl<K: IdKind> TryFrom<Text> for Id<K> {
    type Error = Corrupt;
    fn try_from(text: Text) -> Result<Self, Corrupt> {
        parse(&text.0)
    }
}

impl<K: IdKind> From<Id<K>> for Text {
    fn from(id: Id<K>) -> Text {
        Text(id.to_string())
    }
}

impl<K: IdKind> TryFrom<OptionalText> for Option<Id<K>> {
    type Error = Corrupt;
    fn try_from(text: OptionalText) -> Result<Self, Corrupt> {
        text.0.as_deref().map(parse).transpose()
    }
}

impl<K: IdKind> From<Option<Id<K>>> for OptionalText {
    fn from(id: Option<Id<K>>) -> OptionalText {
        OptionalText(id.map(|id| id.to_string()))
    }
}

/// A JSON column: the value, parsed when read and written out whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Json<T>(pub T);

/// What a JSON column may hold: values whose serialization cannot fail (a JSON value, a list
/// of strings), so writing one is never an error to handle.
pub trait JsonColumn: Serialize + DeserializeOwned {}

impl JsonColumn for serde_json::Value {}
impl JsonColumn for Vec<String> {}

fn json_text<T: JsonColumn>(value: &T) -> String {
    // Serializing these types cannot fail (see `JsonColumn`); `null` would only ever stand
    // for a value that could not be written.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn parse_json<T: JsonColumn>(text: &str) -> Result<T, Corrupt> {
    // The position, not serde's message, which may quote the stored (customer's) data.
    serde_json::from_str(text).map_err(|error| {
        Corrupt(format!(
            "not the JSON this column holds ({:?} error at line {} column {})",
            error.classify(),
            error.line(),
            error.column()
        ))
    })
}

impl<T: JsonColumn> TryFrom<Text> for Json<T> {
    type Error = Corrupt;
    fn try_from(text: Text) -> Result<Self, Corrupt> {
        parse_json(&text.0).map(Json)
    }
}

impl<T: JsonColumn> From<Json<T>> for Text {
    fn from(json: Json<T>) -> Text {
        Text(json_text(&json.0))
    }
}

impl<T: JsonColumn> TryFrom<OptionalText> for Option<Json<T>> {
    type Error = Corrupt;
    fn try_from(text: OptionalText) -> Result<Self, Corrupt> {
        text.0
            .as_deref()
            .map(|text| parse_json(text).map(Json))
            .transpose()
    }
}

impl<T: JsonColumn> From<Option<Json<T>>> for OptionalText {
    fn from(json: Option<Json<T>>) -> OptionalText {
        OptionalText(json.map(|json| json_text(&json.0)))
    }
}

/// Adds which row a query read to a corrupt value's error: `checkouts chk_…: corrupt stored
/// value: unknown checkout status `payed``.
pub fn in_row<T>(
    result: diesel::QueryResult<T>,
    table: &str,
    id: &dyn Display,
) -> diesel::QueryResult<T> {
    result.map_err(|error| match error {
        diesel::result::Error::DeserializationError(cause) => {
            diesel::result::Error::DeserializationError(format!("{table} {id}: {cause}").into())
        }
        other => other,
    })
}
