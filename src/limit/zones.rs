//! The zones' runtime state, shared by every worker thread: per-key leaky
//! buckets (`limit_req_zone`) and per-key connection counts (`limit_conn_zone`).
//!
//! A zone is a set of shards, each a `Mutex<HashMap>` locked only for the few
//! arithmetic steps of one lookup (never across I/O). Its size bounds the entries
//! it keeps: nginx fits about one state per [`REQ_ENTRY_BYTES`] (or
//! [`CONN_ENTRY_BYTES`]) of its shared memory, and so does webserv. A full
//! request zone forgets its least recently used key; a full connection zone
//! refuses a new key, as nginx does when its slab is out of memory.
//!
//! Zones live outside the configuration, in a process-wide registry by name:
//! a configuration reloaded with the same definition (key, size, rate) gets the
//! same zone back, its state intact.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use super::bucket::Bucket;

/// Bytes of zone size per request-limit state (nginx's node, rounded).
pub const REQ_ENTRY_BYTES: u64 = 128;
/// Bytes of zone size per connection-limit state.
pub const CONN_ENTRY_BYTES: u64 = 64;
/// Shards per zone: threads rarely wait on each other's keys.
const SHARDS: usize = 16;

/// What a zone was defined with; a reload with an equal one keeps the zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Definition {
    pub name: String,
    /// The key template as written.
    pub key: String,
    pub size: u64,
    /// Milli-requests per second (`limit_req_zone`); 0 for `limit_conn_zone`.
    pub rate: u64,
}

/// The milliseconds on the zones' clock at `now`.
pub fn millis(now: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}

/// A shard of a request zone: buckets by key, and their use order (LRU).
#[derive(Default)]
struct ReqShard {
    buckets: HashMap<Box<str>, (Bucket, u64)>,
    /// Use stamp → key, oldest first.
    order: BTreeMap<u64, Box<str>>,
    stamp: u64,
}

impl ReqShard {
    /// Marks `key` used now, inserting an empty bucket (LRU eviction at `cap`).
    fn touch(&mut self, key: &str, cap: usize) -> &mut Bucket {
        self.stamp += 1;
        let stamp = self.stamp;
        match self.buckets.get(key).map(|slot| slot.1) {
            Some(old) => {
                self.order.remove(&old);
            }
            None => {
                while self.buckets.len() >= cap.max(1) {
                    let Some((_, oldest)) = self.order.pop_first() else {
                        break;
                    };
                    self.buckets.remove(&oldest);
                }
            }
        }
        let key: Box<str> = key.into();
        self.order.insert(stamp, key.clone());
        let slot = self.buckets.entry(key).or_default();
        slot.1 = stamp;
        &mut slot.0
    }
}

/// A `limit_req_zone`'s state.
pub struct ReqZone {
    pub def: Definition,
    shards: Vec<Mutex<ReqShard>>,
    /// Entries each shard keeps.
    cap: usize,
}

impl std::fmt::Debug for ReqZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReqZone({:?})", self.def)
    }
}

/// What a request zone says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Within the burst: the excess (milli-requests) it has (or would have).
    Within(u64),
    /// Over the burst: the excess it would have had.
    Over(u64),
}

impl ReqZone {
    pub fn new(def: Definition) -> ReqZone {
        let entries = (def.size / REQ_ENTRY_BYTES).max(SHARDS as u64);
        ReqZone {
            def,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            cap: usize::try_from(entries / SHARDS as u64).unwrap_or(usize::MAX),
        }
    }

    /// Checks a request for `key` at `now` (ms) against `burst`; `commit`: a
    /// request within the burst is counted at once.
    pub fn take(&self, key: &str, burst: u64, now: u64, commit: bool) -> Take {
        let rate = self.def.rate;
        let mut shard = lock(&self.shards[shard_of(key)]);
        let bucket = shard.touch(key, self.cap);
        let excess = bucket.excess_at(rate, now);
        if excess > burst {
            return Take::Over(excess);
        }
        if commit {
            bucket.add(rate, now);
        }
        Take::Within(excess)
    }

