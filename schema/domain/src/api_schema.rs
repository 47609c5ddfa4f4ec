//! How the domain's values appear in the API document (OpenAPI): the text enums as string
//! enums, ids as prefixed strings, currencies as their codes.

use std::borrow::Cow;

pub use utoipa;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::ids::{Id, IdKind};
use crate::money::Currency;

/// A string that is one of `values`.
pub fn string_enum<'a>(
    values: impl IntoIterator<Item = &'a str>,
    description: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.into_iter().map(str::to_owned)))
        .description(Some(description))
        .into()
}

impl<K: IdKind> PartialSchema for Id<K> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(format!(
                "^{}[0-9a-hjkmnp-tv-zA-HJKMNP-TV-Z]{{26}}$",
                K::PREFIX
            )))
            .description(Some(format!("An id: `{}` and a ULID.", K::PREFIX)))
            .examples([format!("{}01jd8x3m5q7v2k9w4t6r8y0z1b", K::PREFIX)])
            .into()
    }
}

impl<K: IdKind> ToSchema for Id<K> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed(K::NAME)
    }
}

impl PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        string_enum(
            Currency::ALL.iter().map(|currency| currency.code()),
            "An ISO-4217 currency code; any letter case is accepted (`usd`), and answers use \
             upper case.",
        )
    }
}

impl ToSchema for Currency {}
