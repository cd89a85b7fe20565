//! PROXY protocol header parser (v1 text and v2 binary) for listeners that sit
//! behind a load balancer: it reads the client and local addresses the balancer
//! puts in front of the first request bytes. Pure: the listener feeds what it has
//! read so far and skips `consumed` bytes once the header is `Done`.
//!
//! What is accepted follows nginx's reading of the header, made strict where the
//! specification requires it (see the notes on each check). The caller never
//! needs to buffer more than [`MAX_HEADER`] bytes: past that, `parse` has either
//! finished or failed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest v1 line including its CRLF ("PROXY UNKNOWN" with two full IPv6
/// addresses and ports).
pub const V1_MAX_HEADER: usize = 107;
/// Largest v2 header accepted (16 fixed bytes plus the announced length), the
/// same bound nginx gives its PROXY protocol buffer.
pub const MAX_HEADER: usize = 4096;

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V2_FIXED: usize = 16;

const CMD_LOCAL: u8 = 0x0;
const CMD_PROXY: u8 = 0x1;
const AF_UNSPEC: u8 = 0x0;
const AF_INET: u8 = 0x1;
const AF_INET6: u8 = 0x2;
const AF_UNIX: u8 = 0x3;
const TRANSPORT_STREAM: u8 = 0x1;

/// What the header says about the proxied connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proxied {
    /// The client as the balancer saw it; `None` for v1 `UNKNOWN`, v2 `LOCAL`,
    /// unspecified families or transports, and UNIX sockets: the caller then
    /// keeps the real peer address.
    pub src: Option<SocketAddr>,
    /// The address the client connected to (`None` whenever `src` is).
    pub dst: Option<SocketAddr>,
    /// v2 type-length-value records after the addresses, in order (type, value).
    pub tlvs: Vec<(u8, Vec<u8>)>,
}

/// Outcome of [`parse`] on the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    /// The bytes so far are a valid beginning of a header; read more.
    NeedMore,
    /// A complete header: the request starts `consumed` bytes into the buffer.
    Done { header: Proxied, consumed: usize },
}

/// Why the bytes cannot be a PROXY protocol header; the connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    Invalid(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(reason) => write!(f, "broken PROXY protocol header: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

fn bad(reason: &'static str) -> Error {
    Error::Invalid(reason)
}

/// Parses a PROXY protocol v1 or v2 header at the start of `buf` (what arrived
/// so far). A first byte that starts neither version fails at once, so a plain
/// HTTP request on a PROXY listener is refused without waiting for more.
pub fn parse(buf: &[u8]) -> Result<Parse, Error> {
    match buf.first() {
        None => Ok(Parse::NeedMore),
        Some(b'P') => parse_v1(buf),
        Some(b'\r') => parse_v2(buf),
        Some(_) => Err(bad("not a PROXY protocol header")),
    }
}

/// The start of `buf` up to the first CR or LF, printable, for the log line
/// (nginx logs `broken header: "..."` with the same bytes).
pub fn broken_header_text(buf: &[u8]) -> String {
    let end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len())
        .min(V1_MAX_HEADER);
    buf.get(..end)
        .unwrap_or_default()
        .escape_ascii()
        .to_string()
}

// ---------------------------------------------------------------- v1 (text)

/// One step of the v1 line: `None` means the input ended while still valid.
type Step<T> = Result<Option<T>, Error>;

/// Reads `buf` from the front; running out of bytes is "need more", not an error.
struct Cursor<'a> {
    rest: &'a [u8],
    used: usize,
}

impl<'a> Cursor<'a> {
    fn advance(&mut self, n: usize) {
        self.rest = self.rest.get(n..).unwrap_or_default();
        self.used += n;
    }

    /// Expects `lit` next; a partial match at the end of the input is a prefix.
    fn literal(&mut self, lit: &[u8], reason: &'static str) -> Step<()> {
        let n = self.rest.len().min(lit.len());
        if self.rest.get(..n) != lit.get(..n) {
            return Err(bad(reason));
        }
        if n < lit.len() {
            return Ok(None);
        }
        self.advance(n);
        Ok(Some(()))
    }

    /// Bytes up to `sep` (which is consumed), each accepted by `allowed`, at
    /// most `max` of them.
    fn field(
        &mut self,
        sep: u8,
        allowed: fn(u8) -> bool,
        max: usize,
        reason: &'static str,
    ) -> Result<Field<'a>, Error> {
        let rest = self.rest;
        for (i, &b) in rest.iter().enumerate() {
            if b == sep {
                self.advance(i + 1);
                return Ok(Field::Complete(rest.get(..i).unwrap_or_default()));
            }
            if !allowed(b) || i >= max {
                return Err(bad(reason));
            }
        }
        Ok(Field::Partial(rest))
    }
}

