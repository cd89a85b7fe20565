//! Verdicts of slow password checks (bcrypt, SHA-crypt), shared by every worker
//! of the process: a browser sends the same credentials with every request,
//! and each would otherwise cost a bcrypt run, on whichever worker its
//! connection landed. The table is runtime state outside the configuration, so
//! it survives a SIGHUP reload (an edited htpasswd line is a new key anyway).
//!
//! The key is a SHA-256 of the user, the stored hash and the password (length-
//! prefixed), so another password or hash is another key and no password is
//! kept. The table is split into [`SHARDS`] mutex-guarded parts chosen by the
//! key's first byte, so workers rarely meet on one lock; each part keeps at most
//! [`MAX_ENTRIES`]` / SHARDS` verdicts, trusted for [`TTL`].

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a verdict is trusted.
pub const TTL: Duration = Duration::from_secs(60);
/// Verdicts kept by the process.
pub const MAX_ENTRIES: usize = 4096;
/// Parts of the table, each behind its own lock.
pub const SHARDS: usize = 16;

pub type Key = [u8; 32];

type Shard = HashMap<Key, (bool, Instant)>;

static TABLE: LazyLock<[Mutex<Shard>; SHARDS]> =
    LazyLock::new(|| std::array::from_fn(|_| Mutex::new(HashMap::new())));

/// The part of the table `key` lives in (a poisoned lock still holds good
/// verdicts: each entry is written whole).
fn shard(key: &Key) -> MutexGuard<'static, Shard> {
    TABLE[usize::from(key[0]) % SHARDS]
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The key for `password` checked against `user`'s `hash`.
pub fn key(user: &[u8], hash: &str, password: &[u8]) -> Key {
    let mut h = Sha256::new();
    for part in [user, hash.as_bytes(), password] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// The verdict for `key`, if one was recorded within [`TTL`].
pub fn get(key: &Key) -> Option<bool> {
    let now = Instant::now();
    shard(key)
        .get(key)
        .filter(|(_, at)| now.duration_since(*at) < TTL)
        .map(|(ok, _)| *ok)
}

/// Records a verdict; when its part is full, expired entries go first, then
/// the oldest.
pub fn put(key: Key, ok: bool) {
    let now = Instant::now();
    let mut part = shard(&key);
    if part.len() >= MAX_ENTRIES / SHARDS && !part.contains_key(&key) {
        part.retain(|_, (_, at)| now.duration_since(*at) < TTL);
        if part.len() >= MAX_ENTRIES / SHARDS
            && let Some(oldest) = part.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k)
        {
            part.remove(&oldest);
        }
    }
    part.insert(key, (ok, now));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> usize {
        TABLE.iter().map(|s| s.lock().unwrap().len()).sum()
    }

    #[test]
    fn keys_differ_by_every_part_and_the_size_is_bounded() {
        let k = key(b"u", "h", b"p");
        assert_ne!(k, key(b"u", "h", b"q"));
        assert_ne!(k, key(b"u", "h2", b"p"));
        assert_ne!(k, key(b"v", "h", b"p"));
        // Field boundaries count: ("ab", "c") is not ("a", "bc").
        assert_ne!(key(b"ab", "c", b""), key(b"a", "bc", b""));
        assert_eq!(get(&k), None);
        put(k, true);
        assert_eq!(get(&k), Some(true));
        for i in 0..MAX_ENTRIES as u32 + 100 {
            put(key(&i.to_be_bytes(), "h", b"p"), false);
        }
        assert!(entries() <= MAX_ENTRIES);
    }

    #[test]
    fn a_verdict_put_on_one_thread_is_seen_on_another() {
        let k = key(b"shared", "h", b"p");
        std::thread::spawn(move || put(k, true)).join().unwrap();
        let seen = std::thread::spawn(move || get(&k)).join().unwrap();
        assert_eq!(seen, Some(true));
    }
}
