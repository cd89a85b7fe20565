//! Writing a response: the head is formatted into the output buffer and the
//! body leaves through [`Outgoing`] (sendfile, copied chunks, filter streams
//! framed as chunks), bounded per turn; then keep-alive or a lingering close.
//! The access log line and the metrics are written when the response is queued.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use super::outgoing::{self, Produced, SentFile};
use super::{Connection, Ctx, LINGER_BYTES, LINGER_TIME, State, Step};
use crate::config::keepalive;
use crate::handler::{self, Routed};
use crate::http::status::bodiless;
use crate::http::{Method, Request, Response};
use crate::metrics::{self, ErrorKind};
use crate::server::access_log::Exchange;

impl Connection {
    /// Queues `resp` and switches to writing. `close` forces the connection closed
    /// afterwards (framing of what follows is unknown, or the body was not read).
    pub(super) fn respond(
        &mut self,
        ctx: &mut Ctx,
        resp: Response,
        req: Option<&Request>,
        close: bool,
    ) {
        self.respond_logged(ctx, resp, req, close, None);
    }

    pub(super) fn respond_logged(
        &mut self,
        ctx: &mut Ctx,
        resp: Response,
        req: Option<&Request>,
        close: bool,
        routed: Option<&Routed>,
    ) {
        self.respond_with(ctx, resp, req, close, routed, None);
    }

    /// Queues `resp`; `upstream`: what the upstreams answered, for the log line.
    pub(super) fn respond_with(
        &mut self,
        ctx: &mut Ctx,
        mut resp: Response,
        req: Option<&Request>,
        close: bool,
        routed: Option<&Routed>,
        upstream: Option<&crate::vars::upstream::Trace>,
    ) {
        if resp.status == handler::rewrite::CLOSE {
            // `return 444`: logged, then the connection closes with nothing
            // written for this request (what is queued before it still goes).
            self.served = self.served.saturating_add(1);
            self.forced_close = true;
            self.log_response(ctx, req, &resp, routed, (0, 0), upstream);
            self.kept = None;
            self.state = State::Write { close_after: true };
            self.set_send_timeout(ctx, routed);
            return;
        }
        self.keep_limits(ctx, req, routed);
        let keep_alive =
            self.keep_alive_for(ctx, req, close, routed) && !resp.body.ends_with_close();
        if keep_alive {
            self.announce_keep_alive(&mut resp);
        }
        self.forced_close = close;
        let head_only = req.is_some_and(|r| r.method == Method::Head) || bodiless(resp.status);
        handler::trailers::frame(&mut resp, req, head_only);
        let sent = if head_only { 0 } else { resp.body.len() };
        self.out.drain(..self.out_pos);
        self.out_pos = 0;
        let before = self.out.len();
        resp.write_head(&mut self.out, ctx.date, keep_alive);
        let head = (self.out.len() - before) as u64;
        self.log_response(ctx, req, &resp, routed, (head, sent), upstream);
        let body = std::mem::take(&mut resp.body);
        if !head_only {
            let mut sink = outgoing::Sink {
                out: &mut self.out,
                aio: ctx.aio,
                owner: (ctx.key, self.serial),
            };
            let sendfile = self.stream.can_sendfile();
            self.outgoing.queue(&mut sink, body, sendfile, true);
        }
        self.state = State::Write {
            close_after: !keep_alive,
        };
        self.set_send_timeout(ctx, routed);
    }

    /// Starts the send deadline of a response of `routed`'s location (or of the
    /// server, for an answer before routing), as nginx's `send_timeout` per location.
    pub(super) fn set_send_timeout(&mut self, ctx: &Ctx, routed: Option<&Routed>) {
        let t = match routed {
            Some(r) => r.location(ctx.config).send_timeout,
            None => self.request_server(ctx.config).send_timeout,
        };
        self.send_ms = u32::try_from(t.as_millis()).unwrap_or(u32::MAX);
        self.deadline = Some(ctx.now + t);
    }

    /// Counts a response and decides whether the connection stays open after it,
    /// by the keep-alive policy of the location that answered (the server's
    /// before one is chosen); that policy's idle timeout and `Keep-Alive` header
    /// then apply (see [`Self::announce_keep_alive`]).
    pub(super) fn keep_alive_for(
        &mut self,
        ctx: &Ctx,
        req: Option<&Request>,
        close: bool,
        routed: Option<&Routed>,
    ) -> bool {
        self.served = self.served.saturating_add(1);
        let ka = match routed {
            Some(r) => r.location(ctx.config).keepalive,
            None => self.request_server(ctx.config).keepalive,
        };
        self.idle = ka.timeout;
        self.idle_header = ka
            .header
            .map(|t| u32::try_from(t.as_secs()).unwrap_or(u32::MAX));
        let Some(req) = req.filter(|r| r.keep_alive) else {
            return false;
        };
        !close
            && !ctx.shutting_down
            && ka.allows(&keepalive::Asking {
                requests: u64::from(self.served),
                age: ctx.now.saturating_duration_since(self.origin.conn.opened),
                post: req.method == Method::Post,
                user_agent: req.header("user-agent").map(str::as_bytes),
            })
    }

