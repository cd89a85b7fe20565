//! A client connection: an explicit state machine driven by readiness events.
//!
//! ```text
//!   Head ──head parsed──▶ Body ──body read──▶ (process) ──▶ Write ──keep-alive──▶ Head
//!     │                    │                                  │
//!     └──error─────────────┴──────────────error response──────┴──close──▶ Linger ──▶ closed
//! ```
//!
//! Every step either makes progress or stops at `WouldBlock`; `on_ready` loops until
//! no step can progress, so readiness is always drained (the loop is edge-triggered).
//! Bytes after a request stay in the input buffer for the next (pipelining).
//! The bytes are plaintext: the [`Transport`] below does TLS, or not.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod auth;
mod cgi;
mod discard;
mod limits;
mod proxy;
mod proxy_header;

use super::access_log::{AccessLogs, Exchange};
use super::aio::{self, Aio, Kind};
use super::buffer::Buffer;
use crate::config::{Config, Server, keepalive};
use crate::filter::cache::{self, Fill};
use crate::handler::{self, Early, Origin, Outcome, Routed, Sink};
use crate::http::body::BodyReader;
use crate::http::request::{NameRules, check_line_lengths, parse_head_with};
use crate::http::status::bodiless;
use crate::http::{Body, Framing, Method, Request, Response};
use crate::metrics::{self, ConnMeter, ErrorKind, Phase, TimeoutKind};
use crate::transport::{self, Transport};

/// How long a closing connection may keep sending us bytes we discard (nginx's
/// lingering close), so the client reads our response instead of a reset.
const LINGER_TIME: Duration = Duration::from_secs(5);
/// The most bytes discarded while lingering.
const LINGER_BYTES: usize = 1 << 20;
/// File bodies up to this size are read into the head buffer: one write, no sendfile.
const SMALL_FILE: u64 = 16 * 1024;
/// Chunk size for file bodies sent without sendfile.
const COPY_CHUNK: usize = 64 * 1024;
/// The most one sendfile call sends before the connection lets the others run
/// (nginx's sendfile_max_chunk): a fast client on a large file cannot hog the
/// worker, and the socket buffer has drained by the time its turn comes back.
/// It is also a turn's share of every other body: bytes copied (`sendfile off`,
/// TLS) and file bytes compressed, each weighted by what it costs.
const SENDFILE_MAX_CHUNK: u64 = 2 * 1024 * 1024;
/// A file byte compressed costs this many bytes of a turn's share: a turn
/// compresses at most 256 KiB (about a millisecond at gzip level 1, a few at
/// brotli's default level), then yields like a sendfile share.
const COMPRESS_COST: u64 = 8;

/// What the event loop needs to give a connection.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub now: Instant,
    /// The current `Date` header value.
    pub date: &'a str,
    pub logs: &'a mut AccessLogs,
    /// Graceful shutdown in progress: finish this response, keep nothing alive.
    pub shutting_down: bool,
    /// For registering CGI pipes.
    pub registry: &'a mio::Registry,
    /// The worker's file-read thread pool.
    pub aio: &'a mut Aio,
    /// This connection's slab key (its tokens are `key * 4 + 0..4`).
    pub key: usize,
    /// Backend sockets and upstream balancing state.
    pub gateway: &'a mut crate::gateway::Gateway,
}

/// Whether the connection stays registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    /// Open, and wants to run again after the other ready connections.
    Yield,
    Close,
}

enum State {
    /// On a `proxy_protocol` address: waiting for the PROXY header.
    ProxyHeader,
    /// Waiting for a request head. `started`: a byte of it has arrived.
    Head { started: bool },
    /// Reading the body of a routed request.
    Body {
        req: Box<Request>,
        routed: Box<Routed>,
        reader: BodyReader,
        sink: Sink,
    },
    /// Sending a response; then close or wait for the next request.
    Write { close_after: bool },
    /// Sent a response to a request whose body was not read (`return`, a
    /// redirect): the rest of that body is read and dropped before the next
    /// request's head, as nginx discards it.
    WriteDiscarding { reader: Box<BodyReader> },
    /// Waiting for the next request's head behind a discarded body.
    Discard { reader: Box<BodyReader> },
    /// A CGI script runs; its output is relayed as it comes.
    Cgi {
        req: Box<Request>,
        routed: Box<Routed>,
        run: Box<cgi::CgiRun>,
    },
    /// The request is with an upstream (`proxy_pass`); its answer is relayed.
    Proxy {
        req: Box<Request>,
        routed: Box<Routed>,
        run: Box<proxy::ProxyRun>,
    },
    /// `limit_req` delays the routed request: its timer resumes it.
    Delayed {
        req: Box<Request>,
        routed: Box<Routed>,
    },
    /// The phases wait for a password check on the thread pool (`ready` once
    /// its verdict is in); the request is then routed again.
    Auth { req: Box<Request>, ready: bool },
    /// `auth_delay`: a 401 waits until the deadline before it is sent.
    HeldAnswer {
        req: Box<Request>,
        resp: Box<Response>,
        routed: Box<Routed>,
    },
    /// Response sent, write side shut: discard input until the peer closes.
    /// `patient`: the client may still be sending a body we refused, so wait for
    /// it (else its data would arrive on a closed socket and reset our response);
    /// otherwise close as soon as nothing is pending.
    Linger { discarded: usize, patient: bool },
}

