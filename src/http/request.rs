//! The request head: incremental parsing with httparse, then the framing and
//! connection rules of RFC 9112 applied to the headers.
//!
//! Incomplete input is `Ok(None)`; the caller keeps the bytes and calls again when
//! more arrive. Errors carry the status the client gets; after any of them the
//! connection is closed, because the framing of what follows cannot be trusted.

use std::fmt;

/// Methods the server implements; anything else is answered 501.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    /// Answered by the server itself (`handler::options`).
    Options,
    /// WebDAV (RFC 4918), served where `dav_methods` names them (`handler::dav`).
    Mkcol,
    Copy,
    Move,
}

impl Method {
    /// The method named `s` (case-sensitive, as RFC 9110 §9.1 says).
    pub fn from_name(s: &str) -> Option<Method> {
        Some(match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "MKCOL" => Method::Mkcol,
            "COPY" => Method::Copy,
            "MOVE" => Method::Move,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Mkcol => "MKCOL",
            Method::Copy => "COPY",
            Method::Move => "MOVE",
        }
    }

    /// A method only the WebDAV handlers serve (`dav_methods`).
    pub fn is_dav_only(self) -> bool {
        matches!(self, Method::Mkcol | Method::Copy | Method::Move)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (no Content-Length, no Transfer-Encoding, or `Content-Length: 0`).
    None,
    Length(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The request-target as sent (origin-form, or absolute-form reduced to its path).
    pub target: String,
    /// `true` for HTTP/1.1 (and HTTP/2), `false` for HTTP/1.0.
    pub http11: bool,
    /// The request came on an HTTP/2 stream.
    pub http2: bool,
    /// Header fields in order, names as sent.
    pub headers: Fields,
    /// Host, lower-cased, port stripped (from the absolute-form target or the Host header).
    pub host: Option<String>,
    pub framing: Framing,
    /// Whether the client wants the connection kept open after this exchange.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// Bytes of the head as received (request line, fields, blank line).
    pub head_len: usize,
    /// What the connection's TLS handshake settled, for the `$ssl_*` variables;
    /// set only when the configuration reads them (`Config::ssl_vars`).
    pub tls: Option<std::sync::Arc<crate::vars::SslInfo>>,
}

impl Request {
    /// The first value of header `name` (case-insensitive) as text, if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// The path part of the target (before `?`).
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }

    /// The query string (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    pub fn version_str(&self) -> &'static str {
        match (self.http2, self.http11) {
            (true, _) => "HTTP/2.0",
            (false, true) => "HTTP/1.1",
            (false, false) => "HTTP/1.0",
        }
    }
}

/// The header fields of a request as sent, kept in one buffer (names and values
/// back to back) with their spans: two allocations per request, not two per field.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    raw: Vec<u8>,
    /// Per field: name start, name end (= value start), value end, in `raw`.
    spans: Vec<(u32, u32, u32)>,
}

impl Fields {
    /// Fields from (name, value) pairs; names must be header tokens.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Fields {
        let mut f = Fields::default();
        for (name, value) in pairs {
            let start = f.raw.len() as u32;
            f.raw.extend_from_slice(name.as_bytes());
            let mid = f.raw.len() as u32;
            f.raw.extend_from_slice(value);
            f.spans.push((start, mid, f.raw.len() as u32));
        }
        f
    }

    /// (name, value) in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.spans.iter().map(|&(a, b, c)| {
            let name = std::str::from_utf8(&self.raw[a as usize..b as usize]).unwrap_or("");
            (name, &self.raw[b as usize..c as usize])
        })
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// Why a head was rejected; `status()` is what the client receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// Malformed request line or header, bad framing headers, missing Host.
    Bad(&'static str),
    /// Request line longer than the head buffer.
    UriTooLong,
    /// Head larger than the buffer, or too many fields.
    HeadTooLarge,
    /// A Content-Length too large for any body limit (it does not fit a u64).
    BodyTooLarge,
    /// A method this server does not implement.
    UnknownMethod,
    /// A transfer coding other than chunked.
    UnknownCoding,
    /// An HTTP version other than 1.0 / 1.1.
    Version,
}

