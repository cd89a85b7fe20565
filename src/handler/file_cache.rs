//! A per-worker cache of open files (nginx's `open_file_cache`), so that a busy
//! static file costs one `fstatat(2)` instead of open + fstat + read + close.
//!
//! An entry keeps the open descriptor, its metadata and, for small files, their
//! bytes. Every hit is revalidated: the path is stat'ed again (below the same base
//! directory descriptor the open used) and the entry is used only if it still names
//! the same inode with the same size, mtime and ctime. So an edited, replaced or
//! deleted file is seen at once, unlike nginx, which trusts an entry for
//! `open_file_cache_valid` (60 s by default). `open_file_cache_valid TIME` buys
//! that trade when asked for: hits younger than TIME skip the stat.
//!
//! The path was opened once with `RESOLVE_BENEATH`; a later stat that follows a
//! swapped-in symlink out of the base finds a different inode and misses, so the
//! cache never serves anything the open would refuse.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fs::beneath;

/// Files up to this size keep their bytes in the cache.
pub const SMALL_FILE: u64 = 16 * 1024;
/// The most bytes of file contents one worker keeps.
const DATA_BUDGET: usize = 4 * 1024 * 1024;

/// How a location uses the cache (`open_file_cache`, `open_file_cache_valid`).
pub use crate::config::OpenFileCache as Policy;

/// An open file (or directory) with its metadata and, when small, its bytes.
#[derive(Debug, Clone)]
pub struct Opened {
    pub file: Arc<File>,
    pub meta: Metadata,
    pub data: Option<Arc<[u8]>>,
}

struct Entry {
    opened: Opened,
    id: Identity,
    validated: Instant,
    used: Instant,
}

/// What must not change for an entry to stay valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of_meta(m: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size() as i64,
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    fn of_stat(s: &libc::stat) -> Self {
        Identity {
            dev: s.st_dev,
            ino: s.st_ino,
            size: s.st_size,
            mtime: (s.st_mtime, s.st_mtime_nsec),
            ctime: (s.st_ctime, s.st_ctime_nsec),
        }
    }
}

#[derive(Default)]
struct Cache {
    entries: HashMap<Box<[u8]>, Entry>,
    data_bytes: usize,
    last_sweep: Option<Instant>,
    /// Reused for building lookup keys.
    key: Vec<u8>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// Opens `rel` below `base` (see `beneath::open`), through the cache when `policy`
/// enables it.
pub fn open(base: &Path, rel: &str, policy: Policy) -> io::Result<Opened> {
    if policy.max == 0 {
        return open_fresh(base, rel, false);
    }
    CACHE.with(|cell| cell.borrow_mut().open(base, rel, policy))
}

/// Forgets this worker's entries for the file `meta` describes (after a DELETE
/// through this worker): its descriptor closes now, so the space is freed.
pub fn forget(meta: &Metadata) {
    use std::os::unix::fs::MetadataExt;
    CACHE.with(|cell| {
        let mut c = cell.borrow_mut();
        let mut freed = 0;
        c.entries.retain(|_, e| {
            let keep = (e.id.dev, e.id.ino) != (meta.dev(), meta.ino());
            if !keep {
                freed += data_len(&e.opened);
            }
            keep
        });
        c.data_bytes -= freed;
    });
    crate::filter::cache::forget(meta.dev(), meta.ino());
}

impl Cache {
    fn open(&mut self, base: &Path, rel: &str, policy: Policy) -> io::Result<Opened> {
        let now = Instant::now();
        self.sweep(now, policy.inactive);
        let mut key = std::mem::take(&mut self.key);
        make_key(&mut key, base, rel);
        let found = self.hit(&key, base, rel, policy, now);
        crate::metrics::file_cache(found.is_some());
        let result = match found {
            Some(opened) => Ok(opened),
            None => {
                let want_data = self.data_bytes < DATA_BUDGET;
                let opened = open_fresh(base, rel, want_data)?;
                self.insert(&key, &opened, policy, now);
                Ok(opened)
            }
        };
        self.key = key;
        result
    }

    /// A valid entry for `key`, revalidated if needed; a stale one is removed.
    fn hit(
        &mut self,
        key: &[u8],
        base: &Path,
        rel: &str,
        policy: Policy,
        now: Instant,
    ) -> Option<Opened> {
        let entry = self.entries.get_mut(key)?;
        let fresh = !policy.valid.is_zero() && now.duration_since(entry.validated) < policy.valid;
        if fresh || stat_beneath(base, rel).is_ok_and(|id| id == entry.id) {
            if !fresh {
                entry.validated = now;
            }
            entry.used = now;
            return Some(entry.opened.clone());
        }
        if let Some(old) = self.entries.remove(key) {
            self.data_bytes -= data_len(&old.opened);
            // Its compressed bodies are stale too.
            crate::filter::cache::forget(old.id.dev, old.id.ino);
        }
        None
    }

    fn insert(&mut self, key: &[u8], opened: &Opened, policy: Policy, now: Instant) {
        while self.entries.len() >= policy.max {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(old) = self.entries.remove(&oldest) {
                self.data_bytes -= data_len(&old.opened);
            }
        }
        self.data_bytes += data_len(opened);
        self.entries.insert(
            key.into(),
            Entry {
                opened: opened.clone(),
                id: Identity::of_meta(&opened.meta),
                validated: now,
                used: now,
            },
        );
    }

