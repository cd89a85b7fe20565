//! `access_log` and `open_log_file_cache`, read as nginx's log module reads them:
//! `access_log off | PATH [FORMAT [buffer=SIZE] [gzip[=LEVEL]] [flush=TIME]
//! [if=COND]]` (the second argument is always the format's name), and the
//! descriptor cache for paths with variables. The checks that need every
//! `access_log` at once (one buffer per file) are in [`check_buffers`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::parser::Directive;
use super::values::{self, Arg};
use super::{AccessLog, ConfigError, LogBuffer, LogFileCache, Server};
use crate::vars::Template;

/// The buffer `gzip` asks for when no `buffer=` is given.
const GZIP_BUFFER: usize = 64 * 1024;

/// `access_log ...`; `Ok(None)` for `off`.
pub fn access_log(d: &Directive, prefix: &Path) -> Result<Option<AccessLog>, ConfigError> {
    let a = &d.args;
    if a[0].0 == "off" {
        return match a.get(1) {
            Some((extra, pos)) => Err(invalid(pos, extra)),
            None => Ok(None),
        };
    }
    let (path, path_pos) = &a[0];
    if path.starts_with("syslog:") {
        let msg = "\"access_log syslog:\" (logging to syslog) is not supported yet";
        return Err(ConfigError::at(path_pos, msg));
    }
    // A path with variables is expanded per line, relative ones against the
    // prefix, as nginx does.
    let path_vars = match path.contains('$') {
        true => Some(Template::compile(path, path_pos)?),
        false => None,
    };
    let mut log = AccessLog {
        path: values::resolve(prefix, path),
        path_vars,
        prefix: prefix.to_path_buf(),
        buffer: None,
        format: a.get(1).map_or("combined".into(), |f| f.0.clone()),
        compiled: None,
        condition: None,
        pos: d.pos.clone(),
    };
    let mut size = None;
    let mut flush = None;
    let mut gzip = None;
    for (arg, pos) in a.iter().skip(2) {
        if let Some(v) = arg.strip_prefix("buffer=") {
            size = Some(buffer_size(v, pos)?);
        } else if let Some(v) = arg.strip_prefix("flush=") {
            flush = Some(flush_time(v, pos)?);
        } else if arg == "gzip" {
            gzip = Some(1);
        } else if let Some(v) = arg.strip_prefix("gzip=") {
            gzip = Some(gzip_level(v, pos)?);
        } else if let Some(cond) = arg.strip_prefix("if=") {
            log.condition = Some(Template::compile(cond, pos)?);
        } else {
            return Err(invalid(pos, arg));
        }
    }
    if flush.is_some() && size.is_none() && gzip.is_none() {
        let msg = format!("no buffer is defined for access_log \"{path}\"");
        return Err(ConfigError::at(&d.pos, msg));
    }
    if size.is_some() || gzip.is_some() {
        if log.path_vars.is_some() {
            let msg = "buffered logs cannot have variables in name";
            return Err(ConfigError::at(&d.pos, msg));
        }
        log.buffer = Some(LogBuffer {
            size: size.unwrap_or(GZIP_BUFFER),
            flush,
            gzip,
        });
    }
    Ok(Some(log))
}

fn invalid(pos: &super::Pos, arg: &str) -> ConfigError {
    ConfigError::at(pos, format!("invalid parameter \"{arg}\""))
}

fn buffer_size(v: &str, pos: &super::Pos) -> Result<usize, ConfigError> {
    let arg: Arg = (v.to_string(), pos.clone());
    match values::size(&arg, "access_log") {
        Ok(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(ConfigError::at(pos, format!("invalid buffer size \"{v}\""))),
    }
}

fn flush_time(v: &str, pos: &super::Pos) -> Result<Duration, ConfigError> {
    let arg: Arg = (v.to_string(), pos.clone());
    match values::time(&arg, "access_log") {
        Ok(t) if !t.is_zero() => Ok(t),
        _ => Err(ConfigError::at(pos, format!("invalid flush time \"{v}\""))),
    }
}

fn gzip_level(v: &str, pos: &super::Pos) -> Result<u32, ConfigError> {
    match v.parse::<u32>() {
        Ok(n @ 1..=9) if v.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ConfigError::at(
            pos,
            format!("invalid compression level \"{v}\""),
        )),
    }
}

