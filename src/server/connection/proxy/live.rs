//! A request body relayed to the backend as it arrives (`proxy_request_buffering
//! off`, `fastcgi_request_buffering off`), instead of being read whole first:
//! each read from the client is decoded (Content-Length or chunked) and written
//! on at once, as a chunk to an HTTP/1.1 upstream when the client sent chunks,
//! as STDIN records to a FastCGI application. The client waits while the
//! upstream is slower (nothing more is read until the last piece is written).
//! Once a body byte has gone to one server, the request cannot be retried on
//! another (nginx's rule).

use std::io::{self, Write};

use super::{Failure, ProxyRun};
use crate::config::Config;
use crate::config::proxy::Protocol;
use crate::gateway::fastcgi;
use crate::handler::Routed;
use crate::http::Request;
use crate::http::body::{BodyError, BodyReader, BodySink};
use crate::http::request::Framing;
use crate::server::buffer::INITIAL;
use crate::server::connection::{Connection, Ctx};

/// The body still coming from the client.
pub(in crate::server::connection) struct Live {
    reader: BodyReader,
    /// Frame the pieces as chunks (the client's body is chunked).
    chunked: bool,
    /// Body bytes taken from the client so far.
    pub(super) taken: u64,
    /// The body's end (last chunk, empty STDIN record) is queued.
    ended: bool,
}

/// The live body for `req`, when its location relays bodies unbuffered and the
/// body can go on as it comes: `None` reads the body first, as by default.
pub(in crate::server::connection) fn for_request(
    config: &Config,
    routed: &Routed,
    req: &Request,
) -> Option<Box<Live>> {
    let loc = routed.location(config);
    let g = loc.gateway()?;
    let s = g.settings;
    if s.request_buffering || !s.pass_request_body || s.set_body.is_some() {
        return None;
    }
    let chunked = match req.framing {
        Framing::Length(0) | Framing::None => return None,
        Framing::Length(_) => false,
        // A chunked body has no length to announce: an HTTP/1.1 upstream takes
        // it as chunks; HTTP/1.0 and FastCGI need the length, so it is read
        // whole first (as nginx does).
        Framing::Chunked if g.protocol == Protocol::Http && s.http11 => true,
        Framing::Chunked => return None,
    };
    let reader = BodyReader::new(req.framing, loc.client_max_body_size).ok()?;
    Some(Box::new(Live {
        reader,
        chunked,
        taken: 0,
        ended: false,
    }))
}

impl Live {
    /// The upstream request head announces chunks.
    pub(super) fn chunked(&self) -> bool {
        self.chunked
    }
}

/// Decoded body bytes, collected for one write.
struct Collect<'a>(&'a mut Vec<u8>);

impl BodySink for Collect<'_> {
    fn write(&mut self, data: &[u8]) -> Result<(), BodyError> {
        self.0.extend_from_slice(data);
        Ok(())
    }
}

/// Why relaying the body stopped.
pub(super) enum Stop {
    /// The upstream's side failed (as a failed attempt).
    Upstream(Failure, io::Error),
    /// The client's body was bad (413, 400) or it went away (`None`).
    Client(Option<u16>),
}

impl Connection {
    /// Moves the client's body to the upstream as far as both sides allow:
    /// `Ok(true)` once all of it (and its end) is written.
    pub(super) fn send_live(
        &mut self,
        ctx: &mut Ctx,
        key: usize,
        run: &mut ProxyRun,
    ) -> Result<bool, Stop> {
        loop {
            if run.file_pos < run.file_buf.len() {
                let Some(stream) = ctx.gateway.backends.stream(key) else {
                    return Err(Stop::Upstream(
                        Failure::Error,
                        io::ErrorKind::NotConnected.into(),
                    ));
                };
                match stream.write(&run.file_buf[run.file_pos..]) {
                    Ok(0) => {
                        return Err(Stop::Upstream(
                            Failure::Error,
                            io::ErrorKind::WriteZero.into(),
                        ));
                    }
                    Ok(n) => {
                        run.file_pos += n;
                        run.attempt.sent += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.deadline = Some(ctx.now + run.settings.send_timeout);
                        return Ok(false);
                    }
                    Err(e) => return Err(Stop::Upstream(Failure::Error, e)),
                }
                continue;
            }
            let fcgi = run.fcgi.is_some();
            let Some(live) = run.live.as_mut() else {
                return Ok(true);
            };
            if live.ended {
                return Ok(true);
            }
            run.file_buf.clear();
            run.file_pos = 0;
            if live.reader.is_done() {
                live.ended = true;
                if fcgi {
                    fastcgi::stdin(&mut run.file_buf, &[]);
                } else if live.chunked {
                    run.file_buf.extend_from_slice(b"0\r\n\r\n");
                }
                continue;
            }
            let mut piece = Vec::new();
            match live
                .reader
                .feed(self.input.filled(), &mut Collect(&mut piece))
            {
                Ok(n) => self.input.consume(n),
                Err(e) => return Err(Stop::Client(Some(e.status()))),
            }
            if !piece.is_empty() {
                live.taken += piece.len() as u64;
                frame(&mut run.file_buf, &piece, fcgi, live.chunked);
                continue;
            }
            if live.reader.is_done() {
                continue;
            }
            // Nothing decodable is buffered: a pending "100 Continue" goes out
            // first (the client waits for it), then more is read.
            if self.out_pos < self.out.len() && self.flush_out().is_err() {
                return Err(Stop::Client(None));
            }
            match self.fill(INITIAL) {
                Ok(0) => return Err(Stop::Client(None)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let server = &ctx.config.servers[self.server];
                    self.deadline = Some(ctx.now + server.client_body_timeout);
                    return Ok(false);
                }
                Err(_) => return Err(Stop::Client(None)),
            }
        }
    }
}

/// One piece of body as the backend takes it.
fn frame(out: &mut Vec<u8>, piece: &[u8], fcgi: bool, chunked: bool) {
    if fcgi {
        fastcgi::stdin(out, piece);
    } else if chunked {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(piece);
    }
}

#[cfg(test)]
mod tests {
    use super::frame;

    #[test]
    fn pieces_framed_for_each_backend() {
        let mut plain = Vec::new();
        frame(&mut plain, b"abc", false, false);
        assert_eq!(plain, b"abc");
        let mut chunk = Vec::new();
        frame(&mut chunk, &[b'x'; 26], false, true);
        assert!(chunk.starts_with(b"1a\r\nxxx"));
        assert!(chunk.ends_with(b"x\r\n"));
        let mut records = Vec::new();
        frame(&mut records, b"abc", true, false);
        // An FCGI_STDIN record (type 5) of 3 bytes, padded to 8.
        assert_eq!(&records[..8], &[1, 5, 0, 1, 0, 3, 5, 0]);
        assert_eq!(&records[8..11], b"abc");
    }
}