    /// Drops entries unused for `inactive` (checked at most once per second), so
    /// a deleted file's space is not held for long.
    fn sweep(&mut self, now: Instant, inactive: Duration) {
        if self
            .last_sweep
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_sweep = Some(now);
        let mut freed = 0;
        self.entries.retain(|_, e| {
            let keep = now.duration_since(e.used) < inactive;
            if !keep {
                freed += data_len(&e.opened);
            }
            keep
        });
        self.data_bytes -= freed;
    }
}

fn data_len(o: &Opened) -> usize {
    o.data.as_ref().map_or(0, |d| d.len())
}

fn make_key<'k>(key: &'k mut Vec<u8>, base: &Path, rel: &str) -> &'k [u8] {
    key.clear();
    key.extend_from_slice(base.as_os_str().as_bytes());
    key.push(0);
    key.extend_from_slice(rel.trim_start_matches('/').as_bytes());
    key
}

/// A file opened elsewhere (`disable_symlinks`) as the cache's callers take it;
/// `path` names it in messages.
pub fn wrap(file: File, path: &Path) -> io::Result<Opened> {
    let meta = file.metadata()?;
    if !meta.is_file() && !meta.is_dir() {
        log::error!("\"{}\" is not a regular file", path.display());
        return Err(io::ErrorKind::NotFound.into());
    }
    Ok(Opened {
        file: Arc::new(file),
        meta,
        data: None,
    })
}

/// Opens without the cache; `want_data`: read a small regular file's bytes.
fn open_fresh(base: &Path, rel: &str, want_data: bool) -> io::Result<Opened> {
    let file = beneath::open(base, rel)?;
    let meta = file.metadata()?;
    if !meta.is_file() && !meta.is_dir() {
        // A FIFO, socket or device is never served (as nginx: 404 and a log line).
        log::error!(
            "\"{}/{}\" is not a regular file",
            base.display(),
            rel.trim_start_matches('/')
        );
        return Err(io::ErrorKind::NotFound.into());
    }
    let data = if want_data && meta.is_file() && meta.len() <= SMALL_FILE {
        let mut buf = vec![0u8; meta.len() as usize];
        file.read_exact_at(&mut buf, 0)?;
        Some(Arc::from(buf))
    } else {
        None
    };
    Ok(Opened {
        file: Arc::new(file),
        meta,
        data,
    })
}

/// The identity of what `rel` below `base` names now.
fn stat_beneath(base: &Path, rel: &str) -> io::Result<Identity> {
    let st = beneath::stat(base, rel)?;
    Ok(Identity::of_stat(&st))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const ON: Policy = Policy {
        max: 8,
        inactive: Duration::from_secs(60),
        valid: Duration::ZERO,
    };

    fn bytes(o: &Opened) -> Vec<u8> {
        o.data.as_deref().unwrap_or_default().to_vec()
    }

    #[test]
    fn a_hit_shares_the_descriptor_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"hello").unwrap();
        let a = open(dir.path(), "/a.txt", ON).unwrap();
        let b = open(dir.path(), "/a.txt", ON).unwrap();
        assert!(Arc::ptr_eq(&a.file, &b.file));
        assert_eq!(bytes(&b), b"hello");
    }

    #[test]
    fn an_edit_replace_or_delete_is_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        std::fs::write(&p, b"one").unwrap();
        assert_eq!(bytes(&open(dir.path(), "f.txt", ON).unwrap()), b"one");
        // Same size, written in place right away.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .write_all(b"two")
            .unwrap();
        assert_eq!(bytes(&open(dir.path(), "f.txt", ON).unwrap()), b"two");
        // Replaced by rename.
        std::fs::write(dir.path().join("new"), b"three").unwrap();
        std::fs::rename(dir.path().join("new"), &p).unwrap();
        assert_eq!(bytes(&open(dir.path(), "f.txt", ON).unwrap()), b"three");
        std::fs::remove_file(&p).unwrap();
        let gone = open(dir.path(), "f.txt", ON).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_symlink_swapped_in_after_caching_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        std::fs::write(root.path().join("d/x"), b"inside").unwrap();
        std::fs::write(outside.path().join("x"), b"secret").unwrap();
        assert_eq!(bytes(&open(root.path(), "d/x", ON).unwrap()), b"inside");
        std::fs::remove_dir_all(root.path().join("d")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("d")).unwrap();
        let err = open(root.path(), "d/x", ON).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    }

    #[test]
    fn the_cache_keeps_at_most_max_entries() {
        let dir = tempfile::tempdir().unwrap();
        let small = Policy { max: 2, ..ON };
        for name in ["1", "2", "3", "4"] {
            std::fs::write(dir.path().join(name), name).unwrap();
            assert_eq!(
                bytes(&open(dir.path(), name, small).unwrap()),
                name.as_bytes()
            );
        }
        CACHE.with(|c| assert!(c.borrow().entries.len() <= 2));
    }

    #[test]
    fn large_files_keep_no_bytes_and_off_caches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![7u8; SMALL_FILE as usize + 1];
        std::fs::write(dir.path().join("big"), &big).unwrap();
        let o = open(dir.path(), "big", ON).unwrap();
        assert!(o.data.is_none());
        assert_eq!(o.meta.len(), big.len() as u64);
        let off = Policy { max: 0, ..ON };
        let a = open(dir.path(), "big", off).unwrap();
        let b = open(dir.path(), "big", off).unwrap();
        assert!(!Arc::ptr_eq(&a.file, &b.file));
    }

    #[test]
    fn forget_drops_the_entries_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"a").unwrap();
        let a = open(dir.path(), "/a", ON).unwrap();
        forget(&a.meta);
        let b = open(dir.path(), "/a", ON).unwrap();
        assert!(!Arc::ptr_eq(&a.file, &b.file));
    }
}