/// A field whose separator has arrived, or the valid bytes of one still arriving.
enum Field<'a> {
    Complete(&'a [u8]),
    Partial(&'a [u8]),
}

macro_rules! need {
    ($step:expr) => {
        match $step? {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

fn parse_v1(buf: &[u8]) -> Result<Parse, Error> {
    let window = buf.get(..V1_MAX_HEADER).unwrap_or(buf);
    match v1_line(window)? {
        Some(done) => Ok(done),
        None if buf.len() >= V1_MAX_HEADER => Err(bad("PROXY v1 line longer than 107 bytes")),
        None => Ok(Parse::NeedMore),
    }
}

fn v1_line(buf: &[u8]) -> Step<Parse> {
    let mut c = Cursor { rest: buf, used: 0 };
    need!(c.literal(b"PROXY ", "PROXY v1 header does not start with \"PROXY \""));
    let v6 = match c.rest.first() {
        None => return Ok(None),
        Some(b'U') => {
            need!(c.literal(b"UNKNOWN", "unknown PROXY v1 protocol"));
            return v1_unknown(c);
        }
        Some(_) => {
            need!(c.literal(b"TCP", "unknown PROXY v1 protocol"));
            let v6 = match c.rest.first() {
                None => return Ok(None),
                Some(b'4') => false,
                Some(b'6') => true,
                Some(_) => return Err(bad("unknown PROXY v1 protocol")),
            };
            c.advance(1);
            need!(c.literal(b" ", "no space after the PROXY v1 protocol"));
            v6
        }
    };
    let src = need!(v1_addr(&mut c, v6, "invalid PROXY v1 source address"));
    let dst = need!(v1_addr(&mut c, v6, "invalid PROXY v1 destination address"));
    let sport = need!(v1_port(&mut c, b' ', "invalid PROXY v1 source port"));
    let dport = need!(v1_port(&mut c, b'\r', "invalid PROXY v1 destination port"));
    need!(c.literal(b"\n", "PROXY v1 line not ended by CRLF"));
    let header = Proxied {
        src: Some(SocketAddr::new(src, sport)),
        dst: Some(SocketAddr::new(dst, dport)),
        tlvs: Vec::new(),
    };
    Ok(Some(Parse::Done {
        header,
        consumed: c.used,
    }))
}

/// "UNKNOWN" ends the line at once or after a space and anything but CR/LF.
fn v1_unknown(mut c: Cursor<'_>) -> Step<Parse> {
    match c.rest.first() {
        None => return Ok(None),
        Some(b' ' | b'\r') => {}
        Some(_) => return Err(bad("unknown PROXY v1 protocol")),
    }
    let rest = c.rest;
    for (i, &b) in rest.iter().enumerate() {
        match b {
            b'\n' => return Err(bad("PROXY v1 line not ended by CRLF")),
            b'\r' => {
                return match rest.get(i + 1) {
                    None => Ok(None),
                    Some(b'\n') => {
                        c.advance(i + 2);
                        let header = Proxied::default();
                        Ok(Some(Parse::Done {
                            header,
                            consumed: c.used,
                        }))
                    }
                    Some(_) => Err(bad("PROXY v1 line not ended by CRLF")),
                };
            }
            _ => {}
        }
    }
    Ok(None)
}

/// An address field and the space after it, in the family TCP4/TCP6 named.
fn v1_addr(c: &mut Cursor<'_>, v6: bool, reason: &'static str) -> Step<IpAddr> {
    // Longest forms: "255.255.255.255" and "ffff:...:ffff:255.255.255.255".
    let (allowed, max): (fn(u8) -> bool, usize) = if v6 {
        (|b| b.is_ascii_hexdigit() || b == b':' || b == b'.', 45)
    } else {
        (|b| b.is_ascii_digit() || b == b'.', 15)
    };
    let Field::Complete(text) = c.field(b' ', allowed, max, reason)? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(text).map_err(|_| bad(reason))?;
    let ip = if v6 {
        text.parse::<Ipv6Addr>().map(IpAddr::V6)
    } else {
        text.parse::<Ipv4Addr>().map(IpAddr::V4)
    };
    ip.map(Some).map_err(|_| bad(reason))
}

/// A decimal port 0..=65535 ended by `sep`. Heading zeroes are accepted, as
/// nginx does; a value already past 65535 fails before the field ends.
fn v1_port(c: &mut Cursor<'_>, sep: u8, reason: &'static str) -> Step<u16> {
    let field = c.field(sep, |b| b.is_ascii_digit(), V1_MAX_HEADER, reason)?;
    let (Field::Complete(digits) | Field::Partial(digits)) = field;
    let mut value: u32 = 0;
    for &d in digits {
        let digit = char::from(d).to_digit(10).ok_or(bad(reason))?;
        value = value * 10 + digit;
        if value > u32::from(u16::MAX) {
            return Err(bad(reason));
        }
    }
    match field {
        Field::Partial(_) => Ok(None),
        Field::Complete([]) => Err(bad(reason)),
        Field::Complete(_) => u16::try_from(value).map(Some).map_err(|_| bad(reason)),
    }
}

// -------------------------------------------------------------- v2 (binary)

fn parse_v2(buf: &[u8]) -> Result<Parse, Error> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf.get(..n) != V2_SIGNATURE.get(..n) {
        return Err(bad("invalid PROXY v2 signature"));
    }
    let mut command = CMD_LOCAL;
    if let Some(&ver_cmd) = buf.get(12) {
        if ver_cmd >> 4 != 2 {
            return Err(bad("unknown PROXY protocol version"));
        }
        // The spec has receivers drop unassigned commands (nginx treats them
        // as LOCAL).
        command = ver_cmd & 0x0f;
        if command != CMD_LOCAL && command != CMD_PROXY {
            return Err(bad("unknown PROXY v2 command"));
        }
    }
    // Families and transports the specification does not assign are taken as
    // unspecified (the connection's own addresses stand), as nginx does.
    let (family, transport) = match buf.get(13) {
        Some(&fam) => (fam >> 4, fam & 0x0f),
        None => (AF_UNSPEC, 0),
    };
    let (Some(&hi), Some(&lo)) = (buf.get(14), buf.get(15)) else {
        return Ok(Parse::NeedMore);
    };
    let total = V2_FIXED + usize::from(u16::from_be_bytes([hi, lo]));
    if total > MAX_HEADER {
        return Err(bad("PROXY v2 header is too large"));
    }
    let Some(body) = buf.get(V2_FIXED..total) else {
        return Ok(Parse::NeedMore);
    };
    let header = if command == CMD_PROXY && transport == TRANSPORT_STREAM {
        v2_addresses(family, body)?
    } else {
        // LOCAL (health checks), datagrams, unspecified transports: the
        // connection's own addresses stand, as in nginx.
        Proxied::default()
    };
    Ok(Parse::Done {
        header,
        consumed: total,
    })
}

fn v2_addresses(family: u8, body: &[u8]) -> Result<Proxied, Error> {
    const SHORT: Error = Error::Invalid("PROXY v2 address block too short");
    let (src, dst, rest) = match family {
        AF_INET => {
            let ((s, sport), (d, dport), rest) = inet::<4>(body).ok_or(SHORT)?;
            let src = SocketAddr::new(Ipv4Addr::from(s).into(), sport);
            (src, SocketAddr::new(Ipv4Addr::from(d).into(), dport), rest)
        }
        AF_INET6 => {
            let ((s, sport), (d, dport), rest) = inet::<16>(body).ok_or(SHORT)?;
            let src = SocketAddr::new(Ipv6Addr::from(s).into(), sport);
            (src, SocketAddr::new(Ipv6Addr::from(d).into(), dport), rest)
        }
        AF_UNIX => {
            // Two 108-byte socket paths: no IP address to report.
            let (_, rest) = body.split_at_checked(216).ok_or(SHORT)?;
            return Ok(Proxied {
                src: None,
                dst: None,
                tlvs: v2_tlvs(rest)?,
            });
        }
        _ => return Ok(Proxied::default()),
    };
    Ok(Proxied {
        src: Some(src),
        dst: Some(dst),
        tlvs: v2_tlvs(rest)?,
    })
}

/// One end of an INET/INET6 block: its address bytes and port.
type End<const N: usize> = ([u8; N], u16);

/// Source and destination addresses (`N` bytes each), then their ports, and
/// the bytes after them.
fn inet<const N: usize>(body: &[u8]) -> Option<(End<N>, End<N>, &[u8])> {
    let (src, rest) = body.split_first_chunk::<N>()?;
    let (dst, rest) = rest.split_first_chunk::<N>()?;
    let (sport, rest) = rest.split_first_chunk::<2>()?;
    let (dport, rest) = rest.split_first_chunk::<2>()?;
    let src = (*src, u16::from_be_bytes(*sport));
    Some((src, (*dst, u16::from_be_bytes(*dport)), rest))
}

/// The records after the addresses; one that overruns the header is an error
/// (nginx only notices when a variable looks the record up).
fn v2_tlvs(mut rest: &[u8]) -> Result<Vec<(u8, Vec<u8>)>, Error> {
    let mut tlvs = Vec::new();
    while let Some((&[kind, hi, lo], tail)) = rest.split_first_chunk::<3>() {
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let Some((value, next)) = tail.split_at_checked(len) else {
            return Err(bad("broken PROXY v2 TLV"));
        };
        tlvs.push((kind, value.to_vec()));
        rest = next;
    }
    if rest.is_empty() {
        Ok(tlvs)
    } else {
        Err(bad("broken PROXY v2 TLV"))
    }
}

#[cfg(test)]
#[path = "proxy_protocol/tests.rs"]
mod tests;
