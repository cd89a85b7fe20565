//! `error_log PATH|stderr [LEVEL];` and nginx's eight severity levels.
//!
//! Written at the main level, the lines are where the server's own diagnostics
//! go; written in `http`, `server` or `location`, they are where the messages of
//! a request handled there go (a level with lines of its own replaces the outer
//! ones; several lines in one level each get every message at or above their
//! level, the same file twice gets it twice, as in nginx).

use std::path::{Path, PathBuf};

use super::values::{self, Arg};
use super::{ConfigError, Pos};

/// nginx's severities, most severe first (`emerg` = 1 ... `debug` = 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Emerg = 1,
    Alert,
    Crit,
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl Level {
    /// Every level, most severe first.
    pub const ALL: [Level; 8] = [
        Level::Emerg,
        Level::Alert,
        Level::Crit,
        Level::Error,
        Level::Warn,
        Level::Notice,
        Level::Info,
        Level::Debug,
    ];

    /// The word nginx writes in brackets: `[error]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Emerg => "emerg",
            Level::Alert => "alert",
            Level::Crit => "crit",
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    /// The level a word names.
    pub fn parse(word: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == word)
    }

    /// The `log` crate's level for a record written at this level.
    pub fn of_record(level: log::Level) -> Level {
        match level {
            log::Level::Error => Level::Error,
            log::Level::Warn => Level::Warn,
            log::Level::Info => Level::Info,
            log::Level::Debug | log::Level::Trace => Level::Debug,
        }
    }

    /// The `log` crate's level closest to this one (records are filtered by it
    /// before they reach webserv's logger).
    pub fn as_record(self) -> log::Level {
        match self {
            Level::Emerg | Level::Alert | Level::Crit | Level::Error => log::Level::Error,
            Level::Warn => log::Level::Warn,
            Level::Notice | Level::Info => log::Level::Info,
            Level::Debug => log::Level::Debug,
        }
    }
}

/// One `error_log` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLog {
    /// `None` means stderr.
    pub path: Option<PathBuf>,
    /// Messages at this level and above are written.
    pub level: Level,
}

/// Parses `error_log PATH|stderr [LEVEL]`; the level defaults to `error`, as in
/// nginx. `memory:` and `syslog:` targets are refused with what they are.
pub fn parse(args: &[Arg], prefix: &Path) -> Result<ErrorLog, ConfigError> {
    let (target, pos) = (&args[0].0, &args[0].1);
    if target.starts_with("memory:") {
        return Err(refused(pos, "memory", "nginx's in-memory debugging buffer"));
    }
    if target.starts_with("syslog:") {
        return Err(refused(pos, "syslog", "logging to a syslog server"));
    }
    let path = (target != "stderr").then(|| values::resolve(prefix, target));
    let level = match args.get(1) {
        Some(arg) => level(arg)?,
        None => Level::Error,
    };
    Ok(ErrorLog { path, level })
}

fn refused(pos: &Pos, what: &str, why: &str) -> ConfigError {
    let msg =
        format!("\"error_log {what}:\" is not supported yet ({why}); log to a file or stderr");
    ConfigError::at(pos, msg)
}

/// A level word, or nginx's error for another word.
pub fn level(arg: &Arg) -> Result<Level, ConfigError> {
    Level::parse(&arg.0)
        .ok_or_else(|| ConfigError::at(&arg.1, format!("invalid log level \"{}\"", arg.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn args(words: &[&str]) -> Vec<Arg> {
        let pos = Pos {
            file: Arc::from("t.conf"),
            line: 1,
            col: 11,
        };
        words.iter().map(|w| (w.to_string(), pos.clone())).collect()
    }

    #[test]
    fn levels_in_nginx_order() {
        for (i, l) in Level::ALL.iter().enumerate() {
            assert_eq!(*l as usize, i + 1);
            assert_eq!(Level::parse(l.as_str()), Some(*l));
        }
        assert!(Level::Error < Level::Warn && Level::Notice < Level::Info);
        assert_eq!(Level::parse("warning"), None);
    }

    #[test]
    fn lines() {
        let p = Path::new("/p");
        let cases: &[(&[&str], Option<&str>, Level)] = &[
            (&["stderr"], None, Level::Error),
            (
                &["logs/e.log", "notice"],
                Some("/p/logs/e.log"),
                Level::Notice,
            ),
            (&["/abs.log", "emerg"], Some("/abs.log"), Level::Emerg),
            (&["stderr", "debug"], None, Level::Debug),
        ];
        for (words, path, level) in cases {
            let got = parse(&args(words), p).unwrap();
            assert_eq!(got.path.as_deref(), path.map(Path::new), "{words:?}");
            assert_eq!(got.level, *level, "{words:?}");
        }
    }

    #[test]
    fn refusals() {
        let p = Path::new("/p");
        let e = parse(&args(&["e.log", "loud"]), p).unwrap_err().to_string();
        assert_eq!(e, "t.conf:1:11: invalid log level \"loud\"");
        let e = parse(&args(&["memory:32m", "debug"]), p)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.conf:1:11: \"error_log memory:\" is not supported yet"),
            "{e}"
        );
        let e = parse(&args(&["syslog:server=x"]), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"error_log syslog:\""), "{e}");
    }
}
