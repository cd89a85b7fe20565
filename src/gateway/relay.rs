//! What every backend's relay shares (CGI scripts, HTTP upstreams): turning the
//! backend's response head into the client's, with the location's header filters
//! (`charset`, `expires`, `add_header`) and the compression filter; choosing the
//! framing towards the client; and framing each piece of body as it is relayed,
//! up to the end-of-output checks (a backend that promised more than it sent
//! breaks the framing, so the connection closes instead of pretending).

use crate::filter::recode_stream::RelayRecoder;
use crate::filter::relay::Relay as Compressing;
use crate::filter::stream::chunk;
use crate::handler::charset::Relayed;
use crate::handler::{self, Cx, Routed};
use crate::http::request::Framing;
use crate::http::status::bodiless;
use crate::http::{Method, Response};

/// Stop reading the backend while this much output waits for the client.
pub const OUT_HIGH_WATER: usize = 256 * 1024;
/// How much backend output is gathered into one relayed piece at most.
pub const CHUNK: usize = 64 * 1024;

/// How the relayed body is framed to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Chunked,
    Length {
        remaining: u64,
    },
    /// HTTP/1.0 without a length: the body ends when the connection closes.
    UntilClose,
    /// HEAD or a bodiless status: read and drop.
    Discard,
    /// HTTP/2: the codec frames the bytes (DATA frames; the stream's end is
    /// the body's end).
    Raw,
}

/// The client side of a relayed body.
pub struct Downstream {
    frame: Frame,
    /// The charset filter, when the body is recoded on its way (before it is
    /// compressed, as in nginx), and the buffer it recodes into.
    recode: Option<Box<RelayRecoder>>,
    recoded: Vec<u8>,
    /// Filtered bytes on their way to the framing.
    scratch: Vec<u8>,
    /// The compression filter, when the body is compressed on its way.
    encode: Option<Box<Compressing>>,
    /// The framing cannot be completed: close the connection after what is queued.
    pub broken: bool,
}

/// A backend's head made into the client's response: its framing on the wire, and
/// the relay for its body.
pub struct Prepared {
    pub framing: Framing,
    pub down: Downstream,
    /// The body ends only when the connection closes (no keep-alive possible).
    pub until_close: bool,
    /// HEAD or bodiless: the head is all that is sent.
    pub head_only: bool,
}

/// Applies the location's header filters to a backend's `resp` whose body is
/// `length` bytes (if the backend said), and chooses the client framing. `None`:
/// no response at all (`charset $var` with no value closes the connection).
/// `upstream`: what the upstreams answered so far (`$upstream_http_*` and
/// `$upstream_cookie_*` in `add_header`).
pub fn prepare(
    cx: &Cx,
    routed: &Routed,
    resp: &mut Response,
    length: Option<u64>,
    upstream: Option<&crate::vars::upstream::Trace>,
) -> Option<Prepared> {
    let loc = routed.location(cx.config);
    let mut length = length;
    let mut recode = None;
    match handler::charset::apply_raw(cx, routed, resp.status, &mut resp.raw_headers) {
        Relayed::Plain => {}
        Relayed::Recoded(recoder) => {
            let declared = length;
            if recoder.changes_length() {
                length = None;
            }
            recode = Some(Box::new(RelayRecoder::new(recoder, declared)));
        }
        Relayed::Close => return None,
    }
    // expires, server_tokens and add_header apply to a backend's answer too, as in nginx.
    let done = crate::vars::Done {
        status: resp.status,
        body_bytes: 0,
        bytes_sent: 0,
        request_time: std::time::Duration::ZERO,
        response: None,
        upstream,
    };
    let mut env = cx.env(routed, true);
    env.done = Some(&done);
    handler::headers::finish(resp, loc, &|t| t.expand(&env));
    cx.add_headers_with(resp, routed, &env);
    // What nginx's header filters add goes after the backend's own fields.
    let added = std::mem::take(&mut resp.headers);
    resp.raw_headers
        .extend(added.into_iter().map(|(n, v)| (n, v.into_bytes())));
    let req = cx.req;
    let status = resp.status;
    let head_only = req.method == Method::Head || bodiless(status);
    let mut encode =
        crate::filter::relay::start(&loc.compression, req, status, &mut resp.raw_headers, length);
    let length = if encode.is_some() { None } else { length };
    // The framing a GET gets; a HEAD announces the same and sends no body.
    let framing = match length {
        Some(n) => Framing::Length(n),
        // `chunked_transfer_encoding off`: delimited by the close, as nginx.
        None if req.http11 && !bodiless(status) && loc.bodies.chunked => Framing::Chunked,
        None => Framing::None,
    };
    let frame = match framing {
        _ if head_only => Frame::Discard,
        Framing::Length(n) if req.http2 => Frame::Length { remaining: n },
        _ if req.http2 => Frame::Raw,
        Framing::Length(n) => Frame::Length { remaining: n },
        Framing::Chunked => Frame::Chunked,
        Framing::None => Frame::UntilClose,
    };
    if head_only {
        encode = None;
        recode = None;
    }
    Some(Prepared {
        framing,
        until_close: frame == Frame::UntilClose,
        head_only,
        down: Downstream {
            frame,
            recode,
            recoded: Vec::new(),
            scratch: Vec::new(),
            encode,
            broken: false,
        },
    })
}

