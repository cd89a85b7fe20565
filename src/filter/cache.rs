//! The compressed-body cache: per worker, the on-the-fly compressed bytes of static
//! files, so a hot `app.js` is compressed once instead of on every request.
//!
//! An entry is keyed by the identity of the open file the open file cache handed
//! out (device, inode, size, mtime and ctime, read with one `fstat` of that
//! descriptor), the byte span, the coding and the level. So the bytes always match
//! what the descriptor holds: when the open file cache's revalidation finds a file
//! edited or replaced, it reopens it, the identity changes, and it also calls
//! [`forget`] so the stale bodies are dropped at once. The cache is bounded in
//! bytes by `compression_cache SIZE`, counting each entry's body and its overhead
//! ([`ENTRY_OVERHEAD`]: key, entry, map slot, order slot, allocation headers), so
//! many tiny bodies cannot outgrow it. Least recently used bodies leave first, found
//! in O(log n) through a tree ordered by last use; a file larger than a quarter of
//! SIZE (or than 16 MiB) is streamed instead; `off` disables it.
//!
//! A miss of a file too large to compress at once (over one buffer) is a [`Fill`]:
//! the worker's thread pool compresses it ([`compress`]) while the client of the
//! miss gets the response streamed, and the loop stores the bytes when the pool is
//! done ([`complete`]). One fill per entry at a time, [`MAX_FILLS`] per worker.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::Arc;

use super::{BUFFER, Encoder, Encoding};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    offset: u64,
    len: u64,
    encoding: Encoding,
    level: u32,
}

struct Entry {
    data: Arc<[u8]>,
    /// When it was last used: its place in `Cache::order`.
    used: u64,
}

/// What an entry costs beyond its body: its slot in the map (key and entry, at a
/// typical load of two thirds), its slot in the order (tick and key, in tree
/// nodes about two thirds full), and the shared body's reference counts and
/// allocation header. About 350 bytes.
pub const ENTRY_OVERHEAD: usize = size_of::<(Key, Entry)>() * 3 / 2
    + 1
    + size_of::<(u64, Key)>() * 3 / 2
    + 4 * size_of::<usize>();

/// The bytes an entry with `body` counts against the budget.
fn cost(body: &[u8]) -> usize {
    body.len() + ENTRY_OVERHEAD
}

#[derive(Default)]
struct Cache {
    entries: HashMap<Key, Entry>,
    /// Every entry's key by last use, least recent first: eviction takes the first.
    order: BTreeMap<u64, Key>,
    /// The bodies and the overhead of every entry.
    bytes: usize,
    clock: u64,
    /// Entries the pool is computing (claimed [`Fill`]s).
    filling: HashSet<Key>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

fn key(file: &File, offset: u64, len: u64, encoding: Encoding, level: u32) -> Option<Key> {
    let m = file.metadata().ok()?;
    Some(Key {
        dev: m.dev(),
        ino: m.ino(),
        size: m.size(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
        offset,
        len,
        encoding,
        level,
    })
}

/// The largest file compressed whole for the cache, whatever the budget: it is
/// read into memory and compressed in one go.
pub const MAX_ENTRY_SOURCE: u64 = 16 << 20;

/// Whether a body of `len` source bytes is cached under a budget of `budget`.
pub fn takes(budget: u64, len: u64) -> bool {
    budget > 0 && len <= (budget / 4).min(MAX_ENTRY_SOURCE)
}

/// The cached compressed bytes of `len` bytes of `file` at `offset`.
pub fn lookup(
    budget: u64,
    file: &File,
    offset: u64,
    len: u64,
    encoding: Encoding,
    level: u32,
) -> Option<Arc<[u8]>> {
    if !takes(budget, len) {
        return None;
    }
    let k = key(file, offset, len, encoding, level)?;
    CACHE.with(|c| c.borrow_mut().hit(&k))
}

/// Keeps `data` (when the budget takes it) and returns it shared.
pub fn store(
    budget: u64,
    file: &File,
    offset: u64,
    len: u64,
    encoding: Encoding,
    level: u32,
    data: Vec<u8>,
) -> Arc<[u8]> {
    let data: Arc<[u8]> = data.into();
    if !takes(budget, len) {
        return data;
    }
    let Some(k) = key(file, offset, len, encoding, level) else {
        return data;
    };
    CACHE.with(|c| c.borrow_mut().insert(k, Arc::clone(&data), budget as usize));
    data
}

/// The most cache fills a worker's pool computes at once: each holds a file's
/// compressed bytes until it is stored.
pub const MAX_FILLS: usize = 4;

/// A cache entry to compute off the event loop: which bytes, compressed how, and
/// the key and budget it is stored under.
#[derive(Debug)]
pub struct Fill {
    key: Key,
    budget: u64,
}

/// The fill for a miss of `len` bytes of `file` at `offset`, if the cache takes
/// such a body (not yet claimed: see [`claim`]).
pub fn miss(
    budget: u64,
    file: &File,
    offset: u64,
    len: u64,
    encoding: Encoding,
    level: u32,
) -> Option<Fill> {
    if !takes(budget, len) {
        return None;
    }
    let key = key(file, offset, len, encoding, level)?;
    Some(Fill { key, budget })
}

/// Claims `fill` for the pool: `false` if the same entry is being computed
/// already, or [`MAX_FILLS`] are. A claim ends with [`complete`].
pub fn claim(fill: &Fill) -> bool {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.filling.len() < MAX_FILLS && c.filling.insert(fill.key)
    })
}