/// nginx keeps one buffer per file: a second `access_log` with a buffer for the
/// same path must ask for the same one ("already defined with conflicting
/// parameters"). An unbuffered `access_log` of that path writes through the
/// buffer too, so every log of the path gets it here.
pub fn check_buffers(servers: &mut [Server]) -> Result<(), ConfigError> {
    let mut by_path: HashMap<PathBuf, LogBuffer> = HashMap::new();
    let logs = || {
        servers
            .iter()
            .flat_map(|s| &s.locations)
            .flat_map(|l| &l.access_logs)
    };
    for log in logs() {
        let Some(b) = log.buffer else { continue };
        match by_path.get(&log.path) {
            Some(first) if *first != b => {
                let msg = format!(
                    "access_log \"{}\" already defined with conflicting parameters",
                    log.path.display()
                );
                return Err(ConfigError::at(&log.pos, msg));
            }
            Some(_) => {}
            None => {
                by_path.insert(log.path.clone(), b);
            }
        }
    }
    let logs = servers
        .iter_mut()
        .flat_map(|s| &mut s.locations)
        .flat_map(|l| &mut l.access_logs);
    for log in logs.filter(|l| l.path_vars.is_none()) {
        log.buffer = by_path.get(&log.path).copied();
    }
    Ok(())
}

