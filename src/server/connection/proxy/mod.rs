//! The connection's gateway state: one request passed to a `proxy_pass` upstream
//! (HTTP/1) or a `fastcgi_pass` application (FastCGI records over the same kind of
//! backend socket; the protocol changes only how the request is written and how
//! the answer is read: `head`, `body`).
//!
//! ```text
//!   pick a server ─▶ Connecting ─▶ Sending ─▶ Head ─▶ Body ─▶ (pool or close the socket)
//!        ▲              │             │         │  └──101──▶ Tunnel
//!        └── next server (proxy_next_upstream), else 502 / 504
//! ```
//!
//! The upstream socket is a backend entry of the worker (`gateway::pool`): its
//! events wake this connection. The response head goes through the gateway relay
//! (`gateway::relay`) like a CGI script's; the body is relayed as it comes, reads
//! from the upstream pausing while the client is slower (a high-water mark on the
//! output). The access log line is written once the response is complete, with
//! the `$upstream_*` values of every server tried.

mod attempt;
mod body;
mod head;
pub(super) mod live;
mod run;
pub(super) mod stream;
mod tunnel;

pub(in crate::server::connection) use attempt::next_attempt;
pub(in crate::server::connection) use run::{cx_of, release_lease};

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::sync::Arc;
use std::time::Instant;

use super::{Connection, Ctx, State, Step};
use crate::config::proxy::{Protocol, Settings, next};
use crate::gateway::balance::Tried;
use crate::gateway::fastcgi::Demux;
use crate::gateway::http::BodyDecoder;
use crate::gateway::pool::Lease;
use crate::gateway::relay::Downstream;
use crate::handler::error_page::Page;
use crate::handler::{self, Cx, Routed};
use crate::http::body::{Spool, SpoolData};
use crate::http::request::Framing;
use crate::http::{Request, Response};
use crate::vars::upstream::{Attempt, Trace};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Sending,
    Head,
    Body,
    Tunnel,
}

/// Why an attempt failed (nginx's `NGX_HTTP_UPSTREAM_FT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Error,
    Timeout,
    InvalidHeader,
    Status(u16),
}

impl Failure {
    fn bit(self) -> u16 {
        match self {
            Failure::Error => next::ERROR,
            Failure::Timeout => next::TIMEOUT,
            Failure::InvalidHeader => next::INVALID_HEADER,
            Failure::Status(s) => next::status_bit(s),
        }
    }

    /// The failure's kind, for the counters.
    fn meter(self) -> crate::metrics::UpstreamFailure {
        use crate::metrics::UpstreamFailure as M;
        match self {
            Failure::Error => M::Error,
            Failure::Timeout => M::Timeout,
            Failure::InvalidHeader => M::InvalidHeader,
            Failure::Status(_) => M::Status,
        }
    }

    /// The answer when no other server is tried.
    fn status(self) -> u16 {
        match self {
            Failure::Timeout => 504,
            Failure::Status(s) => s,
            _ => 502,
        }
    }
}

pub(super) struct ProxyRun {
    protocol: Protocol,
    /// The location's `proxy_*` or `fastcgi_*` settings.
    settings: Arc<Settings>,
    /// FastCGI: the application's records so far.
    fcgi: Option<Demux>,
    group: usize,
    peer: usize,
    lease: Option<Lease>,
    tried: Tried,
    /// Attempts left (`proxy_next_upstream_tries`, else the group's size).
    tries_left: u32,
    first_try: Instant,
    attempt: Attempt,
    attempt_started: Instant,
    phase: Phase,
    /// The request head (FastCGI: the records, a body in memory included).
    request: Vec<u8>,
    /// A body in memory (sent after `request` over HTTP).
    body_mem: Vec<u8>,
    body_len: Option<u64>,
    sent: usize,
    /// A body spooled to a file, sent after `request`.
    file: Option<File>,
    file_buf: Vec<u8>,
    file_pos: usize,
    file_eof: bool,
    /// The head asked the upstream to keep the connection.
    keep_alive: bool,
    upgrade: bool,
    head_request: bool,
    input: Vec<u8>,
    decoder: BodyDecoder,
    upstream_close: bool,
    down: Option<Downstream>,
    /// The response sent (without its body), for the access log at the end.
    resp: Option<Box<Response>>,
    head_bytes: u64,
    body_bytes: u64,
    close_after: bool,
    trace: Trace,
    tunnel_client_done: bool,
    /// The next attempt is the first of a backend an error page passed to.
    redirected: bool,
    /// While a TLS handshake is under way: its deadline.
    handshake_until: Option<Instant>,
    /// `proxy_read_timeout`: also the idle limit of a tunnel.
    read_timeout: std::time::Duration,
    /// The client's body, relayed as it arrives (`proxy_request_buffering off`).
    live: Option<Box<live::Live>>,
}