    /// `keepalive_timeout T HEADER_T`: tells a kept-alive client HEADER_T.
    pub(super) fn announce_keep_alive(&self, resp: &mut Response) {
        if let Some(t) = self.idle_header {
            resp.header("Keep-Alive", format!("timeout={t}"));
        }
    }

    /// Writes the access log line for a response to a routed request: `head`
    /// and `body` are the bytes its head and body take on the wire.
    pub(super) fn log_response(
        &mut self,
        ctx: &mut Ctx,
        req: Option<&Request>,
        resp: &Response,
        routed: Option<&Routed>,
        bytes: (u64, u64),
        upstream: Option<&crate::vars::upstream::Trace>,
    ) {
        let at = (&self.origin, self.started, self.server);
        log_exchange(ctx, at, req, resp, routed, bytes, upstream);
    }

    pub(super) fn step_write(&mut self, ctx: &mut Ctx) -> Step {
        // This turn's work on the body, against its share (SENDFILE_MAX_CHUNK).
        let mut spent = 0;
        loop {
            if self.pending_output()
                && let Some(step) = self.pace_step(ctx.now)
            {
                return step;
            }
            match self.write_some(ctx, &mut spent) {
                Ok(Sent::Done) => break,
                Ok(Sent::More) => self.progress_send(ctx),
                Ok(Sent::Full) => {
                    self.progress_send(ctx);
                    return Step::Blocked;
                }
                Ok(Sent::Share) => {
                    self.progress_send(ctx);
                    return Step::Yield;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Blocked,
                Err(_) => {
                    metrics::error(ErrorKind::ClientIo);
                    return Step::Close;
                }
            }
        }
        // What the transport still holds (TLS records) is part of the response.
        match self.stream.flush() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Blocked,
            Err(_) => return Step::Close,
        }
        let (close_after, discard) = match std::mem::replace(&mut self.state, State::ProxyHeader) {
            State::Write { close_after } => (close_after, None),
            State::WriteDiscarding { reader } => (false, Some(reader)),
            _ => return Step::Close,
        };
        // The output buffer is freed between requests: an idle keep-alive
        // connection should cost its struct and nothing more.
        self.release_limits();
        self.out = Vec::new();
        self.out_pos = 0;
        if close_after {
            if !self.forced_close && self.nothing_pending() {
                // Nothing more is coming: a plain close sends the FIN, no reset.
                return Step::Close;
            }
            self.stream.shutdown_write();
            self.state = State::Linger {
                discarded: 0,
                patient: self.forced_close,
            };
            self.deadline = Some(ctx.now + LINGER_TIME);
        } else {
            // Kept alive: the next response must not wait for an ACK behind Nagle
            // (setting it also pushes out anything Nagle is holding now).
            self.set_nodelay();
            self.origin.conn.pipelined = !self.input.is_empty();
            self.state = match discard {
                Some(reader) => State::Discard { reader },
                None => State::Head { started: false },
            };
            self.deadline = Some(ctx.now + self.idle);
        }
        Step::Progress
    }

    pub(super) fn set_nodelay(&mut self) {
        if !self.nodelay {
            self.nodelay = self.stream.set_nodelay(true).is_ok();
        }
    }

