//! Choosing the server for each attempt of a gateway request, and what happens
//! when one fails: the next server (`proxy_next_upstream`, `fastcgi_next_upstream`)
//! while that is allowed, else the error answer.

use std::io::{Seek, SeekFrom};

use super::{Failure, Phase, ProxyRun};
use crate::config::proxy::{Protocol, next};
use crate::config::upstream::Balance;
use crate::gateway::balance::Tried;
use crate::gateway::config_id;
use crate::gateway::pool::PoolKey;
use crate::handler::{Cx, Routed};
use crate::http::{Method, Request};
use crate::metrics::UpstreamFailure;
use crate::server::connection::{Connection, Ctx, State};
use crate::vars::upstream::Attempt;

/// Picks the next server and starts connecting, for the client connection
/// `owner` (its slab key and serial); `Ok` is the connect deadline, `Err` the
/// status to answer.
pub(in crate::server::connection) fn next_attempt(
    ctx: &mut Ctx,
    cx: &Cx,
    routed: &Routed,
    run: &mut ProxyRun,
    owner: (usize, u64),
) -> Result<std::time::Instant, u16> {
    loop {
        if run.tries_left == 0 {
            return Err(502);
        }
        let key = balance_key(ctx, cx, routed, run.group);
        let config = ctx.config;
        let Some(balancer) = ctx.gateway.balancer(config, run.group) else {
            return Err(502);
        };
        let Some(peer) = balancer.pick(ctx.now, key.as_deref(), &run.tried) else {
            let name = &config.upstreams[run.group].name;
            log::error!("no live upstreams while connecting to upstream \"{name}\"");
            run.trace.attempts.push(Attempt {
                addr: name.as_str().into(),
                status: 502,
                ..Attempt::default()
            });
            return Err(502);
        };
        run.tried.mark(peer);
        run.tries_left -= 1;
        crate::metrics::upstream_attempt(meter_kind(run));
        run.peer = peer;
        let addr = config.upstreams[run.group].peers[peer].addr.clone();
        run.attempt = Attempt {
            addr: std::sync::Arc::clone(&config.upstreams[run.group].peers[peer].shown),
            ..Attempt::default()
        };
        run.attempt_started = ctx.now;
        run.sent = 0;
        run.file_pos = 0;
        run.file_buf.clear();
        run.file_eof = false;
        run.handshake_until = None;
        // Nothing read from a failed attempt carries over to the next one.
        run.input.clear();
        if run.fcgi.is_some() {
            run.fcgi = Some(crate::gateway::fastcgi::Demux::default());
        }
        if let Some(f) = &mut run.file
            && f.seek(SeekFrom::Start(0)).is_err()
        {
            return Err(500);
        }
        let pool = PoolKey {
            config: config_id(config),
            group: run.group,
            addr,
            tls: run.settings.tls.is_some(),
        };
        let tls = match &run.settings.tls {
            None => None,
            Some(client) => {
                let env = cx.env(routed, true);
                let name = match (&client.name, &routed.location(config).proxy_pass) {
                    (Some(t), _) => t.expand(&env),
                    (None, Some(p)) => p.host.clone(),
                    (None, None) => String::new(),
                };
                let Some(name) = crate::config::proxy_ssl::Client::server_name(&name) else {
                    log::error!("upstream SSL name \"{name}\" is not a host name");
                    return Err(502);
                };
                Some((std::sync::Arc::clone(&client.config), name))
            }
        };
        match ctx.gateway.backends.lease(ctx.registry, &pool, owner, tls) {
            Ok(lease) => {
                run.phase = if lease.reused {
                    run.attempt.connect = Some(std::time::Duration::ZERO);
                    Phase::Sending
                } else {
                    Phase::Connecting
                };
                run.lease = Some(lease);
                return Ok(ctx.now + run.settings.connect_timeout);
            }
            Err(e) => {
                log::error!("connect() to {} failed ({e})", run.attempt.addr);
                crate::metrics::upstream_failure(meter_kind(run), UpstreamFailure::Error);
                if let Some(b) = ctx.gateway.balancer(config, run.group) {
                    b.done(peer, true, ctx.now);
                }
                run.end_attempt(ctx.now, 502);
                if run.settings.next_upstream & next::ERROR == 0 {
                    return Err(502);
                }
            }
        }
    }
}

