//! paymux's data model, shared by every crate: exact money, prefixed ids, the normalized event
//! model, the checkout status machine, and the diesel store over SQLite and PostgreSQL.

pub mod db;
pub mod event;
pub mod ids;
pub mod money;
pub mod payments;
pub mod status;
pub mod text_enum;

pub use event::{EventFlag, EventSource, EventType, NormalizedEvent};
pub use ids::{CheckoutId, EventId, ReceiptId, RefundId};
pub use money::{Currency, Money, MoneyError};
pub use status::{CheckoutStatus, StatusInput, Transition, TransitionFlag, next_status};
