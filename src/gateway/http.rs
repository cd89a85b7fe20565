//! HTTP/1 to an upstream server: the request head the proxy writes, the response
//! head it parses (incrementally, as bytes arrive) and the decoding of the response
//! body by its framing. What the relay needs to know to reuse the connection comes
//! from here too: a body read to its framed end on a connection neither side
//! closes can carry the next request.

use crate::http::chunked::{ChunkError, ChunkedDecoder, Decoded};

/// The largest response head accepted from an upstream ("upstream sent too big header").
pub const MAX_HEAD: usize = 64 * 1024;
/// Header fields accepted in one upstream response head.
const MAX_FIELDS: usize = 128;

/// A parsed upstream response head.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub reason: String,
    /// HTTP/1.1 (else 1.0).
    pub http11: bool,
    /// Fields in order, names as sent.
    pub fields: Vec<(String, Vec<u8>)>,
    pub length: Option<u64>,
    pub chunked: bool,
    /// `Connection: close` (or HTTP/1.0 without keep-alive): the upstream closes after it.
    pub close: bool,
    /// Bytes of interim (1xx) responses before this head.
    pub skipped: usize,
}

impl Head {
    /// The first value of `name` (case-insensitive) as text.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Why an upstream's head was refused ("upstream sent invalid header").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    Invalid,
    TooBig,
    /// Two Content-Length values that differ, or Content-Length with chunked.
    BadFraming,
}

/// Parses a response head at the start of `buf`: `Ok(None)` until it is complete,
/// then the head and its length in bytes. Interim 1xx responses other than 101 are
/// skipped (their length is counted in the returned size).
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let mut skipped = 0;
    loop {
        let rest = &buf[skipped..];
        let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut resp = httparse::Response::new(&mut fields);
        let n = match resp.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(HeadError::TooBig),
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooBig),
            Err(_) => return Err(HeadError::Invalid),
        };
        let status = resp.code.unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            skipped += n;
            continue;
        }
        let http11 = resp.version == Some(1);
        let mut head = Head {
            status,
            reason: resp.reason.unwrap_or("").to_string(),
            http11,
            fields: Vec::with_capacity(resp.headers.len()),
            length: None,
            chunked: false,
            close: !http11,
            skipped,
        };
        for f in resp.headers.iter() {
            let name = f.name;
            if name.eq_ignore_ascii_case("content-length") {
                let value = std::str::from_utf8(f.value).map_err(|_| HeadError::Invalid)?;
                let n: u64 = value.trim().parse().map_err(|_| HeadError::BadFraming)?;
                if head.length.is_some_and(|m| m != n) {
                    return Err(HeadError::BadFraming);
                }
                head.length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let value = String::from_utf8_lossy(f.value).to_ascii_lowercase();
                head.chunked = value.split(',').any(|t| t.trim() == "chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let value = String::from_utf8_lossy(f.value).to_ascii_lowercase();
                for token in value.split(',').map(str::trim) {
                    match token {
                        "close" => head.close = true,
                        "keep-alive" if !http11 => head.close = false,
                        _ => {}
                    }
                }
            }
            head.fields.push((name.to_string(), f.value.to_vec()));
        }
        if head.chunked {
            // RFC 9112 §6.3: chunked wins, and such a message must not be reused.
            if head.length.is_some() {
                head.close = true;
            }
            head.length = None;
        }
        return Ok(Some((head, skipped + n)));
    }
}

/// How the rest of an upstream response is delimited.
#[derive(Debug, Clone)]
pub enum BodyDecoder {
    /// No body (HEAD, 204, 304): the response ends with its head.
    Empty,
    Length(u64),
    Chunked(ChunkedDecoder),
    /// Until the upstream closes the connection.
    UntilClose,
}

/// What [`BodyDecoder::decode`] found in the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Body bytes: this range of the input.
    Data(std::ops::Range<usize>),
    /// All input was taken; the body goes on.
    NeedMore,
    /// The body ended after the bytes consumed.
    Done,
}

impl BodyDecoder {
    /// The decoder for a response to a request made with `head_request`.
    pub fn for_head(head: &Head, head_request: bool) -> BodyDecoder {
        let bodiless = head_request || matches!(head.status, 204 | 304) || head.status < 200;
        match head {
            _ if bodiless => BodyDecoder::Empty,
            Head { chunked: true, .. } => BodyDecoder::Chunked(ChunkedDecoder::new()),
            Head {
                length: Some(n), ..
            } => BodyDecoder::Length(*n),
            _ => BodyDecoder::UntilClose,
        }
    }

