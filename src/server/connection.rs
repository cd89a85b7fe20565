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

use std::sync::Arc;
use std::time::{Duration, Instant};

mod auth;
mod cgi;
mod discard;
mod h2;
mod limits;
mod outgoing;
mod proxy;
mod proxy_header;
mod read;
mod request;
mod write;

use super::access_log::AccessLogs;
use super::aio::Aio;
use super::buffer::Buffer;
use crate::config::{Config, Server};
use crate::handler::{self, Origin, Routed, Sink};
use crate::http::body::BodyReader;
use crate::http::{Request, Response};
use crate::metrics::{self, ConnMeter, Phase, TimeoutKind};
use crate::transport::Transport;
use outgoing::Outgoing;

/// How long a closing connection may keep sending us bytes we discard (nginx's
/// lingering close), so the client reads our response instead of a reset.
const LINGER_TIME: Duration = Duration::from_secs(5);
/// The most bytes discarded while lingering.
const LINGER_BYTES: usize = 1 << 20;
/// The most steps one wakeup runs before the connection yields to the others.
const MAX_ROUNDS: u32 = 64;
/// What the event loop needs to give a connection.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub now: Instant,
    /// The current `Date` header value.
    pub date: &'a str,
    pub logs: &'a mut AccessLogs,
    /// Graceful shutdown in progress: finish this response, keep nothing alive.
    pub shutting_down: bool,
    /// A reload published a newer configuration than this connection's: an
    /// HTTP/2 connection sends GOAWAY, finishes its streams and closes, so its
    /// client reconnects onto the new one.
    pub config_stale: bool,
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
    /// The connection speaks HTTP/2: its streams are there.
    H2(Box<h2::H2>),
    /// Response sent, write side shut: discard input until the peer closes.
    /// `patient`: the client may still be sending a body we refused, so wait for
    /// it (else its data would arrive on a closed socket and reset our response);
    /// otherwise close as soon as nothing is pending.
    Linger { discarded: usize, patient: bool },
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
    /// The rest of the response body, produced into `out` as it drains.
    outgoing: Outgoing,
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
            outgoing: Outgoing::default(),
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
        self.pace_peer_closed();
    }

    /// The configuration this connection serves under.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Speaks HTTP/2 (told of a reload so it can send GOAWAY).
    pub fn is_h2(&self) -> bool {
        matches!(self.state, State::H2(_))
    }

    /// Idle between requests, or not yet past its PROXY header (closed at once
    /// on shutdown).
    pub fn is_idle(&self) -> bool {
        let waiting = matches!(
            self.state,
            State::Head { started: false } | State::ProxyHeader
        );
        (waiting && self.input.is_empty()) || self.h2_idle()
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
        let mut rounds = 0u32;
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
                State::H2(_) => self.step_h2(ctx),
            };
            self.meter.set(self.phase());
            match step {
                // A peer that keeps the connection busy (pipelined requests, a
                // script flooding its pipes) gets a bounded share of the turn.
                Step::Progress if rounds >= MAX_ROUNDS => return Status::Yield,
                Step::Progress => rounds += 1,
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
            State::H2(_) if self.h2_idle() => Phase::Waiting,
            State::H2(_) => Phase::Writing,
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
            // The HTTP/2 side counts its own.
            State::H2(_) => return None,
        })
    }

    /// The deadline passed: 408 if a request was under way, else just close.
    pub fn on_timeout(&mut self, ctx: &mut Ctx) -> Status {
        if let State::H2(_) = self.state {
            return match self.h2_timeout(ctx) {
                Step::Close => Status::Close,
                _ => self.on_ready(ctx),
            };
        }
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

    /// This connection's serial number (slab keys are reused; serials are not).
    pub fn serial(&self) -> u64 {
        self.serial
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