/// Runs on the pool: the span compressed, read one buffer at a time (the memory
/// is the output), and only if the file is still the one the key names.
pub fn compress(fill: &Fill, file: &File) -> io::Result<Vec<u8>> {
    let k = &fill.key;
    let mut encoder = Encoder::new(k.encoding, k.level)?;
    let mut input = vec![0; (k.len as usize).min(BUFFER)];
    let mut out = Vec::new();
    let (mut at, end) = (k.offset, k.offset.saturating_add(k.len));
    while at < end {
        let n = ((end - at) as usize).min(BUFFER);
        file.read_exact_at(&mut input[..n], at)?;
        encoder.write(&input[..n])?;
        encoder.take_into(&mut out);
        at += n as u64;
    }
    encoder.finish_into(&mut out)?;
    if key(file, k.offset, k.len, k.encoding, k.level).as_ref() != Some(k) {
        return Err(io::Error::other("the file changed while it was compressed"));
    }
    Ok(out)
}

/// Back on the loop: stores what the pool computed and ends the claim.
pub fn complete(fill: &Fill, result: io::Result<Vec<u8>>) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.filling.remove(&fill.key);
        match result {
            Ok(data) => c.insert(fill.key, data.into(), fill.budget as usize),
            Err(e) => log::info!("compressed-body cache: not filled: {e}"),
        }
    })
}

impl Cache {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The body under `k`, now the most recently used.
    fn hit(&mut self, k: &Key) -> Option<Arc<[u8]>> {
        let now = self.tick();
        let e = self.entries.get_mut(k)?;
        self.order.remove(&e.used);
        e.used = now;
        self.order.insert(now, *k);
        Some(Arc::clone(&e.data))
    }

    fn insert(&mut self, k: Key, data: Arc<[u8]>, budget: usize) {
        self.remove(&k);
        let need = cost(&data);
        if need > budget {
            return;
        }
        while self.bytes + need > budget {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some(old) = self.entries.remove(&oldest) {
                self.bytes -= cost(&old.data);
            }
        }
        let used = self.tick();
        self.bytes += need;
        self.order.insert(used, k);
        self.entries.insert(k, Entry { data, used });
    }

    fn remove(&mut self, k: &Key) {
        if let Some(old) = self.entries.remove(k) {
            self.order.remove(&old.used);
            self.bytes -= cost(&old.data);
        }
    }
}

/// Drops every body of the file (device, inode): the open file cache found it
/// changed, replaced or deleted.
pub fn forget(dev: u64, ino: u64) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.entries.is_empty() {
            return;
        }
        // A scan, but only when a file changed (not per request or eviction).
        let stale: Vec<Key> = c
            .entries
            .keys()
            .filter(|k| (k.dev, k.ino) == (dev, ino))
            .copied()
            .collect();
        for k in &stale {
            c.remove(k);
        }
    })
}