impl Connection {
    /// Starts passing a request whose body is complete to its upstream.
    pub(super) fn start_proxy(&mut self, ctx: &mut Ctx, req: Request, routed: Routed, body: Spool) {
        let n = body.len();
        let body = match body.into_data() {
            Ok(d) => (d, (n > 0).then_some(n)),
            Err(e) => {
                log::error!("reading the spooled request body: {e}");
                return self.proxy_error(ctx, &req, &routed, 500);
            }
        };
        self.start_gateway(ctx, req, routed, body, Trace::default(), None);
    }

    /// An error page in a proxied location, for an error a content handler
    /// found (its body went to the handler): `get` goes there without one.
    pub(super) fn start_error_pass(&mut self, ctx: &mut Ctx, get: Request, routed: Routed) {
        let body = (SpoolData::Memory(Vec::new()), None);
        self.start_gateway(ctx, get, routed, body, Trace::default(), None);
    }

    /// Starts passing a request whose body is still to come (`live`): it is
    /// relayed to the upstream as it arrives.
    pub(super) fn start_live_proxy(
        &mut self,
        ctx: &mut Ctx,
        req: Request,
        routed: Routed,
        live: Box<live::Live>,
    ) {
        let len = match req.framing {
            Framing::Length(n) => Some(n),
            _ => None,
        };
        let body = (SpoolData::Memory(Vec::new()), len);
        self.start_gateway(ctx, req, routed, body, Trace::default(), Some(live));
    }

    /// [`Self::start_proxy`] with the body (and its length, `None` for none) at
    /// hand, and what earlier backends of the request did.
    fn start_gateway(
        &mut self,
        ctx: &mut Ctx,
        mut req: Request,
        routed: Routed,
        body: (SpoolData, Option<u64>),
        trace: Trace,
        live: Option<Box<live::Live>>,
    ) {
        if req.framing == Framing::Chunked && live.is_none() {
            // The whole body is in: its length is known now (`$content_length`).
            req.framing = Framing::Length(body.1.unwrap_or(0));
        }
        let cx = cx_of(ctx.config, &self.origin, &req);
        let mut run = match ProxyRun::build(ctx, &cx, &routed, body, trace, live) {
            Ok(run) => run,
            Err(status) => return self.proxy_error(ctx, &req, &routed, status),
        };
        match attempt::next_attempt(ctx, &cx, &routed, &mut run, (ctx.key, self.serial)) {
            Ok(deadline) => {
                self.deadline = Some(deadline);
                self.state = State::Proxy {
                    req: Box::new(req),
                    routed: Box::new(routed),
                    run,
                }
            }
            Err(status) => self.proxy_finish_error(ctx, &req, &routed, &mut run, status),
        }
    }

    /// The client's body ended badly while it was relayed: refused with
    /// `status` (400, 413), or the client went away (`None`).
    fn live_body_failed(&mut self, status: Option<u16>) -> Round {
        match status {
            Some(code) => Round::Refused(code),
            None => Round::Close,
        }
    }

    fn cx<'a>(&self, ctx: &'a Ctx, req: &'a Request) -> Cx<'a> {
        cx_of(ctx.config, &self.origin, req)
    }

