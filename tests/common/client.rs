//! The raw HTTP/1.1 client of the tests: a connection with a receive buffer, a
//! response parser (Content-Length or chunked framing, so pipelined responses can
//! be split), and one-shot helpers. Every socket operation has a timeout.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::IO_TIMEOUT;

/// A response head longer than this is a server bug (and stops the reader).
const MAX_HEAD: usize = 64 * 1024;

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// In the order received, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many times header `name` appears.
    pub fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a response could not be parsed from a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// More bytes are needed.
    Incomplete,
    Invalid(String),
}

/// Parses one response from the start of `buf`: its head, then a body framed by
/// Content-Length or chunked encoding (none for HEAD, 1xx, 204, 304). A response
/// without either framing is not accepted here (use `parse_until_eof`). Returns the
/// response and the number of bytes it took.
pub fn parse_response(buf: &[u8], head_only: bool) -> Result<(Response, usize), ParseError> {
    let (mut resp, head_len) = parse_head(buf)?;
    let rest = &buf[head_len..];
    if head_only || resp.status < 200 || resp.status == 204 || resp.status == 304 {
        return Ok((resp, head_len));
    }
    let te = resp
        .header("transfer-encoding")
        .map(str::to_ascii_lowercase);
    let cl = resp.header("content-length");
    match (te.as_deref(), cl) {
        (Some("chunked"), None) => {
            let (body, n) = dechunk(rest)?;
            resp.body = body;
            Ok((resp, head_len + n))
        }
        (None, Some(cl)) => {
            let n: usize = cl
                .parse()
                .map_err(|_| ParseError::Invalid(format!("Content-Length {cl:?}")))?;
            let body = rest.get(..n).ok_or(ParseError::Incomplete)?;
            resp.body = body.to_vec();
            Ok((resp, head_len + n))
        }
        other => Err(ParseError::Invalid(format!("framing {other:?}"))),
    }
}

/// Parses every response in `buf` (pipelined responses); `head_only[i]` says the
/// i-th answers a HEAD. Panics on leftover or malformed bytes.
pub fn parse_all(buf: &[u8], head_only: &[bool]) -> Vec<Response> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let head = head_only.get(out.len()).copied().unwrap_or(false);
        match parse_response(&buf[pos..], head) {
            Ok((r, n)) => {
                out.push(r);
                pos += n;
            }
            Err(e) => panic!("{e:?} at byte {pos} of {:?}", String::from_utf8_lossy(buf)),
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(buf: &[u8]) -> Result<(Response, usize), ParseError> {
    let end = match find(buf, b"\r\n\r\n") {
        Some(i) => i,
        None if buf.len() > MAX_HEAD => return Err(ParseError::Invalid("head too long".into())),
        None => return Err(ParseError::Incomplete),
    };
    let text = std::str::from_utf8(&buf[..end])
        .map_err(|_| ParseError::Invalid("head is not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_owned();
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ParseError::Invalid(format!("status line {status_line:?}")))?;
    if !version.starts_with("HTTP/1.") {
        return Err(ParseError::Invalid(format!("status line {status_line:?}")));
    }
    let reason = parts.next().unwrap_or("").to_owned();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ParseError::Invalid(format!("header line {line:?}")))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let resp = Response {
        version,
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    Ok((resp, end + 4))
}

/// Decodes a chunked body; returns it and the bytes consumed (trailers included).
fn dechunk(buf: &[u8]) -> Result<(Vec<u8>, usize), ParseError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let eol = find(&buf[pos..], b"\r\n").ok_or(ParseError::Incomplete)?;
        let line = String::from_utf8_lossy(&buf[pos..pos + eol]).into_owned();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ParseError::Invalid(format!("chunk size {line:?}")))?;
        pos += eol + 2;
        if size == 0 {
            loop {
                let eol = find(&buf[pos..], b"\r\n").ok_or(ParseError::Incomplete)?;
                pos += eol + 2;
                if eol == 0 {
                    return Ok((body, pos));
                }
            }
        }
        let data = buf.get(pos..pos + size + 2).ok_or(ParseError::Incomplete)?;
        if &data[size..] != b"\r\n" {
            return Err(ParseError::Invalid("chunk not followed by CRLF".into()));
        }
        body.extend_from_slice(&data[..size]);
        pos += size + 2;
    }
}

