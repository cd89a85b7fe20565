//! Where access log lines go: the files of one worker.
//!
//! A log with a literal path is opened once (its directory created) and kept; with
//! `buffer=` its lines gather in memory and are written when the next one does
//! not fit, when `flush=` has passed since the first, and on exit, reload and
//! SIGUSR1; with `gzip` each write is one gzip member, so `zcat` reads the file
//! whole. A log whose path has variables is opened for each line, without
//! creating directories, as nginx does, unless `open_log_file_cache` keeps its
//! descriptor: a name stays open once used `min_uses` times, at most `max` names
//! (the least recently used closed first), each dropped after `inactive` without
//! use and opened again once `valid` has passed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{LogBuffer, LogFileCache};

/// A write error is reported at most this often per file, as nginx does.
const ERROR_INTERVAL: Duration = Duration::from_secs(60);

/// One log file with a literal path.
struct Fixed {
    /// `None`: the open failed (already reported); lines are dropped.
    file: Option<File>,
    /// Lines not written yet (`buffer=`).
    buf: Vec<u8>,
    spec: Option<LogBuffer>,
    /// When the buffer must be written (`flush=`), set by its first line.
    due: Option<Instant>,
    last_error: Option<Instant>,
}

/// One name of a descriptor cache.
struct Cached {
    /// `None` while the name was used fewer than `min_uses` times.
    file: Option<File>,
    uses: u32,
    accessed: Instant,
    /// When `file` was opened (trusted until `valid` has passed).
    created: Instant,
}

/// The open files of one worker's access logs.
#[derive(Default)]
pub struct LogFiles {
    fixed: HashMap<PathBuf, Fixed>,
    /// One cache per `open_log_file_cache` directive (by its position).
    caches: HashMap<(Arc<str>, u32, u32), HashMap<PathBuf, Cached>>,
}

impl LogFiles {
    /// Appends `line` to the log at the literal `path`, through its buffer.
    pub fn write_fixed(&mut self, path: &Path, spec: Option<LogBuffer>, line: &[u8], now: Instant) {
        let f = self
            .fixed
            .entry(path.to_path_buf())
            .or_insert_with(|| Fixed {
                file: open_creating(path),
                buf: Vec::new(),
                spec,
                due: None,
                last_error: None,
            });
        let Some(spec) = f.spec else {
            return f.write(path, line);
        };
        if line.len() > spec.size - f.buf.len() {
            f.flush(path);
        }
        if line.len() <= spec.size - f.buf.len() {
            if f.buf.is_empty() {
                f.buf.reserve_exact(spec.size);
                f.due = spec.flush.map(|t| now + t);
            }
            f.buf.extend_from_slice(line);
        } else {
            // Longer than the whole buffer: written at once.
            f.write(path, line);
        }
    }

    /// Appends `line` to the log at `path`, a name made from variables.
    pub fn write_expanded(
        &mut self,
        path: &Path,
        cache: Option<&LogFileCache>,
        line: &[u8],
        now: Instant,
    ) {
        let Some(c) = cache else {
            if let Some(mut f) = open(path) {
                write_or_report(&mut f, path, line);
            }
            return;
        };
        let key = (c.pos.file.clone(), c.pos.line, c.pos.col);
        let names = self.caches.entry(key).or_default();
        names.retain(|_, e| now.duration_since(e.accessed) <= c.inactive);
        let Some(e) = lookup(names, path, c, now) else {
            return;
        };
        e.accessed = now;
        if let Some(f) = &mut e.file {
            write_or_report(f, path, line);
        }
        if e.uses < c.min_uses {
            // Not used often enough to stay open.
            e.file = None;
        }
    }

    /// The earliest `flush=` deadline of a buffer holding lines.
    pub fn next_flush(&self) -> Option<Instant> {
        self.fixed.values().filter_map(|f| f.due).min()
    }

    /// Writes the buffers whose `flush=` time has come.
    pub fn flush_due(&mut self, now: Instant) {
        for (path, f) in &mut self.fixed {
            if f.due.is_some_and(|d| d <= now) {
                f.flush(path);
            }
        }
    }

    /// Writes every buffer out.
    pub fn flush_all(&mut self) {
        for (path, f) in &mut self.fixed {
            f.flush(path);
        }
    }
}

impl Drop for LogFiles {
    fn drop(&mut self) {
        self.flush_all();
    }
}

/// The cache entry of `path`, opened as nginx's open file cache would: a new name
/// takes the place of the least recently used one when the cache is full; a name
/// whose file cannot be opened leaves the cache (and its line is lost).
fn lookup<'a>(
    names: &'a mut HashMap<PathBuf, Cached>,
    path: &Path,
    c: &LogFileCache,
    now: Instant,
) -> Option<&'a mut Cached> {
    if let Some(e) = names.get_mut(path) {
        e.uses = e.uses.saturating_add(1);
        let stale = now.duration_since(e.created) >= c.valid;
        if e.file.is_none() || stale {
            let Some(f) = open(path) else {
                names.remove(path);
                return None;
            };
            e.file = Some(f);
            e.created = now;
        }
        return names.get_mut(path);
    }
    let f = open(path)?;
    if names.len() >= c.max {
        let oldest = names.iter().min_by_key(|(_, e)| e.accessed);
        if let Some(p) = oldest.map(|(p, _)| p.clone()) {
            names.remove(&p);
        }
    }
    let entry = Cached {
        file: Some(f),
        uses: 1,
        accessed: now,
        created: now,
    };
    Some(names.entry(path.to_path_buf()).or_insert(entry))
}

