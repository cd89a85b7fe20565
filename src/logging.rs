//! Diagnostics: `log` records go to stderr through simple_logger, or to the file
//! named by `error_log` (one timestamped line per record).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use log::{LevelFilter, Log, Metadata, Record};

use crate::http::date::log_date;

/// Sets up logging at `level`, to `file` if given, else stderr.
pub fn init(level: LevelFilter, file: Option<&Path>) -> std::io::Result<()> {
    match file {
        None => simple_logger::SimpleLogger::new()
            .with_level(level)
            .with_utc_timestamps()
            .init()
            .map_err(std::io::Error::other),
        Some(path) => {
            let file = open(path)?;
            let logger: &'static FileLogger = Box::leak(Box::new(FileLogger {
                level,
                path: path.to_path_buf(),
                file: Mutex::new(file),
            }));
            let _ = FILE_LOGGER.set(logger);
            log::set_max_level(level);
            log::set_logger(logger).map_err(std::io::Error::other)
        }
    }
}

struct FileLogger {
    level: LevelFilter,
    path: PathBuf,
    file: Mutex<File>,
}

/// The file logger, when `error_log` names a file (for reopening).
static FILE_LOGGER: OnceLock<&'static FileLogger> = OnceLock::new();

fn open(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// Reopens the error log file (SIGUSR1, after a log rotation moved it away).
pub fn reopen() {
    if let Some(logger) = FILE_LOGGER.get() {
        match open(&logger.path) {
            Ok(f) => {
                if let Ok(mut file) = logger.file.lock() {
                    *file = f;
                }
            }
            Err(e) => log::error!("cannot reopen {}: {e}", logger.path.display()),
        }
    }
}

impl Log for FileLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format!(
            "[{}] {:<5} {}\n",
            log_date(std::time::SystemTime::now()),
            record.level(),
            record.args()
        );
        if let Ok(mut f) = self.file.lock() {
            let _ = f.write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

/// The level after `-v` / `-q` adjustments on top of `base`.
pub fn adjust(base: LevelFilter, verbose: u8, quiet: u8) -> LevelFilter {
    const ORDER: [LevelFilter; 6] = [
        LevelFilter::Off,
        LevelFilter::Error,
        LevelFilter::Warn,
        LevelFilter::Info,
        LevelFilter::Debug,
        LevelFilter::Trace,
    ];
    let at = ORDER.iter().position(|l| *l == base).unwrap_or(3) as i32;
    let at = (at + i32::from(verbose) - i32::from(quiet)).clamp(0, 5);
    ORDER[at as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjusts_levels() {
        assert_eq!(adjust(LevelFilter::Info, 0, 0), LevelFilter::Info);
        assert_eq!(adjust(LevelFilter::Info, 1, 0), LevelFilter::Debug);
        assert_eq!(adjust(LevelFilter::Info, 9, 0), LevelFilter::Trace);
        assert_eq!(adjust(LevelFilter::Info, 0, 1), LevelFilter::Warn);
        assert_eq!(adjust(LevelFilter::Info, 0, 2), LevelFilter::Error);
        assert_eq!(adjust(LevelFilter::Error, 0, 5), LevelFilter::Off);
    }
}
