//! The value of a variable for one request: what [`Env`] knows (the request, where
//! it arrived, the server and location, the current URI after rewrites) plus the
//! request's [`State`] (captures, `set` values, `$request_id`) and, for the access
//! log, what was sent ([`Done`]).

use std::cell::OnceCell;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Var;
use crate::config::{Location, Server};
use crate::handler::Origin;
use crate::http::date::{civil, log_date};
use crate::http::{Framing, Request, Response};

/// Per-request variable state. Empty (and allocation-free) for configurations that
/// use no regex captures and no `set`.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// `$0`..`$9` of the last successful regex match.
    pub captures: Vec<String>,
    /// `set` variables and named captures, by slot.
    user: Vec<Option<String>>,
    /// While an `error_page` is served, the status its answer gets (nginx's
    /// `err_status`): the original error's, or `=CODE`'s; `None` for a bare `=`.
    /// `$status` reads it until the response is sent.
    pub err_status: Option<u16>,
    request_id: OnceCell<String>,
    /// The request body as read for a proxied or CGI request (`$request_body`,
    /// `$request_body_file`); `None` when none was read.
    pub body: Option<crate::http::body::BodyView>,
    /// `map` and `geo` values read so far (see [`super::computed`]).
    pub(super) computed: std::cell::RefCell<Vec<super::computed::Cached>>,
    /// What `limit_req` and `limit_conn` decided (once per main request).
    pub limit_req: Option<crate::limit::Status>,
    pub limit_conn: Option<crate::limit::Status>,
    /// `set $limit_rate`: the response's rate, replacing the location's.
    pub limit_rate: Option<u64>,
}

impl State {
    pub fn set(&mut self, slot: u16, value: String) {
        let i = usize::from(slot);
        if self.user.len() <= i {
            self.user.resize(i + 1, None);
        }
        self.user[i] = Some(value);
    }

    pub fn user(&self, slot: u16) -> Option<&str> {
        self.user.get(usize::from(slot))?.as_deref()
    }

    fn request_id(&self) -> &str {
        self.request_id.get_or_init(random_id)
    }
}

/// What the access log knows once the response is sent (and, for `$status` in a
/// `return` text, the status being answered).
pub struct Done<'a> {
    pub status: u16,
    pub body_bytes: u64,
    pub bytes_sent: u64,
    pub request_time: Duration,
    pub response: Option<&'a Response>,
    /// What the upstreams answered, for a proxied request.
    pub upstream: Option<&'a super::upstream::Trace>,
}

/// Everything a variable's value comes from.
pub struct Env<'a> {
    pub req: &'a Request,
    pub origin: &'a Origin,
    pub server: &'a Server,
    pub location: Option<&'a Location>,
    /// The current URI (decoded, normalized; changed by rewrites).
    pub uri: &'a str,
    /// The current query string (changed by rewrites).
    pub args: Option<&'a str>,
    pub state: &'a State,
    pub done: Option<&'a Done<'a>>,
}