    pub(super) fn step_proxy(&mut self, ctx: &mut Ctx) -> Step {
        let State::Proxy {
            req,
            routed,
            mut run,
        } = std::mem::replace(&mut self.state, State::Head { started: false })
        else {
            return Step::Close;
        };
        let round = self.proxy_round(ctx, &req, &routed, &mut run);
        match round {
            Round::Again(progress) => {
                self.state = State::Proxy { req, routed, run };
                if progress {
                    Step::Progress
                } else {
                    Step::Blocked
                }
            }
            Round::Failed(why) => {
                self.proxy_failed(ctx, req, routed, run, why);
                Step::Progress
            }
            Round::Finished => {
                self.proxy_done(ctx, &req, &routed, &mut run);
                Step::Progress
            }
            Round::Replaced => Step::Progress,
            Round::Refused(status) => {
                // The upstream has part of a body: its connection is not reused.
                release_lease(ctx, &mut run, false);
                run.end_attempt(ctx.now, status);
                let resp =
                    handler::error_response(ctx.config, routed.server, Some(&routed), status);
                self.respond_with(ctx, resp, Some(&req), true, Some(&routed), Some(&run.trace));
                Step::Progress
            }
            Round::Close => {
                release_lease(ctx, &mut run, false);
                Step::Close
            }
        }
    }

    fn proxy_round(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut ProxyRun,
    ) -> Round {
        let Some(key) = run.lease.as_ref().map(|l| l.key) else {
            return Round::Failed(Failure::Error);
        };
        let settings = Arc::clone(&run.settings);
        let mut progress = false;
        if run.phase == Phase::Connecting {
            let Some(stream) = ctx.gateway.backends.stream(key) else {
                return Round::Failed(Failure::Error);
            };
            match stream.connected() {
                Ok(true) => {
                    run.attempt.connect = Some(ctx.now - run.attempt_started);
                    run.phase = Phase::Sending;
                    self.deadline = Some(ctx.now + settings.send_timeout);
                    if stream.handshaking() {
                        // The TLS handshake has proxy_connect_timeout, as in nginx.
                        run.handshake_until = Some(ctx.now + settings.connect_timeout);
                        self.deadline = run.handshake_until;
                    }
                }
                Ok(false) => return Round::Again(false),
                Err(e) => {
                    log::error!("connect() to {} failed ({e})", run.attempt.addr);
                    return Round::Failed(Failure::Error);
                }
            }
        }
        if run.phase == Phase::Sending {
            let sent = match body::send_request(ctx, key, run) {
                Ok(true) if run.live.is_some() => match self.send_live(ctx, key, run) {
                    Ok(done) => Ok(done),
                    Err(live::Stop::Upstream(why, e)) => {
                        log::error!("writing to upstream {} failed ({e})", run.attempt.addr);
                        return Round::Failed(why);
                    }
                    Err(live::Stop::Client(status)) => return self.live_body_failed(status),
                },
                other => other,
            };
            match sent {
                Ok(true) => {
                    progress = true;
                    run.phase = Phase::Head;
                    self.deadline = run
                        .handshake_until
                        .or(Some(ctx.now + settings.read_timeout));
                }
                Ok(false) => return Round::Again(progress),
                Err(e) => {
                    log::error!("writing to upstream {} failed ({e})", run.attempt.addr);
                    return Round::Failed(Failure::Error);
                }
            }
        }
        if run.phase == Phase::Head {
            let round = self.read_head(ctx, req, routed, run, key);
            if run.handshake_until.is_some()
                && ctx
                    .gateway
                    .backends
                    .stream(key)
                    .is_some_and(|s| !s.handshaking())
            {
                run.handshake_until = None;
                if run.phase == Phase::Head {
                    self.deadline = Some(ctx.now + settings.read_timeout);
                }
            }
            match round {
                Some(round) => return round,
                None => progress = true,
            }
        }
        if run.phase == Phase::Tunnel {
            return self.tunnel_round(ctx, run, key);
        }
        if run.phase == Phase::Body {
            // Reading stopped at WouldBlock or the output's high-water mark: what
            // it relayed is progress once sent below (else the round would spin
            // while a slow upstream, maybe in this very worker, has nothing yet).
            if let Some(round) = self.relay_upstream(ctx, run, key) {
                return round;
            }
            let mut sent = false;
            if self.out_pos < self.out.len() {
                self.set_nodelay();
                match self.relay_flush() {
                    Ok(s) => sent = s,
                    Err(_) => return Round::Close,
                }
                // `limit_rate`: the rest waits for the pace's timer (the read
                // timeout comes back when it fires).
                if self.out_pos < self.out.len() && self.pace_wait(ctx.now) {
                    return Round::Again(false);
                }
            }
            if !sent && !progress {
                return Round::Again(false);
            }
            progress |= sent;
            self.deadline = Some(ctx.now + settings.read_timeout);
        }
        if self.client_gone() {
            return Round::Close;
        }
        Round::Again(progress)
    }

