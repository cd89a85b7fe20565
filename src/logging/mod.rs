//! Diagnostics in nginx's error log format, to the `error_log` lines of the
//! configuration:
//!
//! `2026/12/07 18:00:00 [error] 4242#4243: *7 MESSAGE, client: 127.0.0.1,
//! server: localhost, request: "GET / HTTP/1.1", host: "localhost"`
//!
//! The server's own records (`log::error!` and friends, and [`emit`] for
//! nginx's levels the `log` crate lacks: `notice`, `crit`, `alert`, `emerg`)
//! go to the main level's lines; a record made while a request is handled
//! ([`scope`]) goes to the `error_log` lines of its location (or server, or
//! `http`) when that level has any, else to the main ones, with the request's
//! connection number and its `client:`, `server:`, `request:`, `host:` tail.
//! Every line gets each record at or above its level; stderr is the default.
//! Files are opened once each at startup (and again on SIGUSR1), in append
//! mode, shared by every worker thread.

mod line;
pub mod scope;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use log::{LevelFilter, Log, Metadata, Record};

use crate::config::{Config, ErrorLog, Level};

pub use scope::{Scope, enter, set_logs};

/// The main level's lines, with their levels after `-v` / `-q`.
struct Logger {
    main: Vec<Target>,
}

/// One main-level line: `None` path is stderr; records up to `max` (nginx's
/// level number, 0: none) are written.
struct Target {
    path: Option<PathBuf>,
    max: u8,
}

/// Every log file of the configuration, open.
static FILES: OnceLock<Mutex<HashMap<PathBuf, File>>> = OnceLock::new();

/// Sets up logging for `config`: opens every `error_log` file it names, in
/// every context, and shifts the main lines' levels by `-v` / `-q`.
pub fn init(config: &Config, verbose: u8, quiet: u8) -> std::io::Result<()> {
    let shift = i32::from(verbose) - i32::from(quiet);
    let mut main: Vec<Target> = config
        .error_logs
        .iter()
        .map(|e| Target {
            path: e.path.clone(),
            max: (e.level as i32 + shift).clamp(0, Level::Debug as i32) as u8,
        })
        .collect();
    if main.is_empty() {
        // webserv's default: stderr, at info.
        let max = (Level::Info as i32 + shift).clamp(0, Level::Debug as i32) as u8;
        main.push(Target { path: None, max });
    }
    let mut files = HashMap::new();
    let mut top = main.iter().map(|t| t.max).max().unwrap_or(0);
    let inner = every_inner_log(config);
    for e in &inner {
        top = top.max(e.level as u8);
    }
    let paths = main.iter().filter_map(|t| t.path.clone());
    for path in paths.chain(inner.iter().filter_map(|e| e.path.clone())) {
        if let std::collections::hash_map::Entry::Vacant(slot) = files.entry(path) {
            let f = open(slot.key())?;
            slot.insert(f);
        }
    }
    let _ = FILES.set(Mutex::new(files));
    let logger: &'static Logger = Box::leak(Box::new(Logger { main }));
    let _ = LOGGER.set(logger);
    log::set_max_level(filter(top));
    log::set_logger(logger).map_err(std::io::Error::other)
}

/// The `error_log` lines of every server and location.
fn every_inner_log(config: &Config) -> Vec<ErrorLog> {
    let mut out = Vec::new();
    for s in &config.servers {
        let lists = s.locations.iter().map(|l| &l.error_logs);
        for list in std::iter::once(&s.error_logs).chain(lists).flatten() {
            out.extend(list.iter().cloned());
        }
    }
    out
}

/// The `log` crate's filter that lets nginx level `max` through.
fn filter(max: u8) -> LevelFilter {
    match Level::ALL.get(usize::from(max).wrapping_sub(1)) {
        None => LevelFilter::Off,
        Some(l) => l.as_record().to_level_filter(),
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// Reopens every error log file (SIGUSR1, after a log rotation moved them).
pub fn reopen() {
    let Some(files) = FILES.get() else {
        return;
    };
    let mut failed = Vec::new();
    if let Ok(mut files) = files.lock() {
        for (path, file) in files.iter_mut() {
            match open(path) {
                Ok(f) => *file = f,
                Err(e) => failed.push(format!("cannot reopen {}: {e}", path.display())),
            }
        }
    }
    for f in failed {
        log::error!("{f}");
    }
}

/// Logs `args` at nginx level `level` (`crit`, `notice`... that `log::log!`
/// cannot name): `emit(Level::Notice, format_args!(...))`.
pub fn emit(level: Level, args: std::fmt::Arguments) {
    if !enabled(level) {
        return;
    }
    write(level, &args.to_string());
}

/// Whether a record at `level` would be written anywhere now.
pub fn enabled(level: Level) -> bool {
    let Some(logger) = LOGGER.get() else {
        return level <= Level::Error;
    };
    let max = scope::with(|s| s.and_then(|s| s.logs.as_ref()).map(|l| max_of(l)));
    match max {
        Some(max) => level as u8 <= max,
        None => logger.main.iter().any(|t| level as u8 <= t.max),
    }
}

fn max_of(logs: &[ErrorLog]) -> u8 {
    logs.iter().map(|e| e.level as u8).max().unwrap_or(0)
}

/// The logger, once [`init`] has set it.
static LOGGER: OnceLock<&'static Logger> = OnceLock::new();

/// Writes `msg` at `level` to every line that takes it.
fn write(level: Level, msg: &str) {
    let (text, targets) = scope::with(|s| {
        let text = line::format(level, msg, s);
        let targets: Vec<Option<PathBuf>> = match s.and_then(|s| s.logs.as_ref()) {
            Some(logs) => logs
                .iter()
                .filter(|e| level <= e.level)
                .map(|e| e.path.clone())
                .collect(),
            None => LOGGER.get().map_or_else(Vec::new, |l| {
                l.main
                    .iter()
                    .filter(|t| level as u8 <= t.max)
                    .map(|t| t.path.clone())
                    .collect()
            }),
        };
        (text, targets)
    });
    for path in targets {
        match path {
            None => {
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
            Some(p) => write_file(&p, text.as_bytes()),
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) {
    let Some(files) = FILES.get() else {
        return;
    };
    let mut files = files.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = files.get_mut(path) {
        let _ = f.write_all(bytes);
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        // Other crates' records (rustls's) from warnings up only.
        let own = metadata.target().starts_with("webserv");
        (own || metadata.level() <= log::Level::Warn) && enabled(Level::of_record(metadata.level()))
    }

    fn log(&self, record: &Record) {
        if !Log::enabled(self, record.metadata()) {
            return;
        }
        write(Level::of_record(record.level()), &record.args().to_string());
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_for_nginx_levels() {
        assert_eq!(filter(0), LevelFilter::Off);
        assert_eq!(filter(Level::Crit as u8), LevelFilter::Error);
        assert_eq!(filter(Level::Notice as u8), LevelFilter::Info);
        assert_eq!(filter(Level::Debug as u8), LevelFilter::Debug);
    }
}
