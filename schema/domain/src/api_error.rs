//! The one shape of every error answer paymux gives, the API's and a rejected webhook's alike:
//! `{"error": {"code", "message", "param"}}`.

use serde::{Deserialize, Serialize};

/// An error answer's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable `code` to branch on, a `message` for people, and the request field
/// at fault (`amount`, `items[0].quantity`), when one is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
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
