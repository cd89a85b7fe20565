//! `proxy_pass` and `fastcgi_pass` on an HTTP/2 stream: the stream's request,
//! its body read whole, goes through the same gateway as an HTTP/1 request's
//! (`proxy::stream`: attempts, retries, head filters, body relay). Backend
//! sockets wake the connection; every turn gives each proxied stream a pass,
//! reading its upstream only while the stream's relayed bytes not yet taken by
//! the peer's window stay under one chunk, so a stream whose window is closed
//! holds its own upstream, not the connection.

use std::time::Instant;

use super::super::Ctx;
use super::super::proxy::stream::{self, Drive};
use super::super::proxy::{ProxyRun, cx_of, release_lease};
use super::super::write::log_exchange;
use super::exchange::{Exchange, Next, Phase};
use super::send::Relayed;
use super::{H2, OUT_HIGH};
use crate::gateway::relay::CHUNK;
use crate::h2::ErrorCode;
use crate::handler::error_page::Page;
use crate::handler::{self, Routed};
use crate::http::body::{Spool, SpoolData};
use crate::http::h2_response;
use crate::vars::upstream::Trace;

/// A stream's request at its backend.
pub(super) struct ProxyStream {
    run: Box<ProxyRun>,
    /// The current phase's deadline (connect, send, read timeouts).
    pub until: Instant,
    /// Relayed body bytes the stream's window has not taken yet: `pending[pos..]`.
    pending: Vec<u8>,
    pos: usize,
    /// The backend's body ended (`broken`: cut short).
    ended: bool,
    broken: bool,
}

impl ProxyStream {
    /// The backend socket the stream holds, if any.
    pub(super) fn backend(&self) -> Option<usize> {
        self.run.backend()
    }
}

/// Where a pass left the stream.
enum Pass {
    Running,
    Replaced(Box<Next>),
    Over,
}

impl H2 {
    /// Passes a stream whose body is complete to its location's backend.
    pub(super) fn start_proxy(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        ex: Exchange,
        routed: Routed,
        body: Spool,
    ) -> Next {
        let n = body.len();
        let body = match body.into_data() {
            Ok(d) => (d, (n > 0).then_some(n)),
            Err(e) => {
                log::error!("reading the spooled request body: {e}");
                let resp = handler::error_response(ctx.config, routed.server, Some(&routed), 500);
                return self.respond(ctx, id, ex, resp, Some(&routed));
            }
        };
        self.start_gateway(ctx, id, ex, routed, body, Trace::default())
    }

    /// An error page in a proxied location (the body went to the handler).
    pub(super) fn start_error_pass(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        mut ex: Exchange,
        get: crate::http::Request,
        routed: Routed,
    ) -> Next {
        ex.req = get;
        let body = (SpoolData::Memory(Vec::new()), None);
        self.start_gateway(ctx, id, ex, routed, body, Trace::default())
    }

    fn start_gateway(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        mut ex: Exchange,
        routed: Routed,
        body: (SpoolData, Option<u64>),
        trace: Trace,
    ) -> Next {
        let owner = (ctx.key, self.serial);
        ex.req.framing = crate::http::Framing::Length(body.1.unwrap_or(0));
        let cx = cx_of(ctx.config, &ex.origin, &ex.req);
        let started = match ProxyRun::build(ctx, &cx, &routed, body, trace, None) {
            Ok(mut run) => {
                match super::super::proxy::next_attempt(ctx, &cx, &routed, &mut run, owner) {
                    Ok(until) => Ok((run, until)),
                    Err(status) => Err(status),
                }
            }
            Err(status) => Err(status),
        };
        match started {
            Ok((run, until)) => {
                ex.holds = routed.limits.holds.clone();
                ex.phase = Phase::Proxy {
                    routed: Box::new(routed),
                    run: Box::new(ProxyStream {
                        run,
                        until,
                        pending: Vec::new(),
                        pos: 0,
                        ended: false,
                        broken: false,
                    }),
                };
                self.gateways.push(id);
                Next::Keep(ex)
            }
            Err(status) => self.gateway_error(ctx, id, ex, &routed, None, status),
        }
    }

    /// Gives every proxied stream a pass.
    pub(super) fn run_gateways(&mut self, ctx: &mut Ctx, progress: &mut bool) {
        if self.gateways.is_empty() {
            return;
        }
        for id in std::mem::take(&mut self.gateways) {
            let Some(mut ex) = self.streams.remove(&id) else {
                continue;
            };
            let (routed, mut ps) = match std::mem::replace(&mut ex.phase, Phase::Routing) {
                Phase::Proxy { routed, run } => (routed, run),
                other => {
                    ex.phase = other;
                    self.streams.insert(id, ex);
                    continue;
                }
            };
            match self.gateway_pass(ctx, id, &mut ex, &routed, &mut ps, progress) {
                Pass::Running => {
                    ex.phase = Phase::Proxy { routed, run: ps };
                    self.streams.insert(id, ex);
                    self.gateways.push(id);
                }
                Pass::Replaced(next) => self.settle(id, *next),
                Pass::Over => release_lease(ctx, &mut ps.run, false),
            }
        }
    }