impl HeadError {
    pub fn status(&self) -> u16 {
        match self {
            HeadError::Bad(_) => 400,
            HeadError::UriTooLong => 414,
            HeadError::HeadTooLarge => 431,
            HeadError::BodyTooLarge => 413,
            HeadError::UnknownMethod | HeadError::UnknownCoding => 501,
            HeadError::Version => 505,
        }
    }
}

/// The most header fields one request may carry (more → 431), unless
/// `max_headers` says otherwise.
pub const MAX_HEADERS: usize = 100;

/// The most `max_headers` may allow.
const MOST_HEADERS: usize = 10_000;

/// Parses a request head from the start of `buf`. Returns the request and the number
/// of bytes it took, `Ok(None)` when more bytes are needed, or the error to answer.
/// `limit` is `client_header_buffer_size`: a head that does not fit is 414 or 431.
pub fn parse_head(buf: &[u8], limit: usize) -> Result<Option<(Request, usize)>, HeadError> {
    parse_head_with(buf, limit, &NameRules::KEEP_ALL)
}

/// [`parse_head`], with field names judged by a server's `rules`.
pub fn parse_head_with(
    buf: &[u8],
    limit: usize,
    rules: &NameRules,
) -> Result<Option<(Request, usize)>, HeadError> {
    let window = &buf[..buf.len().min(limit)];
    if rules.lenient {
        names::check_lines(window)?;
    }
    match parse_window(window, limit, rules) {
        Err(httparse::Error::Version) => match line::judge(window) {
            line::Verdict::Incomplete if window.len() < limit => Ok(None),
            line::Verdict::Incomplete => Err(too_long(window)),
            line::Verdict::Reject(e) => Err(e),
            // RFC 9110 §2.5: HTTP/1.2..1.9 is answered as the HTTP/1.1 it extends.
            line::Verdict::Minor(at) => {
                let mut copy = window.to_vec();
                copy[at] = b'1';
                parse_window(&copy, limit, rules)
                    .map_err(|_| HeadError::Bad("malformed request head"))?
            }
        },
        Err(_) => Err(HeadError::Bad("malformed request head")),
        Ok(result) => result,
    }
}

/// `large_client_header_buffers N SIZE`: every line of a complete `head` must fit
/// in SIZE (`max`), as each of nginx's large buffers holds one whole line: a
/// longer request line is 414, a longer header line 400 (nginx's "Request Header
/// Or Cookie Too Large").
pub fn check_line_lengths(head: &[u8], max: usize) -> Result<(), HeadError> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .skip_while(|l| l.is_empty() || *l == b"\r");
    if lines.next().is_some_and(|l| l.len() > max) {
        return Err(HeadError::UriTooLong);
    }
    if lines.any(|l| l.len() > max) {
        return Err(HeadError::Bad("request header line too large"));
    }
    Ok(())
}

/// One httparse pass over `window`; its version errors are judged by the caller.
#[allow(clippy::type_complexity)]
fn parse_window(
    window: &[u8],
    limit: usize,
    rules: &NameRules,
) -> Result<Result<Option<(Request, usize)>, HeadError>, httparse::Error> {
    // `max_headers N` counts fields as kept; httparse needs room for one more.
    let room = rules.max_headers.map_or(MAX_HEADERS, |m| {
        m.saturating_add(1).clamp(MAX_HEADERS, MOST_HEADERS)
    });
    let mut fields = vec![httparse::EMPTY_HEADER; room];
    let mut req = httparse::Request::new(&mut fields);
    let parsed = httparse::ParserConfig::default()
        .ignore_invalid_headers_in_requests(rules.lenient)
        .parse_request(&mut req, window);
    Ok(match parsed {
        Ok(httparse::Status::Complete(n)) => build(&req, rules).map(|mut r| {
            r.head_len = n;
            Some((r, n))
        }),
        Ok(httparse::Status::Partial) if window.len() < limit => Ok(None),
        Ok(httparse::Status::Partial) => Err(too_long(window)),
        Err(httparse::Error::TooManyHeaders) if rules.max_headers.is_some() => {
            Err(HeadError::Bad("too many header lines"))
        }
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::HeadTooLarge),
        Err(e) => return Err(e),
    })
}