    /// Counts a request for `key` that [`ReqZone::take`] let through uncounted;
    /// the excess it then has.
    pub fn commit(&self, key: &str, now: u64) -> u64 {
        let mut shard = lock(&self.shards[shard_of(key)]);
        shard.touch(key, self.cap).add(self.def.rate, now)
    }

    /// Keys kept (for tests and `--explain`).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).buckets.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most keys the zone keeps.
    pub fn capacity(&self) -> usize {
        self.cap.saturating_mul(SHARDS)
    }
}

/// A `limit_conn_zone`'s state: requests in progress per key.
pub struct ConnZone {
    pub def: Definition,
    shards: Vec<Mutex<HashMap<Box<str>, u32>>>,
    cap: usize,
}

impl std::fmt::Debug for ConnZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnZone({:?})", self.def)
    }
}

impl ConnZone {
    pub fn new(def: Definition) -> ConnZone {
        let entries = (def.size / CONN_ENTRY_BYTES).max(SHARDS as u64);
        ConnZone {
            def,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            cap: usize::try_from(entries / SHARDS as u64).unwrap_or(usize::MAX),
        }
    }

    /// Counts one more for `key` unless it has `max` already (or the zone is
    /// full); the hold gives it back when dropped.
    pub fn acquire(self: &Arc<Self>, key: &str, max: u32) -> Option<Hold> {
        let mut shard = lock(&self.shards[shard_of(key)]);
        let full = shard.len() >= self.cap;
        match shard.get_mut(key) {
            Some(n) if *n >= max => return None,
            Some(n) => *n += 1,
            None if full || max == 0 => return None,
            None => {
                shard.insert(key.into(), 1);
            }
        }
        Some(Hold {
            zone: Arc::clone(self),
            key: key.into(),
        })
    }

    fn release(&self, key: &str) {
        let mut shard = lock(&self.shards[shard_of(key)]);
        if let Some(n) = shard.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                shard.remove(key);
            }
        }
    }

    /// Requests counted for `key` now.
    pub fn count(&self, key: &str) -> u32 {
        lock(&self.shards[shard_of(key)])
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

/// One counted request in a connection zone; dropping it uncounts it, on every
/// exit path (response done, client gone, error).
pub struct Hold {
    zone: Arc<ConnZone>,
    key: Box<str>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.zone.release(&self.key);
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hold({}, {:?})", self.zone.def.name, self.key)
    }
}

/// The request zone defined by `def`: the running one if its definition is the
/// same, else a new one (which replaces it for later loads).
pub fn req_zone(def: Definition) -> Arc<ReqZone> {
    static ZONES: OnceLock<Mutex<HashMap<String, Arc<ReqZone>>>> = OnceLock::new();
    let mut zones = lock(ZONES.get_or_init(Mutex::default));
    match zones.get(&def.name) {
        Some(z) if z.def == def => Arc::clone(z),
        _ => {
            let z = Arc::new(ReqZone::new(def.clone()));
            zones.insert(def.name, Arc::clone(&z));
            z
        }
    }
}

/// The connection zone defined by `def` (see [`req_zone`]).
pub fn conn_zone(def: Definition) -> Arc<ConnZone> {
    static ZONES: OnceLock<Mutex<HashMap<String, Arc<ConnZone>>>> = OnceLock::new();
    let mut zones = lock(ZONES.get_or_init(Mutex::default));
    match zones.get(&def.name) {
        Some(z) if z.def == def => Arc::clone(z),
        _ => {
            let z = Arc::new(ConnZone::new(def.clone()));
            zones.insert(def.name, Arc::clone(&z));
            z
        }
    }
}

