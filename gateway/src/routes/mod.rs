//! HTTP routes. Each module holds one family of endpoints and its request/response types.

pub mod checkouts;
pub mod events;
pub mod export;
pub mod health;
pub mod json;
pub mod list;
pub mod metrics;
pub mod pay;
pub mod reconciliation;
pub mod refunds;
pub mod webhook_endpoints;
pub mod webhooks;
