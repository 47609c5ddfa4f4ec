//! What every provider simulator shares. A simulator speaks its provider's documented wire
//! format; the gateway mounts its API, serves its hosted page through one page frame, drives it
//! through one control endpoint (`POST /sandbox/{provider}/checkouts/{id}/{outcome}`) and sends
//! the webhooks it produces with the provider's retry schedule. What a simulator remembers is
//! kept in [`BoundedMap`]s, so a long-running sandbox holds a bounded amount.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use paymux_domain::Money;
use url::Url;

use crate::factory::ConfigError;
use crate::secret::SecretResolver;

/// An answer of the simulated API.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxResponse {
    pub status: u16,
    pub body: serde_json::Value,
}

impl SandboxResponse {
    pub fn ok(body: serde_json::Value) -> SandboxResponse {
        SandboxResponse { status: 200, body }
    }

    /// An error in the `{"error": "…"}` shape several providers use.
    pub fn error(status: u16, message: impl Into<String>) -> SandboxResponse {
        SandboxResponse {
            status,
            body: serde_json::json!({ "error": message.into() }),
        }
    }
}

/// A call to the simulated API: the headers that matter and the body.
#[derive(Clone, Copy)]
pub struct SandboxCall<'a> {
    /// `Bearer sk_…`: never printed.
    pub authorization: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub body: &'a [u8],
}

impl std::fmt::Debug for SandboxCall<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxCall")
            .field("authorization", &self.authorization.map(|_| "[redacted]"))
            .field("idempotency_key", &self.idempotency_key)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// What a tester can make happen to a simulated checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pay,
    Decline,
    Cancel,
    Expire,
}

impl Outcome {
    pub fn parse(text: &str) -> Option<Outcome> {
        match text {
            "pay" => Some(Outcome::Pay),
            "decline" => Some(Outcome::Decline),
            "cancel" => Some(Outcome::Cancel),
            "expire" => Some(Outcome::Expire),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Pay => "pay",
            Outcome::Decline => "decline",
            Outcome::Cancel => "cancel",
            Outcome::Expire => "expire",
        }
    }
}

/// Signs a webhook at the moment it is sent: each retry carries a fresh timestamp, as the
/// real providers' do, so it passes the receiver's replay window.
pub type Signer = Arc<dyn Fn(DateTime<Utc>, &[u8]) -> Vec<(String, String)> + Send + Sync>;

/// What a provider makes of a reply to its webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Not delivered; the provider tries again on its schedule.
    Retry,
    /// Refused for good (SpankPay: a 4xx or `{"received": false}` fails the payment): no retry.
    Refused,
}

/// Decides from a reply what the provider makes of it.
pub type Acceptance = fn(status: u16, body: &[u8]) -> Verdict;

/// A webhook a simulator wants delivered.
#[derive(Clone)]
pub struct OutgoingWebhook {
    pub url: Url,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// The event's type and id, for the control endpoint's answer and logs.
    pub event_type: String,
    pub event_id: String,
    pub sign: Signer,
    /// Delays between attempts after the first, as the provider documents them.
    pub retry_delays: Vec<Duration>,
    /// How long the provider waits for the reply before counting the attempt as failed.
    pub reply_within: Duration,
    pub delivered: Acceptance,
}

impl std::fmt::Debug for OutgoingWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingWebhook")
            .field("url", &self.url.as_str())
            .field("event_type", &self.event_type)
            .field("event_id", &self.event_id)
            .finish_non_exhaustive()
    }
}

/// A 2xx reply is delivered, anything else retried: what most providers do.
pub fn delivered_on_2xx(status: u16, _body: &[u8]) -> Verdict {
    if (200..300).contains(&status) {
        Verdict::Delivered
    } else {
        Verdict::Retry
    }
}

/// What the hosted page shows for a simulated checkout.
#[derive(Debug, Clone, PartialEq)]
pub struct HostedPage {
    pub provider_checkout_id: String,
    pub amount: Option<Money>,
    pub description: Option<String>,
    /// The simulated checkout's status in the provider's own words.
    pub status: String,
    /// Whether the pay/decline/cancel/expire buttons still do something.
    pub open: bool,
    /// Extra input fields the page offers for `pay` (name, label, placeholder), e.g. SKN's
    /// card number; their values go into the control call's JSON body.
    pub fields: Vec<(&'static str, &'static str, String)>,
}

