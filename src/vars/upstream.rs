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
];

/// One server tried for a request.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    pub addr: String,
    /// 0 when no response head came (shown as `502`/`504` as nginx does, or `-`).
    pub status: u16,
    pub connect: Option<Duration>,
    pub header: Option<Duration>,
    pub response: Duration,
    /// The first server of a later backend of the request (an error page passed
    /// it on): set off with ` : ` instead of `, `, as nginx does.
    pub redirected: bool,
}

/// What the upstreams did for one request.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub attempts: Vec<Attempt>,
    /// The last response head's fields.
    pub fields: Vec<(String, Vec<u8>)>,
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
        let mut set = trace
            .fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"));
        let Some(value) = set.find_map(|(_, line)| set_cookie_value(line, name)) else {
            return false;
        };
        out.push_str(&String::from_utf8_lossy(value));
        return true;
    }
    if let UpVar::Http(name) = v {
        let want = name.replace('_', "-");
        let Some((_, value)) = trace
            .fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&want))
        else {
            return false;
        };
        out.push_str(&String::from_utf8_lossy(value));
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
    use super::set_cookie_value;

    /// A `Set-Cookie` line, the cookie asked for, its value.
    type Case = (&'static [u8], &'static str, Option<&'static [u8]>);

    #[test]
    fn set_cookie_lines() {
        let cases: &[Case] = &[
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