impl Downstream {
    /// Appends a piece of the backend's body to `out`, framed.
    pub fn body(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        if self.recode.is_none() && self.encode.is_none() {
            self.frame_out(data, out);
            return;
        }
        let mut raw = std::mem::take(&mut self.scratch);
        raw.clear();
        self.transform(data, &mut raw);
        self.frame_out(&raw, out);
        self.scratch = raw;
    }

    /// Runs `data` through the charset and compression filters into `raw`.
    fn transform(&mut self, data: &[u8], raw: &mut Vec<u8>) {
        let Downstream {
            recode,
            recoded,
            encode,
            ..
        } = self;
        let data = match recode {
            Some(recode) => {
                recoded.clear();
                recode.feed(data, recoded);
                &recoded[..]
            }
            None => data,
        };
        match encode {
            Some(e) => {
                if e.chunk(data, raw).is_err() {
                    // Nothing sensible can follow: end the stream here.
                    self.encode = None;
                    self.broken = true;
                }
            }
            None => raw.extend_from_slice(data),
        }
    }

    /// Frames filtered body bytes for the client's codec.
    fn frame_out(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        match self.frame {
            Frame::Chunked => chunk(out, raw),
            Frame::Length { remaining } => {
                let n = (raw.len() as u64).min(remaining) as usize;
                out.extend_from_slice(&raw[..n]);
                self.frame = Frame::Length {
                    remaining: remaining - n as u64,
                };
            }
            Frame::UntilClose | Frame::Raw => out.extend_from_slice(raw),
            Frame::Discard => {}
        }
    }

    /// The backend's body ended; `complete`: at its own framing's end (not cut
    /// short). Finishes the client's framing, or marks it broken.
    pub fn finish(&mut self, complete: bool, out: &mut Vec<u8>) {
        if !complete {
            self.broken = true;
            return;
        }
        if let Some(encode) = self.encode.take() {
            let mut rest = Vec::new();
            // The backend promised more than it sent.
            if encode.left.is_some_and(|n| n > 0) || encode.finish(&mut rest).is_err() {
                self.broken = true;
                return;
            }
            self.frame_out(&rest, out);
        }
        match self.frame {
            Frame::Chunked => out.extend_from_slice(b"0\r\n\r\n"),
            // The backend promised more than it sent: the framing is broken.
            Frame::Length { remaining } if remaining > 0 => self.broken = true,
            _ => {}
        }
    }
}
