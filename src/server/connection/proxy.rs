//! The connection's proxy state: one request passed to a `proxy_pass` upstream.
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

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::time::Instant;

use super::{Connection, Ctx, State, Step};
use crate::config::proxy::{Redirect, next};
use crate::config::upstream::Balance;
use crate::gateway::balance::Tried;
use crate::gateway::http::{self as up, BodyDecoder, Head, Piece};
use crate::gateway::pool::{Lease, PoolKey};
use crate::gateway::relay::{self, CHUNK, Downstream, OUT_HIGH_WATER};
use crate::gateway::{config_id, request};
use crate::handler::{self, Cx, Routed};
use crate::http::body::{Spool, SpoolData};
use crate::http::{Method, Request, Response};
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
    /// The request head, then the body when it is in memory.
    request: Vec<u8>,
    sent: usize,
    /// A body spooled to a file, sent after `request`.
    file: Option<File>,
    file_buf: Vec<u8>,
    file_pos: usize,
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
    /// `proxy_read_timeout`: also the idle limit of a tunnel.
    read_timeout: std::time::Duration,
}

impl Connection {
    /// Starts passing a request whose body is complete to its upstream.
    pub(super) fn start_proxy(&mut self, ctx: &mut Ctx, req: Request, routed: Routed, body: Spool) {
        let loc = routed.location(ctx.config);
        let (Some(pass), settings) = (loc.proxy_pass.as_ref(), &loc.proxy) else {
            return;
        };
        let cx = self.cx(ctx, &req);
        let (body, body_len) = match &settings.set_body {
            Some(t) => {
                let text = t.expand(&cx.env(&routed, true));
                let n = text.len() as u64;
                (SpoolData::Memory(text.into_bytes()), Some(n))
            }
            None if !settings.pass_request_body || body.is_empty() => {
                (SpoolData::Memory(Vec::new()), None)
            }
            None => {
                let n = body.len();
                match body.into_data() {
                    Ok(d) => (d, Some(n)),
                    Err(e) => {
                        log::error!("reading the spooled request body: {e}");
                        return self.proxy_error(ctx, &req, &routed, 500);
                    }
                }
            }
        };
        let out = request::build(&cx, &routed, pass, settings, body_len);
        let mut bytes = out.head;
        let file = match body {
            SpoolData::Memory(m) => {
                bytes.extend_from_slice(&m);
                None
            }
            SpoolData::File(f) => Some(f),
        };
        let group = match &pass.dynamic {
            None => Some(pass.upstream),
            Some(_) => dynamic_group(ctx, &cx, &routed, pass),
        };
        let Some(group) = group else {
            return self.proxy_error(ctx, &req, &routed, 502);
        };
        let size = ctx.config.upstreams[group].peers.len() as u32;
        let tries = match settings.next_upstream_tries {
            0 => size,
            n => n.min(size.max(1)),
        };
        let run = ProxyRun {
            group,
            peer: 0,
            lease: None,
            tried: Tried::default(),
            tries_left: tries.max(1),
            first_try: ctx.now,
            attempt: Attempt::default(),
            attempt_started: ctx.now,
            phase: Phase::Connecting,
            request: bytes,
            sent: 0,
            file,
            file_buf: Vec::new(),
            file_pos: 0,
            keep_alive: out.keep_alive,
            upgrade: out.upgrade,
            head_request: settings.method.as_deref().unwrap_or(req.method.as_str()) == "HEAD",
            input: Vec::new(),
            decoder: BodyDecoder::UntilClose,
            upstream_close: false,
            down: None,
            resp: None,
            head_bytes: 0,
            body_bytes: 0,
            close_after: false,
            trace: Trace::default(),
            tunnel_client_done: false,
            read_timeout: settings.read_timeout,
        };
        let mut run = Box::new(run);
        match self.next_attempt(ctx, &req, &routed, &mut run) {
            Ok(()) => {
                self.state = State::Proxy {
                    req: Box::new(req),
                    routed: Box::new(routed),
                    run,
                }
            }
            Err(status) => self.proxy_finish_error(ctx, &req, &routed, &mut run, status),
        }
    }

