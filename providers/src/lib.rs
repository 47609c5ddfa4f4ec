//! Provider adapters behind one [`Provider`] trait, the helpers they share (signing, the HTTP
//! client, secrets) and the [`Registry`] that builds them from config.

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
pub mod sandbox;
pub mod secret;
pub mod signing;
pub mod skipify;
pub mod sknpay;
pub mod spankpay;

pub use error::{Operation, ProviderError};
pub use provider::{Capabilities, Confirmation, Provider};
pub use factory::{AdapterContext, ConfigError, ProviderFactory};
pub use registry::Registry;
pub use secret::{SecretRef, SecretResolver};