/// A head that outgrew the buffer: 414 if the request line itself did not end.
fn too_long(window: &[u8]) -> HeadError {
    let start = window
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    if window[start..].contains(&b'\n') {
        HeadError::HeadTooLarge
    } else {
        HeadError::UriTooLong
    }
}

fn build(req: &httparse::Request, rules: &NameRules) -> Result<Request, HeadError> {
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Bad("incomplete request line"));
    };
    let kept: Vec<httparse::Header>;
    let headers: &[httparse::Header] = if rules.ignore_invalid {
        kept = req
            .headers
            .iter()
            .filter(|h| !names::dropped(h.name, h.value, rules))
            .copied()
            .collect();
        &kept
    } else {
        req.headers
    };
    if rules.max_headers.is_some_and(|m| headers.len() > m) {
        log::info!("client sent too many header lines");
        return Err(HeadError::Bad("too many header lines"));
    }
    for h in headers {
        check_field(h.name, h.value)?;
    }
    if let Some(name) = names::repeated(headers.iter().map(|h| h.name)) {
        log::info!("client sent duplicate header line: \"{name}\"");
        return Err(HeadError::Bad("duplicate header line"));
    }
    let method = Method::from_name(method).ok_or(HeadError::UnknownMethod)?;
    let http11 = version == 1;
    let (target, target_host) = split_target(path, method)?;
    let host = host_of(headers, target_host, http11)?;
    let framing = framing(headers, http11)?;
    Ok(Request {
        method,
        target,
        http11,
        http2: false,
        keep_alive: keep_alive(headers, http11),
        expect_continue: http11 && header_has_token(headers, "expect", "100-continue"),
        tls: None,
        headers: Fields::from_pairs(headers.iter().map(|h| (h.name, h.value))),
        host,
        framing,
        head_len: 0,
    })
}

/// Field values may not carry NUL or other control bytes (RFC 9110 §5.5); httparse
/// already rejects whitespace before the colon and obs-fold.
pub(crate) fn check_field(_name: &str, value: &[u8]) -> Result<(), HeadError> {
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeadError::Bad("control character in header value"));
    }
    Ok(())
}

/// origin-form `/path?q`, absolute-form `http://host[:port]/path?q` (RFC 9112 §3.2.2:
/// its host replaces the Host header), or asterisk-form `*` for OPTIONS (§3.2.4).
fn split_target(path: &str, method: Method) -> Result<(String, Option<String>), HeadError> {
    if path.starts_with('/') || (path == "*" && method == Method::Options) {
        return Ok((path.to_owned(), None));
    }
    let lower = path
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let rest = if lower.starts_with("http://") {
        &path[7..]
    } else if lower.starts_with("https://") {
        &path[8..]
    } else {
        return Err(HeadError::Bad("invalid request target"));
    };
    let (authority, tail) = rest
        .find(['/', '?'])
        .map_or((rest, ""), |i| rest.split_at(i));
    let host = normalize_host(authority).ok_or(HeadError::Bad("invalid host in target"))?;
    let target = if tail.starts_with('/') {
        tail.to_owned()
    } else {
        format!("/{tail}")
    };
    Ok((target, Some(host)))
}

/// Exactly one Host header is required in HTTP/1.1 (RFC 9112 §3.2), also when the
/// target is in absolute form; the target's host then wins (§3.2.2).
fn host_of(
    headers: &[httparse::Header],
    from_target: Option<String>,
    http11: bool,
) -> Result<Option<String>, HeadError> {
    let mut hosts = values(headers, "host");
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(HeadError::Bad("more than one Host header"));
    }
    let from_header = match first {
        Some(v) => {
            let text = std::str::from_utf8(v).map_err(|_| HeadError::Bad("invalid Host"))?;
            Some(normalize_host(text).ok_or(HeadError::Bad("invalid Host"))?)
        }
        None if http11 => return Err(HeadError::Bad("missing Host")),
        None => None,
    };
    Ok(from_target.or(from_header))
}