    /// The response is complete: log it, then write what is queued.
    fn proxy_done(&mut self, ctx: &mut Ctx, req: &Request, routed: &Routed, run: &mut ProxyRun) {
        if let Some(b) = ctx.gateway.balancer(ctx.config, run.group) {
            b.done(run.peer, false, ctx.now);
        }
        run.end_attempt(ctx.now, 0);
        if let Some(resp) = run.resp.take() {
            let sizes = (run.head_bytes, run.body_bytes);
            self.log_response(ctx, Some(req), &resp, Some(routed), sizes, Some(&run.trace));
        }
        self.state = State::Write {
            close_after: run.close_after,
        };
        self.set_send_timeout(ctx, Some(routed));
    }

    /// Answers `status` (with the location's error page) and logs the trace.
    fn proxy_finish_error(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut ProxyRun,
        status: u16,
    ) {
        release_lease(ctx, run, false);
        let cx = self.cx(ctx, req);
        match handler::error_page::resolve(&cx, routed, status) {
            Page::Ready(resp, done) => {
                // The log line shows the state the error page was served in ($uri...).
                let routed = done.as_ref().unwrap_or(routed);
                self.respond_traced(ctx, resp, req, routed, &run.trace);
            }
            // `error_page 502 @fallback` where @fallback passes to a backend too: the
            // request goes there, the servers tried so far stay in its trace.
            Page::Pass(get, next) => {
                let trace = std::mem::take(&mut run.trace);
                let mut body = match run.file.take() {
                    Some(f) => SpoolData::File(f),
                    None => SpoolData::Memory(std::mem::take(&mut run.body_mem)),
                };
                if let SpoolData::File(f) = &mut body
                    && f.seek(SeekFrom::Start(0)).is_err()
                {
                    body = SpoolData::Memory(Vec::new());
                }
                self.start_gateway(ctx, *get, *next, (body, run.body_len), trace, None);
            }
        }
    }

    /// An error before anything was tried.
    fn proxy_error(&mut self, ctx: &mut Ctx, req: &Request, routed: &Routed, status: u16) {
        let resp = handler::error_response(ctx.config, routed.server, Some(routed), status);
        self.respond(ctx, resp, Some(req), false);
    }

    /// The backend slab keys this connection holds (closed with it).
    pub fn backend_keys(&self) -> Vec<usize> {
        match &self.state {
            State::Proxy { run, .. } => run.backend().into_iter().collect(),
            State::H2(h2) => h2.backend_keys(),
            _ => Vec::new(),
        }
    }

    /// Queues an error answer for a proxied request and logs it with the trace.
    fn respond_traced(
        &mut self,
        ctx: &mut Ctx,
        resp: Response,
        req: &Request,
        routed: &Routed,
        trace: &Trace,
    ) {
        self.respond_with(ctx, resp, Some(req), false, Some(routed), Some(trace));
    }
}

/// The result of one pass.
enum Round {
    /// Still going; whether anything moved.
    Again(bool),
    /// This attempt failed.
    Failed(Failure),
    /// The response is complete: send what is queued, then keep-alive or close.
    Finished,
    /// The connection's state was replaced (an error page instead).
    Replaced,
    /// The client's body (relayed as it came) is refused with this status.
    Refused(u16),
    Close,
}