impl Env<'_> {
    /// Appends the value of `var` to `out`; `false` if it has none ("not found").
    pub fn value(&self, var: &Var, out: &mut String) -> bool {
        let req = self.req;
        match var {
            Var::Uri => out.push_str(self.uri),
            Var::RequestUri => out.push_str(&req.target),
            // No arguments (`/x` and `/x?`): no value (nginx's "not found", `-`
            // in a log).
            Var::Args => return push(out, self.args.filter(|a| !a.is_empty())),
            // nginx: `?` only when there are arguments (`/x?` has none).
            Var::IsArgs => out.push_str(match self.args {
                Some(a) if !a.is_empty() => "?",
                _ => "",
            }),
            Var::Arg(name) => return push(out, arg(self.args.unwrap_or(""), name)),
            Var::Host => out.push_str(self.host()),
            // nginx joins every Cookie (`; `) and X-Forwarded-For (`, `).
            Var::Http(name) if matches!(&**name, "cookie" | "x_forwarded_for") => {
                let sep = if &**name == "cookie" { "; " } else { ", " };
                return push(out, joined(req, name, sep).as_deref());
            }
            Var::Http(name) => return push(out, header(req, name)),
            Var::Cookie(name) => return push(out, cookie(req, name)),
            Var::SentHttp(name) => {
                let r = self.done.and_then(|d| d.response);
                let field = name.replace('_', "-");
                // nginx keeps every Cache-Control and Link and gives them joined.
                if let (Some(r), "cache-control" | "link") = (r, field.as_str()) {
                    let own = r.headers.iter().map(|(n, v)| (n, v.as_bytes()));
                    let relayed = r.raw_headers.iter().map(|(n, v)| (n, v.as_slice()));
                    let all: Vec<_> = own
                        .chain(relayed)
                        .filter(|(n, _)| n.eq_ignore_ascii_case(&field))
                        .map(|(_, v)| String::from_utf8_lossy(v))
                        .collect();
                    return push(out, (!all.is_empty()).then(|| all.join(", ")).as_deref());
                }
                // The first field, whether the response made it or relayed it.
                let relayed = r.and_then(|r| {
                    let raw = r
                        .raw_headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&field));
                    raw.map(|(_, v)| String::from_utf8_lossy(v))
                });
                let own = r.and_then(|r| r.get_header(&field));
                return push(out, own.or(relayed.as_deref()));
            }
            Var::SentTrailer(name) => {
                let trailers = self.done.and_then(|d| d.response?.trailers.as_deref());
                let field = name.replace('_', "-");
                let first =
                    trailers.and_then(|t| t.iter().find(|(n, _)| n.eq_ignore_ascii_case(&field)));
                return push(out, first.map(|(_, v)| v.as_str()));
            }
            Var::RequestBody => {
                let body = self.request_body().map(String::from_utf8_lossy);
                return push(out, body.as_deref());
            }
            Var::RequestBodyFile => {
                let file = self.state.body.as_ref().and_then(|b| b.file());
                return push(out, file.map(|p| p.to_string_lossy()).as_deref());
            }
            Var::RemoteAddr => write_ip(out, self.origin.peer.ip()),
            // Outside a log (which escapes the bytes) each byte is one character.
            Var::BinaryRemoteAddr => out.extend(self.binary_remote_addr().map(char::from)),
            Var::RemotePort => return super::client::port(out, Some(self.origin.peer)),
            Var::RemoteUser => return push(out, super::auth::basic_user(req).as_deref()),
            Var::ServerAddr => write_ip(out, self.origin.local.ip()),
            Var::ServerPort => push_num(out, self.origin.local.port()),
            Var::ServerName => out.push_str(self.server.server_names.first().map_or("", |s| s)),
            Var::ServerProtocol => out.push_str(req.version_str()),
            Var::Http2 => out.push_str(match (req.http2, self.origin.scheme()) {
                (false, _) => "",
                (true, "https") => "h2",
                (true, _) => "h2c",
            }),
            Var::Scheme => out.push_str(self.origin.scheme()),
            Var::Https => out.push_str(if self.origin.scheme() == "https" {
                "on"
            } else {
                ""
            }),
            Var::Request => {
                let _ = write!(
                    out,
                    "{} {} {}",
                    req.method.as_str(),
                    req.target,
                    req.version_str()
                );
            }
            Var::RequestMethod => out.push_str(req.method.as_str()),
            Var::RequestFilename => match self.location {
                Some(l) => out.push_str(&l.file_for(self.uri).to_string_lossy()),
                None => return false,
            },
            Var::DocumentRoot => match self.location {
                Some(l) => out.push_str(&l.document_root().to_string_lossy()),
                None => return false,
            },
            Var::RealpathRoot => {
                let Some(l) = self.location else { return false };
                match std::fs::canonicalize(l.document_root()) {
                    Ok(p) => out.push_str(&p.to_string_lossy()),
                    Err(_) => return false,
                }
            }
            Var::ContentType => return push(out, req.header("content-type")),
            Var::ContentLength => match (req.header("content-length"), req.framing) {
                (Some(v), _) => out.push_str(v),
                // A chunked body once read: its length, as nginx sets it.
                (None, crate::http::request::Framing::Length(n)) => push_num(out, n),
                _ => return false,
            },
            Var::Status => {
                let status = self.done.map(|d| d.status).or(self.state.err_status);
                let _ = write!(out, "{:03}", status.unwrap_or(0));
            }
            Var::BodyBytesSent => push_num(out, self.done.map_or(0, |d| d.body_bytes)),
            Var::BytesSent => push_num(out, self.done.map_or(0, |d| d.bytes_sent)),
            Var::RequestTime => {
                let t = self.done.map_or(Duration::ZERO, |d| d.request_time);
                let _ = write!(out, "{}.{:03}", t.as_secs(), t.subsec_millis());
            }
            Var::TimeLocal => out.push_str(&log_date(SystemTime::now())),
            Var::TimeIso8601 => iso8601(out, SystemTime::now()),
            Var::Msec => {
                let t = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let _ = write!(out, "{}.{:03}", t.as_secs(), t.subsec_millis());
            }
            Var::RequestLength => push_num(out, request_length(req)),
            Var::RequestId => out.push_str(self.state.request_id()),
            Var::Pid => push_num(out, std::process::id()),
            Var::Hostname => out.push_str(hostname()),
            Var::Connection => push_num(out, self.origin.conn.serial),
            Var::ConnectionRequests => push_num(out, self.origin.conn.requests),
            Var::ConnectionTime => {
                let t = self.origin.conn.opened.elapsed();
                let _ = write!(out, "{}.{:03}", t.as_secs(), t.subsec_millis());
            }
            Var::Pipe => out.push(if self.origin.conn.pipelined { 'p' } else { '.' }),
            Var::NginxVersion => out.push_str(super::NGINX_VERSION),
            Var::Connections(i) => {
                let t = crate::metrics::totals();
                let all = [t.active, t.reading, t.writing, t.waiting];
                push_num(out, all.get(usize::from(*i)).copied().unwrap_or(0));
            }
            Var::LimitReqStatus => return push(out, self.state.limit_req.map(|s| s.as_str())),
            Var::LimitConnStatus => return push(out, self.state.limit_conn.map(|s| s.as_str())),
            Var::LimitRate => push_num(out, self.limit_rate()),
            Var::Capture(n) => {
                return push(
                    out,
                    self.state.captures.get(usize::from(*n)).map(String::as_str),
                );
            }
            Var::User(slot) => return push(out, self.state.user(*slot)),
            Var::Ssl(v) => return self.req.tls.as_deref().is_some_and(|i| i.value(*v, out)),
            Var::Upstream(v) => return super::upstream::value(self, v, out),
            Var::Client(v) => return super::client::value(self.origin, *v, out),
            Var::Computed(i) => return super::computed::value(self, *i, out),
            Var::Unlinked(_) => return false,
        }
        true
    }

    /// `$request_body`'s bytes, when the body was read into memory.
    pub fn request_body(&self) -> Option<&[u8]> {
        self.state.body.as_ref().and_then(|b| b.memory())
    }

    /// `$binary_remote_addr`: 4 bytes for IPv4 (a mapped IPv6 address too), else 16.
    pub fn binary_remote_addr(&self) -> impl Iterator<Item = u8> + use<> {
        let bytes: Vec<u8> = match self.origin.peer.ip() {
            std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
            std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.octets().to_vec(),
                None => v6.octets().to_vec(),
            },
        };
        bytes.into_iter()
    }

    /// The same view with other captures and `set` values (a `map` regex's).
    pub fn with_state<'s>(&'s self, state: &'s State) -> Env<'s> {
        Env {
            req: self.req,
            origin: self.origin,
            server: self.server,
            location: self.location,
            uri: self.uri,
            args: self.args,
            state,
            done: self.done,
        }
    }

    /// `$host`: the request's host, else the server's first name.
    pub fn host(&self) -> &str {
        match &self.req.host {
            Some(h) if !h.is_empty() => h,
            _ => self.server.server_names.first().map_or("", |s| s),
        }
    }
}