/// A `host[:port]` (RFC 9110 §7.2, RFC 3986 §3.2.2) lower-cased, port and trailing
/// dot stripped; `None` for an empty host, a second colon, a port that is not
/// digits, characters no host name has, or (as nginx) a name that starts with a dot
/// or has two dots in a row, checked before the trailing dot goes: `..` is no host,
/// and `$host` may be part of a `root`.
pub(crate) fn normalize_host(value: &str) -> Option<String> {
    let value = value.trim();
    let (name, port) = if value.starts_with('[') {
        value.split_at(value.find(']')? + 1)
    } else {
        value.split_at(value.find(':').unwrap_or(value.len()))
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    let literal = name.starts_with('[');
    let ok = name.bytes().all(|b| {
        b.is_ascii_alphanumeric() || b"-._".contains(&b) || (literal && b"[]:".contains(&b))
    });
    let dots_ok = !name.starts_with('.') && !name.contains("..");
    let name = name.strip_suffix('.').unwrap_or(name);
    (port_ok && ok && dots_ok && !name.is_empty() && name != "[]")
        .then(|| name.to_ascii_lowercase())
}

/// Body framing per RFC 9112 §6: Transfer-Encoding wins but together with
/// Content-Length is a smuggling vector, so both at once is 400.
fn framing(headers: &[httparse::Header], http11: bool) -> Result<Framing, HeadError> {
    let te: Vec<&[u8]> = values(headers, "transfer-encoding").collect();
    let cl: Vec<&[u8]> = values(headers, "content-length").collect();
    if !te.is_empty() {
        if !cl.is_empty() {
            return Err(HeadError::Bad("both Content-Length and Transfer-Encoding"));
        }
        if !http11 {
            return Err(HeadError::Bad("Transfer-Encoding in HTTP/1.0"));
        }
        return chunked_framing(&te);
    }
    content_length(&cl)
}

/// Only `chunked` is implemented; it must be the final (and here the only) coding.
fn chunked_framing(te: &[&[u8]]) -> Result<Framing, HeadError> {
    let codings: Vec<String> = te
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|c| String::from_utf8_lossy(c).trim().to_ascii_lowercase())
        .collect();
    match codings.last().map(String::as_str) {
        Some("chunked") if codings.len() == 1 => Ok(Framing::Chunked),
        Some("chunked") if codings.iter().filter(|c| *c == "chunked").count() > 1 => {
            Err(HeadError::Bad("chunked applied more than once"))
        }
        Some("chunked") => Err(HeadError::UnknownCoding),
        Some("") | None => Err(HeadError::Bad("empty Transfer-Encoding")),
        Some(_) if codings.iter().any(|c| c == "chunked") => {
            Err(HeadError::Bad("chunked is not the final transfer coding"))
        }
        Some(_) => Err(HeadError::UnknownCoding),
    }
}

/// Every Content-Length value (also comma lists) must be the same run of digits.
/// Leading zeros are allowed (RFC 9110 §8.6: `1*DIGIT`); a number too large for a
/// u64 is a body too large for any limit (413), not a malformed one.
fn content_length(values: &[&[u8]]) -> Result<Framing, HeadError> {
    let mut length: Option<u64> = None;
    for item in values.iter().flat_map(|v| v.split(|&b| b == b',')) {
        let item = item.trim_ascii();
        if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
            return Err(HeadError::Bad("invalid Content-Length"));
        }
        let n = item
            .iter()
            .try_fold(0u64, |acc, d| {
                acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
            .ok_or(HeadError::BodyTooLarge)?;
        if length.is_some_and(|l| l != n) {
            return Err(HeadError::Bad("conflicting Content-Length values"));
        }
        length = Some(n);
    }
    Ok(match length {
        None | Some(0) => Framing::None,
        Some(n) => Framing::Length(n),
    })
}

fn values<'a>(
    headers: &'a [httparse::Header<'a>],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn header_has_token(headers: &[httparse::Header], name: &str, token: &str) -> bool {
    values(headers, name)
        .flat_map(|v| v.split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// HTTP/1.1 is persistent unless `Connection: close`; 1.0 only with `keep-alive`.
fn keep_alive(headers: &[httparse::Header], http11: bool) -> bool {
    if header_has_token(headers, "connection", "close") {
        false
    } else {
        http11 || header_has_token(headers, "connection", "keep-alive")
    }
}

mod line;
pub mod names;

pub use names::NameRules;

#[cfg(test)]
mod tests;
