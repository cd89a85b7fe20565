//! The connection's side of the limits: a request `limit_req` delays waits on
//! the connection's timer (no thread sleeps) before its body is read and its
//! content runs; a response with `limit_rate` is paced on the same timer; and
//! the `limit_conn` counts are held until the response is sent (dropped with
//! the connection on every other exit).
//!
//! Pacing follows nginx's write filter: by `t` whole seconds after the response
//! started, `after + rate × (t + 1)` bytes may have gone out, and each write of
//! `n` bytes past `after` is followed by a pause of `n / rate` seconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Connection, Ctx, State, Step};
use crate::handler::{self, Routed, limits::response_rate};
use crate::http::Request;
use crate::limit::zones::Hold;

/// What a response keeps of its request's limits while it is sent.
#[derive(Debug, Default)]
pub struct Kept {
    /// `limit_conn` counts, given back when the response is done (dropped).
    _holds: Option<Arc<[Hold]>>,
    pace: Option<Pace>,
}

#[derive(Debug)]
struct Pace {
    /// Bytes per second.
    rate: u64,
    /// Bytes sent before the rate applies.
    after: u64,
    start: Instant,
    /// Bytes of this response sent so far (head included, as nginx counts).
    sent: u64,
    /// Nothing more goes out before this.
    resume: Instant,
    /// The connection's timer is this pace's.
    waiting: bool,
    /// A proxied body is relayed under this pace (its round owns the timer).
    relayed: bool,
    /// The client closed while the written answer waited on this pace.
    abandoned: bool,
}

impl Pace {
    /// Bytes that may go out at `now`.
    fn allowance(&self, now: Instant) -> u64 {
        let secs = now.saturating_duration_since(self.start).as_secs();
        let allowed = self.rate.saturating_mul(secs.saturating_add(1));
        allowed.saturating_add(self.after).saturating_sub(self.sent)
    }

    /// When sending may go on, if not now.
    fn wait_until(&self, now: Instant) -> Option<Instant> {
        if self.resume > now {
            return Some(self.resume);
        }
        if self.allowance(now) > 0 {
            return None;
        }
        // The first whole second at which `rate × (t + 1)` passes what is owed.
        let owed = self.sent.saturating_sub(self.after);
        let due = Duration::from_secs(owed / self.rate.max(1));
        Some((self.start + due).max(now + Duration::from_millis(1)))
    }

    fn sent(&mut self, n: u64, now: Instant) {
        let before = self.sent.saturating_sub(self.after);
        self.sent = self.sent.saturating_add(n);
        let paced = self.sent.saturating_sub(self.after) - before;
        if paced > 0 {
            let pause = Duration::from_micros(paced.saturating_mul(1_000_000) / self.rate.max(1));
            self.resume = self.resume.max(now) + pause;
        }
    }
}

impl Connection {
    /// A routed request `limit_req` delays by `delay`: parked until its timer
    /// fires.
    pub(super) fn park_delayed(
        &mut self,
        ctx: &Ctx,
        req: Request,
        routed: Routed,
        delay: Duration,
    ) {
        self.deadline = Some(ctx.now + delay);
        self.state = State::Delayed {
            req: Box::new(req),
            routed: Box::new(routed),
        };
    }

    /// The delay is over: the phases go on where they waited.
    pub(super) fn resume_delayed(&mut self, ctx: &mut Ctx) {
        let State::Delayed { req, routed } =
            std::mem::replace(&mut self.state, State::Head { started: false })
        else {
            return;
        };
        let has_body = req.framing != crate::http::Framing::None;
        let routed = handler::resume(ctx.config, self.origin.clone(), &req, *routed);
        self.routed(ctx, *req, routed, has_body);
    }

    /// The response to `routed` starts: keep its counts, and pace it if it has
    /// a rate.
    pub(super) fn keep_limits(
        &mut self,
        ctx: &Ctx,
        req: Option<&Request>,
        routed: Option<&Routed>,
    ) {
        self.keep_limits_at(ctx, req, routed, None);
    }

    /// [`Self::keep_limits`] for a backend's response: `accel` is its
    /// `X-Accel-Limit-Rate` (it replaces the location's rate; 0: no pace).
    pub(super) fn keep_limits_at(
        &mut self,
        ctx: &Ctx,
        req: Option<&Request>,
        routed: Option<&Routed>,
        accel: Option<u64>,
    ) {
        let holds = routed.and_then(|r| r.limits.holds.clone());
        let pace = match (req, routed) {
            (Some(req), Some(r)) => response_rate(ctx.config, &self.origin, req, r, accel),
            _ => None,
        };
        self.kept = match (holds, pace) {
            (None, None) => None,
            (holds, pace) => Some(Box::new(Kept {
                _holds: holds,
                pace: pace.map(|(rate, after)| Pace {
                    rate,
                    after,
                    start: ctx.now,
                    sent: 0,
                    resume: ctx.now,
                    waiting: false,
                    relayed: false,
                    abandoned: false,
                }),
            })),
        };
    }

