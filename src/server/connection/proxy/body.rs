//! The bodies both ways: the request written to the backend (in memory, or read
//! from its spool file; as STDIN records for FastCGI), and the response body
//! relayed to the client as it comes, reads pausing at the output's high-water mark.

use std::io::{self, Read, Write};

use super::{ProxyRun, Round};
use crate::gateway::fastcgi;
use crate::gateway::http::Piece;
use crate::gateway::relay::{CHUNK, OUT_HIGH_WATER};
use crate::server::connection::{Connection, Ctx};

/// Reads body bytes from the backend and relays them into `out` (framed for
/// the client's codec) while less than `high` of it is unsent (from `sent` on);
/// `None` while the body goes on, `Some(Round::Finished)` once it ended.
pub(in crate::server::connection) fn relay_body(
    ctx: &mut Ctx,
    run: &mut ProxyRun,
    key: usize,
    out: &mut Vec<u8>,
    (sent, high): (usize, usize),
) -> Option<Round> {
    loop {
        if !run.input.is_empty() || run.decoder.is_done() {
            let (n, piece) = match run.decoder.decode(&run.input) {
                Ok(x) => x,
                Err(e) => {
                    log::error!(
                        "upstream {} sent invalid chunked response ({e:?})",
                        run.attempt.addr
                    );
                    return Some(body_ended(ctx, run, out, false));
                }
            };
            let Some(down) = run.down.as_mut() else {
                return Some(Round::Close);
            };
            match piece {
                Piece::Data(r) => {
                    let before = out.len();
                    run.attempt.body += r.len() as u64;
                    down.body(&run.input[r.clone()], out);
                    run.body_bytes += (out.len() - before) as u64;
                    run.input.drain(..n);
                    continue;
                }
                Piece::Done => {
                    run.input.drain(..n);
                    return Some(body_ended(ctx, run, out, true));
                }
                Piece::NeedMore => run.input.drain(..n).for_each(drop),
            }
        }
        if run.fcgi.as_ref().is_some_and(|d| d.ended) {
            return Some(body_ended(ctx, run, out, true));
        }
        if out.len().saturating_sub(sent) >= high {
            return None;
        }
        let Some(stream) = ctx.gateway.backends.stream(key) else {
            return Some(Round::Close);
        };
        match crate::server::buffer::read_with(stream, CHUNK, |bytes| take_in(run, bytes)) {
            Ok((0, _)) => {
                let complete = run.fcgi.is_none() && run.decoder.ends_at_close();
                if run.fcgi.is_some() {
                    log::error!(
                        "upstream {} prematurely closed FastCGI stdout while reading upstream",
                        run.attempt.addr
                    );
                } else if !complete {
                    log::error!(
                        "upstream {} prematurely closed connection while reading upstream",
                        run.attempt.addr
                    );
                }
                run.upstream_close = true;
                return Some(body_ended(ctx, run, out, complete));
            }
            Ok((_, Err(e))) => {
                log::error!("upstream {} sent {e}", run.attempt.addr);
                run.upstream_close = true;
                return Some(body_ended(ctx, run, out, false));
            }
            Ok((_, Ok(()))) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) => {
                log::error!("reading from upstream {} failed ({e})", run.attempt.addr);
                run.upstream_close = true;
                return Some(body_ended(ctx, run, out, false));
            }
        }
    }
}

/// The upstream's body ended (`complete`: at its framing's end).
pub(in crate::server::connection) fn body_ended(
    ctx: &mut Ctx,
    run: &mut ProxyRun,
    out: &mut Vec<u8>,
    complete: bool,
) -> Round {
    if let Some(down) = run.down.as_mut() {
        down.finish(complete, out);
        run.close_after |= down.broken;
    }
    let at_end = match &run.fcgi {
        Some(d) => d.ended && !d.trailing,
        None => run.decoder.is_done(),
    };
    let reusable =
        complete && run.keep_alive && !run.upstream_close && at_end && run.input.is_empty();
    super::release_lease(ctx, run, reusable);
    Round::Finished
}

impl Connection {
    /// Reads and relays body bytes into the output; `None` while the body goes on.
    pub(super) fn relay_upstream(
        &mut self,
        ctx: &mut Ctx,
        run: &mut ProxyRun,
        key: usize,
    ) -> Option<Round> {
        let limits = (self.out_pos, OUT_HIGH_WATER);
        relay_body(ctx, run, key, &mut self.out, limits)
    }
}

/// Bytes read from the backend: as they are for HTTP; for FastCGI, the records
/// decoded (stdout kept in `run.input`, stderr logged, the end noted).
pub(super) fn take_in(run: &mut ProxyRun, raw: &[u8]) -> Result<(), fastcgi::record::DecodeError> {
    run.attempt.received += raw.len() as u64;
    match &mut run.fcgi {
        None => {
            run.input.extend_from_slice(raw);
            Ok(())
        }
        Some(d) => d.feed(
            raw,
            &mut run.input,
            &run.attempt.addr,
            &run.settings.fastcgi.catch_stderr,
        ),
    }
}

/// Writes the request (head, then body) as far as the socket takes it; `Ok(true)`
/// when all of it is sent.
pub(super) fn send_request(ctx: &mut Ctx, key: usize, run: &mut ProxyRun) -> io::Result<bool> {
    let Some(stream) = ctx.gateway.backends.stream(key) else {
        return Err(io::ErrorKind::NotConnected.into());
    };
    let head = run.request.len();
    let memory = match run.fcgi {
        Some(_) => 0,
        None => run.body_mem.len(),
    };
    while run.sent < head + memory {
        let rest = match run.request.get(run.sent..) {
            Some(r) if !r.is_empty() => r,
            _ => &run.body_mem[run.sent - head..],
        };
        match stream.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                run.sent += n;
                run.attempt.sent += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    let Some(file) = &mut run.file else {
        return Ok(true);
    };
    loop {
        if run.file_pos == run.file_buf.len() {
            if run.file_eof {
                return Ok(true);
            }
            let mut chunk = vec![0; CHUNK];
            let n = file.read(&mut chunk)?;
            chunk.truncate(n);
            run.file_eof = n == 0;
            run.file_pos = 0;
            run.file_buf = match run.fcgi {
                // STDIN records; an empty one ends the stream.
                Some(_) => {
                    let mut records = Vec::with_capacity(n + 16);
                    fastcgi::stdin(&mut records, &chunk);
                    records
                }
                None => chunk,
            };
            continue;
        }
        match stream.write(&run.file_buf[run.file_pos..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                run.file_pos += n;
                run.attempt.sent += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}