/// A file body still to be sent.
struct FileOut {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    sendfile: bool,
    /// Chunks not in the page cache are read on the aio pool.
    aio: bool,
    /// An aio job for this body is running: nothing to send until it is done.
    waiting: bool,
    /// An aio read failed or found the file shorter than its length.
    failed: bool,
}

pub struct Connection {
    stream: Transport,
    /// The configuration this connection was accepted under (a reload applies to
    /// new connections; requests in flight keep the config they were routed with).
    config: Arc<Config>,
    origin: Origin,
    input: Buffer,
    /// Output not yet written (response head, small bodies, 100 Continue).
    out: Vec<u8>,
    out_pos: usize,
    file: Option<FileOut>,
    /// The rest of a body in pieces (`Body::Parts`), queued once `file` is sent
    /// (boxed: a multi-range answer is rare, an idle connection is not).
    #[allow(clippy::box_collection)]
    pieces: Option<Box<std::collections::VecDeque<Body>>>,
    /// A body compressed as it goes out (the compression filter's stream).
    encoded: Option<Box<crate::filter::Stream>>,
    /// A body recoded as it goes out (`charset_map`).
    recoded: Option<Box<crate::filter::recode_stream::RecodeStream>>,
    state: State,
    /// Requests answered on this connection (for `keepalive_requests`).
    served: u32,
    /// The answering location's `keepalive_timeout`: how long the connection
    /// idles after the current response, and what `Keep-Alive` announces.
    idle: Duration,
    /// Its header part, in seconds.
    idle_header: Option<u32>,
    /// Internal redirects followed for the current request.
    redirects: u8,
    /// The answering location's `send_timeout`, in milliseconds.
    send_ms: u32,
    /// When the current request's head was complete (`$request_time`).
    started: Instant,
    /// Index of the server chosen for the current request (by Host).
    server: usize,
    /// The socket may have unread data (cleared by a short or WouldBlock read).
    read_ready: bool,
    /// The peer closed or reset the connection (EPOLLRDHUP/EPOLLERR): read until
    /// EOF or the error, never skip a read, since no further event will come.
    hangup: bool,
    /// The current response closes the connection because a body was refused or
    /// the framing broke (not because the client asked): linger patiently.
    forced_close: bool,
    /// TCP_NODELAY is set (once the connection is kept alive, or streams CGI
    /// output); a connection that closes after one response never needs it.
    nodelay: bool,
    /// When the connection times out in its current state.
    pub deadline: Option<Instant>,
    /// Unique per worker thread: tells an aio completion whether its connection
    /// is still the one at that slab key.
    serial: u64,
    /// This connection in the `stub_status` reading/writing/waiting counts.
    meter: ConnMeter,
    /// The current response's `limit_conn` counts and `limit_rate` pace.
    kept: Option<Box<limits::Kept>>,
}