    /// The response is out: counts are given back, pacing ends.
    pub(super) fn release_limits(&mut self) {
        self.kept = None;
    }

    /// Whether any of the response is still to be written.
    pub(super) fn pending_output(&self) -> bool {
        self.out_pos < self.out.len() || self.outgoing.has_more()
    }

    fn pace(&mut self) -> Option<&mut Pace> {
        self.kept.as_mut()?.pace.as_mut()
    }

    /// Whether the pace makes the response wait now; then the timer is set.
    pub(super) fn pace_wait(&mut self, now: Instant) -> bool {
        let Some(p) = self.pace() else {
            return false;
        };
        match p.wait_until(now) {
            Some(t) => {
                p.waiting = true;
                self.deadline = Some(t);
                true
            }
            None => false,
        }
    }

    /// The event loop saw the client close or reset: if its written answer
    /// is waiting on the pace, the answer is abandoned (nginx's check of the
    /// read side while it writes), not kept open until the pace runs out. A
    /// close seen before the answer waited (a half-close after the request)
    /// does not count, as it does not for nginx.
    pub(super) fn pace_peer_closed(&mut self) {
        let writing = matches!(self.state, State::Write { .. });
        if let Some(p) = self.pace()
            && p.waiting
            && writing
        {
            p.abandoned = true;
        }
    }

    /// What the writing state does about its pace now: `None` to write on,
    /// `Blocked` to wait for the pace's timer, `Close` when the client left
    /// while it waited.
    pub(super) fn pace_step(&mut self, now: Instant) -> Option<Step> {
        if self.pace().is_some_and(|p| p.abandoned) {
            crate::metrics::error(crate::metrics::ErrorKind::ClientIo);
            return Some(Step::Close);
        }
        self.pace_wait(now).then_some(Step::Blocked)
    }

    /// The timer that fired was the pace's (the connection goes on writing).
    pub(super) fn pace_timer(&mut self) -> bool {
        match self.pace() {
            Some(p) if p.waiting => {
                p.waiting = false;
                true
            }
            _ => false,
        }
    }

    /// The most bytes the next write may send (`u64::MAX` without a pace). The
    /// writing state and a proxied body pace (their loops own the pace's
    /// timer); a CGI script's output goes out as it comes.
    pub(super) fn pace_budget(&self, now: Instant) -> u64 {
        match self.kept.as_ref().and_then(|k| k.pace.as_ref()) {
            Some(p) if p.relayed || matches!(self.state, State::Write { .. }) => p.allowance(now),
            _ => u64::MAX,
        }
    }

    /// The pace (if any) now also covers the proxied body being relayed.
    pub(super) fn pace_relayed(&mut self) {
        if let Some(p) = self.pace() {
            p.relayed = true;
        }
    }

    /// Counts `n` bytes written of a paced response.
    pub(super) fn paced(&mut self, n: usize, now: Instant) {
        if let Some(p) = self.pace() {
            p.sent(n as u64, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(rate: u64, after: u64, start: Instant) -> Pace {
        Pace {
            rate,
            after,
            start,
            sent: 0,
            resume: start,
            waiting: false,
            relayed: false,
            abandoned: false,
        }
    }

    #[test]
    fn a_second_of_rate_then_pauses() {
        let t0 = Instant::now();
        let mut p = pace(12288, 256, t0);
        assert_eq!(p.allowance(t0), 12288 + 256);
        assert_eq!(p.wait_until(t0), None);
        p.sent(12544, t0);
        // The write is followed by a pause of its paced bytes at the rate.
        assert_eq!(p.wait_until(t0), Some(t0 + Duration::from_secs(1)));
        // Within the first second, nothing more is allowed.
        let half = t0 + Duration::from_millis(999);
        assert_eq!(p.allowance(half), 0);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(p.allowance(t1), 12288);
        p.sent(12288, t1);
        assert_eq!(p.wait_until(t1), Some(t1 + Duration::from_secs(1)));
        // Past the pause, a spent allowance waits for the next whole second.
        let mut q = pace(1000, 0, t0);
        q.sent(1000, t0);
        q.resume = t0;
        assert_eq!(q.wait_until(t0), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn bytes_before_after_are_not_paced() {
        let t0 = Instant::now();
        let mut p = pace(1000, 5000, t0);
        p.sent(4000, t0);
        assert_eq!(p.wait_until(t0), None);
        assert_eq!(p.allowance(t0), 2000);
    }
}
