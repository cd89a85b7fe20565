//! Responses: status, headers and a body that is either bytes in memory or a range
//! of an open file (sent with sendfile). The head is serialized into one buffer so
//! that a small response leaves in a single write.

use std::fs::File;
use std::sync::Arc;

use super::request::Framing;
use super::status::{bodiless, reason};

/// A response body.
#[derive(Debug, Default)]
pub enum Body {
    #[default]
    Empty,
    Bytes(Vec<u8>),
    /// `len` bytes of shared, immutable contents starting at `offset` (a small
    /// file from the open file cache).
    Shared {
        data: Arc<[u8]>,
        offset: usize,
        len: usize,
    },
    /// `len` bytes of `file` starting at `offset`.
    File {
        file: Arc<File>,
        offset: u64,
        len: u64,
        sendfile: bool,
        /// Read chunks that are not in the page cache on the aio thread pool.
        aio: bool,
    },
    /// A body compressed as it is sent (chunked, length unknown): see
    /// `filter::stream`.
    Encoded(Box<crate::filter::Stream>),
    /// A body recoded as it is sent (`charset_map`): see `filter::recode_stream`.
    Recoded(Box<crate::filter::recode_stream::RecodeStream>),
    /// Pieces sent one after another (a `multipart/byteranges` body: part
    /// headers in memory, the ranges from the file), and the whole
    /// representation they were cut from, for a filter that must undo the cut.
    Parts {
        pieces: Vec<Body>,
        whole: Box<Body>,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Shared { len, .. } => *len as u64,
            Body::File { len, .. } => *len,
            Body::Encoded(_) => 0,
            Body::Recoded(s) => s.length().unwrap_or(0),
            Body::Parts { pieces, .. } => pieces.iter().map(Body::len).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A body with no length that HTTP/1.0 gets plain: the connection's close
    /// ends it.
    pub fn ends_with_close(&self) -> bool {
        matches!(self, Body::Recoded(s) if s.ends_with_close())
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// A reason phrase other than ours (a CGI script's `Status: 418 I'm a teapot`).
    pub reason: Option<Box<str>>,
    /// Headers other than Date, Server, Content-Length and Connection, which the
    /// writer adds itself.
    pub headers: Vec<(String, String)>,
    /// Headers relayed with byte values (a CGI script's fields may carry obs-text).
    pub raw_headers: Vec<(String, Vec<u8>)>,
    pub body: Body,
    /// `server_tokens`: `Server: webserv/VERSION` when set, else `Server: webserv`.
    pub server_tokens: bool,
    /// `raw_headers` carry the backend's own `Server` / `Date` (`proxy_pass_header`),
    /// which then replace ours.
    pub relays_server: bool,
    pub relays_date: bool,
    /// The body is a whole static file that byte ranges may be cut from (nginx's
    /// `allow_ranges`): the range filter (`handler::range`) looks at the request.
    pub allow_ranges: bool,
    /// `add_trailer` fields to send after the body, which then goes chunked
    /// (`handler::trailers`); `Some(empty)` still chunks it, as nginx does.
    pub trailers: Option<Box<Vec<(String, String)>>>,
}

/// The `Server` header value and error page footer with `server_tokens on`.
pub const SERVER_VERSION: &str = concat!("webserv/", env!("CARGO_PKG_VERSION"));

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            reason: None,
            headers: Vec::new(),
            raw_headers: Vec::new(),
            body: Body::Empty,
            server_tokens: true,
            relays_server: false,
            relays_date: false,
            allow_ranges: false,
            trailers: None,
        }
    }

    pub fn with_body(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        let mut r = Response::new(status);
        r.header("Content-Type", content_type);
        r.body = Body::Bytes(body);
        r
    }

    pub fn header(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Writes the status line and headers (ending with the blank line) into `out`,
    /// with a Content-Length for the body (none for bodiless statuses). A HEAD
    /// response keeps the Content-Length; the caller sends no body.
    pub fn write_head(&self, out: &mut Vec<u8>, date: &str, keep_alive: bool) {
        let framing = if bodiless(self.status) {
            Framing::None
        } else if self.trailers.is_some() {
            // The body is already framed in chunks, trailers last.
            Framing::Chunked
        } else if let Body::Encoded(_) = self.body {
            Framing::Chunked
        } else if let Body::Recoded(s) = &self.body
            && s.length().is_none()
        {
            if s.chunked() {
                Framing::Chunked
            } else {
                Framing::None
            }
        } else {
            Framing::Length(self.body.len())
        };
        self.write_head_framed(out, date, keep_alive, framing);
    }

    /// Like `write_head`, with the body framing given (streamed CGI output).
    pub fn write_head_framed(
        &self,
        out: &mut Vec<u8>,
        date: &str,
        keep_alive: bool,
        framing: Framing,
    ) {
        let status = self.status;
        // One allocation for the head (the output buffer starts empty for
        // each response of a keep-alive connection): the fixed lines plus the
        // fields.
        let fields: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        let raw: usize = self
            .raw_headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        out.reserve(192 + fields + raw);
        out.extend_from_slice(b"HTTP/1.1 ");
        push_number(out, u64::from(status));
        out.push(b' ');
        let phrase = self.reason.as_deref().unwrap_or(reason(status));
        push_clean(out, phrase.as_bytes());
        if !self.relays_server {
            out.extend_from_slice(b"\r\nServer: ");
            out.extend_from_slice(if self.server_tokens {
                SERVER_VERSION.as_bytes()
            } else {
                b"webserv"
            });
        }
        if !self.relays_date {
            out.extend_from_slice(b"\r\nDate: ");
            out.extend_from_slice(date.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            push_header(out, name, value.as_bytes());
        }
        for (name, value) in &self.raw_headers {
            push_header(out, name, value);
        }
        match framing {
            Framing::Length(n) => {
                out.extend_from_slice(b"Content-Length: ");
                push_number(out, n);
                out.extend_from_slice(b"\r\n");
            }
            Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
            Framing::None => {}
        }
        out.extend_from_slice(if keep_alive {
            b"Connection: keep-alive\r\n\r\n".as_slice()
        } else {
            b"Connection: close\r\n\r\n".as_slice()
        });
    }
}

/// Appends `name: value\r\n`, dropping any CR/LF in the value so no header can be
/// injected through configuration or CGI output.
fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    push_clean(out, value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `value` without its CR and LF bytes (one scan when it has none, the
/// usual case).
fn push_clean(out: &mut Vec<u8>, value: &[u8]) {
    if memchr::memchr2(b'\r', b'\n', value).is_none() {
        out.extend_from_slice(value);
    } else {
        out.extend(value.iter().filter(|&&b| b != b'\r' && b != b'\n'));
    }
}

/// Appends `n` in decimal without allocating.
fn push_number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A built-in error page, small HTML as nginx sends, its footer naming the
/// version (`server_tokens on`; [`Response::hide_version`] takes it out).
pub fn error_body(status: u16) -> Vec<u8> {
    let reason = reason(status);
    format!(
        "<html>\r\n<head><meta charset=\"utf-8\"><title>{status} {reason}</title></head>\r\n<body>\r\n\
         <center><h1>{status} {reason}</h1></center>\r\n{FOOTER_ON}"
    )
    .into_bytes()
}

/// The end of a built-in page with and without `server_tokens`.
const FOOTER_ON: &str = concat!(
    "<hr><center>webserv/",
    env!("CARGO_PKG_VERSION"),
    "</center>\r\n</body>\r\n</html>\r\n"
);
const FOOTER_OFF: &str = "<hr><center>webserv</center>\r\n</body>\r\n</html>\r\n";

impl Response {
    /// `server_tokens off`: `Server: webserv`, and a built-in page's footer without
    /// the version (only a body that ends exactly as [`error_body`]'s is changed).
    pub fn hide_version(&mut self) {
        self.server_tokens = false;
        if let Body::Bytes(b) = &mut self.body
            && b.ends_with(FOOTER_ON.as_bytes())
        {
            b.truncate(b.len() - FOOTER_ON.len());
            b.extend_from_slice(FOOTER_OFF.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(r: &Response, keep_alive: bool) -> String {
        let mut out = Vec::new();
        r.write_head(&mut out, "Sun, 06 Nov 1994 08:49:37 GMT", keep_alive);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_without_allocating() {
        for n in [0u64, 7, 10, 99, 1_234_567_890, u64::MAX] {
            let mut out = Vec::new();
            push_number(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn serializes_head() {
        let r = Response::with_body(200, "text/plain", b"hi".to_vec());
        assert_eq!(
            head(&r, true),
            format!(
                "HTTP/1.1 200 OK\r\nServer: {SERVER_VERSION}\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
                 Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"
            )
        );
    }

    #[test]
    fn bodiless_statuses_have_no_length_and_values_cannot_inject() {
        let mut r = Response::new(304);
        r.header("X-A", "a\r\nInjected: yes");
        let h = head(&r, false);
        assert!(!h.contains("Content-Length"));
        assert!(h.contains("X-A: aInjected: yes\r\n"));
        assert!(h.ends_with("Connection: close\r\n\r\n"));
        assert!(!head(&Response::new(204), true).contains("Content-Length"));
    }

    #[test]
    fn server_tokens_off_hides_the_version_in_header_and_footer() {
        let mut r = Response::with_body(404, "text/html", error_body(404));
        let on = String::from_utf8(error_body(404)).unwrap();
        assert!(
            on.contains(&format!("<hr><center>{SERVER_VERSION}</center>")),
            "{on}"
        );
        assert!(head(&r, true).contains(&format!("\r\nServer: {SERVER_VERSION}\r\n")));
        r.hide_version();
        assert!(head(&r, true).contains("\r\nServer: webserv\r\n"));
        let Body::Bytes(b) = &r.body else {
            panic!("body")
        };
        let off = String::from_utf8(b.clone()).unwrap();
        assert_eq!(off, on.replace(SERVER_VERSION, "webserv"));
        // Other bodies are left alone.
        let page = format!("{SERVER_VERSION} is running").into_bytes();
        let mut text = Response::with_body(200, "text/plain", page.clone());
        text.hide_version();
        assert!(matches!(&text.body, Body::Bytes(b) if *b == page));
    }
}
