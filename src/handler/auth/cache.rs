//! Verdicts of slow password checks (bcrypt, SHA-crypt), per worker: a browser
//! sends the same credentials with every request, and each would otherwise cost
//! a bcrypt run. The key is a SHA-256 of the user, the stored hash and the
//! password, so an edited htpasswd line or another password is a new key, and
//! no password is kept. Entries live [`TTL`]; at most [`MAX_ENTRIES`] are kept.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a verdict is trusted.
pub const TTL: Duration = Duration::from_secs(60);
/// Verdicts kept per worker.
pub const MAX_ENTRIES: usize = 1024;

pub type Key = [u8; 32];

thread_local! {
    static VERDICTS: RefCell<HashMap<Key, (bool, Instant)>> = RefCell::new(HashMap::new());
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
    VERDICTS.with(|v| {
        v.borrow()
            .get(key)
            .filter(|(_, at)| now.duration_since(*at) < TTL)
            .map(|(ok, _)| *ok)
    })
}

/// Records a verdict; when full, expired entries go first, then the oldest.
pub fn put(key: Key, ok: bool) {
    let now = Instant::now();
    VERDICTS.with(|v| {
        let mut v = v.borrow_mut();
        if v.len() >= MAX_ENTRIES && !v.contains_key(&key) {
            v.retain(|_, (_, at)| now.duration_since(*at) < TTL);
            if v.len() >= MAX_ENTRIES
                && let Some(oldest) = v.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k)
            {
                v.remove(&oldest);
            }
        }
        v.insert(key, (ok, now));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for i in 0..MAX_ENTRIES as u32 + 10 {
            put(key(&i.to_be_bytes(), "h", b"p"), false);
        }
        assert!(VERDICTS.with(|v| v.borrow().len()) <= MAX_ENTRIES);
    }
}