/// A lock that a panicking holder left poisoned is still used: the state is a
/// counter or a bucket, whole after every step.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn shard_of(key: &str) -> usize {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
    (h % SHARDS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, size: u64, rate: u64) -> Definition {
        Definition {
            name: name.into(),
            key: "$binary_remote_addr".into(),
            size,
            rate,
        }
    }

    #[test]
    fn burst_then_refusals_then_drain() {
        // 1r/s, burst 3 (3000 milli-requests), as `nodelay` counts it.
        let z = ReqZone::new(def("t1", 1 << 20, 1000));
        let verdicts: Vec<Take> = (0..6).map(|_| z.take("a", 3000, 5_000, true)).collect();
        use Take::*;
        let want = [
            Within(0),
            Within(1000),
            Within(2000),
            Within(3000),
            Over(4000),
            Over(4000),
        ];
        assert_eq!(verdicts, want);
        // Refusals are not counted: one second drains one request.
        assert_eq!(z.take("a", 3000, 6_000, true), Within(3000));
        // Another key has its own bucket.
        assert_eq!(z.take("b", 0, 6_000, true), Within(0));
        assert_eq!(z.take("b", 0, 6_000, true), Over(1000));
    }

    #[test]
    fn uncommitted_takes_count_nothing_until_committed() {
        let z = ReqZone::new(def("t2", 1 << 20, 1000));
        assert_eq!(z.take("k", 0, 0, false), Take::Within(0));
        assert_eq!(z.take("k", 0, 0, false), Take::Within(0));
        assert_eq!(z.commit("k", 0), 0);
        assert_eq!(z.take("k", 0, 0, false), Take::Over(1000));
    }

    #[test]
    fn a_full_zone_forgets_the_least_recently_used_key() {
        // The smallest zone keeps one key per shard.
        let z = ReqZone::new(def("t3", 0, 1000));
        assert_eq!(z.capacity(), SHARDS);
        let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        for k in &keys {
            z.take(k, 0, 0, true);
        }
        assert_eq!(z.len(), SHARDS);
        // The last key written to each shard is still there, refused again.
        let last = keys.last().map_or("", String::as_str);
        assert_eq!(z.take(last, 0, 0, true), Take::Over(1000));
        // An evicted key starts again empty.
        assert_eq!(z.take("k0", 0, 0, true), Take::Within(0));
        // The sizes follow the zone size.
        let big = ReqZone::new(def("t4", 1 << 20, 1000));
        assert_eq!(big.capacity() as u64, (1 << 20) / REQ_ENTRY_BYTES);
    }

    #[test]
    fn lru_keeps_recently_used_keys() {
        let mut shard = ReqShard::default();
        shard.touch("a", 2).add(1000, 0);
        shard.touch("b", 2);
        shard.touch("a", 2);
        shard.touch("c", 2);
        assert!(shard.buckets.contains_key("a"));
        assert!(!shard.buckets.contains_key("b"));
        assert_eq!(shard.order.len(), 2);
    }

    #[test]
    fn holds_count_and_release() {
        let z = Arc::new(ConnZone::new(def("c1", 1 << 20, 0)));
        let a = z.acquire("x", 2);
        let b = z.acquire("x", 2);
        assert!(a.is_some() && b.is_some());
        assert!(z.acquire("x", 2).is_none());
        assert_eq!(z.count("x"), 2);
        drop(a);
        assert_eq!(z.count("x"), 1);
        let c = z.acquire("x", 2);
        assert!(c.is_some());
        drop((b, c));
        assert_eq!(z.count("x"), 0);
        assert!(z.acquire("y", 0).is_none());
    }

    #[test]
    fn registry_keeps_a_zone_whose_definition_is_unchanged() {
        let a = req_zone(def("reg1", 1 << 20, 1000));
        a.take("k", 0, 0, true);
        let b = req_zone(def("reg1", 1 << 20, 1000));
        assert!(Arc::ptr_eq(&a, &b));
        let c = req_zone(def("reg1", 1 << 20, 2000));
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(c.is_empty());
        let d = conn_zone(def("reg1", 1 << 20, 0));
        let e = conn_zone(def("reg1", 1 << 20, 0));
        assert!(Arc::ptr_eq(&d, &e));
    }
}
