//! Response body filters: compression (gzip, brotli, zstd), applied to any response
//! on its way to the connection, whoever produced it: the static handler, error
//! pages, directory listings, CGI output (see `server::connection::cgi`), and the
//! upstream responses to come; and the charset recoder ([`recode`], run before it,
//! from `handler::charset`).
//!
//! [`decide`] says whether a response is compressed and why; [`apply`] rewrites a
//! finished [`Response`] (headers, and a body in memory, from the compressed-body
//! cache, or a [`Stream`] the connection pulls from a file chunk by chunk; a cache
//! miss over one buffer is streamed while the worker's pool fills the entry).

pub mod cache;
pub mod encoder;
pub mod explain;
pub mod negotiate;
pub mod recode;
pub mod recode_stream;
pub mod relay;
pub mod stream;

use std::fmt;
use std::io;
use std::os::unix::fs::FileExt;

use crate::config::compress::{Codec, Compression};
use crate::http::{Body, Request, Response};
pub use encoder::Encoder;
pub use negotiate::{Accept, Encoding};
pub use stream::Stream;

/// Bodies up to this size are compressed at once and sent with a Content-Length;
/// longer ones are streamed, chunked, through a buffer of this size.
pub const BUFFER: usize = 64 * 1024;

/// What a response looks like to the compression filter.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub cache_control: Option<&'a str>,
    /// The response already has a Content-Encoding (a pre-compressed file, a CGI
    /// that compressed its own output).
    pub encoded: bool,
    /// The body length, when known.
    pub length: Option<u64>,
}

/// Why a response is (not) compressed; `--explain` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    Off,
    Status(u16),
    AlreadyEncoded,
    /// The response's type is in no `*_types` list that is on.
    Type,
    NoTransform,
    Http10,
    Range,
    Short(u64, u64),
    Client,
    Chosen(Encoding, u32, u16),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Off => f.write_str("gzip, brotli and zstd are off here"),
            Why::Status(s) => write!(f, "status {s} is not compressed (only 200, 403, 404)"),
            Why::AlreadyEncoded => f.write_str("the response already has a Content-Encoding"),
            Why::Type => f.write_str("the type is in no *_types list that is on"),
            Why::NoTransform => f.write_str("the response says Cache-Control: no-transform"),
            Why::Http10 => {
                f.write_str("HTTP/1.0 requests get identity (as nginx's gzip_http_version 1.1)")
            }
            Why::Range => f.write_str("a Range request gets identity bytes"),
            Why::Short(n, min) => write!(f, "{n} bytes is under the minimum length {min}"),
            Why::Client => f.write_str("Accept-Encoding accepts none of the codings that are on"),
            Why::Chosen(e, level, q) => write!(
                f,
                "{} at level {level} is the client's best (q={}.{:03}) of the codings on here",
                e.token(),
                q / 1000,
                q % 1000
            ),
        }
    }
}

/// A few codings, in preference order, without allocating.
#[derive(Debug, Clone, Copy)]
struct Set {
    items: [Encoding; 3],
    len: usize,
}

impl Set {
    fn of(keep: impl Fn(Encoding) -> bool) -> Set {
        Set::from(Encoding::PREFERENCE.into_iter().filter(|&e| keep(e)))
    }

    fn from(it: impl Iterator<Item = Encoding>) -> Set {
        let mut set = Set {
            items: Encoding::PREFERENCE,
            len: 0,
        };
        for e in it {
            set.items[set.len] = e;
            set.len += 1;
        }
        set
    }

    fn filter(&self, keep: impl Fn(Encoding) -> bool) -> Set {
        Set::from(self.as_slice().iter().copied().filter(|&e| keep(e)))
    }

