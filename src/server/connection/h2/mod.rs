//! HTTP/2 on a client connection (RFC 9113): over TLS when ALPN chose `h2`,
//! or cleartext when the connection starts with the preface on an address
//! with HTTP/2 on. The protocol engine (`crate::h2::Session`) turns the bytes
//! read into events and queues the frames to write; each stream is one
//! [`exchange::Exchange`] through the same phases and handlers as an HTTP/1
//! request; response bodies leave through the same body source, as DATA
//! frames under the peer's windows, a bounded share per stream and turn.
//!
//! The connection's timer is the earliest of: a stream's `limit_req` delay or
//! `auth_delay`, `send_timeout` while output waits for the socket, and
//! `keepalive_timeout` while no stream is open.

mod cgi;
mod exchange;
mod proxy;
mod send;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::{Connection, Ctx, State, Step};
use crate::config::http2::Http2;
use crate::h2::{Event, Session, Settings};
use crate::http::h2_request;
use crate::metrics::{self, ErrorKind};
use crate::server::buffer::Buffer;
use crate::transport::Transport;
use exchange::{Exchange, Next, Phase};

/// The client connection preface (RFC 9113 §3.4).
pub(super) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frames queued for the socket beyond which streams stop producing and the
/// connection stops reading until the socket takes them.
const OUT_HIGH: usize = 256 * 1024;

/// The HTTP/2 side of a connection.
pub(super) struct H2 {
    session: Session,
    streams: HashMap<u32, Exchange>,
    /// Streams with response bytes to send, in the order they get turns.
    sending: VecDeque<u32>,
    /// Streams waiting for a password check, oldest first.
    checks: VecDeque<u32>,
    settings: Http2,
    /// The handshake's facts, for every stream's `$ssl_*`.
    tls_info: Option<Arc<crate::vars::SslInfo>>,
    /// This connection's serial (the owner of its aio jobs).
    serial: u64,
    /// A connection error was queued (GOAWAY): write it, then close.
    failed: bool,
    /// GOAWAY sent for a graceful stop.
    going_away: bool,
    /// A password check finished (the manager said so).
    check_done: bool,
    /// Streams whose CGI script runs.
    scripts: Vec<u32>,
    /// Streams with an upstream.
    gateways: Vec<u32>,
}

/// What the connection lends the HTTP/2 side for one turn.
struct Io<'a> {
    stream: &'a mut Transport,
    input: &'a mut Buffer,
    read_ready: &'a mut bool,
    hangup: bool,
}

impl Io<'_> {
    /// Reads once into the input buffer (see the HTTP/1 `fill`).
    fn fill(&mut self, max: usize) -> io::Result<usize> {
        if !*self.read_ready && !self.hangup {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let room = self.input.room(max);
        loop {
            let r = self.input.read_from(&mut *self.stream, max);
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *self.read_ready = false;
                    return Err(e);
                }
                Ok(n) if n > 0 && n < room && !self.hangup && self.stream.short_read_drains() => {
                    *self.read_ready = false;
                    metrics::received(n);
                    return Ok(n);
                }
                Ok(n) => {
                    metrics::received(n);
                    return Ok(n);
                }
                Err(e) => {
                    metrics::error(ErrorKind::ClientIo);
                    return Err(e);
                }
            }
        }
    }
}

impl Connection {
    /// Whether this connection should speak HTTP/2 now: ALPN chose it, or the
    /// input starts with the preface on a cleartext address with HTTP/2 on.
    /// `None`: too few bytes to tell yet.
    pub(super) fn wants_h2(&self, ctx: &Ctx) -> Option<bool> {
        if self.served > 0 {
            return Some(false);
        }
        if self.stream.alpn_h2() {
            return Some(true);
        }
        let on = ctx
            .config
            .listens
            .get(self.origin.group)
            .is_some_and(|g| g.http2);
        if !on || self.origin.tls {
            return Some(false);
        }
        let input = self.input.filled();
        let n = input.len().min(PREFACE.len());
        if input[..n] != PREFACE[..n] {
            return Some(false);
        }
        (n == PREFACE.len()).then_some(true)
    }

