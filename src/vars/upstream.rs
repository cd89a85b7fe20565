//! The gateway's variables: `$proxy_host`, `$proxy_port`,
//! `$proxy_add_x_forwarded_for`, `$fastcgi_script_name` and `$fastcgi_path_info`
//! (what a request to the upstream is built from), and
//! `$upstream_*` (what the upstreams answered, for the access log). A request
//! retried on another server lists one value per server tried, `, `-separated, as
//! nginx does.

use std::fmt::Write as _;
use std::time::Duration;

use super::value::Env;

/// Which variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpVar {
    ProxyHost,
    ProxyPort,
    ProxyAddXForwardedFor,
    FastcgiScriptName,
    FastcgiPathInfo,
    Addr,
    Status,
    ResponseTime,
    ConnectTime,
    HeaderTime,
    /// `$upstream_response_length`: body bytes from the server.
    ResponseLength,
    BytesReceived,
    BytesSent,
    /// `$upstream_http_NAME`: a header of the (last) upstream's response.
    Http(Box<str>),
    /// `$upstream_cookie_NAME`: a cookie the (last) upstream's `Set-Cookie` sets.
    Cookie(Box<str>),
}

pub const NAMES: &[(&str, UpVar)] = &[
    ("proxy_host", UpVar::ProxyHost),
    ("proxy_port", UpVar::ProxyPort),
    ("proxy_add_x_forwarded_for", UpVar::ProxyAddXForwardedFor),
    ("fastcgi_script_name", UpVar::FastcgiScriptName),
    ("fastcgi_path_info", UpVar::FastcgiPathInfo),
    ("upstream_addr", UpVar::Addr),
    ("upstream_status", UpVar::Status),
    ("upstream_response_time", UpVar::ResponseTime),
    ("upstream_connect_time", UpVar::ConnectTime),
    ("upstream_header_time", UpVar::HeaderTime),
    ("upstream_response_length", UpVar::ResponseLength),
    ("upstream_bytes_received", UpVar::BytesReceived),
    ("upstream_bytes_sent", UpVar::BytesSent),
];

/// One server tried for a request.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    pub addr: std::sync::Arc<str>,
    /// 0 when no response head came (shown as `502`/`504` as nginx does, or `-`).
    pub status: u16,
    pub connect: Option<Duration>,
    pub header: Option<Duration>,
    pub response: Duration,
    /// The first server of a later backend of the request (an error page passed
    /// it on): set off with ` : ` instead of `, `, as nginx does.
    pub redirected: bool,
    /// Response body bytes, all bytes read, all bytes written.
    pub body: u64,
    pub received: u64,
    pub sent: u64,
}

/// What the upstreams did for one request.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub attempts: Vec<Attempt>,
    /// The last response head as it arrived: its field lines (after the status
    /// line when `status_line`), read again only when `$upstream_http_NAME` is
    /// asked for, so relaying a head copies its fields once.
    pub head: Vec<u8>,
    pub status_line: bool,
}

impl Trace {
    /// The first value of the field `name` (case-insensitive) in the last head.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields(name).next()
    }

    /// Every value of the field `name` (case-insensitive) in the last head.
    pub fn fields<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        let mut lines = self.head.split(|&b| b == b'\n');
        if self.status_line {
            lines.next();
        }
        lines
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .take_while(|l| !l.is_empty())
            .filter_map(move |l| {
                let colon = l.iter().position(|&b| b == b':')?;
                let (n, v) = (&l[..colon], &l[colon + 1..]);
                n.eq_ignore_ascii_case(name.as_bytes())
                    .then(|| v.trim_ascii())
            })
    }
}

impl UpVar {
    /// Whether the value exists only once the response is known.
    pub fn is_late(&self) -> bool {
        !matches!(
            self,
            UpVar::ProxyHost
                | UpVar::ProxyPort
                | UpVar::ProxyAddXForwardedFor
                | UpVar::FastcgiScriptName
                | UpVar::FastcgiPathInfo
        )
    }
}

/// Appends the value of `v` to `out`; `false` if it has none.
pub fn value(env: &Env, v: &UpVar, out: &mut String) -> bool {
    let pass = env.location.and_then(|l| l.proxy_pass.as_ref());
    match v {
        UpVar::ProxyHost => match pass {
            Some(p) => out.push_str(&p.host),
            None => return false,
        },
        UpVar::ProxyPort => match pass {
            Some(p) => {
                let _ = write!(out, "{}", p.port);
            }
            None => return false,
        },
        UpVar::ProxyAddXForwardedFor => {
            if let Some(xff) = env.req.header("x-forwarded-for") {
                out.push_str(xff);
                out.push_str(", ");
            }
            let _ = write!(out, "{}", env.origin.peer.ip());
        }
        UpVar::FastcgiScriptName | UpVar::FastcgiPathInfo => {
            let fcgi = env.location.map(|l| &l.fastcgi.fastcgi);
            let Some(fcgi) = fcgi else {
                out.push_str(env.uri);
                return true;
            };
            let (script, info) = crate::config::fastcgi::split(fcgi, env.uri);
            out.push_str(if *v == UpVar::FastcgiPathInfo {
                info
            } else {
                &script
            });
        }
        _ => {
            let Some(trace) = env.done.and_then(|d| d.upstream) else {
                return false;
            };
            return traced(trace, v, out);
        }
    }
    true
}

