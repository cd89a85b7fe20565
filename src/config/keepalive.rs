//! Keep-alive policy, as nginx's core module sets it per location:
//! `keepalive_timeout T [HEADER_T]`, `keepalive_requests N`, `keepalive_time T`
//! and `keepalive_disable msie6 | safari | none`. The location that answers a
//! request decides whether its connection stays open and for how long it may
//! then idle; [`KeepAlive::allows`] is that decision.

use std::time::Duration;

use super::ConfigError;
use super::values::{self, Arg};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(75);
pub const DEFAULT_REQUESTS: u64 = 1000;
/// `keepalive_time`: nginx's default, one hour.
pub const DEFAULT_TIME: Duration = Duration::from_secs(3600);

/// `keepalive_disable`: the browsers keep-alive is refused to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disable {
    /// MSIE 6 and older, for POST requests (nginx's default).
    pub msie6: bool,
    /// Safari and Safari-like browsers on macOS.
    pub safari: bool,
}

impl Default for Disable {
    fn default() -> Self {
        Disable {
            msie6: true,
            safari: false,
        }
    }
}

/// The keep-alive settings in effect for a location (or a server, before a
/// location is chosen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// How long an idle connection waits for its next request; zero disables
    /// keep-alive.
    pub timeout: Duration,
    /// The second argument of `keepalive_timeout`: sent as
    /// `Keep-Alive: timeout=N`.
    pub header: Option<Duration>,
    /// Requests served on one connection before it is closed.
    pub requests: u64,
    /// How long a connection may live: a request answered after this closes it.
    pub time: Duration,
    pub disable: Disable,
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive {
            timeout: DEFAULT_TIMEOUT,
            header: None,
            requests: DEFAULT_REQUESTS,
            time: DEFAULT_TIME,
            disable: Disable::default(),
        }
    }
}

/// What [`KeepAlive::allows`] needs to know about a request and its connection.
pub struct Asking<'a> {
    /// Requests on the connection, this one included.
    pub requests: u64,
    /// How long the connection has been open.
    pub age: Duration,
    pub post: bool,
    pub user_agent: Option<&'a [u8]>,
}

impl KeepAlive {
    /// Whether the connection may stay open after this response (the client
    /// asked for it and nothing else forbids it), in nginx's order.
    pub fn allows(&self, r: &Asking) -> bool {
        if self.timeout.is_zero() || r.requests >= self.requests || r.age > self.time {
            return false;
        }
        let Some(ua) = r.user_agent else {
            return true;
        };
        !(self.disable.msie6 && r.post && is_msie6(ua) || self.disable.safari && is_safari(ua))
    }
}

/// `keepalive_timeout T [HEADER_T]`.
pub fn timeout(args: &[Arg], name: &str) -> Result<(Duration, Option<Duration>), ConfigError> {
    let t = values::time(&args[0], name)?;
    let header = args.get(1).map(|a| values::time(a, name)).transpose()?;
    Ok((t, header))
}

