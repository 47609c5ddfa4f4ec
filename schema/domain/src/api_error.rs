//! The one shape of every error answer paymux gives, the API's and a rejected webhook's alike:
//! `{"error": {"code", "message", "param"}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error answer's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"error": {"code": "invalid_request", "message": "amount must be a positive integer of minor units, at most 1000000000000", "param": "amount"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable `code` to branch on, a `message` for people, and the request field
/// at fault (`amount`, `items[0].quantity`), when one is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// The request field at fault, as a path (`items[0].quantity`), or null.
    pub param: Option<String>,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>, param: Option<&str>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
                param: param.map(str::to_owned),
            },
        }
    }
}
