//! What paymux does, apart from HTTP: recording events and applying them to checkouts, taking
//! webhooks, routing checkouts to providers, reserving and settling refunds, expiring what
//! nobody paid. The HTTP handlers in `routes` call these and map their error enums to the
//! API's errors; nothing here knows a request or a response.

pub mod audit;
pub mod checkouts;
pub mod endpoints;
pub mod events;
pub mod expiry;
pub mod ingest;
pub mod outbound;
pub mod refunds;
pub mod routing;
#[cfg(test)]
pub(crate) mod test_support;
pub mod views;