    fn cx<'a>(&self, ctx: &'a Ctx, req: &'a Request) -> Cx<'a> {
        Cx {
            config: ctx.config,
            origin: self.origin,
            req,
            trace: None,
        }
    }

    /// Picks the next server and starts connecting; `Err` is the status to answer.
    fn next_attempt(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut ProxyRun,
    ) -> Result<(), u16> {
        loop {
            if run.tries_left == 0 {
                return Err(502);
            }
            let key = balance_key(ctx, &self.cx(ctx, req), routed, run.group);
            let config = ctx.config;
            let Some(balancer) = ctx.gateway.balancer(config, run.group) else {
                return Err(502);
            };
            let Some(peer) = balancer.pick(ctx.now, key.as_deref(), &run.tried) else {
                let name = &config.upstreams[run.group].name;
                log::error!("no live upstreams while connecting to upstream \"{name}\"");
                run.trace.attempts.push(Attempt {
                    addr: name.clone(),
                    status: 502,
                    ..Attempt::default()
                });
                return Err(502);
            };
            run.tried.mark(peer);
            run.tries_left -= 1;
            run.peer = peer;
            let addr = config.upstreams[run.group].peers[peer].addr.clone();
            run.attempt = Attempt {
                addr: addr.to_string(),
                ..Attempt::default()
            };
            run.attempt_started = ctx.now;
            run.sent = 0;
            run.file_pos = 0;
            run.file_buf.clear();
            if let Some(f) = &mut run.file
                && f.seek(SeekFrom::Start(0)).is_err()
            {
                return Err(500);
            }
            let pool = PoolKey {
                config: config_id(config),
                group: run.group,
                addr,
            };
            match ctx
                .gateway
                .backends
                .lease(ctx.registry, &pool, (ctx.key, self.serial))
            {
                Ok(lease) => {
                    run.phase = if lease.reused {
                        run.attempt.connect = Some(std::time::Duration::ZERO);
                        Phase::Sending
                    } else {
                        Phase::Connecting
                    };
                    run.lease = Some(lease);
                    let s = &routed.location(config).proxy;
                    self.deadline = Some(ctx.now + s.connect_timeout);
                    return Ok(());
                }
                Err(e) => {
                    log::error!("connect() to {} failed ({e})", run.attempt.addr);
                    if let Some(b) = ctx.gateway.balancer(config, run.group) {
                        b.done(peer, true, ctx.now);
                    }
                    self.end_attempt(ctx, run, 502);
                    let s = &routed.location(config).proxy;
                    if s.next_upstream & next::ERROR == 0 {
                        return Err(502);
                    }
                }
            }
        }
    }

