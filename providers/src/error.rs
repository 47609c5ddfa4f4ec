//! What can go wrong talking to a provider or reading what it sent.

use std::time::Duration;

/// The operations a provider may or may not offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Create,
    Retrieve,
    Cancel,
    Refund,
    PartialRefund,
    Webhooks,
}

impl Operation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Retrieve => "retrieve",
            Operation::Cancel => "cancel",
            Operation::Refund => "refund",
            Operation::PartialRefund => "partial refund",
            Operation::Webhooks => "webhooks",
        }
    }
}

/// A typed provider failure. The gateway maps each variant to one HTTP status; the messages
/// never contain credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider has no such operation: an explicit refusal, never a silent no-op.
    #[error("{provider} does not support {}", operation.as_str())]
    Unsupported {
        provider: &'static str,
        operation: Operation,
    },
    /// The request breaks a rule the provider documents; caught before any call.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        /// The offending field of the unified request, e.g. `customer.email`.
        param: Option<String>,
    },
    /// A webhook whose signature (or shared secret) does not match.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// A webhook signed too long ago or in the future.
    #[error("timestamp outside the accepted window: {0}")]
    StaleTimestamp(String),
    /// A webhook or response body that does not have the documented shape.
    #[error("malformed payload: {0}")]
    MalformedPayload(String),
    /// The provider answered with an error status; `message` is the provider's own.
    #[error("provider answered {status}: {message}")]
    Upstream { status: u16, message: String },
    /// No connection could be made: nothing can have been created, so another provider may be
    /// tried.
    #[error("provider unreachable: {0}")]
    Unreachable(String),
    /// The provider did not answer in time. Whether the request took effect is unknown.
    #[error("provider timed out after {}ms", elapsed.as_millis())]
    Timeout { elapsed: Duration },
}

impl ProviderError {
    pub fn invalid(message: impl Into<String>, param: impl Into<String>) -> ProviderError {
        ProviderError::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
        }
    }

    pub fn unsupported(provider: &'static str, operation: Operation) -> ProviderError {
        ProviderError::Unsupported {
            provider,
            operation,
        }
    }

    /// True for the errors that say a webhook is not authentic or not readable: the request is
    /// refused with a 4xx and its receipt kept with the reason.
    pub fn is_webhook_rejection(&self) -> bool {
        matches!(
            self,
            ProviderError::InvalidSignature(_)
                | ProviderError::StaleTimestamp(_)
                | ProviderError::MalformedPayload(_)
        )
    }
}