/// The result of a control call.
#[derive(Debug, Clone)]
pub struct ControlResult {
    /// The simulated checkout's status afterwards, in the provider's words.
    pub status: String,
    /// Where the payer's browser goes next (a success URL), if anywhere.
    pub redirect_url: Option<String>,
    /// The webhook the outcome triggers, if the provider sends one for it.
    pub webhook: Option<OutgoingWebhook>,
}

/// Why a control call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    #[error("no such checkout `{0}` in the sandbox")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
}

/// One merchant's account at a simulated provider, built from the same config section that
/// configures the merchant's adapter.
pub struct SandboxAccount<'a> {
    pub merchant: &'a str,
    pub settings: &'a serde_json::Value,
    pub secrets: SecretResolver,
    /// Where this merchant receives the provider's webhooks on paymux.
    pub webhook_url: Url,
    /// Where the hosted pages are: append a provider checkout id.
    pub pay_page_base: Url,
}

/// A simulated provider.
pub trait Simulator: Send + Sync + 'static {
    fn id(&self) -> &'static str;

    /// Registers a merchant's account (its credentials and webhook endpoint).
    fn add_account(&self, account: SandboxAccount<'_>) -> Result<(), ConfigError>;

    /// What the hosted page shows for a checkout.
    fn page(&self, provider_checkout_id: &str, now: DateTime<Utc>) -> Option<HostedPage>;

    /// Does what the hosted page's buttons do.
    fn control(
        &self,
        provider_checkout_id: &str,
        outcome: Outcome,
        options: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<ControlResult, SandboxError>;
}

/// How many entries each map of a simulator keeps (checkouts, payments, transactions,
/// idempotency keys): enough for any test or demo, and a few tens of MB at most, however long
/// the sandbox runs.
pub const SIMULATOR_CAPACITY: usize = 10_000;

/// What a [`BoundedMap`] asks of an entry: whether it is finished (paid, declined for good,
/// canceled, expired, refunded: whatever is terminal for its provider), so it may be dropped
/// before the open ones a tester may still act on.
pub trait Finished {
    fn finished(&self, now: DateTime<Utc>) -> bool;
}

/// A map that never holds more than its capacity: inserting past it drops the oldest finished
/// entry, or, when every other entry is open, the oldest one. The entry just inserted is never
/// the one dropped. Dropped entries are gone: the simulator answers for them as for ids it
/// never made.
pub struct BoundedMap<K, V> {
    capacity: usize,
    /// The entries by insertion number: oldest first, so the walk for one to drop reads no
    /// hash.
    entries: BTreeMap<u64, (K, V)>,
    /// Each key's insertion number.
    index: HashMap<K, u64>,
    inserted: u64,
}

impl<K, V> Default for BoundedMap<K, V> {
    fn default() -> Self {
        BoundedMap::with_capacity(SIMULATOR_CAPACITY)
    }
}

impl<K, V> BoundedMap<K, V> {
    /// A map keeping at most `capacity` entries (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        BoundedMap {
            capacity: capacity.max(1),
            entries: BTreeMap::new(),
            index: HashMap::new(),
            inserted: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.values().map(|(key, value)| (key, value))
    }
}