    fn as_slice(&self) -> &[Encoding] {
        &self.items[..self.len]
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub encoding: Option<(Encoding, u32)>,
    /// The answer depends on Accept-Encoding (add `Vary`).
    pub vary: bool,
    pub why: Why,
}

/// The codec settings for `enc`.
pub fn codec(comp: &Compression, enc: Encoding) -> &Codec {
    match enc {
        Encoding::Gzip => &comp.gzip,
        Encoding::Brotli => &comp.brotli,
        Encoding::Zstd => &comp.zstd,
    }
}

/// The MIME type without parameters, lower-cased, matched against a types list.
fn type_listed(types: &[String], content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    types
        .iter()
        .any(|t| t == "*" || t.eq_ignore_ascii_case(mime))
}

/// Whether (and how) to compress `c` for `req` under `comp`.
pub fn decide(comp: &Compression, req: &Request, c: &Candidate) -> Decision {
    let no = |why, vary| Decision {
        encoding: None,
        vary,
        why,
    };
    // No allocation on this path: it runs for every response where compression is on.
    let on = Set::of(|e| codec(comp, e).on);
    if on.is_empty() {
        return no(Why::Off, false);
    }
    if c.encoded {
        return no(Why::AlreadyEncoded, false);
    }
    let content_type = c.content_type.unwrap_or("");
    let typed = on.filter(|e| type_listed(&codec(comp, e).types, content_type));
    if typed.is_empty() {
        return no(Why::Type, false);
    }
    let vary = comp.vary;
    if c.status == 206 {
        // The whole file could have been compressed: caches must know.
        return no(Why::Range, vary);
    }
    if !matches!(c.status, 200 | 403 | 404) {
        return no(Why::Status(c.status), false);
    }
    if c.cache_control.is_some_and(|cc| {
        cc.split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-transform"))
    }) {
        return no(Why::NoTransform, false);
    }
    if !req.http11 {
        return no(Why::Http10, vary);
    }
    if req.header("range").is_some() {
        return no(Why::Range, vary);
    }
    let accept = Accept::parse(
        req.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"))
            .map(|(_, v)| v),
    );
    let long_enough = typed.filter(|e| c.length.is_none_or(|n| n >= codec(comp, e).min_length));
    if long_enough.is_empty() {
        let min = codec(comp, typed.as_slice()[0]).min_length;
        return no(Why::Short(c.length.unwrap_or(0), min), vary);
    }
    match accept.choose(long_enough.as_slice()) {
        Some(e) => Decision {
            encoding: Some((e, codec(comp, e).level)),
            vary,
            why: Why::Chosen(e, codec(comp, e).level, accept.q(e)),
        },
        None => no(Why::Client, vary),
    }
}

/// Adds `Vary: Accept-Encoding` unless the response already says it.
pub fn add_vary(resp: &mut Response) {
    let has = resp.headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("vary")
            && v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
    });
    if !has {
        resp.header("Vary", "Accept-Encoding");
    }
}

/// [`add_vary`] for fields with byte values (a CGI script's).
pub fn add_vary_raw(fields: &mut Vec<(String, Vec<u8>)>) {
    let has = fields.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("vary")
            && v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"accept-encoding"))
    });
    if !has {
        fields.push(("Vary".into(), b"Accept-Encoding".to_vec()));
    }
}

/// `"x"` → `W/"x"` (a compressed body is not byte-identical to the file).
pub fn weaken(etag: &str) -> String {
    if etag.starts_with("W/") {
        etag.to_owned()
    } else {
        format!("W/{etag}")
    }
}

/// The compression filter for a finished response (not CGI output, which the
/// connection streams itself).
pub fn apply(comp: &Compression, req: &Request, mut resp: Response) -> Response {
    if !comp.any() || !comp_on(comp) {
        return resp;
    }
    // A 304 carries the validators and Vary the 200 would have had.
    let not_modified = resp.status == 304;
    let candidate = Candidate {
        status: if not_modified { 200 } else { resp.status },
        content_type: resp.get_header("content-type"),
        cache_control: resp.get_header("cache-control"),
        encoded: resp.get_header("content-encoding").is_some(),
        length: match &resp.body {
            _ if not_modified => None,
            Body::Recoded(s) => s.length(),
            body => Some(body.len()),
        },
    };
    let decision = decide(comp, req, &candidate);
    if decision.vary {
        add_vary(&mut resp);
    }
    let Some((enc, level)) = decision.encoding else {
        return resp;
    };
    if not_modified {
        weaken_etag(&mut resp);
        return resp;
    }
    let body = std::mem::take(&mut resp.body);
    match encode_body(comp, enc, level, body) {
        Ok(body) => resp.body = body,
        Err((e, body)) => {
            log::error!("compressing a response failed: {e}");
            resp.body = body;
            return resp;
        }
    }
    resp.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("accept-ranges"));
    weaken_etag(&mut resp);
    resp.header("Content-Encoding", enc.token());
    resp
}

