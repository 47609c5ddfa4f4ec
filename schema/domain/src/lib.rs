//! paymux's domain types, shared by every crate and free of any database: exact money,
//! prefixed ids, the normalized event model, the statuses and the checkout status machine, and
//! how a checkout's payments add up. Provider adapters use these without compiling the store.

pub mod api_error;
pub mod api_schema;
pub mod audit;
pub mod event;
pub mod ids;
pub mod money;
pub mod payments;
pub mod status;
pub mod text_enum;

pub use api_error::{ErrorBody, ErrorDetail};
pub use audit::{AuditAction, AuditActor, AuditChannel};
pub use event::{EventFlag, EventSource, EventType, NormalizedEvent};
pub use ids::{
    AuditId, CheckoutId, DeliveryId, EndpointId, EventId, MessageId, ReceiptId, RefundId,
};
pub use money::{Currency, Money, MoneyError};
pub use status::{
    CheckoutStatus, EndpointStatus, MessageStatus, ReceiptOutcome, RefundStatus, StatusInput,
    Transition, TransitionFlag, next_status,
};