/// (entries, bytes counted with their overhead) held by this worker.
pub fn usage() -> (usize, usize) {
    CACHE.with(|c| {
        let c = c.borrow();
        (c.entries.len(), c.bytes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(content: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        f
    }

    #[test]
    fn hits_are_per_file_span_coding_and_level_and_bounded_in_bytes() {
        let a = file(&[b'a'; 1000]);
        let b = file(&[b'b'; 1000]);
        let g = Encoding::Gzip;
        // Room for four bodies of 900 bytes with their overhead.
        let room = (4 * cost(&[0; 900])) as u64;
        assert!(lookup(room, &a, 0, 1000, g, 6).is_none());
        store(room, &a, 0, 1000, g, 6, vec![1; 900]);
        assert_eq!(lookup(room, &a, 0, 1000, g, 6).unwrap().len(), 900);
        assert!(lookup(room, &a, 0, 1000, g, 5).is_none(), "other level");
        assert!(
            lookup(room, &a, 0, 1000, Encoding::Brotli, 6).is_none(),
            "other coding"
        );
        assert!(lookup(room, &a, 1, 999, g, 6).is_none(), "other span");
        assert!(lookup(room, &b, 0, 1000, g, 6).is_none(), "other file");
        // A second 900 fits, a third and fourth too, a fifth pushes out the least
        // recently used.
        store(room, &b, 0, 1000, g, 6, vec![2; 900]);
        lookup(room, &a, 0, 1000, g, 6);
        store(room, &b, 0, 1000, g, 1, vec![3; 900]);
        store(room, &b, 0, 1000, g, 2, vec![4; 900]);
        store(room, &b, 0, 1000, g, 3, vec![5; 900]);
        let (n, bytes) = usage();
        assert!(bytes as u64 <= room && n == 4, "{n} entries, {bytes} bytes");
        assert!(
            lookup(room, &a, 0, 1000, g, 6).is_some(),
            "recently used stays"
        );
        assert!(
            lookup(room, &b, 0, 1000, g, 6).is_none(),
            "least recently used left"
        );
        // Too large for a quarter of the budget: not kept.
        assert!(!takes(4000, 1001));
        assert!(
            !takes(1 << 40, MAX_ENTRY_SOURCE + 1),
            "bounded whatever the budget"
        );
        assert!(lookup(0, &a, 0, 1000, g, 6).is_none(), "off");
    }

    #[test]
    fn many_small_entries_count_their_overhead_and_leave_in_lru_order() {
        let f = file(&[b'x'; 20_000]);
        let g = Encoding::Gzip;
        let budget = 64 * 1024;
        for i in 0..10_000 {
            store(budget, &f, i, 10, g, 1, vec![7; 10]);
        }
        let (n, bytes) = usage();
        // What an entry really costs is at least its key and entry beside its body.
        let floor = 10 + size_of::<Key>() + size_of::<Entry>();
        assert!(n > 0 && n * floor <= budget as usize, "{n} entries");
        assert!(bytes <= budget as usize, "{bytes} bytes");
        assert_eq!(bytes, n * cost(&[0; 10]));
        // The most recent entries are the ones kept.
        let first = 10_000 - n as u64;
        assert!(lookup(budget, &f, first - 1, 10, g, 1).is_none());
        assert!(lookup(budget, &f, 9_999, 10, g, 1).is_some());
        // Using the oldest makes it the newest: the next insert evicts the one after.
        assert!(lookup(budget, &f, first, 10, g, 1).is_some());
        store(budget, &f, 10_000, 10, g, 1, vec![7; 10]);
        assert!(
            lookup(budget, &f, first, 10, g, 1).is_some(),
            "used, so kept"
        );
        assert!(lookup(budget, &f, first + 1, 10, g, 1).is_none(), "evicted");
        assert_eq!(usage().0, n);
    }

    #[test]
    fn a_fill_is_claimed_once_computed_off_the_loop_and_stored() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 97) as u8).collect();
        let f = file(&data);
        let g = Encoding::Gzip;
        let fill = miss(1 << 20, &f, 100, 150_000, g, 1).unwrap();
        assert!(miss(1 << 10, &f, 0, 150_000, g, 1).is_none(), "too large");
        assert!(claim(&fill));
        assert!(!claim(&fill), "one fill per entry at a time");
        let f2 = f.try_clone().unwrap();
        let out = std::thread::spawn(move || compress(&fill, &f2).map(|o| (fill, o)));
        let (fill, out) = out.join().unwrap().unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&out[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, &data[100..150_100]);
        complete(&fill, Ok(out));
        assert!(lookup(1 << 20, &f, 100, 150_000, g, 1).is_some());
        assert!(claim(&fill), "the claim ended");
        complete(&fill, Err(io::Error::other("test")));
        // The file changes while the pool compresses: nothing is stored.
        let mut f = f;
        let fill = miss(1 << 20, &f, 0, 1000, g, 2).unwrap();
        f.write_all(b"more").unwrap();
        assert!(compress(&fill, &f).is_err());
    }

    #[test]
    fn a_changed_file_misses_and_forget_drops_its_bodies() {
        let mut f = file(b"one version of the file");
        let g = Encoding::Gzip;
        store(1 << 20, &f, 0, 23, g, 1, vec![9; 10]);
        assert!(lookup(1 << 20, &f, 0, 23, g, 1).is_some());
        f.write_all(b"!").unwrap();
        assert!(
            lookup(1 << 20, &f, 0, 23, g, 1).is_none(),
            "size and mtime changed"
        );
        let m = f.metadata().unwrap();
        store(1 << 20, &f, 0, 24, g, 1, vec![9; 10]);
        forget(m.dev(), m.ino());
        assert!(lookup(1 << 20, &f, 0, 24, g, 1).is_none());
    }
}
