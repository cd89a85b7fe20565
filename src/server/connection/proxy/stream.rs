//! The gateway for a request that is not the connection's only one (an HTTP/2
//! stream): the same attempts, retries, head filters and body relay as the
//! HTTP/1 connection's, driven one pass at a time by the stream's owner, which
//! frames the head and the relayed bytes for its codec. Not here: tunnels
//! (HTTP/2 has no Upgrade) and bodies relayed as they arrive (a stream's body
//! is read whole first).

use std::time::Instant;

use super::attempt::after_failure;
use super::body::relay_body;
use super::head::{client_head, intercepted, read_head_bytes, relayed_length};
use super::{Failure, Phase, ProxyRun, Round, release_lease};
use crate::gateway::relay;
use crate::handler::{Cx, Routed};
use crate::http::Response;
use crate::server::connection::Ctx;
use crate::vars::upstream::Trace;

/// What one pass came to.
pub(in crate::server::connection) enum Drive {
    /// Waiting for the backend (or for room in the output); whether anything moved.
    Wait(bool),
    /// The response head is ready ([`ProxyRun::response`]): `length` to
    /// announce, `head_only` when no body follows.
    Head {
        length: Option<u64>,
        head_only: bool,
    },
    /// The body ended; `broken` when the backend cut it short.
    Done { broken: bool },
    /// Answer this status instead (the location's error page applies).
    Fail(u16),
    /// No answer at all (`charset $var` without a value).
    Abort,
}

impl ProxyRun {
    /// The response whose head was sent, the head's and body's sizes, and
    /// what the backends did: for the access log line at the end.
    pub(in crate::server::connection) fn finished(
        &self,
    ) -> (Option<&Response>, (u64, u64), &Trace) {
        (
            self.resp.as_deref(),
            (self.head_bytes, self.body_bytes),
            &self.trace,
        )
    }

    /// What the backends did so far, for the next backend an error page passes to.
    pub(in crate::server::connection) fn take_trace(&mut self) -> Trace {
        std::mem::take(&mut self.trace)
    }

    /// The request went to a backend and got no head yet.
    pub(in crate::server::connection) fn before_head(&self) -> bool {
        !matches!(self.phase, Phase::Body | Phase::Tunnel)
    }
}

/// One pass: connect, send the request, read the head, relay body bytes into
/// `out` while less than `high` of it is unsent (from `sent` on). `until` is
/// the stream's deadline for this phase, moved as the phase moves.
#[allow(clippy::too_many_arguments)]
pub(in crate::server::connection) fn drive(
    ctx: &mut Ctx,
    cx: &Cx,
    routed: &Routed,
    run: &mut ProxyRun,
    owner: (usize, u64),
    out: &mut Vec<u8>,
    (sent, high): (usize, usize),
    until: &mut Instant,
) -> Drive {
    let mut progress = false;
    loop {
        let Some(key) = run.backend() else {
            return Drive::Fail(502);
        };
        let failed = match run.phase {
            Phase::Connecting => match ctx.gateway.backends.stream(key).map(|s| s.connected()) {
                Some(Ok(true)) => {
                    run.attempt.connect = Some(ctx.now - run.attempt_started);
                    run.phase = Phase::Sending;
                    *until = ctx.now + run.settings.send_timeout;
                    continue;
                }
                Some(Ok(false)) => return Drive::Wait(progress),
                Some(Err(e)) => {
                    log::error!("connect() to {} failed ({e})", run.attempt.addr);
                    Failure::Error
                }
                None => Failure::Error,
            },
            Phase::Sending => match super::body::send_request(ctx, key, run) {
                Ok(true) => {
                    run.phase = Phase::Head;
                    *until = ctx.now + run.settings.read_timeout;
                    progress = true;
                    continue;
                }
                Ok(false) => return Drive::Wait(progress),
                Err(e) => {
                    log::error!("writing to upstream {} failed ({e})", run.attempt.addr);
                    Failure::Error
                }
            },
            Phase::Head => match read_head_bytes(ctx, run, key) {
                Ok(None) => return Drive::Wait(progress),
                Ok(Some(head)) => return got_head(ctx, cx, routed, run, head, (owner, until)),
                Err(why) => why,
            },
            Phase::Body => {
                let before = out.len();
                return match relay_body(ctx, run, key, out, (sent, high)) {
                    Some(Round::Finished) => Drive::Done {
                        broken: run.down.as_ref().is_some_and(|d| d.broken),
                    },
                    Some(_) => Drive::Done { broken: true },
                    None => {
                        if out.len() > before {
                            *until = ctx.now + run.settings.read_timeout;
                        }
                        Drive::Wait(progress || out.len() > before)
                    }
                };
            }
            Phase::Tunnel => return Drive::Fail(502),
        };
        match after_failure(ctx, cx, routed, run, failed, owner) {
            Ok(deadline) => {
                *until = deadline;
                progress = true;
            }
            Err(status) => return Drive::Fail(status),
        }
    }
}

/// The backend's head: retried, intercepted, or made into the client's.
fn got_head(
    ctx: &mut Ctx,
    cx: &Cx,
    routed: &Routed,
    run: &mut ProxyRun,
    mut head: crate::gateway::http::Head,
    (owner, until): ((usize, u64), &mut Instant),
) -> Drive {
    match intercepted(ctx, routed, run, head.status) {
        Err(retry) => {
            return match after_failure(ctx, cx, routed, run, retry, owner) {
                // A retry starts over on the next pass.
                Ok(deadline) => {
                    *until = deadline;
                    Drive::Wait(true)
                }
                Err(status) => Drive::Fail(status),
            };
        }
        Ok(true) => return Drive::Fail(head.status),
        Ok(false) => {}
    }
    if head.status == 101 {
        log::error!(
            "upstream {} switched protocols on an HTTP/2 stream",
            run.attempt.addr
        );
        release_lease(ctx, run, false);
        run.end_attempt(ctx.now, 502);
        return Drive::Fail(502);
    }
    let (mut resp, _accel) = client_head(cx, routed, run, &mut head, false);
    let length = relayed_length(run, &head);
    let Some(prepared) = relay::prepare(cx, routed, &mut resp, length, Some(&run.trace)) else {
        release_lease(ctx, run, false);
        run.end_attempt(ctx.now, head.status);
        return Drive::Abort;
    };
    let length = match prepared.framing {
        crate::http::Framing::Length(n) => Some(n),
        _ => None,
    };
    run.down = Some(prepared.down);
    run.resp = Some(Box::new(resp));
    run.phase = Phase::Body;
    *until = ctx.now + run.settings.read_timeout;
    Drive::Head {
        length,
        head_only: prepared.head_only,
    }
}

/// The stream's deadline passed: the next server before the head (or the
/// error status), else the body is cut short.
pub(in crate::server::connection) fn timed_out(
    ctx: &mut Ctx,
    cx: &Cx,
    routed: &Routed,
    run: &mut ProxyRun,
    owner: (usize, u64),
    until: &mut Instant,
) -> Drive {
    let what = match run.phase {
        Phase::Connecting => "connecting to upstream",
        Phase::Sending => "sending request to upstream",
        Phase::Head => "reading response header from upstream",
        Phase::Body | Phase::Tunnel => "reading upstream",
    };
    log::error!("upstream {} timed out while {what}", run.attempt.addr);
    if !run.before_head() {
        release_lease(ctx, run, false);
        return Drive::Done { broken: true };
    }
    match after_failure(ctx, cx, routed, run, Failure::Timeout, owner) {
        Ok(deadline) => {
            *until = deadline;
            Drive::Wait(true)
        }
        Err(status) => Drive::Fail(status),
    }
}