    /// Decodes what it can of `input`: returns the bytes consumed and what they were.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Piece), ChunkError> {
        match self {
            BodyDecoder::Empty | BodyDecoder::Length(0) => Ok((0, Piece::Done)),
            BodyDecoder::Length(left) => {
                if input.is_empty() {
                    return Ok((0, Piece::NeedMore));
                }
                let n = (*left).min(input.len() as u64) as usize;
                *left -= n as u64;
                Ok((n, Piece::Data(0..n)))
            }
            BodyDecoder::Chunked(d) => {
                let (n, got) = d.decode(input)?;
                Ok(match got {
                    Decoded::Data(r) => (n, Piece::Data(r)),
                    Decoded::NeedMore => (n, Piece::NeedMore),
                    Decoded::Done => (n, Piece::Done),
                })
            }
            BodyDecoder::UntilClose if input.is_empty() => Ok((0, Piece::NeedMore)),
            BodyDecoder::UntilClose => Ok((input.len(), Piece::Data(0..input.len()))),
        }
    }

    /// The body ended at its framing's end (not by the connection closing).
    pub fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Empty | BodyDecoder::Length(0) => true,
            BodyDecoder::Chunked(d) => d.is_done(),
            _ => false,
        }
    }

    /// The upstream closing now ends the body properly (only for `UntilClose`).
    pub fn ends_at_close(&self) -> bool {
        matches!(self, BodyDecoder::UntilClose)
    }
}

/// Hop-by-hop fields (RFC 9110 §7.6.1) and what nginx never relays from an
/// upstream to the client: the connection's own framing and state.
pub fn hop_by_hop(name: &str) -> bool {
    const HOP: &[&str] = &[
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
        "proxy-authenticate",
    ];
    HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// raw, status, length, chunked, close
    type HeadCase = (&'static [u8], u16, Option<u64>, bool, bool);

    #[test]
    fn heads() {
        let cases: &[HeadCase] = &[
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                200,
                Some(5),
                false,
                false,
            ),
            (
                b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n",
                200,
                Some(5),
                false,
                true,
            ),
            (
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
                200,
                None,
                false,
                false,
            ),
            (
                b"HTTP/1.1 404 Nope\r\nTransfer-Encoding: chunked\r\n\r\n",
                404,
                None,
                true,
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
                200,
                None,
                false,
                true,
            ),
            (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
                201,
                Some(0),
                false,
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                200,
                None,
                true,
                true,
            ),
        ];
        for (raw, status, length, chunked, close) in cases {
            let (h, n) = parse_head(raw).unwrap().unwrap();
            assert_eq!(n, raw.len());
            assert_eq!(
                (h.status, h.length, h.chunked, h.close),
                (*status, *length, *chunked, *close),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn bad_heads() {
        let cases: &[(&[u8], HeadError)] = &[
            (b"HTTP/1.1 2000 OK\r\n\r\n", HeadError::Invalid),
            (b"garbage\r\n\r\n", HeadError::Invalid),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                HeadError::BadFraming,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
                HeadError::BadFraming,
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(
                parse_head(raw).unwrap_err(),
                *want,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn a_head_split_anywhere_parses_the_same() {
        let raw = b"HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi";
        for cut in 0..raw.len() - 2 {
            let part = &raw[..cut];
            assert!(parse_head(part).unwrap().is_none(), "cut {cut}");
        }
        let (h, n) = parse_head(raw).unwrap().unwrap();
        assert_eq!(
            (h.status, n, h.field("x-a")),
            (200, raw.len() - 2, Some("1"))
        );
    }

    #[test]
    fn chunked_bodies_decode_split_anywhere() {
        let raw = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        for cut in 0..=raw.len() {
            let mut d = BodyDecoder::Chunked(ChunkedDecoder::new());
            let mut got = Vec::new();
            let mut buf: Vec<u8> = raw[..cut].to_vec();
            let mut rest = &raw[cut..];
            let mut done = false;
            for _ in 0..64 {
                let (n, piece) = d.decode(&buf).unwrap();
                if let Piece::Data(r) = &piece {
                    got.extend_from_slice(&buf[r.clone()]);
                }
                buf.drain(..n);
                match piece {
                    Piece::Done => {
                        done = true;
                        break;
                    }
                    Piece::NeedMore if rest.is_empty() && buf.is_empty() => break,
                    Piece::NeedMore => {
                        buf.extend_from_slice(rest);
                        rest = &[];
                    }
                    Piece::Data(_) => {}
                }
            }
            assert!(done, "cut {cut}");
            assert_eq!(got, b"abcde", "cut {cut}");
        }
    }

    #[test]
    fn lengths_stop_at_their_end() {
        let mut d = BodyDecoder::Length(3);
        assert_eq!(d.decode(b"abcdef").unwrap(), (3, Piece::Data(0..3)));
        assert!(d.is_done());
        assert_eq!(d.decode(b"def").unwrap(), (0, Piece::Done));
    }
}
