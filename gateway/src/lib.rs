//! The paymux gateway: the HTTP API storefronts and providers talk to, and the `paymux` CLI.

pub mod auth;
pub mod breaker;
pub mod cli;
pub mod client_address;
pub mod domain;
pub mod error;
pub mod idempotency;
pub mod jobs;
pub mod live;
pub mod merchants;
pub mod metrics;
pub mod nodes;
pub mod pages;
pub mod progress;
pub mod ratelimit;
pub mod reconciliation;
pub mod routes;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod seed;
pub mod settings;
pub mod shared;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod writer;

pub use settings::{Overlay, Settings};
pub use startup::Application;
