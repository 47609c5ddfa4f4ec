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
    /// The connection failed after the request may have been sent (reset, closed before the
    /// answer): like a timeout, whether the request took effect is unknown.
    #[error("the connection to the provider broke off: {0}")]
    Interrupted(String),
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

    /// The error's code in an error body (`invalid_signature`, `malformed_payload`, …): what a
    /// rejected webhook's reply carries.
    pub fn code(&self) -> &'static str {
        match self {
            ProviderError::Unsupported { .. } => "unsupported_operation",
            ProviderError::InvalidRequest { .. } => "invalid_request",
            ProviderError::InvalidSignature(_) => "invalid_signature",
            ProviderError::StaleTimestamp(_) => "stale_timestamp",
            ProviderError::MalformedPayload(_) => "malformed_payload",
            ProviderError::Upstream { .. }
            | ProviderError::Unreachable(_)
            | ProviderError::Timeout { .. }
            | ProviderError::Interrupted(_) => "provider_error",
        }
    }

    /// True when the provider cannot have acted on the request: no connection was made
    /// (refused, DNS, TLS, connect timeout), or the provider's own service answered with a 5xx,
    /// saying it failed the request. Routing may then try another provider without risking two
    /// live checkouts. A 502 or 504 is not the provider's own answer but that of a proxy in
    /// front of it, which lost or gave up on the provider's answer: see
    /// [`ProviderError::outcome_unknown`].
    pub fn nothing_created(&self) -> bool {
        match self {
            ProviderError::Unreachable(_) => true,
            ProviderError::Upstream { status, .. } => {
                (500..=599).contains(status) && !is_proxy_failure(*status)
            }
            _ => false,
        }
    }

    /// True when the request may or may not have taken effect at the provider: only a retry
    /// under the same idempotency key, to the same provider, settles it.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            ProviderError::Timeout { .. } | ProviderError::Interrupted(_) => true,
            ProviderError::Upstream { status, .. } => is_proxy_failure(*status),
            _ => false,
        }
    }

    /// True for failures that say the provider is unwell (what a circuit breaker counts), as
    /// opposed to a refusal of this one request.
    pub fn is_provider_failure(&self) -> bool {
        self.nothing_created() || self.outcome_unknown()
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

/// 502 Bad Gateway and 504 Gateway Timeout: a proxy's answer after the request reached it, so
/// the provider behind it may have received and acted on it.
fn is_proxy_failure(status: u16) -> bool {
    matches!(status, 502 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_told_apart_by_what_the_provider_may_have_done() {
        let unreachable = ProviderError::Unreachable("refused".into());
        let unavailable = ProviderError::Upstream {
            status: 503,
            message: "down".into(),
        };
        let timeout = ProviderError::Timeout {
            elapsed: Duration::from_secs(1),
        };
        let interrupted = ProviderError::Interrupted("reset".into());
        let bad_gateway = ProviderError::Upstream {
            status: 502,
            message: "proxy lost the answer".into(),
        };
        let gateway_timeout = ProviderError::Upstream {
            status: 504,
            message: "proxy gave up".into(),
        };
        let refused = ProviderError::Upstream {
            status: 422,
            message: "no".into(),
        };
        let invalid = ProviderError::invalid("bad", "amount");
        for error in [&unreachable, &unavailable] {
            assert!(
                error.nothing_created() && !error.outcome_unknown(),
                "{error}"
            );
            assert!(error.is_provider_failure());
        }
        for error in [&timeout, &interrupted, &bad_gateway, &gateway_timeout] {
            assert!(
                error.outcome_unknown() && !error.nothing_created(),
                "{error}"
            );
            assert!(error.is_provider_failure());
        }
        for error in [&refused, &invalid] {
            assert!(
                !error.nothing_created() && !error.outcome_unknown(),
                "{error}"
            );
            assert!(!error.is_provider_failure());
        }
    }
}

/// A config problem, with the key it concerns relative to the provider's section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}