fn traced(trace: &Trace, v: &UpVar, out: &mut String) -> bool {
    if let UpVar::Cookie(name) = v {
        let mut set = trace.fields("set-cookie");
        let Some(value) = set.find_map(|line| set_cookie_value(line, name)) else {
            return false;
        };
        out.push_str(&String::from_utf8_lossy(value));
        return true;
    }
    if let UpVar::Http(name) = v {
        // nginx joins every field of the name with ", ".
        let want = name.replace('_', "-");
        let mut all = trace.fields(&want);
        let Some(first) = all.next() else {
            return false;
        };
        out.push_str(&String::from_utf8_lossy(first));
        for value in all {
            out.push_str(", ");
            out.push_str(&String::from_utf8_lossy(value));
        }
        return true;
    }
    if trace.attempts.is_empty() {
        return false;
    }
    for (i, a) in trace.attempts.iter().enumerate() {
        if i > 0 {
            out.push_str(if a.redirected { " : " } else { ", " });
        }
        match v {
            UpVar::Addr => out.push_str(&a.addr),
            UpVar::Status if a.status == 0 => out.push('-'),
            UpVar::Status => {
                let _ = write!(out, "{}", a.status);
            }
            UpVar::ResponseTime => seconds(out, Some(a.response)),
            UpVar::ConnectTime => seconds(out, a.connect),
            UpVar::HeaderTime => seconds(out, a.header),
            UpVar::ResponseLength => {
                let _ = write!(out, "{}", a.body);
            }
            UpVar::BytesReceived => {
                let _ = write!(out, "{}", a.received);
            }
            UpVar::BytesSent => {
                let _ = write!(out, "{}", a.sent);
            }
            _ => {}
        }
    }
    true
}

/// The value a `Set-Cookie` line gives cookie `name` (matched without regard to
/// case, as nginx does): what follows `name=` up to the first `;`.
fn set_cookie_value<'a>(line: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let first = line.split(|&b| b == b';').next()?;
    let eq = first.iter().position(|&b| b == b'=')?;
    let (n, v) = (first[..eq].trim_ascii(), &first[eq + 1..]);
    n.eq_ignore_ascii_case(name.as_bytes())
        .then(|| v.trim_ascii())
}

fn seconds(out: &mut String, t: Option<Duration>) {
    match t {
        Some(t) => {
            let _ = write!(out, "{}.{:03}", t.as_secs(), t.subsec_millis());
        }
        None => out.push('-'),
    }
}

#[cfg(test)]
mod tests {
    use super::{Trace, set_cookie_value};

    #[test]
    fn fields_of_the_last_head() {
        let http = b"HTTP/1.1 200 OK\r\nX-A: one\r\nx-b:two \r\nX-A: again\r\n\r\nBody: no\r\n";
        let fcgi = b"Status: 404\nX-A:  cgi\n\nX-B: body\n";
        // head, status line, name, value
        type Case<'a> = (&'a [u8], bool, &'a str, Option<&'a [u8]>);
        let cases: [Case; 7] = [
            (http, true, "x-a", Some(b"one")),
            (http, true, "X-B", Some(b"two")),
            (http, true, "body", None),
            (http, true, "HTTP/1.1 200 OK", None),
            (fcgi, false, "status", Some(b"404")),
            (fcgi, false, "x-a", Some(b"cgi")),
            (fcgi, false, "x-b", None),
        ];
        for (head, status_line, name, want) in cases {
            let t = Trace {
                head: head.to_vec(),
                status_line,
                ..Trace::default()
            };
            assert_eq!(t.field(name), want, "{name}");
        }
    }

    /// A `Set-Cookie` line, the cookie asked for, its value.
    type CookieCase = (&'static [u8], &'static str, Option<&'static [u8]>);

    #[test]
    fn set_cookie_lines() {
        let cases: &[CookieCase] = &[
            (b"foo=1", "foo", Some(b"1")),
            (b"foo=1; Path=/", "foo", Some(b"1")),
            (b" Foo = 1 ;HttpOnly", "foo", Some(b"1")),
            (b"foo=", "foo", Some(b"")),
            (b"bar=2", "foo", None),
            (b"foobar=2", "foo", None),
            (b"foo", "foo", None),
            (b"a=1; foo=2", "foo", None),
            (b"", "foo", None),
        ];
        for (line, name, want) in cases {
            assert_eq!(set_cookie_value(line, name), *want, "{line:?} {name}");
        }
    }
}
