//! paymux end to end: the real server on port 0 with a database of its own. Each test runs on
//! SQLite; its PostgreSQL twin is ignored unless asked for with `--ignored` (or
//! `--include-ignored`) and `PAYMUX_TEST_DATABASE_URL` set, as CI does. One binary, so the
//! gateway is linked once.

mod api;
mod browser;
mod dashboard;
mod export;
mod hardening;
mod isolation;
mod kwik;
mod newcomer;
mod nodes;
mod outbound;
mod pakhi;
mod payments;
mod providers;
mod reconciliation;
mod routing;
mod skipify;
mod sknpay;
mod spankpay;
mod store;
