//! The memory of a simulator: maps that never outgrow their capacity, and one lock over a
//! simulator's state.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use paymux_providers::ConfigError;

use crate::simulator::SandboxError;

/// A simulator's state behind one lock. Every call holds it throughout, so a call sees and
/// leaves the state whole, as a provider's database would.
#[derive(Default)]
pub struct Locked<S>(Mutex<S>);

impl<S> Locked<S> {
    pub fn new(state: S) -> Locked<S> {
        Locked(Mutex::new(state))
    }

    pub fn lock(&self) -> MutexGuard<'_, S> {
        // A panic while holding the lock leaves plain data behind, still usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How a simulated API call starts: under the lock, `authenticate` finds the caller's
    /// account (its credential) and `operation` runs for it; a caller it refuses gets its
    /// refusal.
    pub fn as_caller<C, E, R: From<E>>(
        &self,
        authenticate: impl FnOnce(&S) -> Result<C, E>,
        operation: impl FnOnce(&mut S, C) -> R,
    ) -> R {
        let mut state = self.lock();
        match authenticate(&state) {
            Ok(caller) => operation(&mut state, caller),
            Err(refusal) => refusal.into(),
        }
    }
}

/// A simulated provider's merchant accounts, by the credential its API calls present (an API
/// key, a public key), each with the paymux merchant it is for (the name its pages show). Two
/// merchants cannot share one: the provider could not tell them apart.
pub struct Accounts<A, K = String> {
    by_credential: HashMap<K, (String, A)>,
}

impl<A, K> Default for Accounts<A, K> {
    fn default() -> Self {
        Accounts {
            by_credential: HashMap::new(),
        }
    }
}

/// A credential opening an account, as config names it.
pub struct Credential<'a, K = String> {
    /// Its key in the provider's config section: `api_key`.
    pub key: &'a str,
    /// What the provider calls it, for errors: `SKN Pay key`.
    pub name: &'a str,
    pub value: K,
}

impl<A, K: Eq + Hash> Accounts<A, K> {
    /// Opens `merchant`'s account under `credential`.
    pub fn open(
        &mut self,
        credential: Credential<'_, K>,
        merchant: &str,
        account: A,
    ) -> Result<(), ConfigError> {
        if self.by_credential.contains_key(&credential.value) {
            return Err(ConfigError::new(
                credential.key,
                format!(
                    "another merchant than `{merchant}` uses the same {}",
                    credential.name
                ),
            ));
        }
        let credential = credential.value;
        self.by_credential
            .insert(credential, (merchant.to_owned(), account));
        Ok(())
    }

    /// The account a credential opens.
    pub fn get<Q>(&self, credential: &Q) -> Option<&A>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.by_credential
            .get(credential)
            .map(|(_, account)| account)
    }

    /// The paymux merchant whose account a credential opens.
    pub fn merchant<Q>(&self, credential: &Q) -> Option<&str>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.by_credential
            .get(credential)
            .map(|(merchant, _)| merchant.as_str())
    }
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
/// entry among the oldest few ([`VICTIM_WALK`]), or, when those are all open, the oldest one.
/// The entry just inserted is never the one dropped. Dropped entries are gone: the simulator
/// answers for them as for ids it never made.
pub struct BoundedMap<K, V> {
    capacity: usize,
    /// The entries by insertion number: oldest first, so the walk for one to drop reads no
    /// hash.
    entries: BTreeMap<u64, (K, V)>,
    /// Each key's insertion number.
    index: HashMap<K, u64>,
    inserted: u64,
}

/// How many of the oldest entries an insertion past capacity looks at for a finished one, so
/// that a map full of open entries costs the same per insertion as an empty one.
const VICTIM_WALK: usize = 64;

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

    /// The simulated checkout a control call presses on, or that there is none (never made,
    /// or forgotten).
    pub fn checkout_mut(&mut self, id: &str) -> Result<&mut V, SandboxError>
    where
        K: Borrow<str>,
    {
        self.get_mut(id)
            .ok_or_else(|| SandboxError::NotFound(id.to_owned()))
    }

    /// Drops entries from the oldest on while `expired` says yes: for entries that expire in
    /// the order they were inserted, it reads only those it drops and the first it keeps.
    pub fn drop_oldest_while(&mut self, mut expired: impl FnMut(&V) -> bool) {
        while let Some(entry) = self.entries.first_entry()
            && expired(&entry.get().1)
        {
            let (key, _) = entry.remove();
            self.index.remove(&key);
        }
    }

    /// The entry to drop, other than the newest: the oldest finished one of the oldest
    /// [`VICTIM_WALK`], else the oldest.
    fn victim(&self, newest: u64, now: DateTime<Utc>) -> Option<u64> {
        let others = || {
            self.entries
                .iter()
                .filter(|(inserted, _)| **inserted != newest)
        };
        others()
            .take(VICTIM_WALK)
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
    fn replacing_remove_and_dropping_the_oldest_keep_the_order_in_step() {
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
        map.drop_oldest_while(|entry| entry.finished(at(1)));
        assert_eq!(
            keys(&map),
            [4],
            "1 was finished, 4 is open and stops the walk"
        );
        assert_eq!(map.index.len(), 1);
        assert!(!map.is_empty());
        let zero: BoundedMap<u32, Entry> = BoundedMap::with_capacity(0);
        assert_eq!(zero.capacity(), 1);
        assert_eq!(
            BoundedMap::<u32, Entry>::default().capacity(),
            SIMULATOR_CAPACITY
        );
    }

    #[test]
    fn past_the_oldest_few_an_open_map_drops_its_oldest() {
        let mut map = BoundedMap::with_capacity(VICTIM_WALK + 1);
        for key in 0..=VICTIM_WALK {
            map.insert(key, OPEN, at(1));
        }
        map.get_mut(&VICTIM_WALK).unwrap().finished_at = Some(at(0));
        map.insert(VICTIM_WALK + 1, OPEN, at(1));
        assert!(
            !map.contains_key(&0),
            "the finished entry was too young to be looked at"
        );
        assert!(map.contains_key(&VICTIM_WALK));
        map.get_mut(&1).unwrap().finished_at = Some(at(0));
        map.insert(VICTIM_WALK + 2, OPEN, at(1));
        assert!(
            !map.contains_key(&1) && map.contains_key(&2),
            "the oldest finished went"
        );
    }
}