/// An attempt failed: starts the next server's when allowed (`Ok`: its connect
/// deadline), else `Err` with the status to answer.
pub(in crate::server::connection) fn after_failure(
    ctx: &mut Ctx,
    cx: &Cx,
    routed: &Routed,
    run: &mut ProxyRun,
    why: Failure,
    owner: (usize, u64),
) -> Result<std::time::Instant, u16> {
    let reused = run.lease.as_ref().is_some_and(|l| l.reused);
    crate::metrics::upstream_failure(meter_kind(run), why.meter());
    super::release_lease(ctx, run, false);
    let counted = !(reused && why == Failure::Error);
    if counted
        && !matches!(why, Failure::Status(_))
        && let Some(b) = ctx.gateway.balancer(ctx.config, run.group)
    {
        b.done(run.peer, true, ctx.now);
    }
    run.end_attempt(ctx.now, why.status());
    if !counted {
        // A kept-alive connection the upstream had closed: try again at once.
        run.tries_left += 1;
    }
    let settings = std::sync::Arc::clone(&run.settings);
    let sent = run.sent > 0 || run.file_pos > 0;
    let idempotent = !matches!(cx.req.method, Method::Post) || !sent || !counted;
    let in_time = settings.next_upstream_timeout.is_zero()
        || ctx.now.saturating_duration_since(run.first_try) < settings.next_upstream_timeout;
    // Body bytes relayed as they came are gone: no other server can get them.
    let replayable = run.live.as_ref().is_none_or(|l| l.taken == 0);
    let retry = (settings.next_upstream & why.bit() != 0 || !counted)
        && (idempotent || settings.next_upstream & next::NON_IDEMPOTENT != 0)
        && in_time
        && replayable;
    if retry && !counted {
        run.tried = Tried::default();
    }
    if retry {
        return match next_attempt(ctx, cx, routed, run, owner) {
            Err(502) if why == Failure::Timeout => Err(504),
            other => other,
        };
    }
    // An upstream's own error status is what the client gets (the built-in
    // page stands in for the dropped answer).
    Err(why.status())
}

impl Connection {
    /// An attempt failed: the next server when allowed, else the error answer.
    pub(super) fn proxy_failed(
        &mut self,
        ctx: &mut Ctx,
        req: Box<Request>,
        routed: Box<Routed>,
        mut run: Box<ProxyRun>,
        why: Failure,
    ) {
        let cx = super::cx_of(ctx.config, &self.origin, &req);
        match after_failure(ctx, &cx, &routed, &mut run, why, (ctx.key, self.serial)) {
            Ok(deadline) => {
                self.deadline = Some(deadline);
                self.state = State::Proxy { req, routed, run };
            }
            Err(status) => self.proxy_finish_error(ctx, &req, &routed, &mut run, status),
        }
    }

    /// The deadline passed while the request was with the upstream.
    pub(in crate::server::connection) fn proxy_timeout(&mut self, ctx: &mut Ctx) -> bool {
        let State::Proxy {
            req,
            routed,
            mut run,
        } = std::mem::replace(&mut self.state, State::Head { started: false })
        else {
            return false;
        };
        let what = match run.phase {
            _ if run.handshake_until.is_some() => "SSL handshaking to upstream",
            Phase::Connecting => "connecting to upstream",
            Phase::Sending => "sending request to upstream",
            Phase::Head => "reading response header from upstream",
            Phase::Body | Phase::Tunnel => "reading upstream",
        };
        log::error!("upstream {} timed out while {what}", run.attempt.addr);
        if matches!(run.phase, Phase::Body | Phase::Tunnel) {
            super::release_lease(ctx, &mut run, false);
            return false;
        }
        self.proxy_failed(ctx, req, routed, run, Failure::Timeout);
        true
    }
}

/// The key a hashing balancer needs for this request.
pub(super) fn balance_key(ctx: &Ctx, cx: &Cx, routed: &Routed, group: usize) -> Option<Vec<u8>> {
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
pub(super) fn dynamic_group(
    ctx: &Ctx,
    cx: &Cx,
    routed: &Routed,
    pass: &crate::config::proxy::Pass,
    protocol: Protocol,
) -> Option<usize> {
    let t = pass.dynamic.as_ref()?;
    let url = t.expand(&cx.env(routed, true));
    let rest = match protocol {
        Protocol::Http => url.strip_prefix("http://")?,
        Protocol::FastCgi => url.as_str(),
    };
    let (authority, _) = crate::config::proxy::split_authority(rest);
    let found = ctx
        .config
        .upstreams
        .iter()
        .position(|u| u.name == authority);
    if found.is_none() {
        log::error!("no upstream \"{authority}\" for {url} (names are not resolved at run time)");
    }
    found
}

/// The relay an attempt goes through, for the counters.
fn meter_kind(run: &ProxyRun) -> crate::metrics::Upstream {
    match run.protocol {
        Protocol::Http => crate::metrics::Upstream::Http,
        Protocol::FastCgi => crate::metrics::Upstream::FastCgi,
    }
}