/// `keepalive_disable none | msie6 | safari ...`.
pub fn disable(args: &[Arg], name: &str) -> Result<Disable, ConfigError> {
    let mut d = Disable {
        msie6: false,
        safari: false,
    };
    for (word, pos) in args {
        match word.as_str() {
            "none" => {
                d = Disable {
                    msie6: false,
                    safari: false,
                }
            }
            "msie6" => d.msie6 = true,
            "safari" => d.safari = true,
            _ => {
                let msg = format!("invalid value \"{word}\" in \"{name}\" (none, msie6, safari)");
                return Err(ConfigError::at(pos, msg));
            }
        }
    }
    Ok(d)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// nginx's test: `MSIE 4.`, `MSIE 5.`, or `MSIE 6.` without `SV1` after it.
fn is_msie6(ua: &[u8]) -> bool {
    let Some(at) = find(ua, b"MSIE ") else {
        return false;
    };
    let m = &ua[at..];
    if m.len() <= 7 || m[6] != b'.' {
        return false;
    }
    match m[5] {
        b'4' | b'5' => true,
        b'6' => find(&m[8..], b"SV1").is_none(),
        _ => false,
    }
}

/// nginx's test: `Safari/` and `Mac OS X`, but not `Chrome/`.
fn is_safari(ua: &[u8]) -> bool {
    find(ua, b"Safari/").is_some()
        && find(ua, b"Mac OS X").is_some()
        && find(ua, b"Chrome/").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask<'a>(requests: u64, age: u64, post: bool, ua: Option<&'a str>) -> Asking<'a> {
        Asking {
            requests,
            age: Duration::from_secs(age),
            post,
            user_agent: ua.map(str::as_bytes),
        }
    }

    #[test]
    fn browsers() {
        let cases: &[(&str, bool, bool)] = &[
            (
                "Mozilla/4.0 (compatible; MSIE 5.0; Windows 98)",
                true,
                false,
            ),
            ("MSIE 4.01", true, false),
            (
                "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)",
                true,
                false,
            ),
            (
                "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)",
                false,
                false,
            ),
            (
                "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)",
                false,
                false,
            ),
            ("MSIE 5.", false, false),
            ("MSIE", false, false),
            ("Mac OS X Safari/7534.48.3", false, true),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15) Chrome/120.0 Safari/537.36",
                false,
                false,
            ),
            ("Mozilla/5.0 (Windows NT 10.0) Safari/537.36", false, false),
            ("", false, false),
        ];
        for &(ua, msie6, safari) in cases {
            assert_eq!(is_msie6(ua.as_bytes()), msie6, "{ua}");
            assert_eq!(is_safari(ua.as_bytes()), safari, "{ua}");
        }
    }

    #[test]
    fn allows_in_nginx_order() {
        let k = KeepAlive {
            requests: 3,
            time: Duration::from_secs(10),
            ..KeepAlive::default()
        };
        assert!(k.allows(&ask(1, 0, false, None)));
        assert!(k.allows(&ask(2, 10, false, None)));
        assert!(
            !k.allows(&ask(3, 0, false, None)),
            "the limit counts this request"
        );
        assert!(
            !k.allows(&ask(1, 11, false, None)),
            "older than keepalive_time"
        );
        let msie = Some("MSIE 5.0");
        assert!(!k.allows(&ask(1, 0, true, msie)), "POST from MSIE 5");
        assert!(k.allows(&ask(1, 0, false, msie)), "GET from MSIE 5");
        let safari = Some("Mac OS X Safari/7534.48.3");
        assert!(k.allows(&ask(1, 0, false, safari)));
        let k = KeepAlive {
            disable: Disable {
                msie6: false,
                safari: true,
            },
            ..KeepAlive::default()
        };
        assert!(!k.allows(&ask(1, 0, false, safari)));
        assert!(k.allows(&ask(1, 0, true, msie)));
        let off = KeepAlive {
            timeout: Duration::ZERO,
            ..KeepAlive::default()
        };
        assert!(!off.allows(&ask(1, 0, false, None)));
    }

    #[test]
    fn parsing() {
        let pos = crate::config::Pos {
            file: std::sync::Arc::from("t.conf"),
            line: 1,
            col: 1,
        };
        let args =
            |s: &str| -> Vec<Arg> { s.split(' ').map(|w| (w.to_string(), pos.clone())).collect() };
        assert_eq!(
            timeout(&args("1 9"), "keepalive_timeout").unwrap(),
            (Duration::from_secs(1), Some(Duration::from_secs(9)))
        );
        assert_eq!(
            timeout(&args("30s"), "keepalive_timeout").unwrap(),
            (Duration::from_secs(30), None)
        );
        assert!(timeout(&args("1 x"), "keepalive_timeout").is_err());
        let d = disable(&args("safari"), "keepalive_disable").unwrap();
        assert_eq!(
            d,
            Disable {
                msie6: false,
                safari: true
            }
        );
        let d = disable(&args("none"), "keepalive_disable").unwrap();
        assert_eq!(
            d,
            Disable {
                msie6: false,
                safari: false
            }
        );
        let err = disable(&args("opera"), "keepalive_disable").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.conf:1:1: invalid value \"opera\" in \"keepalive_disable\" (none, msie6, safari)"
        );
    }
}