/// `open_log_file_cache off | max=N [inactive=T] [min_uses=N] [valid=T]`;
/// `Ok(None)` for `off`. nginx's defaults: inactive 10s, min_uses 1, valid 60s.
pub fn log_file_cache(d: &Directive) -> Result<Option<LogFileCache>, ConfigError> {
    let mut c = LogFileCache {
        max: 0,
        inactive: Duration::from_secs(10),
        min_uses: 1,
        valid: Duration::from_secs(60),
        pos: d.pos.clone(),
    };
    let mut off = false;
    for (word, pos) in &d.args {
        let bad = || {
            let msg = format!("invalid \"open_log_file_cache\" parameter \"{word}\"");
            ConfigError::at(pos, msg)
        };
        let time = |v: &str| {
            let arg: Arg = (v.to_string(), pos.clone());
            values::time(&arg, "open_log_file_cache").map_err(|_| bad())
        };
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        match key {
            "max" => c.max = value.parse().map_err(|_| bad())?,
            "min_uses" => c.min_uses = value.parse().map_err(|_| bad())?,
            "inactive" => c.inactive = time(value)?,
            "valid" => c.valid = time(value)?,
            "off" if word == "off" => off = true,
            _ => return Err(bad()),
        }
    }
    if off {
        return Ok(None);
    }
    if c.max == 0 {
        let msg = "\"open_log_file_cache\" must have \"max\" parameter";
        return Err(ConfigError::at(&d.pos, msg));
    }
    Ok(Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;
    use std::sync::Arc;

    fn directive(text: &str) -> Directive {
        let pos = |col| Pos {
            file: Arc::from("t.conf"),
            line: 1,
            col,
        };
        let mut words = text.split(' ');
        let name = words.next().unwrap_or_default().to_string();
        Directive {
            name,
            args: words
                .enumerate()
                .map(|(i, w)| (w.to_string(), pos(i as u32 + 2)))
                .collect(),
            pos: pos(1),
            block: None,
        }
    }

    fn log(text: &str) -> Result<Option<AccessLog>, String> {
        access_log(&directive(text), Path::new("/p")).map_err(|e| e.to_string())
    }

    #[test]
    fn access_log_arguments() {
        let l = log("access_log logs/a.log").unwrap().unwrap();
        assert_eq!(l.path, Path::new("/p/logs/a.log"));
        assert_eq!(l.format, "combined");
        assert!(l.buffer.is_none() && l.condition.is_none());
        let l = log("access_log /a main buffer=32k flush=5s if=$arg_x")
            .unwrap()
            .unwrap();
        assert_eq!(l.format, "main");
        let b = l.buffer.unwrap();
        assert_eq!(
            (b.size, b.flush, b.gzip),
            (32768, Some(Duration::from_secs(5)), None)
        );
        assert!(l.condition.is_some());
        let b = log("access_log /a f gzip")
            .unwrap()
            .unwrap()
            .buffer
            .unwrap();
        assert_eq!((b.size, b.gzip), (GZIP_BUFFER, Some(1)));
        let b = log("access_log /a f gzip=9 buffer=1m")
            .unwrap()
            .unwrap()
            .buffer
            .unwrap();
        assert_eq!((b.size, b.gzip), (1 << 20, Some(9)));
        assert!(log("access_log off").unwrap().is_none());
        assert!(
            log("access_log /v/$host.log")
                .unwrap()
                .unwrap()
                .path_vars
                .is_some()
        );
    }

    #[test]
    fn access_log_errors() {
        let cases = [
            ("access_log off x", "t.conf:1:3: invalid parameter \"x\""),
            (
                "access_log syslog:server=unix:/dev/log",
                "t.conf:1:2: \"access_log syslog:\" (logging to syslog) is not supported yet",
            ),
            (
                "access_log /a f nope",
                "t.conf:1:4: invalid parameter \"nope\"",
            ),
            (
                "access_log /a f buffer=0",
                "t.conf:1:4: invalid buffer size \"0\"",
            ),
            (
                "access_log /a f buffer=x",
                "t.conf:1:4: invalid buffer size \"x\"",
            ),
            (
                "access_log /a f flush=x",
                "t.conf:1:4: invalid flush time \"x\"",
            ),
            (
                "access_log /a f gzip=0",
                "t.conf:1:4: invalid compression level \"0\"",
            ),
            (
                "access_log /a f gzip=10",
                "t.conf:1:4: invalid compression level \"10\"",
            ),
            (
                "access_log /a f flush=1s",
                "t.conf:1:1: no buffer is defined for access_log \"/a\"",
            ),
            (
                "access_log /$host f buffer=4k",
                "t.conf:1:1: buffered logs cannot have variables in name",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(log(text).unwrap_err(), want, "{text}");
        }
    }

    #[test]
    fn one_buffer_per_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        let load = |text: &str| {
            std::fs::write(&file, text).unwrap();
            crate::config::load(&file, dir.path()).map_err(|e| e.to_string())
        };
        let config = load(
            "server { listen 127.0.0.1:1; access_log /l/a.log; \
             location /b { access_log /l/a.log combined buffer=8k; } \
             location /c { access_log /l/c.log; } }",
        )
        .unwrap();
        let buffers: Vec<Option<usize>> = config.servers[0]
            .locations
            .iter()
            .flat_map(|l| &l.access_logs)
            .map(|l| l.buffer.map(|b| b.size))
            .collect();
        assert!(buffers.contains(&Some(8192)) && buffers.contains(&None));
        let a_logs = config.servers[0]
            .locations
            .iter()
            .flat_map(|l| &l.access_logs)
            .filter(|l| l.path.ends_with("a.log"));
        assert!(
            a_logs
                .into_iter()
                .all(|l| l.buffer.is_some_and(|b| b.size == 8192))
        );
        let err = load(
            "server { listen 127.0.0.1:1; access_log /l/a.log combined buffer=8k; \
             location /b { access_log /l/a.log combined gzip; } }",
        )
        .unwrap_err();
        assert!(
            err.ends_with("access_log \"/l/a.log\" already defined with conflicting parameters"),
            "{err}"
        );
    }

    #[test]
    fn file_cache_arguments() {
        let c = |t: &str| log_file_cache(&directive(t)).map_err(|e| e.to_string());
        let got = c("open_log_file_cache max=3 inactive=20s valid=1m min_uses=2").unwrap();
        let got = got.unwrap();
        assert_eq!(got.max, 3);
        assert_eq!(got.inactive, Duration::from_secs(20));
        assert_eq!(got.valid, Duration::from_secs(60));
        assert_eq!(got.min_uses, 2);
        let dflt = c("open_log_file_cache max=1").unwrap().unwrap();
        assert_eq!(
            (dflt.inactive, dflt.valid, dflt.min_uses),
            (Duration::from_secs(10), Duration::from_secs(60), 1)
        );
        assert!(c("open_log_file_cache off").unwrap().is_none());
        assert_eq!(
            c("open_log_file_cache inactive=1s").unwrap_err(),
            "t.conf:1:1: \"open_log_file_cache\" must have \"max\" parameter"
        );
        assert_eq!(
            c("open_log_file_cache max=x").unwrap_err(),
            "t.conf:1:2: invalid \"open_log_file_cache\" parameter \"max=x\""
        );
        assert_eq!(
            c("open_log_file_cache max=1 size=2").unwrap_err(),
            "t.conf:1:3: invalid \"open_log_file_cache\" parameter \"size=2\""
        );
    }
}
