//! A gateway request's state made from the client's request (the backend's
//! request bytes, the body kept for retries, the server group), what each
//! attempt leaves in its trace, and the socket given back at the end.

use std::sync::Arc;
use std::time::Instant;

use super::{Phase, ProxyRun, attempt, live};
use crate::config::proxy::Protocol;
use crate::gateway::balance::Tried;
use crate::gateway::fastcgi::{self, Demux};
use crate::gateway::http::BodyDecoder;
use crate::gateway::pool::PoolKey;
use crate::gateway::{config_id, request};
use crate::handler::{Cx, Routed};
use crate::http::Request;
use crate::http::body::SpoolData;
use crate::server::connection::Ctx;
use crate::vars::upstream::{Attempt, Trace};

impl ProxyRun {
    /// `proxy_read_timeout`, which a paused pace hands the deadline back to.
    pub(in crate::server::connection) fn read_timeout(&self) -> std::time::Duration {
        self.read_timeout
    }

    /// The request to pass to the location's backend (whichever protocol the
    /// client spoke), before its first attempt; `Err` is the status to answer.
    pub(in crate::server::connection) fn build(
        ctx: &Ctx,
        cx: &Cx,
        routed: &Routed,
        body: (SpoolData, Option<u64>),
        trace: Trace,
        live: Option<Box<live::Live>>,
    ) -> Result<Box<ProxyRun>, u16> {
        let req = cx.req;
        let loc = routed.location(ctx.config);
        let Some(gateway) = loc.gateway() else {
            return Err(500);
        };
        let (protocol, pass) = (gateway.protocol, gateway.pass);
        let settings = Arc::clone(gateway.settings);
        let (body, body_len) = match &settings.set_body {
            Some(t) => {
                let text = t.expand(&cx.env(routed, true));
                let n = text.len() as u64;
                (SpoolData::Memory(text.into_bytes()), Some(n))
            }
            None if live.is_none() && (!settings.pass_request_body || body.1.is_none()) => {
                (SpoolData::Memory(Vec::new()), None)
            }
            None => body,
        };
        let (bytes, keep_alive, upgrade) = match protocol {
            Protocol::Http => {
                let chunked = live.as_ref().is_some_and(|l| l.chunked());
                let out = request::build(cx, routed, pass, &settings, body_len, chunked);
                (out.head, out.keep_alive, out.upgrade)
            }
            Protocol::FastCgi => {
                // A spooled or live body's STDIN records follow the head.
                let memory = match &body {
                    SpoolData::Memory(m) if live.is_none() => Some(m.as_slice()),
                    _ => None,
                };
                let records = fastcgi::request(cx, routed, &settings, memory);
                (records, settings.fastcgi.keep_conn, false)
            }
        };
        // The body is kept for another backend an error page may pass to.
        let (body_mem, file) = match body {
            SpoolData::Memory(m) => (m, None),
            SpoolData::File(f) => (Vec::new(), Some(f)),
        };
        let group = match &pass.dynamic {
            None => Some(pass.upstream),
            Some(_) => attempt::dynamic_group(ctx, cx, routed, pass, protocol),
        };
        let group = group.ok_or(502u16)?;
        let size = ctx.config.upstreams[group].peers.len() as u32;
        let tries = match settings.next_upstream_tries {
            0 => size,
            n => n.min(size.max(1)),
        };
        let redirected = !trace.attempts.is_empty();
        Ok(Box::new(ProxyRun {
            protocol,
            fcgi: (protocol == Protocol::FastCgi).then(Demux::default),
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
            body_mem,
            body_len,
            sent: 0,
            file,
            file_buf: Vec::new(),
            file_pos: 0,
            file_eof: false,
            keep_alive,
            upgrade,
            head_request: settings.method.as_deref().unwrap_or(req.method.as_str()) == "HEAD",
            input: Vec::new(),
            decoder: BodyDecoder::UntilClose,
            upstream_close: false,
            down: None,
            resp: None,
            head_bytes: 0,
            body_bytes: 0,
            close_after: false,
            trace,
            tunnel_client_done: false,
            handshake_until: None,
            redirected,
            read_timeout: settings.read_timeout,
            settings,
            live,
        }))
    }

    /// Records the attempt in the trace.
    pub(in crate::server::connection) fn end_attempt(&mut self, now: Instant, status: u16) {
        let mut a = std::mem::take(&mut self.attempt);
        if a.status == 0 {
            a.status = status;
        }
        a.response = now.saturating_duration_since(self.attempt_started);
        a.redirected = std::mem::take(&mut self.redirected);
        self.trace.attempts.push(a);
    }

    /// The backend socket in use, if any.
    pub(in crate::server::connection) fn backend(&self) -> Option<usize> {
        self.lease.as_ref().map(|l| l.key)
    }
}

/// The request's context for the gateway (borrowing the configuration, not
/// the event loop's context, which the gateway also needs mutably).
pub(in crate::server::connection) fn cx_of<'a>(
    config: &'a crate::config::Config,
    origin: &crate::handler::Origin,
    req: &'a Request,
) -> Cx<'a> {
    Cx {
        config,
        origin: origin.clone(),
        req,
        trace: None,
    }
}

/// Gives the upstream socket back: to its pool when `reuse` and the group
/// keeps connections, else closed.
pub(in crate::server::connection) fn release_lease(ctx: &mut Ctx, run: &mut ProxyRun, reuse: bool) {
    let Some(lease) = run.lease.take() else {
        return;
    };
    let up = &ctx.config.upstreams[run.group];
    let young = ctx.now.saturating_duration_since(lease.born) < up.keepalive_time;
    let reuse = (reuse && young && lease.requests + 1 < up.keepalive_requests).then(|| {
        let pool = PoolKey {
            config: config_id(ctx.config),
            group: run.group,
            addr: up.peers[run.peer].addr.clone(),
            tls: run.settings.tls.is_some(),
        };
        (pool, up.keepalive, up.keepalive_timeout)
    });
    ctx.gateway.backends.release(lease.key, reuse);
}