/// One TCP connection to the server, with a buffer of received, unparsed bytes.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Conn {
    pub fn open(port: u16) -> Conn {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    pub fn send(&mut self, data: impl AsRef<[u8]>) {
        self.stream.write_all(data.as_ref()).expect("send");
    }

    /// Sends `data` one byte per write, pausing `delay` between bytes.
    pub fn send_slowly(&mut self, data: impl AsRef<[u8]>, delay: Duration) {
        for b in data.as_ref() {
            self.send([*b]);
            std::thread::sleep(delay);
        }
    }

    /// Reads once into the buffer; false at EOF or reset. Panics on timeout.
    fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                self.eof = true;
                false
            }
            Err(e) => panic!("read failed ({e}) with {} bytes buffered", self.buf.len()),
        }
    }

    /// Reads one whole response (`head_only`: it answers a HEAD).
    pub fn try_response(&mut self, head_only: bool) -> Result<Response, String> {
        loop {
            match parse_response(&self.buf, head_only) {
                Ok((resp, n)) => {
                    self.buf.drain(..n);
                    return Ok(resp);
                }
                Err(ParseError::Invalid(why)) => return Err(why),
                Err(ParseError::Incomplete) => {
                    if !self.fill() {
                        return Err(format!(
                            "connection closed with partial response {:?}",
                            String::from_utf8_lossy(&self.buf)
                        ));
                    }
                }
            }
        }
    }

    /// Reads one whole response; panics if none arrives.
    pub fn response(&mut self) -> Response {
        self.try_response(false).expect("response")
    }

    /// Reads the response to a HEAD request.
    pub fn head_response(&mut self) -> Response {
        self.try_response(true).expect("response")
    }

    /// Sends `request` and reads the response.
    pub fn request(&mut self, request: impl AsRef<[u8]>) -> Response {
        self.send(request);
        self.response()
    }

    /// Reads until EOF (panics if it does not come within the read timeout) and
    /// returns the bytes not consumed by earlier responses.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }

    /// Waits up to `limit` for the peer to close: true at EOF (or reset) with no
    /// unread bytes, false if the connection stays open or more bytes arrive.
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        if self.eof {
            return true;
        }
        self.stream.set_read_timeout(Some(limit)).expect("timeout");
        let mut byte = [0u8; 1];
        let closed = match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
        };
        self.stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("timeout");
        self.eof = closed;
        closed
    }

    /// The bytes received but not consumed yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

/// Sends `data` on a new connection and reads until EOF or, at most, 5 s.
pub fn raw(port: u16, data: impl AsRef<[u8]>) -> Vec<u8> {
    let mut conn = Conn::open(port);
    conn.send(data);
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut out = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() {
            break;
        }
        conn.stream.set_read_timeout(Some(left)).expect("timeout");
        match conn.stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    out
}

/// A request with a Host header and `Connection: close`; `extra` lines end in CRLF.
pub fn request(method: &str, path: &str, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n")
}

/// `GET path` on a new connection (closed after the response).
pub fn get(port: u16, path: &str) -> Response {
    get_with(port, path, "")
}

/// `GET path` with extra header lines (each ending in CRLF).
pub fn get_with(port: u16, path: &str, extra: &str) -> Response {
    Conn::open(port).request(request("GET", path, extra))
}

/// `GET path` with `Host: host`.
pub fn get_host(port: u16, host: &str, path: &str) -> Response {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    Conn::open(port).request(req)
}

/// The single response in `bytes` (which must hold exactly one).
pub fn parse_one(bytes: &[u8]) -> Response {
    let all = parse_all(bytes, &[]);
    assert_eq!(all.len(), 1, "{:?}", String::from_utf8_lossy(bytes));
    all.into_iter().next().expect("one response")
}