    /// Whether the client has sent nothing we have not read. If the last read
    /// drained the socket, that is the answer (nginx closes at this point too);
    /// otherwise one read tells, and any bytes it returns are discarded, since the
    /// connection is closing anyway.
    pub(super) fn nothing_pending(&mut self) -> bool {
        if !self.input.is_empty() {
            return false;
        }
        if !self.read_ready && !self.hangup {
            return true;
        }
        let mut probe = [0u8; 512];
        match self.stream.read(&mut probe) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        }
    }

    pub(super) fn progress_send(&mut self, ctx: &Ctx) {
        let t = match self.send_ms {
            0 => self.request_server(ctx.config).send_timeout,
            ms => Duration::from_millis(u64::from(ms)),
        };
        self.deadline = Some(ctx.now + t);
    }

    /// Writes some of the pending output; `spent` counts this turn's work on the
    /// body, and a full share yields before more is read or compressed.
    fn write_some(&mut self, ctx: &mut Ctx, spent: &mut u64) -> io::Result<Sent> {
        if self.out_pos < self.out.len() {
            // More file bytes follow, or the connection closes right after this
            // response: then the close (or shutdown) sends the last bytes and the
            // FIN in one segment, as nginx's tcp_nopush does.
            let closing = matches!(self.state, State::Write { close_after: true });
            let more = closing || self.outgoing.has_more();
            self.flush_out_more(more)?;
            return Ok(Sent::More);
        }
        self.out.clear();
        self.out_pos = 0;
        let owner = (ctx.key, self.serial);
        let mut sink = outgoing::Sink {
            out: &mut self.out,
            aio: ctx.aio,
            owner,
        };
        Ok(match self.outgoing.produce(&mut sink, spent)? {
            Produced::Done => Sent::Done,
            Produced::More => Sent::More,
            Produced::Share => Sent::Share,
            Produced::SendFile => {
                let budget = self.pace_budget(ctx.now);
                let socket = self.stream.socket();
                let (n, sent) = self.outgoing.sendfile(socket, ctx.aio, owner, budget)?;
                self.paced(n, ctx.now);
                match sent {
                    SentFile::Finished => Sent::More,
                    SentFile::Short => Sent::Full,
                    SentFile::Share => Sent::Share,
                }
            }
        })
    }

    /// An aio job for the file body finished (see [`Outgoing::aio_done`]).
    pub fn aio_done(&mut self, result: io::Result<Vec<u8>>) {
        if self.outgoing.aio_done(result, &mut self.out) {
            self.out_pos = 0;
        }
    }

    /// Writes from `out` until it is empty or the socket would block.
    pub(super) fn flush_out(&mut self) -> io::Result<()> {
        self.flush_out_more(false)
    }

    /// Like `flush_out`; `more`: a file body follows at once, so the kernel may
    /// hold these bytes back to share a segment with it (MSG_MORE, nginx's
    /// tcp_nopush without the two setsockopt calls).
    pub(super) fn flush_out_more(&mut self, more: bool) -> io::Result<()> {
        let flags = if more { libc::MSG_MORE } else { 0 } | libc::MSG_NOSIGNAL;
        let now = Instant::now();
        let budget = usize::try_from(self.pace_budget(now)).unwrap_or(usize::MAX);
        let end = self.out.len().min(self.out_pos.saturating_add(budget));
        while self.out_pos < end {
            match self.stream.send(&self.out[self.out_pos..end], flags) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out_pos += n;
                    self.paced(n, now);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(super) fn step_linger(&mut self) -> Step {
        let mut scratch = [0u8; 4096];
        loop {
            match self.stream.read(&mut scratch) {
                Ok(0) => return Step::Close,
                Ok(n) => {
                    let State::Linger { discarded, .. } = &mut self.state else {
                        return Step::Close;
                    };
                    *discarded += n;
                    if *discarded > LINGER_BYTES {
                        return Step::Close;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let patient = matches!(self.state, State::Linger { patient: true, .. });
                    return if patient { Step::Blocked } else { Step::Close };
                }
                Err(_) => return Step::Close,
            }
        }
    }
}

/// What one write step achieved.
enum Sent {
    /// The response is out.
    Done,
    /// Progress; go on.
    More,
    /// The socket buffer is full; writability will be reported.
    Full,
    /// A whole `SENDFILE_MAX_CHUNK` went out, or a turn's share of copying or
    /// compressing is spent: give the others a turn.
    Share,
}

/// Writes the access log line and counts the response of one exchange: `at`
/// is where it came from, when its head was complete and the server its Host
/// chose; `head` and `body` are the bytes its head and body take on the wire.
pub(super) fn log_exchange(
    ctx: &mut Ctx,
    (origin, started, server): (&handler::Origin, Instant, usize),
    req: Option<&Request>,
    resp: &Response,
    routed: Option<&Routed>,
    (head, body): (u64, u64),
    upstream: Option<&crate::vars::upstream::Trace>,
) {
    let exchange = Exchange {
        origin: origin.clone(),
        req,
        routed,
        resp,
        head_bytes: head,
        body_bytes: body,
        started: Some(started),
        upstream,
    };
    ctx.logs.log(ctx.config, &exchange);
    let server = routed.map_or(server, |r| r.server);
    let names = ctx.config.servers.get(server).map(|s| &s.server_names);
    metrics::request_done(&metrics::Finished {
        server: names.and_then(|n| n.first()).map_or("", String::as_str),
        method: req.map(|r| r.method),
        status: resp.status,
        bytes: head + body,
        // The loop's time, as nginx's $request_time (no clock read per request).
        duration: ctx.now.saturating_duration_since(started),
    });
}
