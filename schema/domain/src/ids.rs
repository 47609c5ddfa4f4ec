//! Prefixed object ids (`chk_…`, `evt_…`, `re_…`, `rcpt_…`).
//!
//! The prefix tells a human and the API which kind of object an id names; the body is a
//! lower-case ULID, so ids sort by creation time and a list ordered by id is ordered by age,
//! which is what cursor pagination (`starting_after`) relies on.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::{Generator, Ulid};

/// One generator for every kind: monotonic within the process.
static GENERATOR: std::sync::Mutex<Generator> = std::sync::Mutex::new(Generator::new());

/// The kind of object an [`Id`] names: its prefix.
pub trait IdKind {
    const PREFIX: &'static str;
    /// The id's name in the API document (`CheckoutId`).
    const NAME: &'static str;
}

macro_rules! id_kinds {
    ($($(#[$doc:meta])* $kind:ident => $alias:ident = $prefix:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $kind {}
        impl IdKind for $kind {
            const PREFIX: &'static str = $prefix;
            const NAME: &'static str = stringify!($alias);
        }
        $(#[$doc])*
        pub type $alias = Id<$kind>;
    )*};
}

id_kinds! {
    /// A checkout: one attempt to collect an amount through one provider.
    CheckoutKind => CheckoutId = "chk_";
    /// A normalized provider event.
    EventKind => EventId = "evt_";
    /// A refund paymux asked a provider for.
    RefundKind => RefundId = "re_";
    /// One webhook request as received, verified or not.
    ReceiptKind => ReceiptId = "rcpt_";
    /// Where a merchant receives paymux's webhooks.
    EndpointKind => EndpointId = "we_";
    /// One event for one endpoint: the `webhook-id` every attempt to send it carries.
    MessageKind => MessageId = "msg_";
    /// One attempt to deliver a message.
    DeliveryKind => DeliveryId = "del_";
    /// One entry of the audit log.
    AuditKind => AuditId = "aud_";
}

/// An id of kind `K`: `K::PREFIX` followed by a lower-case ULID.
pub struct Id<K> {
    ulid: Ulid,
    kind: PhantomData<K>,
}

impl<K: IdKind> Id<K> {
    /// A fresh id for an object created now, greater than every id this process made before
    /// (within one millisecond too), so lists ordered by id are ordered by creation.
    pub fn generate() -> Self {
        let ulid = match GENERATOR.lock() {
            Ok(mut generator) => generator.generate().unwrap_or_else(|_| Ulid::new()),
            Err(_) => Ulid::new(),
        };
        Id::from_ulid(ulid)
    }

    pub fn from_ulid(ulid: Ulid) -> Self {
        Id {
            ulid,
            kind: PhantomData,
        }
    }

    /// The lower-case ULID after the prefix: unique on its own, for ids derived from this one.
    pub fn ulid(&self) -> String {
        self.ulid.to_string().to_ascii_lowercase()
    }

    /// Milliseconds since the Unix epoch at which this id was generated.
    pub fn timestamp_ms(&self) -> u64 {
        self.ulid.timestamp_ms()
    }

    /// Parses `prefix + ULID`; the ULID may be upper or lower case.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let body = text.strip_prefix(K::PREFIX).ok_or_else(|| IdError {
            text: text.to_owned(),
            expected: K::PREFIX,
        })?;
        let ulid = Ulid::from_string(body).map_err(|_| IdError {
            text: text.to_owned(),
            expected: K::PREFIX,
        })?;
        Ok(Id::from_ulid(ulid))
    }
}

/// An id that is not `prefix + ULID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid id: expected `{expected}` followed by 26 base32 characters")]
pub struct IdError {
    pub text: String,
    pub expected: &'static str,
}

impl<K: IdKind> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.ulid.to_string().to_ascii_lowercase();
        write!(f, "{}{}", K::PREFIX, body)
    }
}

impl<K: IdKind> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<K: IdKind> FromStr for Id<K> {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Id::parse(text)
    }
}

// Manual impls: derives would demand the same traits of the uninhabited kind marker.
impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Id<K> {}
impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.ulid == other.ulid
    }
}
impl<K> Eq for Id<K> {}
impl<K> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ulid.cmp(&other.ulid)
    }
}
impl<K> std::hash::Hash for Id<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.ulid.hash(state);
    }
}

impl<K: IdKind> Serialize for Id<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de, K: IdKind> Deserialize<'de> for Id<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Id::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_round_trip() {
        let id = CheckoutId::generate();
        let text = id.to_string();
        assert!(text.starts_with("chk_"), "{text}");
        assert_eq!(text.len(), 4 + 26);
        assert_eq!(text, text.to_ascii_lowercase());
        assert_eq!(CheckoutId::parse(&text), Ok(id));
        assert_eq!(
            CheckoutId::parse(&text.to_ascii_uppercase().replace("CHK_", "chk_")),
            Ok(id)
        );
        assert!(EventId::generate().to_string().starts_with("evt_"));
        assert!(RefundId::generate().to_string().starts_with("re_"));
        assert!(ReceiptId::generate().to_string().starts_with("rcpt_"));
    }

    #[test]
    fn a_wrong_prefix_or_body_is_refused() {
        let event = EventId::generate().to_string();
        assert!(CheckoutId::parse(&event).is_err());
        assert!(CheckoutId::parse("chk_").is_err());
        assert!(CheckoutId::parse("chk_not-a-ulid-at-all-000000").is_err());
        assert!(CheckoutId::parse("").is_err());
    }

    #[test]
    fn ids_generated_in_a_row_increase_even_within_a_millisecond() {
        let ids: Vec<String> = (0..1000).map(|_| EventId::generate().to_string()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn later_ids_sort_after_earlier_ones_as_text() {
        let earlier = CheckoutId::from_ulid(Ulid::from_parts(1_700_000_000_000, 7));
        let later = CheckoutId::from_ulid(Ulid::from_parts(1_700_000_000_001, 0));
        assert!(earlier < later);
        assert!(earlier.to_string() < later.to_string());
        assert_eq!(later.timestamp_ms(), 1_700_000_000_001);
    }

    #[test]
    fn serde_uses_the_prefixed_text() {
        let id = RefundId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<RefundId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<CheckoutId>(&json).is_err());
    }
}
