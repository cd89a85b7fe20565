//! `ssl_session_cache off | none | [builtin[:N]] [shared:NAME:SIZE]`: how many TLS
//! sessions a listen address keeps for resumption by session id (TLS 1.2) and
//! stateful tickets. Both of nginx's kinds become one rustls memory cache per
//! address, shared by its workers: `builtin:N` holds N sessions, `shared:NAME:SIZE`
//! as many as nginx fits in SIZE (about 4,000 per megabyte).

use crate::config::ConfigError;
use crate::config::values::{self, Arg};

/// Sessions `builtin` keeps when it names no number (nginx's default).
const BUILTIN_DEFAULT: usize = 20480;
/// Bytes nginx counts per session in a shared zone (1 MB ≈ 4,000 sessions).
const SHARED_BYTES_PER_SESSION: u64 = 256;

/// What `ssl_session_cache` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCache {
    /// `off` or `none`: nothing is kept (tickets, if on, still resume).
    Off,
    /// Up to this many sessions.
    Entries(usize),
}

impl SessionCache {
    /// Parses the directive's arguments.
    pub fn parse(args: &[Arg]) -> Result<SessionCache, ConfigError> {
        if let [(word, _)] = args
            && matches!(word.as_str(), "off" | "none")
        {
            return Ok(SessionCache::Off);
        }
        let mut total = 0usize;
        for arg in args {
            let (word, pos) = arg;
            let bad = || {
                let msg = format!("invalid session cache \"{word}\" in \"ssl_session_cache\"");
                ConfigError::at(pos, msg)
            };
            if word == "builtin" {
                total = total.saturating_add(BUILTIN_DEFAULT);
            } else if let Some(n) = word.strip_prefix("builtin:") {
                let n: usize = n.parse().map_err(|_| bad())?;
                total = total.saturating_add(n);
            } else if let Some(rest) = word.strip_prefix("shared:") {
                let (name, size) = rest.rsplit_once(':').ok_or_else(bad)?;
                if name.is_empty() {
                    return Err(bad());
                }
                let bytes = values::size(&(size.to_string(), pos.clone()), "ssl_session_cache")?;
                let n = (bytes / SHARED_BYTES_PER_SESSION).max(1);
                total = total.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
            } else {
                return Err(bad());
            }
        }
        Ok(SessionCache::Entries(total))
    }

    /// As written in `-T`.
    pub fn to_conf(self) -> String {
        match self {
            SessionCache::Off => "off".into(),
            SessionCache::Entries(n) => format!("builtin:{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;

    fn parse(words: &[&str]) -> Result<SessionCache, String> {
        let pos = Pos {
            file: "t.conf".into(),
            line: 1,
            col: 1,
        };
        let args: Vec<Arg> = words.iter().map(|w| (w.to_string(), pos.clone())).collect();
        SessionCache::parse(&args).map_err(|e| e.to_string())
    }

    #[test]
    fn nginx_forms() {
        let cases: &[(&[&str], Option<SessionCache>)] = &[
            (&["off"], Some(SessionCache::Off)),
            (&["none"], Some(SessionCache::Off)),
            (&["builtin"], Some(SessionCache::Entries(20480))),
            (&["builtin:1000"], Some(SessionCache::Entries(1000))),
            (&["shared:SSL:1m"], Some(SessionCache::Entries(4096))),
            (&["shared:SSL:10m"], Some(SessionCache::Entries(40960))),
            (
                &["builtin:10", "shared:SSL:1m"],
                Some(SessionCache::Entries(4106)),
            ),
            (&["shared:SSL"], None),
            (&["shared::1m"], None),
            (&["builtin:x"], None),
            (&["bogus"], None),
            (&["off", "builtin"], None),
        ];
        for (words, want) in cases {
            assert_eq!(parse(words).ok(), *want, "{words:?}");
        }
        assert!(
            parse(&["lots"])
                .unwrap_err()
                .contains("t.conf:1:1: invalid session cache \"lots\"")
        );
    }
}
