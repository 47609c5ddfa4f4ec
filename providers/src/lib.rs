//! Provider adapters behind one [`Provider`] trait, the helpers they share (signing, the HTTP
//! client, secrets) and the [`Registry`] that builds them from config.

mod checks;
pub mod error;
pub mod factory;
pub mod http;
pub mod json;
pub mod kwik;
pub mod model;
pub mod pakhi;
pub mod provider;
#[cfg(test)]
mod reasons_tests;
pub mod registry;
pub mod rules;
pub mod secret;
pub mod signing;
pub mod skipify;
pub mod sknpay;
pub mod spankpay;
#[cfg(test)]
mod test_support;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use error::{ConfigError, Operation, ProviderError};
pub use factory::{AdapterContext, ProviderFactory};
pub use provider::{
    Cancels, Capabilities, ClosedCheckout, Confirmation, Confirms, Lookups, Provider, Redacts,
    Refunds, WebhookPolicy,
};
pub use registry::Registry;
pub use secret::{SecretRef, SecretResolver};