    fn gateway_pass(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        ex: &mut Exchange,
        routed: &Routed,
        ps: &mut ProxyStream,
        progress: &mut bool,
    ) -> Pass {
        let owner = (ctx.key, self.serial);
        loop {
            let out = Relayed {
                pending: &mut ps.pending,
                pos: &mut ps.pos,
                ended: ps.ended,
                broken: ps.broken,
            };
            if self.send_relayed(ctx, id, ex, out, progress) {
                return Pass::Over;
            }
            if ps.ended
                || ps.pending.len() - ps.pos >= CHUNK
                || self.session.output().len() >= OUT_HIGH
            {
                return Pass::Running;
            }
            let cx = cx_of(ctx.config, &ex.origin, &ex.req);
            let limits = (ps.pos, CHUNK);
            let drive = stream::drive(
                ctx,
                &cx,
                routed,
                &mut ps.run,
                owner,
                &mut ps.pending,
                limits,
                &mut ps.until,
            );
            match self.gateway_step(ctx, id, ex, routed, ps, drive, progress) {
                Some(pass) => return pass,
                None => continue,
            }
        }
    }

    /// What a pass's result does to the stream; `None`: pass again.
    #[allow(clippy::too_many_arguments)]
    fn gateway_step(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        ex: &mut Exchange,
        routed: &Routed,
        ps: &mut ProxyStream,
        drive: Drive,
        progress: &mut bool,
    ) -> Option<Pass> {
        match drive {
            Drive::Wait(moved) => {
                *progress |= moved;
                (!moved).then_some(Pass::Running)
            }
            Drive::Head { length, head_only } => {
                *progress = true;
                let (Some(resp), _, _) = ps.run.finished() else {
                    return Some(Pass::Over);
                };
                let fields = h2_response::fields(resp, ctx.date, length);
                let pairs: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let empty = head_only || length == Some(0);
                self.session.send_headers(id, resp.status, &pairs, empty);
                ex.since = ctx.now;
                if empty {
                    self.log_gateway(ctx, ex, routed, ps);
                    return Some(Pass::Over);
                }
                None
            }
            Drive::Done { broken } => {
                *progress = true;
                ps.ended = true;
                ps.broken = broken;
                self.log_gateway(ctx, ex, routed, ps);
                None
            }
            Drive::Fail(status) if ps.run.finished().0.is_some() => {
                // The head is out: the stream can only be cut.
                let _ = status;
                self.session.reset(id, ErrorCode::InternalError);
                Some(Pass::Over)
            }
            Drive::Fail(status) => {
                let ex = super::cgi::take_exchange(ex, ctx.now);
                let next = self.gateway_error(ctx, id, ex, routed, Some(&mut ps.run), status);
                Some(Pass::Replaced(Box::new(next)))
            }
            Drive::Abort => {
                self.session.reset(id, ErrorCode::InternalError);
                Some(Pass::Over)
            }
        }
    }

    /// The access log line, once the response is complete.
    fn log_gateway(&mut self, ctx: &mut Ctx, ex: &Exchange, routed: &Routed, ps: &mut ProxyStream) {
        ps.run.end_attempt(ctx.now, 0);
        let (Some(resp), sizes, trace) = ps.run.finished() else {
            return;
        };
        let at = (&ex.origin, ex.started, ex.server);
        log_exchange(
            ctx,
            at,
            Some(&ex.req),
            resp,
            Some(routed),
            sizes,
            Some(trace),
        );
    }

    /// Answers `status` with the location's error page (which may pass the
    /// request to another backend, keeping the servers tried so far).
    fn gateway_error(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        ex: Exchange,
        routed: &Routed,
        run: Option<&mut ProxyRun>,
        status: u16,
    ) -> Next {
        let cx = cx_of(ctx.config, &ex.origin, &ex.req);
        match handler::error_page::resolve(&cx, routed, status) {
            Page::Ready(resp, done) => {
                let routed = done.as_ref().unwrap_or(routed);
                self.respond(ctx, id, ex, resp, Some(routed))
            }
            Page::Pass(get, next) => {
                let trace = run.map(|r| r.take_trace()).unwrap_or_default();
                let mut ex = ex;
                ex.req = *get;
                let body = (SpoolData::Memory(Vec::new()), None);
                self.start_gateway(ctx, id, ex, *next, body, trace)
            }
        }
    }

    /// The stream's deadline passed while it was with its backend.
    pub(super) fn gateway_timeout(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        mut ex: Exchange,
        routed: Routed,
        mut ps: Box<ProxyStream>,
    ) -> Next {
        let owner = (ctx.key, self.serial);
        let cx = cx_of(ctx.config, &ex.origin, &ex.req);
        let drive = stream::timed_out(ctx, &cx, &routed, &mut ps.run, owner, &mut ps.until);
        let mut progress = false;
        match self.gateway_step(ctx, id, &mut ex, &routed, &mut ps, drive, &mut progress) {
            Some(Pass::Replaced(next)) => *next,
            Some(Pass::Over) => {
                release_lease(ctx, &mut ps.run, false);
                Next::Done
            }
            _ if ps.broken => {
                self.session.reset(id, ErrorCode::InternalError);
                Next::Done
            }
            _ => {
                ex.phase = Phase::Proxy {
                    routed: Box::new(routed),
                    run: ps,
                };
                if !self.gateways.contains(&id) {
                    self.gateways.push(id);
                }
                Next::Keep(ex)
            }
        }
    }
}
