//! Where access log lines go: the files of one worker. A log with a literal path
//! is opened once (its directory created) and kept. A log whose path has
//! variables is opened for each line, without creating directories, as nginx
//! does; `open_log_file_cache` keeps the descriptors of the names written often
//! (at least `min_uses` times within `inactive`), at most `max` names, the least
//! recently used dropped first, each trusted for `valid` before its name is
//! opened again.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::LogFileCache;

/// One name in the descriptor cache.
struct Cached {
    file: Option<File>,
    /// Writes within the current `inactive` window.
    uses: u32,
    last_used: Instant,
    /// When `file` was opened (trusted until `valid` has passed).
    opened: Instant,
}

#[derive(Default)]
pub struct LogFiles {
    /// Literal paths: opened once (`None`: the open failed, already logged).
    fixed: HashMap<PathBuf, Option<File>>,
    /// Paths with variables, under `open_log_file_cache`.
    cached: HashMap<PathBuf, Cached>,
}

impl LogFiles {
    /// Appends `bytes` to the log at the literal `path`.
    pub fn write_fixed(&mut self, path: &Path, bytes: &[u8]) {
        let slot = self
            .fixed
            .entry(path.to_path_buf())
            .or_insert_with(|| open_creating(path));
        if let Some(file) = slot
            && let Err(e) = file.write_all(bytes)
        {
            log::error!("access log {}: {e}", path.display());
        }
    }

    /// Appends `bytes` to the log at `path`, a name made from variables.
    pub fn write_expanded(&mut self, path: &Path, bytes: &[u8], cache: Option<&LogFileCache>) {
        let Some(cache) = cache else {
            if let Some(mut f) = open(path) {
                write_or_log(&mut f, path, bytes);
            }
            return;
        };
        let now = Instant::now();
        let entry = self.cached.get_mut(path).filter(|e| {
            now.duration_since(e.last_used) <= cache.inactive
                && e.file.is_none() || now.duration_since(e.opened) <= cache.valid
        });
        if let Some(e) = entry {
            e.uses = e.uses.saturating_add(1);
            e.last_used = now;
            if e.file.is_none() && e.uses >= cache.min_uses {
                e.file = open(path);
                e.opened = now;
            }
            match &mut e.file {
                Some(f) => write_or_log(f, path, bytes),
                None => {
                    if let Some(mut f) = open(path) {
                        write_or_log(&mut f, path, bytes);
                    }
                }
            }
            return;
        }
        // A name not cached (or stale): open it; only a name that opens joins.
        self.cached.remove(path);
        let Some(mut f) = open(path) else {
            return;
        };
        write_or_log(&mut f, path, bytes);
        self.evict(now, cache);
        let keep = cache.min_uses <= 1;
        self.cached.insert(
            path.to_path_buf(),
            Cached {
                file: keep.then_some(f),
                uses: 1,
                last_used: now,
                opened: now,
            },
        );
    }

    /// Makes room for one more name: drops the inactive ones, then the least
    /// recently used while the cache is full.
    fn evict(&mut self, now: Instant, cache: &LogFileCache) {
        self.cached
            .retain(|_, e| now.duration_since(e.last_used) <= cache.inactive);
        while self.cached.len() >= cache.max {
            let oldest = self
                .cached
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(p, _)| p.clone());
            match oldest {
                Some(p) => self.cached.remove(&p),
                None => break,
            };
        }
    }
}

fn write_or_log(f: &mut File, path: &Path, bytes: &[u8]) {
    if let Err(e) = f.write_all(bytes) {
        log::error!("access log {}: {e}", path.display());
    }
}

/// Opens for appending; a failure is logged (nginx's error line) and `None`.
fn open(path: &Path) -> Option<File> {
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(f) => Some(f),
        Err(e) => {
            log::error!("cannot open access log {}: {e}", path.display());
            None
        }
    }
}

fn open_creating(path: &Path) -> Option<File> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    open(path)
}