impl<K: Eq + Hash + Clone, V: Finished> BoundedMap<K, V> {
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let inserted = self.index.get(key)?;
        self.entries.get(inserted).map(|(_, value)| value)
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let inserted = self.index.get(key)?;
        self.entries.get_mut(inserted).map(|(_, value)| value)
    }

    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.index.contains_key(key)
    }

    /// Inserts `value` as the newest entry (replacing any under `key`), then drops one entry if
    /// the map is over its capacity; returns the value replaced.
    pub fn insert(&mut self, key: K, value: V, now: DateTime<Utc>) -> Option<V> {
        let replaced = self.remove(&key);
        let inserted = self.inserted;
        self.inserted += 1;
        self.index.insert(key.clone(), inserted);
        self.entries.insert(inserted, (key, value));
        if self.entries.len() > self.capacity
            && let Some(victim) = self.victim(inserted, now)
            && let Some((key, _)) = self.entries.remove(&victim)
        {
            self.index.remove(&key);
        }
        replaced
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let inserted = self.index.remove(key)?;
        self.entries.remove(&inserted).map(|(_, value)| value)
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let index = &mut self.index;
        self.entries.retain(|_, (key, value)| {
            let kept = keep(key, value);
            if !kept {
                index.remove(key);
            }
            kept
        });
    }

    /// The entry to drop, other than the newest: the oldest finished one, else the oldest.
    /// Walks from the oldest, so it stops early in the usual case of old entries being
    /// finished; only a map of open entries is walked whole.
    fn victim(&self, newest: u64, now: DateTime<Utc>) -> Option<u64> {
        let others = || {
            self.entries
                .iter()
                .filter(|(inserted, _)| **inserted != newest)
        };
        others()
            .find(|(_, (_, value))| value.finished(now))
            .or_else(|| others().next())
            .map(|(inserted, _)| *inserted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// An entry that is finished from `finished_at` on (never when `None`).
    struct Entry {
        finished_at: Option<DateTime<Utc>>,
    }

    impl Finished for Entry {
        fn finished(&self, now: DateTime<Utc>) -> bool {
            self.finished_at.is_some_and(|at| at <= now)
        }
    }

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_778_276_991 + second, 0).unwrap()
    }

    const OPEN: Entry = Entry { finished_at: None };

    fn finished() -> Entry {
        Entry {
            finished_at: Some(at(0)),
        }
    }

    fn keys(map: &BoundedMap<u32, Entry>) -> Vec<u32> {
        let mut keys: Vec<u32> = map.iter().map(|(key, _)| *key).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn finished_entries_go_first_oldest_first() {
        let mut map = BoundedMap::with_capacity(4);
        map.insert(1, OPEN, at(1));
        map.insert(2, finished(), at(1));
        map.insert(3, OPEN, at(1));
        map.insert(4, finished(), at(1));
        assert_eq!(map.len(), 4);
        map.insert(5, OPEN, at(1));
        assert_eq!(keys(&map), [1, 3, 4, 5], "the oldest finished went");
        map.insert(6, OPEN, at(1));
        assert_eq!(keys(&map), [1, 3, 5, 6], "then the next finished");
        map.insert(7, OPEN, at(1));
        assert_eq!(
            keys(&map),
            [3, 5, 6, 7],
            "nothing finished: the oldest open went"
        );
        // An entry finished in place goes before older open ones.
        map.get_mut(&6).unwrap().finished_at = Some(at(0));
        map.insert(8, OPEN, at(1));
        assert_eq!(keys(&map), [3, 5, 7, 8]);
    }

    #[test]
    fn finished_is_judged_at_the_time_of_the_insert() {
        let mut map = BoundedMap::with_capacity(2);
        map.insert(1, OPEN, at(1));
        map.insert(
            2,
            Entry {
                finished_at: Some(at(10)),
            },
            at(1),
        );
        map.insert(3, OPEN, at(1));
        assert_eq!(keys(&map), [2, 3], "2 is still open at 1: the oldest went");
        map.insert(4, OPEN, at(10));
        assert_eq!(keys(&map), [3, 4], "2 is finished at 10");
    }

    #[test]
    fn the_entry_just_inserted_stays_and_the_size_never_exceeds_the_capacity() {
        let mut map = BoundedMap::with_capacity(3);
        for key in 0..3 {
            map.insert(key, OPEN, at(1));
        }
        // A finished newcomer among open entries stays; the oldest open goes.
        map.insert(3, finished(), at(1));
        assert_eq!(keys(&map), [1, 2, 3]);
        for key in 4..100 {
            let entry = if key % 3 == 0 { finished() } else { OPEN };
            map.insert(key, entry, at(1));
            assert!(map.len() <= 3);
            assert!(map.contains_key(&key));
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.index.len(), 3, "the index forgets what the map drops");
    }

    #[test]
    fn replacing_remove_and_retain_keep_the_order_in_step() {
        let mut map = BoundedMap::with_capacity(3);
        map.insert(1, finished(), at(1));
        map.insert(2, finished(), at(1));
        assert!(
            map.insert(1, finished(), at(1)).is_some(),
            "1 is now the newest"
        );
        map.insert(3, OPEN, at(1));
        map.insert(4, OPEN, at(1));
        assert_eq!(keys(&map), [1, 3, 4], "2 was the oldest finished");
        assert!(map.remove(&3).is_some());
        map.retain(|key, _| *key != 4);
        assert_eq!(keys(&map), [1]);
        assert_eq!(map.index.len(), 1);
        assert!(!map.is_empty());
        let zero: BoundedMap<u32, Entry> = BoundedMap::with_capacity(0);
        assert_eq!(zero.capacity(), 1);
        assert_eq!(
            BoundedMap::<u32, Entry>::default().capacity(),
            SIMULATOR_CAPACITY
        );
    }
}