thread_local! {
    static SERIALS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// One step of the state machine: progressed (run the next), blocked on I/O, or done.
enum Step {
    Progress,
    Blocked,
    /// Sent a full share of a large body while the socket could take more: let
    /// the other connections run, then come back (no event will say so).
    Yield,
    Close,
}

impl Connection {
    pub fn new(stream: Transport, origin: Origin, config: Arc<Config>, now: Instant) -> Self {
        let server = config
            .listens
            .get(origin.group)
            .map_or(0, |g| g.default_server);
        let deadline = Some(now + config.servers[server].client_header_timeout);
        let idle = config.servers[server].keepalive.timeout;
        let proxied = config
            .listens
            .get(origin.group)
            .is_some_and(|g| g.proxy_protocol);
        Connection {
            stream,
            config,
            origin,
            input: Buffer::default(),
            out: Vec::new(),
            out_pos: 0,
            file: None,
            pieces: None,
            encoded: None,
            recoded: None,
            state: if proxied {
                State::ProxyHeader
            } else {
                State::Head { started: false }
            },
            served: 0,
            idle,
            idle_header: None,
            redirects: 0,
            send_ms: 0,
            started: now,
            server,
            read_ready: true,
            hangup: false,
            forced_close: false,
            nodelay: false,
            deadline,
            serial: SERIALS.with(|c| {
                c.set(c.get() + 1);
                c.get()
            }),
            meter: ConnMeter::new(),
            kept: None,
        }
    }

    /// The event loop saw the peer close or reset the connection.
    pub fn peer_closed(&mut self) {
        self.hangup = true;
    }

    /// The configuration this connection serves under.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Idle between requests, or not yet past its PROXY header (closed at once
    /// on shutdown).
    pub fn is_idle(&self) -> bool {
        let waiting = matches!(
            self.state,
            State::Head { started: false } | State::ProxyHeader
        );
        waiting && self.input.is_empty()
    }

    /// The server the current request was routed to (its Host chose it): its
    /// keep-alive and send settings apply once the request is known.
    fn request_server<'c>(&self, config: &'c Config) -> &'c Server {
        config
            .servers
            .get(self.server)
            .unwrap_or_else(|| self.default_server(config))
    }

    /// The server that answers before the Host header is known.
    fn default_server<'c>(&self, config: &'c Config) -> &'c Server {
        let idx = config
            .listens
            .get(self.origin.group)
            .map_or(0, |g| g.default_server);
        &config.servers[idx]
    }

    /// Runs the state machine until it blocks or the connection is done.
    pub fn on_ready(&mut self, ctx: &mut Ctx) -> Status {
        self.read_ready = true;
        loop {
            let step = match self.state {
                State::ProxyHeader => self.step_proxy_header(),
                State::Head { .. } => self.step_head(ctx),
                State::Body { .. } => self.step_body(ctx),
                State::Write { .. } | State::WriteDiscarding { .. } => self.step_write(ctx),
                State::Discard { .. } => self.step_discard(ctx),
                State::Cgi { .. } => self.step_cgi(ctx),
                State::Proxy { .. } => self.step_proxy(ctx),
                State::Auth { .. } => self.step_auth(ctx),
                // The timers resume these; input waits in the socket.
                State::HeldAnswer { .. } => Step::Blocked,
                State::Delayed { .. } => Step::Blocked,
                State::Linger { .. } => self.step_linger(),
            };
            self.meter.set(self.phase());
            match step {
                Step::Progress => continue,
                Step::Blocked => return Status::Open,
                Step::Yield => return Status::Yield,
                Step::Close => return Status::Close,
            }
        }
    }

    /// What `stub_status` calls the current state: reading a head or body,
    /// writing (a request is being answered), or waiting (idle, closing).
    fn phase(&self) -> Phase {
        match self.state {
            State::Head { started: true } | State::Body { .. } | State::Discard { .. } => {
                Phase::Reading
            }
            State::Write { .. }
            | State::WriteDiscarding { .. }
            | State::Cgi { .. }
            | State::Proxy { .. }
            | State::Auth { .. }
            | State::HeldAnswer { .. }
            | State::Delayed { .. } => Phase::Writing,
            State::ProxyHeader | State::Head { started: false } | State::Linger { .. } => {
                Phase::Waiting
            }
        }
    }

    /// The timeout's kind, for the counters.
    fn timeout_kind(&self) -> Option<TimeoutKind> {
        Some(match self.state {
            State::Head { started: true } => TimeoutKind::ClientHeader,
            State::Head { started: false } | State::ProxyHeader if self.served > 0 => {
                TimeoutKind::Keepalive
            }
            State::Head { started: false } | State::ProxyHeader => TimeoutKind::ClientHeader,
            State::Body { .. } | State::Discard { .. } => TimeoutKind::ClientBody,
            State::Write { .. } | State::WriteDiscarding { .. } => TimeoutKind::Send,
            State::Cgi { .. } => TimeoutKind::Cgi,
            State::Proxy { .. } => TimeoutKind::Upstream,
            // A password check that outlives the header timeout.
            State::Auth { .. } => TimeoutKind::ClientHeader,
            // The timers send the held 401, resume the delayed request: no timeout.
            State::HeldAnswer { .. } => return None,
            State::Linger { .. } | State::Delayed { .. } => return None,
        })
    }

    /// The deadline passed: 408 if a request was under way, else just close.
    pub fn on_timeout(&mut self, ctx: &mut Ctx) -> Status {
        // The limits' timers are no timeouts: a delay is over, a pace resumes.
        if let State::Delayed { .. } = self.state {
            self.resume_delayed(ctx);
            return self.on_ready(ctx);
        }
        if matches!(self.state, State::Write { .. }) && self.pace_timer() {
            return self.on_ready(ctx);
        }
        if self.cgi_pace_timer(ctx.now) {
            return self.on_ready(ctx);
        }
        if let State::Proxy { run, .. } = &self.state {
            let read_timeout = run.read_timeout();
            if self.pace_timer() {
                self.deadline = Some(ctx.now + read_timeout);
                return self.on_ready(ctx);
            }
        }
        if let Some(kind) = self.timeout_kind() {
            metrics::timeout(kind);
        }
        let gateway = match self.state {
            State::Cgi { .. } => Some(self.cgi_timeout(ctx)),
            State::Proxy { .. } => Some(self.proxy_timeout(ctx)),
            _ => None,
        };
        if matches!(self.state, State::HeldAnswer { .. }) {
            self.send_delayed(ctx);
            return self.on_ready(ctx);
        }
        if let Some(answered) = gateway {
            return if answered {
                self.on_ready(ctx)
            } else {
                Status::Close
            };
        }
        match self.state {
            State::Head { started: true } | State::Body { .. } => {
                let idx = handler::server_index(ctx.config, self.origin.group, None);
                let resp = handler::error_response(ctx.config, idx, None, 408);
                self.respond(ctx, resp, None, true);
                self.on_ready(ctx)
            }
            _ => Status::Close,
        }
    }

    // ---- reading the head -------------------------------------------------

    fn step_head(&mut self, ctx: &mut Ctx) -> Step {
        // A new request: realip's address was the previous one's.
        self.origin.without_client();
        let server = self.default_server(ctx.config);
        let limit = server.client_header_buffer_size;
        let rules = NameRules {
            ignore_invalid: server.ignore_invalid_headers,
            underscores: server.underscores_in_headers,
            max_headers: server.max_headers,
            lenient: true,
        };
        if !self.input.is_empty() {
            let parsed = parse_head_with(self.input.filled(), limit, &rules);
            match parsed.and_then(|head| handler::dav::gate(ctx.config, head)) {
                Ok(Some((req, n))) => {
                    let line_max = self.default_server(ctx.config).header_line_max;
                    if let Some(Err(e)) =
                        line_max.map(|m| check_line_lengths(&self.input.filled()[..n], m))
                    {
                        self.input.consume(n);
                        self.count_request();
                        metrics::error(ErrorKind::BadRequest);
                        let idx = handler::server_index(ctx.config, self.origin.group, None);
                        let resp = handler::error_response(ctx.config, idx, None, e.status());
                        self.respond(ctx, resp, Some(&req), true);
                        return Step::Progress;
                    }
                    self.input.consume(n);
                    self.redirects = 0;
                    self.origin.conn.requests += 1;
                    self.count_request();
                    // As nginx: from a complete head on, the request is "writing"
                    // (a body to read makes it "reading" again).
                    self.meter.set(Phase::Writing);
                    self.start_request(ctx, req);
                    return Step::Progress;
                }
                Ok(None) => {}
                Err(e) => {
                    self.count_request();
                    metrics::error(ErrorKind::BadRequest);
                    self.meter.set(Phase::Writing);
                    let idx = handler::server_index(ctx.config, self.origin.group, None);
                    let resp = handler::error_response(ctx.config, idx, None, e.status());
                    self.respond(ctx, resp, None, true);
                    return Step::Progress;
                }
            }
        }
        match self.fill(limit) {
            Ok(0) => Step::Close,
            Ok(_) => {
                if let State::Head { started: false } = self.state {
                    // A request begins with its first byte (nginx counts it then).
                    metrics::request_started();
                    self.state = State::Head { started: true };
                    let timeout = self.default_server(ctx.config).client_header_timeout;
                    self.deadline = Some(ctx.now + timeout);
                }
                Step::Progress
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.input.release();
                Step::Blocked
            }
            Err(_) => Step::Close,
        }
    }

    /// Counts a request whose head came whole from the buffer (pipelined): one
    /// whose first byte came with a read was counted then.
    fn count_request(&self) {
        if let State::Head { started: false } = self.state {
            metrics::request_started();
        }
    }

    /// Reads once into the input buffer (retrying EINTR).
    ///
    /// A read that returned less than it asked for emptied the socket, so the next
    /// one would only say WouldBlock: it is skipped until the next readiness event
    /// (new data is always a new edge), saving a syscall per request.
    fn fill(&mut self, max: usize) -> io::Result<usize> {
        let r = self.fill_once(max);
        match &r {
            Ok(n) => metrics::received(*n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => metrics::error(ErrorKind::ClientIo),
        }
        r
    }

    fn fill_once(&mut self, max: usize) -> io::Result<usize> {
        if !self.read_ready && !self.hangup {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let room = self.input.room(max);
        loop {
            match self.input.read_from(&mut self.stream, max) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_ready = false;
                    return Err(e);
                }
                Ok(n) if n > 0 && n < room && !self.hangup && self.stream.short_read_drains() => {
                    self.read_ready = false;
                    return Ok(n);
                }
                other => return other,
            }
        }
    }

    /// Answers a request `ssl_verify_client` refuses (before any phase, as
    /// nginx), with the `add_header ... always` of where it would have gone.
    fn refuse_client_cert(&mut self, ctx: &mut Ctx, mut resp: Response, req: Request) {
        let routed = match handler::route(ctx.config, self.origin.clone(), &req) {
            Ok(r) => Some(r),
            Err(early) => early.routed,
        };
        if let Some(r) = &routed {
            let cx = handler::Cx {
                config: ctx.config,
                origin: self.origin.for_request(r),
                req: &req,
                trace: None,
            };
            cx.add_headers(&mut resp, r);
        }
        self.respond(ctx, resp, Some(&req), true);
    }

    /// A head is complete: route it, then read its body or answer at once.
    fn start_request(&mut self, ctx: &mut Ctx, mut req: Request) {
        self.release_limits();
        let has_body = req.framing != Framing::None;
        if self.redirects == 0 {
            self.started = ctx.now;
        }
        if ctx.config.ssl_vars {
            req.tls = self.stream.ssl_info();
        }
        let refused = transport::admit(ctx.config, self.origin.clone(), &self.stream, &mut req);
        self.server = handler::server_index(ctx.config, self.origin.group, req.host.as_deref());
        if let Some(resp) = refused {
            // nginx closes after its TLS 400s (495-497), not after a 421.
            let close = has_body || self.stream.plain_http_on_tls() || resp.status == 400;
            return self.respond(ctx, resp, Some(&req), close);
        }
        if let Some(resp) = transport::check_client_cert(ctx.config, self.server, &req) {
            return self.refuse_client_cert(ctx, resp, req);
        }
        self.route_request(ctx, req);
    }

    /// The phases for an admitted head (again after a password check), then
    /// its body or the answer.
    fn route_request(&mut self, ctx: &mut Ctx, req: Request) {
        let has_body = req.framing != Framing::None;
        let routed = handler::route(ctx.config, self.origin.clone(), &req);
        self.routed(ctx, req, routed, has_body);
    }

    /// What the phases made of `req`: an early answer (or an error page's request
    /// for a backend), a password check to wait for, a wait (`limit_req`'s
    /// delay), or a routed request.
    fn routed(
        &mut self,
        ctx: &mut Ctx,
        mut req: Request,
        routed: Result<Routed, Box<Early>>,
        has_body: bool,
    ) {
        let routed = match routed {
            Ok(mut r) => {
                if let Some(check) = r.pending.take() {
                    return self.wait_for_check(ctx, req, check);
                }
                self.origin = self.origin.for_request(&r);
                r
            }
            Err(early) => {
                let Early { resp, routed, pass } = *early;
                if let Some(r) = &routed {
                    self.origin = self.origin.for_request(r);
                    if let Some(delay) = r.delay {
                        return self.delay_answer(ctx, req, resp, r.clone(), delay);
                    }
                }
                match (pass, routed) {
                    // An error page in a proxied location: its request (with
                    // the body, as nginx passes it) goes on from here.
                    (Some(get), Some(r)) if r.location(ctx.config).gateway().is_some() => {
                        req = *get;
                        r
                    }
                    (_, routed) => {
                        return self.answer_early(ctx, &req, resp, routed.as_ref(), has_body);
                    }
                }
            }
        };
        match routed.limits.delay {
            Some((delay, _)) => self.park_delayed(ctx, req, routed, delay),
            None => self.routed_request(ctx, req, routed),
        }
    }

    /// A routed request (after any `limit_req` delay): read its body or answer.
    fn routed_request(&mut self, ctx: &mut Ctx, req: Request, routed: Routed) {
        let has_body = req.framing != Framing::None;
        let limit = routed.location(ctx.config).client_max_body_size;
        let reader = match BodyReader::new(req.framing, limit) {
            Ok(r) => r,
            Err(e) => {
                let resp =
                    handler::error_response(ctx.config, routed.server, Some(&routed), e.status());
                return self.respond(ctx, resp, Some(&req), true);
            }
        };
        // A body already here whole and within the buffer is read as buffered:
        // nginx keeps such a preread body in memory, where `$request_body` sees it.
        let preread = matches!(req.framing, Framing::Length(n)
            if usize::try_from(n).is_ok_and(|n| n <= self.input.filled().len()
                && n <= routed.location(ctx.config).bodies.memory_limit()));
        if !preread && let Some(live) = proxy::live::for_request(ctx.config, &routed, &req) {
            if req.expect_continue && self.input.is_empty() {
                self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            return self.start_live_proxy(ctx, req, routed, live);
        }
        let sink = match handler::body_sink(ctx.config, &routed, &req) {
            Ok(s) => s,
            Err(status) => {
                let resp =
                    handler::error_response(ctx.config, routed.server, Some(&routed), status);
                return self.respond(ctx, resp, Some(&req), has_body);
            }
        };
        if reader.is_done() {
            // An empty body a backend reads is still "read": nginx answers the
            // expectation first.
            let reads = routed.script.is_some() || routed.location(ctx.config).gateway().is_some();
            let declared = has_body || req.header("content-length").is_some();
            if req.expect_continue && declared && reads && self.input.is_empty() {
                self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            return self.finish_request(ctx, req, routed, sink);
        }
        if req.expect_continue && self.input.is_empty() {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        self.deadline = Some(ctx.now + routed.server(ctx.config).client_body_timeout);
        self.state = State::Body {
            req: Box::new(req),
            routed: Box::new(routed),
            reader,
            sink,
        };
    }

    // ---- reading the body -------------------------------------------------

    fn step_body(&mut self, ctx: &mut Ctx) -> Step {
        let State::Body { reader, sink, .. } = &mut self.state else {
            return Step::Close;
        };
        match reader.feed(self.input.filled(), sink) {
            Ok(n) => self.input.consume(n),
            Err(e) => return self.fail_body(ctx, e.status()),
        }
        if reader.is_done() {
            let State::Body {
                req, routed, sink, ..
            } = std::mem::replace(&mut self.state, State::Head { started: false })
            else {
                return Step::Close;
            };
            self.meter.set(Phase::Writing);
            self.finish_request(ctx, *req, *routed, sink);
            return Step::Progress;
        }
        if self.out_pos < self.out.len() {
            // A pending "100 Continue": best effort, the body may come anyway.
            if let Err(e) = self.flush_out()
                && e.kind() != io::ErrorKind::WouldBlock
            {
                return Step::Close;
            }
        }
        match self.fill(super::buffer::INITIAL) {
            Ok(0) => Step::Close,
            Ok(_) => {
                if let State::Body { routed, .. } = &self.state {
                    self.deadline = Some(ctx.now + routed.server(ctx.config).client_body_timeout);
                }
                Step::Progress
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::Blocked,
            Err(_) => Step::Close,
        }
    }

    fn fail_body(&mut self, ctx: &mut Ctx, status: u16) -> Step {
        metrics::error(ErrorKind::BadBody);
        self.meter.set(Phase::Writing);
        let State::Body { req, routed, .. } =
            std::mem::replace(&mut self.state, State::Head { started: false })
        else {
            return Step::Close;
        };
        let resp = handler::error_response(ctx.config, routed.server, Some(&routed), status);
        self.respond(ctx, resp, Some(&req), true);
        Step::Progress
    }

    fn finish_request(&mut self, ctx: &mut Ctx, req: Request, mut routed: Routed, sink: Sink) {
        match handler::process(ctx.config, &mut routed, self.origin.clone(), &req, sink) {
            Outcome::Respond(resp) => {
                self.respond_logged(ctx, resp, Some(&req), false, Some(&routed));
            }
            Outcome::Cgi(job) => self.start_cgi(ctx, req, routed, job),
            Outcome::Proxy(body) => self.start_proxy(ctx, req, routed, body),
            Outcome::ErrorPass(get) => self.start_error_pass(ctx, *get, routed),
        }
    }

    // ---- writing ----------------------------------------------------------

    /// Queues `resp` and switches to writing. `close` forces the connection closed
    /// afterwards (framing of what follows is unknown, or the body was not read).
    fn respond(&mut self, ctx: &mut Ctx, resp: Response, req: Option<&Request>, close: bool) {
        self.respond_logged(ctx, resp, req, close, None);
    }

    fn respond_logged(
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
    fn respond_with(
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
            self.queue_body(ctx, body);
        }
        self.state = State::Write {
            close_after: !keep_alive,
        };
        self.set_send_timeout(ctx, routed);
    }

    /// Starts the send deadline of a response of `routed`'s location (or of the
    /// server, for an answer before routing), as nginx's `send_timeout` per location.
    fn set_send_timeout(&mut self, ctx: &Ctx, routed: Option<&Routed>) {
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
    fn keep_alive_for(
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
    fn announce_keep_alive(&self, resp: &mut Response) {
        if let Some(t) = self.idle_header {
            resp.header("Keep-Alive", format!("timeout={t}"));
        }
    }

    /// Writes the access log line for a response to a routed request: `head`
    /// and `body` are the bytes its head and body take on the wire.
    fn log_response(
        &mut self,
        ctx: &mut Ctx,
        req: Option<&Request>,
        resp: &Response,
        routed: Option<&Routed>,
        (head, body): (u64, u64),
        upstream: Option<&crate::vars::upstream::Trace>,
    ) {
        let exchange = Exchange {
            origin: self.origin.clone(),
            req,
            routed,
            resp,
            head_bytes: head,
            body_bytes: body,
            started: Some(self.started),
            upstream,
        };
        ctx.logs.log(ctx.config, &exchange);
        let server = routed.map_or(self.server, |r| r.server);
        let names = ctx.config.servers.get(server).map(|s| &s.server_names);
        metrics::request_done(&metrics::Finished {
            server: names.and_then(|n| n.first()).map_or("", String::as_str),
            method: req.map(|r| r.method),
            status: resp.status,
            bytes: head + body,
            // The loop's time, as nginx's $request_time (no clock read per request).
            duration: ctx.now.saturating_duration_since(self.started),
        });
    }

    fn queue_body(&mut self, ctx: &mut Ctx, body: Body) {
        match body {
            Body::Empty => {}
            Body::Encoded(mut stream) => {
                if let Some((fill, file)) = stream.take_fill() {
                    fill_cache(ctx, (ctx.key, self.serial), fill, file);
                }
                self.encoded = Some(stream);
            }
            Body::Recoded(stream) => self.recoded = Some(stream),
            Body::Parts { pieces, .. } => {
                self.pieces.get_or_insert_default().extend(pieces);
                self.queue_pieces(ctx);
            }
            Body::Bytes(b) => self.out.extend_from_slice(&b),
            Body::Shared { data, offset, len } => {
                if let Some(part) = data.get(offset..offset + len) {
                    self.out.extend_from_slice(part);
                }
            }
            Body::File {
                file,
                offset,
                len,
                sendfile,
                aio,
            } => {
                if len <= SMALL_FILE && self.append_file(&file, offset, len).is_ok() {
                    return;
                }
                self.file = Some(FileOut {
                    file,
                    offset,
                    remaining: len,
                    sendfile: sendfile && self.stream.can_sendfile(),
                    aio,
                    waiting: false,
                    failed: false,
                });
            }
        }
    }

    /// Queues pieces of a `Body::Parts` until one is a file left to send.
    fn queue_pieces(&mut self, ctx: &mut Ctx) {
        while self.file.is_none()
            && let Some(piece) = self.pieces.as_mut().and_then(|p| p.pop_front())
        {
            self.queue_body(ctx, piece);
        }
    }

    /// Reads a small file body straight into the output buffer (no zero-filling:
    /// `read_to_end` reads into spare capacity).
    fn append_file(&mut self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        let start = self.out.len();
        let res = if offset == 0 {
            self.out.reserve(len as usize);
            file.take(len).read_to_end(&mut self.out).and_then(|n| {
                if n as u64 == len {
                    Ok(())
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                }
            })
        } else {
            self.out.resize(start + len as usize, 0);
            file.read_exact_at(&mut self.out[start..], offset)
        };
        if res.is_err() {
            self.out.truncate(start);
        }
        res
    }

    fn step_write(&mut self, ctx: &mut Ctx) -> Step {
        // This turn's work on the body, against its share (SENDFILE_MAX_CHUNK).
        let mut spent = 0;
        loop {
            if self.pending_output() && self.pace_wait(ctx.now) {
                return Step::Blocked;
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

    fn set_nodelay(&mut self) {
        if !self.nodelay {
            self.nodelay = self.stream.set_nodelay(true).is_ok();
        }
    }

    /// Whether the client has sent nothing we have not read. If the last read
    /// drained the socket, that is the answer (nginx closes at this point too);
    /// otherwise one read tells, and any bytes it returns are discarded, since the
    /// connection is closing anyway.
    fn nothing_pending(&mut self) -> bool {
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

    fn progress_send(&mut self, ctx: &Ctx) {
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
            let more = closing
                || self.encoded.is_some()
                || self.recoded.is_some()
                || self.pieces.as_ref().is_some_and(|p| !p.is_empty())
                || self.file.as_ref().is_some_and(|f| f.remaining > 0);
            self.flush_out_more(more)?;
            return Ok(Sent::More);
        }
        if let Some(stream) = &mut self.encoded {
            // The next compressed chunk, once the previous one is out.
            let Some(left) = SENDFILE_MAX_CHUNK.checked_sub(*spent).filter(|&l| l > 0) else {
                return Ok(Sent::Share);
            };
            self.out.clear();
            self.out_pos = 0;
            let before = stream.remaining();
            let done = stream.fill(&mut self.out, left.div_ceil(COMPRESS_COST))?;
            *spent += (before - stream.remaining()).saturating_mul(COMPRESS_COST);
            if done {
                self.encoded = None;
            }
            return Ok(Sent::More);
        }
        if let Some(stream) = &mut self.recoded {
            // The next recoded piece, once the previous one is out.
            let Some(left) = SENDFILE_MAX_CHUNK.checked_sub(*spent).filter(|&l| l > 0) else {
                return Ok(Sent::Share);
            };
            self.out.clear();
            self.out_pos = 0;
            let before = stream.remaining();
            let done = stream.fill(&mut self.out, left)?;
            *spent += before - stream.remaining();
            if done {
                self.recoded = None;
            }
            return Ok(Sent::More);
        }
        let owner = (ctx.key, self.serial);
        let budget = self.pace_budget(ctx.now);
        let Some(f) = &mut self.file else {
            return Ok(Sent::Done);
        };
        if f.waiting {
            // The aio job's completion drives this connection again.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if f.failed {
            return Err(io::Error::other("reading the file failed"));
        }
        if f.remaining == 0 {
            self.file = None;
            if self.pieces.as_ref().is_none_or(|p| p.is_empty()) {
                return Ok(Sent::Done);
            }
            self.queue_pieces(ctx);
            return Ok(Sent::More);
        }
        if f.sendfile {
            let count = f.remaining.min(SENDFILE_MAX_CHUNK).min(budget);
            if f.aio
                && !aio::is_cached(&f.file, f.offset, count)
                && submit(ctx, owner, f, count, Kind::Warm)
            {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = sendfile(self.stream.socket(), f, count)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
            }
            let done = f.remaining == 0;
            self.paced(n, ctx.now);
            return Ok(if done {
                Sent::More
            } else if (n as u64) < count {
                // A short send means the socket buffer filled up: the kernel will
                // report writability once it drains, so no EAGAIN probe is needed.
                Sent::Full
            } else {
                Sent::Share
            });
        }
        if *spent >= SENDFILE_MAX_CHUNK {
            return Ok(Sent::Share);
        }
        let chunk = f.remaining.min(COPY_CHUNK as u64) as usize;
        *spent += chunk as u64;
        self.out.clear();
        self.out.resize(chunk, 0);
        self.out_pos = 0;
        let n = if f.aio {
            match aio::read_cached(&f.file, &mut self.out, f.offset) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if submit(ctx, owner, f, chunk as u64, Kind::Read) {
                        self.out.clear();
                        return Err(e);
                    }
                    f.file.read_exact_at(&mut self.out, f.offset)?;
                    chunk
                }
                other => other?,
            }
        } else {
            f.file.read_exact_at(&mut self.out, f.offset)?;
            chunk
        };
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
        }
        self.out.truncate(n);
        f.offset += n as u64;
        f.remaining -= n as u64;
        Ok(Sent::More)
    }

    /// An aio job for the file body finished: a `Read` brought the next chunk, a
    /// `Warm` brought the next sendfile chunk into the page cache.
    pub fn aio_done(&mut self, result: io::Result<Vec<u8>>) {
        let Some(f) = &mut self.file else {
            return;
        };
        if !f.waiting {
            return;
        }
        f.waiting = false;
        if f.sendfile {
            // A failed warm-up is left to sendfile, which meets the same error.
            return;
        }
        match result {
            Ok(buf) if !buf.is_empty() && buf.len() as u64 <= f.remaining => {
                f.offset += buf.len() as u64;
                f.remaining -= buf.len() as u64;
                self.out = buf;
                self.out_pos = 0;
            }
            _ => f.failed = true,
        }
    }

    /// This connection's serial number (slab keys are reused; serials are not).
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Writes from `out` until it is empty or the socket would block.
    fn flush_out(&mut self) -> io::Result<()> {
        self.flush_out_more(false)
    }

    /// Like `flush_out`; `more`: a file body follows at once, so the kernel may
    /// hold these bytes back to share a segment with it (MSG_MORE, nginx's
    /// tcp_nopush without the two setsockopt calls).
    fn flush_out_more(&mut self, more: bool) -> io::Result<()> {
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

    // ---- closing ----------------------------------------------------------

    fn step_linger(&mut self) -> Step {
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

/// Hands the next `len` bytes of `f` to the aio pool; `false` if there is no
/// pool (the caller then reads inline).
fn submit(ctx: &mut Ctx, owner: aio::Owner, f: &mut FileOut, len: u64, kind: Kind) -> bool {
    let job = aio::Job {
        owner,
        file: Arc::clone(&f.file),
        offset: f.offset,
        len: len as usize,
        kind,
    };
    f.waiting = ctx.aio.submit(job).is_ok();
    f.waiting
}

/// Has the pool compress a compressed-body cache entry the response streams
/// meanwhile; nothing if the entry is being computed already or there is no pool.
fn fill_cache(ctx: &mut Ctx, owner: aio::Owner, fill: Box<Fill>, file: Arc<File>) {
    if !cache::claim(&fill) {
        return;
    }
    let job = aio::Job {
        owner,
        file,
        offset: 0,
        len: 0,
        kind: Kind::Compress(fill),
    };
    if let Err(job) = ctx.aio.submit(job)
        && let Kind::Compress(fill) = job.kind
    {
        cache::complete(&fill, Err(io::Error::other("no thread pool")));
    }
}

/// One `sendfile(2)` call for up to `count` bytes of `f`.
fn sendfile(stream: &mio::net::TcpStream, f: &mut FileOut, count: u64) -> io::Result<usize> {
    let count = count as usize;
    let mut off = f.offset as libc::off_t;
    loop {
        // SAFETY: both descriptors are open for the duration of the call and `off`
        // is a valid pointer to a local.
        let n = unsafe { libc::sendfile(stream.as_raw_fd(), f.file.as_raw_fd(), &mut off, count) };
        if n >= 0 {
            f.offset = off as u64;
            f.remaining -= n as u64;
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an idle connection costs in user space is this struct (its buffers are
    /// freed between requests); the budget for 10,000 idle connections is 2 KiB each.
    #[test]
    fn an_idle_connection_is_small() {
        let size = std::mem::size_of::<Connection>();
        assert!(size <= 512, "Connection is {size} bytes");
    }
}