impl Fixed {
    /// Writes `bytes` now (one gzip member with `gzip`).
    fn write(&mut self, path: &Path, bytes: &[u8]) {
        let Some(file) = &mut self.file else { return };
        let result = match self.spec.and_then(|s| s.gzip) {
            Some(level) => gzip_member(bytes, level).and_then(|z| file.write_all(&z)),
            None => file.write_all(bytes),
        };
        if let Err(e) = result {
            let now = Instant::now();
            if self
                .last_error
                .is_none_or(|t| now.duration_since(t) >= ERROR_INTERVAL)
            {
                log::error!("write() to \"{}\" failed: {e}", path.display());
                self.last_error = Some(now);
            }
        }
    }

    fn flush(&mut self, path: &Path) {
        self.due = None;
        if self.buf.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.buf);
        self.write(path, &buf);
        self.buf = buf;
        self.buf.clear();
    }
}

/// `bytes` as one complete gzip member at `level`.
pub fn gzip_member(bytes: &[u8], level: u32) -> std::io::Result<Vec<u8>> {
    let mut z = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2 + 32),
        flate2::Compression::new(level),
    );
    z.write_all(bytes)?;
    z.finish()
}

fn write_or_report(f: &mut File, path: &Path, bytes: &[u8]) {
    if let Err(e) = f.write_all(bytes) {
        log::error!("write() to \"{}\" failed: {e}", path.display());
    }
}

/// Opens for appending; a failure is reported (nginx's error line) and `None`.
fn open(path: &Path) -> Option<File> {
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(f) => Some(f),
        Err(e) => {
            log::error!("open() \"{}\" failed: {e}", path.display());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;
    use std::io::Read;

    fn cache(max: usize, min_uses: u32) -> LogFileCache {
        LogFileCache {
            max,
            inactive: Duration::from_secs(20),
            min_uses,
            valid: Duration::from_secs(60),
            pos: Pos {
                file: Arc::from("t.conf"),
                line: 1,
                col: 1,
            },
        }
    }

    fn lines(path: &Path) -> usize {
        std::fs::read_to_string(path).map_or(0, |s| s.lines().count())
    }

    #[test]
    fn buffered_lines_wait_for_a_full_buffer_or_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let spec = LogBuffer {
            size: 10,
            flush: Some(Duration::from_secs(1)),
            gzip: None,
        };
        let mut files = LogFiles::default();
        let t0 = Instant::now();
        files.write_fixed(&path, Some(spec), b"abcd\n", t0);
        files.write_fixed(&path, Some(spec), b"efgh\n", t0);
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        assert_eq!(files.next_flush(), Some(t0 + Duration::from_secs(1)));
        // Does not fit: the buffer is written, the line waits.
        files.write_fixed(&path, Some(spec), b"ij\n", t0);
        assert_eq!(std::fs::read(&path).unwrap(), b"abcd\nefgh\n");
        // Longer than the buffer: written at once, after what waited.
        files.write_fixed(&path, Some(spec), b"0123456789ab\n", t0);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"abcd\nefgh\nij\n0123456789ab\n"
        );
        assert_eq!(files.next_flush(), None);
        files.write_fixed(&path, Some(spec), b"k\n", t0);
        files.flush_due(t0 + Duration::from_millis(999));
        assert!(!std::fs::read(&path).unwrap().ends_with(b"k\n"));
        files.flush_due(t0 + Duration::from_secs(1));
        assert!(std::fs::read(&path).unwrap().ends_with(b"k\n"));
        files.write_fixed(&path, Some(spec), b"end\n", t0);
        drop(files);
        assert!(std::fs::read(&path).unwrap().ends_with(b"k\nend\n"));
    }

    #[test]
    fn gzip_writes_one_member_per_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.log");
        let spec = LogBuffer {
            size: 64,
            flush: None,
            gzip: Some(6),
        };
        let mut files = LogFiles::default();
        let now = Instant::now();
        files.write_fixed(&path, Some(spec), b"one\n", now);
        files.flush_all();
        files.write_fixed(&path, Some(spec), b"two\n", now);
        files.write_fixed(&path, Some(spec), b"three\n", now);
        drop(files);
        let raw = std::fs::read(&path).unwrap();
        let members = raw.windows(3).filter(|w| w == &[0x1f, 0x8b, 8]).count();
        assert_eq!(members, 2);
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "one\ntwo\nthree\n");
    }

    #[test]
    fn cached_names_as_nginx() {
        // nginx-tests access_log.t: max=3 min_uses=2, then the directory moves.
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("dir");
        std::fs::create_dir(&logs).unwrap();
        let c = cache(3, 2);
        let mut files = LogFiles::default();
        let mut t = Instant::now();
        let mut write = |files: &mut LogFiles, name: &str| {
            t += Duration::from_millis(1);
            files.write_expanded(&logs.join(name), Some(&c), b"/cache\n", t);
        };
        for name in ["lru", "lru", "once", "first", "first", "second", "second"] {
            write(&mut files, name);
        }
        let moved = dir.path().join("moved");
        std::fs::rename(&logs, &moved).unwrap();
        for name in ["lru", "once", "first", "second"] {
            write(&mut files, name);
        }
        std::fs::rename(&moved, &logs).unwrap();
        let counts: Vec<usize> = ["lru", "once", "first", "second"]
            .iter()
            .map(|n| lines(&logs.join(n)))
            .collect();
        assert_eq!(counts, [2, 1, 3, 3]);
    }

    #[test]
    fn uncached_names_are_opened_per_line_without_directories() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = LogFiles::default();
        let now = Instant::now();
        files.write_expanded(&dir.path().join("v_a"), None, b"x\n", now);
        files.write_expanded(&dir.path().join("v_a"), None, b"y\n", now);
        files.write_expanded(&dir.path().join("no/v_b"), None, b"z\n", now);
        assert_eq!(lines(&dir.path().join("v_a")), 2);
        assert!(!dir.path().join("no").exists());
    }
}