    /// Switches the connection to HTTP/2.
    pub(super) fn start_h2(&mut self, ctx: &mut Ctx) {
        let server = self.default_server(ctx.config);
        let h2 = server.http2;
        let header_list = server
            .client_header_buffer_size
            .max(server.header_line_max.unwrap_or(0));
        let settings = Settings {
            max_concurrent_streams: h2.max_concurrent_streams,
            initial_window: h2.body_preread_size,
            max_frame_size: 16 * 1024,
            max_header_list_size: u32::try_from(header_list).unwrap_or(u32::MAX),
            header_table_size: 4096,
        };
        let idle = server.keepalive.timeout;
        let tls_info = if ctx.config.ssl_vars {
            self.stream.ssl_info()
        } else {
            None
        };
        self.state = State::H2(Box::new(H2 {
            session: Session::new(settings),
            streams: HashMap::new(),
            sending: VecDeque::new(),
            checks: VecDeque::new(),
            settings: h2,
            tls_info,
            serial: self.serial,
            failed: false,
            going_away: false,
            check_done: false,
            scripts: Vec::new(),
            gateways: Vec::new(),
        }));
        self.set_nodelay();
        self.deadline = Some(ctx.now + idle);
    }

    /// One turn of HTTP/2: read and feed the engine, run the streams' events,
    /// send what the windows allow, write; until nothing moves.
    pub(super) fn step_h2(&mut self, ctx: &mut Ctx) -> Step {
        let State::H2(h2) = &mut self.state else {
            return Step::Close;
        };
        let mut io = Io {
            stream: &mut self.stream,
            input: &mut self.input,
            read_ready: &mut self.read_ready,
            hangup: self.hangup,
        };
        let step = h2.turn(ctx, &mut io, &self.origin);
        let server = &ctx.config.servers[handler_default(ctx, &self.origin)];
        self.deadline = h2.deadline(ctx.now, server.keepalive.timeout, server.send_timeout);
        step
    }

    /// The HTTP/2 side's timer: due delays and held answers go on; an idle or
    /// stalled connection closes (with GOAWAY when it was idle).
    pub(super) fn h2_timeout(&mut self, ctx: &mut Ctx) -> Step {
        let State::H2(h2) = &mut self.state else {
            return Step::Close;
        };
        if h2.run_timers(ctx) {
            return Step::Progress;
        }
        if h2.streams.is_empty() {
            metrics::timeout(metrics::TimeoutKind::Keepalive);
            h2.session.go_away(crate::h2::ErrorCode::NoError);
            let _ = h2.write(&mut self.stream);
        } else {
            metrics::timeout(metrics::TimeoutKind::Send);
        }
        Step::Close
    }

    /// A password check of this connection finished: its oldest waiting
    /// stream is routed again (the verdict is in the cache).
    pub(super) fn h2_auth_done(&mut self) {
        if let State::H2(h2) = &mut self.state {
            h2.check_done = true;
        }
    }

    /// Idle: no stream open (closed at once on shutdown).
    pub(super) fn h2_idle(&self) -> bool {
        matches!(&self.state, State::H2(h2) if h2.streams.is_empty())
    }
}

/// The server answering on the connection's address before a Host is known.
fn handler_default(ctx: &Ctx, origin: &crate::handler::Origin) -> usize {
    ctx.config
        .listens
        .get(origin.group)
        .map_or(0, |g| g.default_server)
}

impl H2 {
    /// The upstream sockets the streams hold (closed with the connection).
    pub(super) fn backend_keys(&self) -> Vec<usize> {
        self.streams
            .values()
            .filter_map(|ex| match &ex.phase {
                Phase::Proxy { run, .. } => run.backend(),
                _ => None,
            })
            .collect()
    }