fn push(out: &mut String, v: Option<&str>) -> bool {
    match v {
        Some(v) => {
            out.push_str(v);
            true
        }
        None => false,
    }
}

pub(super) fn push_num(out: &mut String, n: impl std::fmt::Display) {
    let _ = write!(out, "{n}");
}

pub(super) fn write_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => push_num(out, v4),
            None => push_num(out, v6),
        },
        v4 => push_num(out, v4),
    }
}

/// `$http_NAME`: the header whose name, lower-cased with `-` as `_`, is `name`.
fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    header_bytes(req, name).and_then(|v| std::str::from_utf8(v).ok())
}

/// Every field called `name` (as [`header`] matches it) that is text, joined
/// with `sep`; `None` when there is none.
fn joined(req: &Request, name: &str, sep: &str) -> Option<String> {
    let field = name.replace('_', "-");
    let mut all = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(&field))
        .filter_map(|(_, v)| std::str::from_utf8(v.trim_ascii()).ok());
    let mut out = all.next()?.to_string();
    for v in all {
        out.push_str(sep);
        out.push_str(v);
    }
    Some(out)
}

/// [`header`]'s value as bytes (which need not be UTF-8), surrounding blanks off.
pub fn header_bytes<'r>(req: &'r Request, name: &str) -> Option<&'r [u8]> {
    req.headers.iter().find_map(|(n, v)| {
        let same = n.len() == name.len()
            && n.bytes().zip(name.bytes()).all(|(a, b)| {
                let a = a.to_ascii_lowercase();
                a == b || (a == b'-' && b == b'_')
            });
        same.then(|| v.trim_ascii())
    })
}