/// A recoded body compressed at once.
fn compress_recoded(
    enc: Encoding,
    level: u32,
    s: recode_stream::RecodeStream,
) -> Result<Body, (io::Error, Body)> {
    let out = s
        .collect()
        .and_then(|data| encoder::compress(enc, level, &data));
    // A file that cannot be read again has nothing left to send.
    out.map(Body::Bytes).map_err(|e| (e, Body::Empty))
}

fn weaken_etag(resp: &mut Response) {
    for (name, value) in &mut resp.headers {
        if name.eq_ignore_ascii_case("etag") {
            *value = weaken(value);
        }
    }
}

fn comp_on(comp: &Compression) -> bool {
    comp.gzip.on || comp.brotli.on || comp.zstd.on
}

/// The compressed body: at once when it fits one buffer or the compressed-body
/// cache takes it, else a stream. On failure the original body comes back.
fn encode_body(
    comp: &Compression,
    enc: Encoding,
    level: u32,
    body: Body,
) -> Result<Body, (io::Error, Body)> {
    let whole = |data: &[u8]| encoder::compress(enc, level, data).map(Body::Bytes);
    match body {
        Body::Empty => whole(b"").map_err(|e| (e, Body::Empty)),
        Body::Bytes(b) => whole(&b).map_err(|e| (e, Body::Bytes(b))),
        Body::Shared { data, offset, len } => {
            let part = data.get(offset..offset + len).unwrap_or_default();
            whole(part).map_err(|e| (e, Body::Shared { data, offset, len }))
        }
        Body::File {
            file, offset, len, ..
        } => {
            if let Some(data) = cache::lookup(comp.cache, &file, offset, len, enc, level) {
                let len = data.len();
                return Ok(Body::Shared {
                    data,
                    offset: 0,
                    len,
                });
            }
            // A longer miss is streamed; the worker's pool fills the entry.
            if len <= BUFFER as u64 {
                let mut data = vec![0; len as usize];
                let res = file
                    .read_exact_at(&mut data, offset)
                    .and_then(|()| encoder::compress(enc, level, &data));
                return match res {
                    Ok(out) => {
                        let shared = cache::store(comp.cache, &file, offset, len, enc, level, out);
                        let len = shared.len();
                        Ok(Body::Shared {
                            data: shared,
                            offset: 0,
                            len,
                        })
                    }
                    Err(e) => Err((
                        e,
                        Body::File {
                            file,
                            offset,
                            len,
                            sendfile: false,
                            aio: false,
                        },
                    )),
                };
            }
            let fill = cache::miss(comp.cache, &file, offset, len, enc, level);
            match Encoder::new(enc, level) {
                Ok(e) => {
                    let stream = Stream::new(e, file, offset, len).filling(fill);
                    Ok(Body::Encoded(Box::new(stream)))
                }
                Err(err) => Err((
                    err,
                    Body::File {
                        file,
                        offset,
                        len,
                        sendfile: false,
                        aio: false,
                    },
                )),
            }
        }
        Body::Encoded(s) => Ok(Body::Encoded(s)),
        // Recoded by the charset filter: never from the compressed-body cache
        // (it holds the file's own bytes); a file over one buffer is recoded and
        // compressed piece by piece.
        Body::Recoded(s) if s.remaining() > BUFFER as u64 => {
            let (recoder, source) = s.into_parts();
            match (source, Encoder::new(enc, level)) {
                (
                    recode_stream::Source::File {
                        file,
                        offset,
                        remaining,
                    },
                    Ok(e),
                ) => {
                    let stream = Stream::new(e, file, offset, remaining).recoding(recoder);
                    Ok(Body::Encoded(Box::new(stream)))
                }
                (source, Ok(_)) => {
                    let s = recode_stream::RecodeStream::new(recoder, source);
                    compress_recoded(enc, level, s)
                }
                (source, Err(err)) => {
                    let s = recode_stream::RecodeStream::new(recoder, source);
                    Err((err, Body::Recoded(Box::new(s))))
                }
            }
        }
        Body::Recoded(s) => compress_recoded(enc, level, *s),
        // Range responses are not compressed (see `apply`): never reached.
        parts @ Body::Parts { .. } => Err((io::Error::other("a multipart body"), parts)),
    }
}