    fn turn(&mut self, ctx: &mut Ctx, io: &mut Io, origin: &crate::handler::Origin) -> Step {
        if (ctx.shutting_down || ctx.config_stale) && !self.going_away {
            self.going_away = true;
            self.session.go_away(crate::h2::ErrorCode::NoError);
        }
        let read_max = self.settings.recv_buffer_size.max(32 * 1024);
        loop {
            let mut progress = false;
            if !self.failed && self.session.output().len() < OUT_HIGH {
                match io.fill(read_max) {
                    Ok(0) => return Step::Close,
                    Ok(_) => progress = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Step::Close,
                }
                if !io.input.is_empty() {
                    match self.session.recv(io.input.filled()) {
                        Ok(n) => {
                            io.input.consume(n);
                            progress |= n > 0;
                        }
                        Err(e) => {
                            log::info!("client {}: {e}", origin.peer);
                            self.failed = true;
                        }
                    }
                }
            }
            while let Some(event) = self.session.poll_event() {
                progress = true;
                self.on_event(ctx, io.stream, origin, event);
            }
            self.run_cgis(ctx, &mut progress);
            self.run_gateways(ctx, &mut progress);
            if self.check_done {
                self.check_done = false;
                progress |= self.resume_check(ctx);
            }
            let yielded = self.send_bodies(ctx, &mut progress);
            match self.write(io.stream) {
                Ok(wrote) => progress |= wrote,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    metrics::error(ErrorKind::ClientIo);
                    return Step::Close;
                }
            }
            let flushed = self.session.output().is_empty();
            if flushed && (self.failed || self.session.is_done()) {
                return Step::Close;
            }
            if yielded {
                return Step::Yield;
            }
            if !progress {
                io.input.release();
                return Step::Blocked;
            }
        }
    }

    /// Writes queued frames; `Ok(true)` when some went out. `WouldBlock` when
    /// the socket took less than all.
    fn write(&mut self, stream: &mut Transport) -> io::Result<bool> {
        let out = self.session.output();
        let mut at = 0;
        let mut result = Ok(());
        while at < out.len() {
            match stream.send(&out[at..], libc::MSG_NOSIGNAL) {
                Ok(0) => {
                    result = Err(io::ErrorKind::WriteZero.into());
                    break;
                }
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        out.drain(..at);
        if result.is_ok()
            && let Err(e) = stream.flush()
        {
            result = Err(e);
        }
        result.map(|()| at > 0).or_else(|e| match e.kind() {
            io::ErrorKind::WouldBlock if at > 0 => Ok(true),
            _ => Err(e),
        })
    }

    fn on_event(
        &mut self,
        ctx: &mut Ctx,
        stream: &Transport,
        origin: &crate::handler::Origin,
        event: Event,
    ) {
        match event {
            Event::Request {
                id,
                head,
                end_stream,
            } => {
                metrics::request_started();
                let h = h2_request::Head {
                    method: &head.method,
                    path: &head.path,
                    authority: head.authority.as_deref(),
                    fields: &head.fields,
                    end_stream,
                    content_length: head.content_length,
                };
                let next = match h2_request::build(&h) {
                    Ok(req) => self.start(ctx, stream, origin, id, req),
                    Err(e) => {
                        metrics::error(ErrorKind::BadRequest);
                        self.bad_head(ctx, origin, id, e.status())
                    }
                };
                self.settle(id, next);
            }
            Event::Data {
                id,
                data,
                end_stream,
            } => {
                self.session.consumed(id, data.len());
                if let Some(ex) = self.streams.remove(&id) {
                    let next = self.body(ctx, id, ex, &data, end_stream);
                    self.settle(id, next);
                }
            }
            Event::Trailers { id, .. } => {
                if let Some(ex) = self.streams.remove(&id) {
                    let next = self.body(ctx, id, ex, &[], true);
                    self.settle(id, next);
                }
            }
            Event::Reset { id } => {
                if let Some(Exchange {
                    phase: Phase::Proxy { run, .. },
                    ..
                }) = self.streams.remove(&id)
                    && let Some(key) = run.backend()
                {
                    // Its upstream may be mid-answer: that socket is not reused.
                    ctx.gateway.backends.release(key, None);
                }
                self.sending.retain(|&s| s != id);
                self.checks.retain(|&s| s != id);
            }
            Event::WindowOpen { id } => self.window_open(id),
        }
    }

    /// A head that is no request: answered like HTTP/1's 400s.
    fn bad_head(
        &mut self,
        ctx: &mut Ctx,
        origin: &crate::handler::Origin,
        id: u32,
        status: u16,
    ) -> Next {
        let idx = crate::handler::server_index(ctx.config, origin.group, None);
        let resp = crate::handler::error_response(ctx.config, idx, None, status);
        let ex = Exchange {
            req: h2_request::unread(),
            origin: origin.clone(),
            started: ctx.now,
            server: idx,
            phase: Phase::Routing,
            holds: None,
            since: ctx.now,
            redirects: 0,
        };
        self.respond(ctx, id, ex, resp, None)
    }

    /// Keeps the stream where the event left it.
    fn settle(&mut self, id: u32, next: Next) {
        match next {
            Next::Keep(ex) => {
                self.streams.insert(id, ex);
            }
            Next::Sending(ex) => {
                self.streams.insert(id, ex);
                if !self.sending.contains(&id) {
                    self.sending.push_back(id);
                }
            }
            Next::Done => {}
        }
    }

    /// Routes the oldest stream waiting for a password check again.
    fn resume_check(&mut self, ctx: &mut Ctx) -> bool {
        let Some(id) = self.checks.pop_front() else {
            return false;
        };
        let Some(ex) = self.streams.remove(&id) else {
            return false;
        };
        let next = self.route(ctx, id, ex);
        self.settle(id, next);
        true
    }

    /// Runs the streams whose timers are due; `true` if any was.
    fn run_timers(&mut self, ctx: &mut Ctx) -> bool {
        let due: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, ex)| timer_of(ex).is_some_and(|t| t <= ctx.now))
            .map(|(&id, _)| id)
            .collect();
        for &id in &due {
            if let Some(ex) = self.streams.remove(&id) {
                let next = self.timer(ctx, id, ex);
                self.settle(id, next);
            }
        }
        !due.is_empty()
    }

    /// When the connection's timer should fire next: the earliest stream
    /// timer; `keepalive_timeout` while no stream is open; `send_timeout`
    /// while frames wait for the socket.
    fn deadline(
        &mut self,
        now: Instant,
        idle: std::time::Duration,
        send: std::time::Duration,
    ) -> Option<Instant> {
        let timers = self.streams.values().filter_map(timer_of).min();
        let base = if self.streams.is_empty() {
            Some(now + idle)
        } else if !self.session.output().is_empty() {
            Some(now + send)
        } else {
            None
        };
        match (timers, base) {
            (Some(t), Some(b)) => Some(t.min(b)),
            (t, b) => t.or(b),
        }
    }
}

/// A stream's own timer: a `limit_req` delay, a held 401, its
/// `client_body_timeout` or `send_timeout`, its script's `cgi_timeout`.
fn timer_of(ex: &Exchange) -> Option<Instant> {
    match &ex.phase {
        Phase::Delayed { until, .. } | Phase::Held { until, .. } => Some(*until),
        Phase::Body { timeout, .. } | Phase::Send { timeout, .. } => Some(ex.since + *timeout),
        Phase::Cgi { run, .. } => Some(run.until),
        Phase::Proxy { run, .. } => Some(run.until),
        Phase::Routing | Phase::Auth => None,
    }
}