/// `$arg_NAME`: the first `NAME=value` of the query string, as sent.
fn arg<'a>(args: &'a str, name: &str) -> Option<&'a str> {
    if name.is_empty() {
        return None;
    }
    args.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// `$cookie_NAME`: from the `Cookie` header.
fn cookie<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// The request head's size as received (line, fields, CRLFs) plus the body's.
fn request_length(req: &Request) -> u64 {
    let body = match req.framing {
        Framing::Length(n) => n,
        _ => 0,
    };
    req.head_len as u64 + body
}

/// `2026-11-22T15:46:02+00:00`.
fn iso8601(out: &mut String, t: SystemTime) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let c = civil(secs);
    let _ = write!(
        out,
        "{}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    );
}

fn hostname() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
        // within it or truncates.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc != 0 {
            return "localhost".into();
        }
        let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..len]).into_owned()
    })
}

/// 16 random bytes in hex (`$request_id`), from a per-thread xorshift generator
/// seeded by the clock, the thread and a counter.
fn random_id() -> String {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static SEED: Cell<u64> = Cell::new({
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos());
            h.finish() | 1
        });
    }
    let next = || {
        SEED.with(|s| {
            let mut x = s.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.set(x);
            x
        })
    };
    format!("{:016x}{:016x}", next(), next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::Fields;

    #[test]
    fn args_cookies_headers() {
        assert_eq!(arg("a=1&page=2&b", "page"), Some("2"));
        assert_eq!(arg("a=1&b", "b"), Some(""));
        assert_eq!(arg("a=1", "c"), None);
        assert_eq!(arg("=1&l=42", ""), None, "an empty name names no argument");
        let req = Request {
            method: crate::http::Method::Get,
            target: "/x?y=1".into(),
            http11: true,
            http2: false,
            headers: Fields::from_pairs([
                ("Cookie", &b"sid=abc; theme=dark"[..]),
                ("X-Forwarded-For", &b" 10.0.0.1 "[..]),
            ]),
            host: None,
            framing: Framing::None,
            keep_alive: true,
            expect_continue: false,
            head_len: 0,
            tls: None,
        };
        assert_eq!(cookie(&req, "theme"), Some("dark"));
        assert_eq!(cookie(&req, "nope"), None);
        assert_eq!(header(&req, "x_forwarded_for"), Some("10.0.0.1"));
        assert_eq!(header(&req, "cookie"), Some("sid=abc; theme=dark"));
        let a = random_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_id());
    }

    #[test]
    fn is_args_needs_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, "server { listen 127.0.0.1:1; }").unwrap();
        let config = crate::config::load(&file, dir.path()).unwrap();
        let req = crate::handler::error_page::blank_request();
        let origin = crate::handler::Origin::test_loopback();
        let state = State::default();
        // $args, $is_args
        for (args, is_args) in [(None, ""), (Some(""), ""), (Some("a=1"), "?")] {
            let env = Env {
                req: &req,
                origin: &origin,
                server: &config.servers[0],
                location: None,
                uri: "/",
                args,
                state: &state,
                done: None,
            };
            let mut out = String::new();
            assert!(env.value(&Var::IsArgs, &mut out));
            assert_eq!(out, is_args, "{args:?}");
        }
    }

    #[test]
    fn iso_dates() {
        let mut s = String::new();
        iso8601(&mut s, UNIX_EPOCH + Duration::from_secs(784_111_777));
        assert_eq!(s, "1994-11-06T08:49:37+00:00");
    }
}