    /// Records the attempt in the trace.
    fn end_attempt(&mut self, ctx: &Ctx, run: &mut ProxyRun, status: u16) {
        let mut a = std::mem::take(&mut run.attempt);
        if a.status == 0 {
            a.status = status;
        }
        a.response = ctx.now.saturating_duration_since(run.attempt_started);
        run.trace.attempts.push(a);
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
            Round::Close => {
                self.release_lease(ctx, &mut run, false);
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
        let settings = std::sync::Arc::clone(&routed.location(ctx.config).proxy);
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
                }
                Ok(false) => return Round::Again(false),
                Err(e) => {
                    log::error!("connect() to {} failed ({e})", run.attempt.addr);
                    return Round::Failed(Failure::Error);
                }
            }
        }
        if run.phase == Phase::Sending {
            match send_request(ctx, key, run) {
                Ok(true) => {
                    progress = true;
                    run.phase = Phase::Head;
                    self.deadline = Some(ctx.now + settings.read_timeout);
                }
                Ok(false) => return Round::Again(progress),
                Err(e) => {
                    log::error!("writing to upstream {} failed ({e})", run.attempt.addr);
                    return Round::Failed(Failure::Error);
                }
            }
        }
        if run.phase == Phase::Head {
            match self.read_head(ctx, req, routed, run, key) {
                Some(round) => return round,
                None => progress = true,
            }
        }
        if run.phase == Phase::Tunnel {
            return self.tunnel_round(ctx, run, key);
        }
        if run.phase == Phase::Body {
            match self.relay_upstream(ctx, run, key) {
                Some(round) => return round,
                None => progress = true,
            }
            let before = self.out_pos;
            if self.out_pos < self.out.len() {
                self.set_nodelay();
                match self.flush_out() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Round::Close,
                }
            }
            if self.out_pos == before && !progress {
                return Round::Again(false);
            }
            self.deadline = Some(ctx.now + settings.read_timeout);
        }
        if self.client_gone() {
            return Round::Close;
        }
        Round::Again(progress)
    }

    /// Reads the upstream's response head; `None` once it is in and handled (the
    /// phase moved on), else what the round does.
    fn read_head(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut ProxyRun,
        key: usize,
    ) -> Option<Round> {
        loop {
            let Some(stream) = ctx.gateway.backends.stream(key) else {
                return Some(Round::Failed(Failure::Error));
            };
            let mut buf = [0u8; 16 * 1024];
            match stream.read(&mut buf) {
                Ok(0) => {
                    log::error!(
                        "upstream {} prematurely closed connection while reading response header",
                        run.attempt.addr
                    );
                    return Some(Round::Failed(Failure::Error));
                }
                Ok(n) => run.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Some(if self.client_gone() {
                        Round::Close
                    } else {
                        Round::Again(false)
                    });
                }
                Err(e) => {
                    log::error!("reading from upstream {} failed ({e})", run.attempt.addr);
                    return Some(Round::Failed(Failure::Error));
                }
            }
            match up::parse_head(&run.input) {
                Ok(None) => continue,
                Ok(Some((head, used))) => {
                    run.input.drain(..used);
                    return self.got_head(ctx, req, routed, run, head);
                }
                Err(e) => {
                    log::error!("upstream {} sent invalid header ({e:?})", run.attempt.addr);
                    return Some(Round::Failed(Failure::InvalidHeader));
                }
            }
        }
    }

    /// A response head arrived: retry, intercept, tunnel, or relay it.
    fn got_head(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut ProxyRun,
        head: Head,
    ) -> Option<Round> {
        run.attempt.status = head.status;
        run.attempt.header = Some(ctx.now - run.attempt_started);
        let settings = std::sync::Arc::clone(&routed.location(ctx.config).proxy);
        let retry = Failure::Status(head.status);
        if settings.next_upstream & retry.bit() != 0 && run.tries_left > 0 {
            return Some(Round::Failed(retry));
        }
        let loc = routed.location(ctx.config);
        if settings.intercept_errors
            && head.status >= 300
            && loc.error_pages.contains_key(&head.status)
        {
            run.trace.fields = head.fields;
            self.release_lease(ctx, run, false);
            self.end_attempt(ctx, run, head.status);
            let status = head.status;
            self.proxy_finish_error(ctx, req, routed, run, status);
            return Some(Round::Replaced);
        }
        if let Some(b) = ctx.gateway.balancer(ctx.config, run.group) {
            b.done(run.peer, false, ctx.now);
        }
        let tunnel = head.status == 101 && run.upgrade;
        let mut resp = Response::new(head.status);
        resp.reason = Some(head.reason.clone().into_boxed_str()).filter(|r| !r.is_empty());
        let cx = self.cx(ctx, req);
        for (name, value) in &head.fields {
            if hidden(name, &settings.hide, &settings.pass) || (!tunnel && up::hop_by_hop(name)) {
                continue;
            }
            if name.eq_ignore_ascii_case("content-length") {
                continue;
            }
            let value = if name.eq_ignore_ascii_case("location") {
                rewrite_location(&cx, routed, &settings.redirects, value, false)
            } else if name.eq_ignore_ascii_case("refresh") {
                rewrite_location(&cx, routed, &settings.redirects, value, true)
            } else {
                value.clone()
            };
            resp.relays_server |= name.eq_ignore_ascii_case("server");
            resp.relays_date |= name.eq_ignore_ascii_case("date");
            resp.raw_headers.push((name.clone(), value));
        }
        run.decoder = BodyDecoder::for_head(&head, run.head_request || req.method == Method::Head);
        run.upstream_close = head.close;
        run.trace.fields = head.fields.clone();
        if tunnel {
            return Some(self.start_tunnel(ctx, req, routed, run, resp));
        }
        let length = if head.chunked { None } else { head.length };
        let length = match run.decoder {
            BodyDecoder::Empty => length.or(Some(0)).filter(|_| true),
            _ => length,
        };
        let Some(prepared) = relay::prepare(&cx, routed, &mut resp, length) else {
            // `charset $var` without a value: no response at all, as nginx.
            self.release_lease(ctx, run, false);
            self.end_attempt(ctx, run, head.status);
            let close = Response::new(handler::rewrite::CLOSE);
            self.respond_with(ctx, close, Some(req), false, Some(routed), Some(&run.trace));
            return Some(Round::Replaced);
        };
        let keep_alive =
            self.keep_alive_for(ctx, Some(req), false, Some(routed)) && !prepared.until_close;
        if keep_alive {
            self.announce_keep_alive(&mut resp);
        }
        self.out.drain(..self.out_pos);
        self.out_pos = 0;
        let before = self.out.len();
        resp.write_head_framed(&mut self.out, ctx.date, keep_alive, prepared.framing);
        run.head_bytes = (self.out.len() - before) as u64;
        run.close_after = !keep_alive;
        run.down = Some(prepared.down);
        run.resp = Some(Box::new(resp));
        run.phase = Phase::Body;
        None
    }

    /// Reads and relays body bytes; `None` while the body goes on.
    fn relay_upstream(&mut self, ctx: &mut Ctx, run: &mut ProxyRun, key: usize) -> Option<Round> {
        loop {
            if !run.input.is_empty() || run.decoder.is_done() {
                let (n, piece) = match run.decoder.decode(&run.input) {
                    Ok(x) => x,
                    Err(e) => {
                        log::error!(
                            "upstream {} sent invalid chunked response ({e:?})",
                            run.attempt.addr
                        );
                        return Some(self.body_ended(ctx, run, false));
                    }
                };
                let Some(down) = run.down.as_mut() else {
                    return Some(Round::Close);
                };
                match piece {
                    Piece::Data(r) => {
                        let before = self.out.len();
                        down.body(&run.input[r.clone()], &mut self.out);
                        run.body_bytes += (self.out.len() - before) as u64;
                        run.input.drain(..n);
                        continue;
                    }
                    Piece::Done => {
                        run.input.drain(..n);
                        return Some(self.body_ended(ctx, run, true));
                    }
                    Piece::NeedMore => run.input.drain(..n).for_each(drop),
                }
            }
            if self.out.len() - self.out_pos >= OUT_HIGH_WATER {
                return None;
            }
            let Some(stream) = ctx.gateway.backends.stream(key) else {
                return Some(Round::Close);
            };
            let mut buf = vec![0u8; CHUNK];
            match stream.read(&mut buf) {
                Ok(0) => {
                    let complete = run.decoder.ends_at_close();
                    if !complete {
                        log::error!(
                            "upstream {} prematurely closed connection while reading upstream",
                            run.attempt.addr
                        );
                    }
                    run.upstream_close = true;
                    return Some(self.body_ended(ctx, run, complete));
                }
                Ok(n) => {
                    buf.truncate(n);
                    run.input.extend_from_slice(&buf);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) => {
                    log::error!("reading from upstream {} failed ({e})", run.attempt.addr);
                    run.upstream_close = true;
                    return Some(self.body_ended(ctx, run, false));
                }
            }
        }
    }

    /// The upstream's body ended (`complete`: at its framing's end).
    fn body_ended(&mut self, ctx: &mut Ctx, run: &mut ProxyRun, complete: bool) -> Round {
        if let Some(down) = run.down.as_mut() {
            down.finish(complete, &mut self.out);
            run.close_after |= down.broken;
        }
        let reusable = complete
            && run.keep_alive
            && !run.upstream_close
            && run.decoder.is_done()
            && run.input.is_empty();
        self.release_lease(ctx, run, reusable);
        Round::Finished
    }

    /// Gives the upstream socket back: to its pool when `reuse` and the group
    /// keeps connections, else closed.
    fn release_lease(&mut self, ctx: &mut Ctx, run: &mut ProxyRun, reuse: bool) {
        let Some(lease) = run.lease.take() else {
            return;
        };
        let up = &ctx.config.upstreams[run.group];
        let reuse = (reuse && lease.requests + 1 < up.keepalive_requests).then(|| {
            let pool = PoolKey {
                config: config_id(ctx.config),
                group: run.group,
                addr: up.peers[run.peer].addr.clone(),
            };
            (pool, up.keepalive, up.keepalive_timeout)
        });
        ctx.gateway.backends.release(lease.key, reuse);
    }

    /// The response is complete: log it, then write what is queued.
    fn proxy_done(&mut self, ctx: &mut Ctx, req: &Request, routed: &Routed, run: &mut ProxyRun) {
        if let Some(b) = ctx.gateway.balancer(ctx.config, run.group) {
            b.done(run.peer, false, ctx.now);
        }
        self.end_attempt(ctx, run, 0);
        if let Some(resp) = run.resp.take() {
            let sizes = (run.head_bytes, run.body_bytes);
            self.log_response(ctx, Some(req), &resp, Some(routed), sizes, Some(&run.trace));
        }
        self.state = State::Write {
            close_after: run.close_after,
        };
        self.deadline = Some(ctx.now + self.request_server(ctx.config).send_timeout);
    }

    /// An attempt failed: the next server when allowed, else the error answer.
    fn proxy_failed(
        &mut self,
        ctx: &mut Ctx,
        req: Box<Request>,
        routed: Box<Routed>,
        mut run: Box<ProxyRun>,
        why: Failure,
    ) {
        let reused = run.lease.as_ref().is_some_and(|l| l.reused);
        self.release_lease(ctx, &mut run, false);
        let counted = !(reused && why == Failure::Error);
        if counted
            && !matches!(why, Failure::Status(_))
            && let Some(b) = ctx.gateway.balancer(ctx.config, run.group)
        {
            b.done(run.peer, true, ctx.now);
        }
        self.end_attempt(ctx, &mut run, why.status());
        if !counted {
            // A kept-alive connection the upstream had closed: try again at once.
            run.tries_left += 1;
        }
        let settings = &routed.location(ctx.config).proxy;
        let sent = run.sent > 0 || run.file_pos > 0;
        let idempotent = !matches!(req.method, Method::Post) || !sent || !counted;
        let in_time = settings.next_upstream_timeout.is_zero()
            || ctx.now.saturating_duration_since(run.first_try) < settings.next_upstream_timeout;
        let retry = (settings.next_upstream & why.bit() != 0 || !counted)
            && (idempotent || settings.next_upstream & next::NON_IDEMPOTENT != 0)
            && in_time;
        if retry && !counted {
            run.tried = Tried::default();
        }
        if retry {
            match self.next_attempt(ctx, &req, &routed, &mut run) {
                Ok(()) => {
                    self.state = State::Proxy { req, routed, run };
                    return;
                }
                Err(status) if why == Failure::Timeout && status == 502 => {
                    return self.proxy_finish_error(ctx, &req, &routed, &mut run, 504);
                }
                Err(status) => {
                    return self.proxy_finish_error(ctx, &req, &routed, &mut run, status);
                }
            }
        }
        let status = match why {
            Failure::Status(s) => s,
            other => other.status(),
        };
        if let Failure::Status(_) = why {
            // The upstream's own error is what the client gets, but it was
            // dropped to try another server: the built-in page stands in.
        }
        self.proxy_finish_error(ctx, &req, &routed, &mut run, status);
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
        self.release_lease(ctx, run, false);
        let cx = self.cx(ctx, req);
        let (resp, done) = handler::error_page::serve(&cx, routed, status);
        // The log line shows the state the error page was served in ($uri...).
        let routed = done.as_ref().unwrap_or(routed);
        self.respond_traced(ctx, resp, req, routed, &run.trace);
    }

    /// An error before anything was tried.
    fn proxy_error(&mut self, ctx: &mut Ctx, req: &Request, routed: &Routed, status: u16) {
        let resp = handler::error_response(ctx.config, routed.server, Some(routed), status);
        self.respond(ctx, resp, Some(req), false);
    }

    /// The deadline passed while the request was with the upstream.
    pub(super) fn proxy_timeout(&mut self, ctx: &mut Ctx) -> bool {
        let State::Proxy {
            req,
            routed,
            mut run,
        } = std::mem::replace(&mut self.state, State::Head { started: false })
        else {
            return false;
        };
        let what = match run.phase {
            Phase::Connecting => "connecting to upstream",
            Phase::Sending => "sending request to upstream",
            Phase::Head => "reading response header from upstream",
            Phase::Body | Phase::Tunnel => "reading upstream",
        };
        log::error!("upstream {} timed out while {what}", run.attempt.addr);
        if matches!(run.phase, Phase::Body | Phase::Tunnel) {
            self.release_lease(ctx, &mut run, false);
            return false;
        }
        self.proxy_failed(ctx, req, routed, run, Failure::Timeout);
        true
    }

    /// The backend slab key this connection holds, if any (closed with it).
    pub fn backend_key(&self) -> Option<usize> {
        match &self.state {
            State::Proxy { run, .. } => run.lease.as_ref().map(|l| l.key),
            _ => None,
        }
    }

    /// A 101 from the upstream: send the head, then copy bytes both ways.
    fn start_tunnel(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut ProxyRun,
        mut resp: Response,
    ) -> Round {
        let cx = self.cx(ctx, req);
        cx.add_headers(&mut resp, routed);
        resp.raw_headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("connection"));
        self.served += 1;
        self.out.drain(..self.out_pos);
        self.out_pos = 0;
        let before = self.out.len();
        resp.write_head_framed(&mut self.out, ctx.date, false, crate::http::Framing::None);
        // The connection is switched, not closed: `Connection: upgrade`, as nginx says.
        upgrade_connection(&mut self.out, before);
        run.head_bytes = (self.out.len() - before) as u64;
        run.close_after = true;
        let rest = std::mem::take(&mut run.input);
        self.out.extend_from_slice(&rest);
        run.body_bytes += rest.len() as u64;
        run.resp = Some(Box::new(resp));
        run.phase = Phase::Tunnel;
        self.set_nodelay();
        Round::Again(true)
    }

    /// Both directions of an upgraded connection, as far as they go without blocking.
    fn tunnel_round(&mut self, ctx: &mut Ctx, run: &mut ProxyRun, key: usize) -> Round {
        let mut progress = false;
        let mut upstream_done = false;
        // Upstream → client.
        while self.out.len() - self.out_pos < OUT_HIGH_WATER {
            let Some(stream) = ctx.gateway.backends.stream(key) else {
                return Round::Close;
            };
            let mut buf = [0u8; 16 * 1024];
            match stream.read(&mut buf) {
                Ok(0) => {
                    upstream_done = true;
                    break;
                }
                Ok(n) => {
                    self.out.extend_from_slice(&buf[..n]);
                    run.body_bytes += n as u64;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    upstream_done = true;
                    break;
                }
            }
        }
        match self.flush_out() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Round::Finished,
        }
        if upstream_done && self.out_pos == self.out.len() {
            return Round::Finished;
        }
        // Client → upstream.
        loop {
            if !self.input.is_empty() {
                let Some(stream) = ctx.gateway.backends.stream(key) else {
                    return Round::Close;
                };
                match stream.write(self.input.filled()) {
                    Ok(n) => {
                        self.input.consume(n);
                        progress = true;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Round::Finished,
                }
            }
            if run.tunnel_client_done {
                break;
            }
            match self.fill(super::super::buffer::INITIAL) {
                Ok(0) => {
                    run.tunnel_client_done = true;
                    if let Some(s) = ctx.gateway.backends.stream(key) {
                        s.shutdown_write();
                    }
                    break;
                }
                Ok(_) => progress = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Round::Finished,
            }
        }
        if progress {
            self.deadline = Some(ctx.now + run.read_timeout);
        }
        Round::Again(progress)
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

/// Turns the `Connection: close` our head writer added into `Connection: upgrade`.
fn upgrade_connection(out: &mut Vec<u8>, from: usize) {
    let needle = b"Connection: close\r\n";
    if let Some(i) = out[from..].windows(needle.len()).rposition(|w| w == needle) {
        let at = from + i;
        out.splice(
            at..at + needle.len(),
            b"Connection: upgrade\r\n".iter().copied(),
        );
    }
}

/// Writes the request (head, then body) as far as the socket takes it; `Ok(true)`
/// when all of it is sent.
fn send_request(ctx: &mut Ctx, key: usize, run: &mut ProxyRun) -> io::Result<bool> {
    let Some(stream) = ctx.gateway.backends.stream(key) else {
        return Err(io::ErrorKind::NotConnected.into());
    };
    while run.sent < run.request.len() {
        match stream.write(&run.request[run.sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => run.sent += n,
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
            run.file_buf.resize(CHUNK, 0);
            let n = file.read(&mut run.file_buf)?;
            run.file_buf.truncate(n);
            run.file_pos = 0;
            if n == 0 {
                return Ok(true);
            }
        }
        match stream.write(&run.file_buf[run.file_pos..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => run.file_pos += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

/// The key a hashing balancer needs for this request.
fn balance_key(ctx: &Ctx, cx: &Cx, routed: &Routed, group: usize) -> Option<Vec<u8>> {
    match &ctx.config.upstreams.get(group)?.balance {
        Balance::IpHash => Some(match cx.origin.peer.ip() {
            std::net::IpAddr::V4(a) => a.octets().to_vec(),
            std::net::IpAddr::V6(a) => a.octets().to_vec(),
        }),
        Balance::Hash { key, .. } => Some(key.expand(&cx.env(routed, true)).into_bytes()),
        _ => None,
    }
}

/// The group a `proxy_pass` with variables names: an `upstream` of that name, or
/// an implicit group of the same address; nginx needs a resolver for any other
/// name, which webserv does not have.
fn dynamic_group(
    ctx: &Ctx,
    cx: &Cx,
    routed: &Routed,
    pass: &crate::config::proxy::Pass,
) -> Option<usize> {
    let t = pass.dynamic.as_ref()?;
    let url = t.expand(&cx.env(routed, true));
    let rest = url.strip_prefix("http://")?;
    let (authority, _) = crate::config::proxy::split_authority(rest);
    let found = ctx
        .config
        .upstreams
        .iter()
        .position(|u| u.name == authority);
    if found.is_none() {
        log::error!(
            "no upstream \"{authority}\" for proxy_pass {url} (names are not resolved at run time)"
        );
    }
    found
}

/// Whether an upstream header is kept from the client (nginx's hidden list plus
/// `proxy_hide_header`, minus `proxy_pass_header`).
fn hidden(name: &str, hide: &[String], pass: &[String]) -> bool {
    const HIDDEN: &[&str] = &[
        "date",
        "server",
        "x-pad",
        "x-accel-expires",
        "x-accel-redirect",
        "x-accel-limit-rate",
        "x-accel-buffering",
        "x-accel-charset",
    ];
    let lower = name.to_ascii_lowercase();
    if pass.contains(&lower) {
        return false;
    }
    HIDDEN.contains(&lower.as_str()) || hide.contains(&lower)
}

/// `proxy_redirect` on a `Location` or `Refresh` value.
fn rewrite_location(
    cx: &Cx,
    routed: &Routed,
    redirects: &[Redirect],
    value: &[u8],
    refresh: bool,
) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(value) else {
        return value.to_vec();
    };
    let loc = routed.location(cx.config);
    let Some(pass) = &loc.proxy_pass else {
        return value.to_vec();
    };
    let env = cx.env(routed, true);
    // A Refresh value carries the URL after `url=`.
    let start = match text.to_ascii_lowercase().find("url=") {
        Some(i) if refresh => i + 4,
        _ if refresh => return value.to_vec(),
        _ => 0,
    };
    let (prefix, url) = text.split_at(start);
    for r in redirects {
        let (from, to) = match r {
            Redirect::Default if pass.dynamic.is_none() => match &pass.uri {
                Some(_) => (pass.url.clone(), loc.path.clone()),
                None => (format!("{}/", pass.url), "/".to_string()),
            },
            Redirect::Default => continue,
            Redirect::Replace(f, t) => (f.expand(&env), t.expand(&env)),
        };
        if let Some(rest) = url.strip_prefix(from.as_str()) {
            let new = format!("{to}{rest}");
            // A rewritten Location is the response's own redirect: made absolute
            // as one (absolute_redirect), as nginx does; a Refresh stays as it is.
            if !refresh {
                return cx.absolute(routed, &new, true).into_bytes();
            }
            return format!("{prefix}{new}").into_bytes();
        }
    }
    value.to_vec()
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
    Close,
}
