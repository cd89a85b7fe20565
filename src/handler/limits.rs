//! The preaccess phase's limits, as nginx runs them after realip and before
//! `allow`/`deny`: `limit_req` (a leaky bucket per key: pass, delay, or refuse),
//! then `limit_conn` (requests in progress per key). Each runs once per main
//! request: an internal redirect does not count the request again. A key whose
//! value is empty is not limited.
//!
//! Refusals are logged as nginx words them ("limiting requests, excess: 1.000 by
//! zone \"one\"", the request's `client: ...` tail added by the logger), each
//! one, at `limit_req_log_level` / `limit_conn_log_level`.

use std::sync::Arc;
use std::time::Duration;

use super::{Cx, Routed};
use crate::config::limits::{Limits, ReqRule};
use crate::limit::zones::{self, Hold, Take};
use crate::limit::{Status, bucket};
use crate::logging;

/// nginx skips keys longer than these (bytes).
const MAX_REQ_KEY: usize = 65535;
const MAX_CONN_KEY: usize = 255;

/// The phase's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Pass,
    /// Go on after this long (the request is within its burst, above the rate).
    Delay(Duration),
    /// Answer with this status.
    Reject(u16),
}

/// What the limits keep for the rest of the request: the `limit_conn` counts,
/// given back when the last clone is dropped (the response is done, or the
/// connection went away), and the delay still to wait.
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub holds: Option<Arc<[Hold]>>,
    /// The delay the phases stopped for, and the phase they go on at after it.
    pub delay: Option<(Duration, usize)>,
}

/// Runs `limit_req` then `limit_conn` for `r` in its location; the `limit_conn`
/// counts are kept in `r.limits`.
pub fn preaccess(cx: &Cx, r: &mut Routed) -> Limit {
    let limits = Arc::clone(&r.location(cx.config).limits);
    let mut verdict = Limit::Pass;
    if r.vars.limit_req.is_none() && !limits.req.is_empty() {
        verdict = limit_req(cx, r, &limits);
        // A delayed request is counted by limit_conn once the delay is over
        // (the phase runs again then, with limit_req decided), as in nginx.
        if let Limit::Reject(_) | Limit::Delay(_) = verdict {
            return verdict;
        }
    }
    if r.vars.limit_conn.is_none()
        && !limits.conn.is_empty()
        && let Limit::Reject(code) = limit_conn(cx, r, &limits)
    {
        return Limit::Reject(code);
    }
    if !limits.req.is_empty() || !limits.conn.is_empty() {
        let word = |s: Option<Status>| s.map_or("-", Status::as_str);
        cx.note(|| {
            format!(
                "limits: limit_req {}, limit_conn {}",
                word(r.vars.limit_req),
                word(r.vars.limit_conn)
            )
        });
    }
    verdict
}

/// The key of a rule for this request; `None` when empty (not limited) or too long.
fn key_of(cx: &Cx, r: &Routed, t: Option<&crate::vars::Template>, max: usize) -> Option<String> {
    let t = t?;
    let key = t.expand(&cx.env(r, true));
    if key.len() > max {
        log::error!(
            "the value of the \"{}\" key is more than {max} bytes: \"{key}\"",
            t.source()
        );
        return None;
    }
    (!key.is_empty()).then_some(key)
}

fn limit_req(cx: &Cx, r: &mut Routed, limits: &Limits) -> Limit {
    let now = zones::millis(std::time::Instant::now());
    let rules: Vec<(&ReqRule, String)> = limits
        .req
        .iter()
        .filter_map(|rule| Some((rule, key_of(cx, r, rule.key.as_ref(), MAX_REQ_KEY)?)))
        .filter(|(rule, _)| rule.zone.is_some())
        .collect();
    if rules.is_empty() {
        return Limit::Pass;
    }
    // Every rule but the last is checked without counting; the last counts at
    // once; then, all within their bursts, the others count (nginx's order).
    let last = rules.len() - 1;
    let mut excesses = Vec::with_capacity(rules.len());
    for (i, (rule, key)) in rules.iter().enumerate() {
        let Some(zone) = &rule.zone else { continue };
        match zone.take(key, rule.burst, now, i == last) {
            Take::Within(e) => excesses.push(e),
            Take::Over(excess) => return refuse(r, limits, rule, excess),
        }
    }
    let mut worst: Option<(u64, u64, &ReqRule)> = None;
    for (i, (rule, key)) in rules.iter().enumerate() {
        let Some(zone) = &rule.zone else { continue };
        let excess = match i == last {
            true => excesses.get(i).copied().unwrap_or(0),
            false => zone.commit(key, now),
        };
        let delay = bucket::delay_ms(excess, rule.delay, zone.def.rate);
        if delay > worst.map_or(0, |w| w.0) {
            worst = Some((delay, excess, rule));
        }
    }
    let Some((delay, excess, rule)) = worst else {
        r.vars.limit_req = Some(Status::Passed);
        return Limit::Pass;
    };
    let dry = if limits.req_dry_run { ", dry run" } else { "" };
    logging::emit(
        limits.delay_log(),
        format_args!(
            "delaying request{dry}, excess: {}, by zone \"{}\"",
            milli(excess),
            rule.name,
        ),
    );
    if limits.req_dry_run {
        r.vars.limit_req = Some(Status::DelayedDryRun);
        return Limit::Pass;
    }
    r.vars.limit_req = Some(Status::Delayed);
    Limit::Delay(Duration::from_millis(delay))
}

fn refuse(r: &mut Routed, limits: &Limits, rule: &ReqRule, excess: u64) -> Limit {
    let dry = if limits.req_dry_run { ", dry run" } else { "" };
    logging::emit(
        limits.req_log,
        format_args!(
            "limiting requests{dry}, excess: {} by zone \"{}\"",
            milli(excess),
            rule.name,
        ),
    );
    if limits.req_dry_run {
        r.vars.limit_req = Some(Status::RejectedDryRun);
        return Limit::Pass;
    }
    r.vars.limit_req = Some(Status::Rejected);
    Limit::Reject(limits.req_status)
}

fn limit_conn(cx: &Cx, r: &mut Routed, limits: &Limits) -> Limit {
    let mut holds = Vec::new();
    for rule in &limits.conn {
        let (Some(zone), Some(key)) = (&rule.zone, key_of(cx, r, rule.key.as_ref(), MAX_CONN_KEY))
        else {
            continue;
        };
        r.vars.limit_conn = Some(Status::Passed);
        match zone.acquire(&key, rule.max) {
            Some(h) => holds.push(h),
            None => {
                // The counts taken so far are given back (`holds` drops).
                let dry = if limits.conn_dry_run {
                    ", dry run,"
                } else {
                    ""
                };
                logging::emit(
                    limits.conn_log,
                    format_args!("limiting connections{dry} by zone \"{}\"", rule.name),
                );
                if limits.conn_dry_run {
                    r.vars.limit_conn = Some(Status::RejectedDryRun);
                    return Limit::Pass;
                }
                r.vars.limit_conn = Some(Status::Rejected);
                return Limit::Reject(limits.conn_status);
            }
        }
    }
    if !holds.is_empty() {
        r.limits.holds = Some(holds.into());
    }
    Limit::Pass
}

/// The response's pace, `(rate, after)` in bytes (per second), when it has a
/// rate: an upstream's `X-Accel-Limit-Rate` (`accel`; 0 is no pace), else
/// `set $limit_rate`, else the location's `limit_rate`.
pub fn response_rate(
    config: &crate::config::Config,
    origin: &super::Origin,
    req: &crate::http::Request,
    r: &Routed,
    accel: Option<u64>,
) -> Option<(u64, u64)> {
    if accel == Some(0)
        || accel.is_none()
            && r.vars.limit_rate.is_none()
            && r.location(config).limits.rate.is_none()
    {
        return None;
    }
    let cx = Cx {
        config,
        origin: origin.clone(),
        req,
        trace: None,
    };
    let env = cx.env(r, true);
    let rate = accel.unwrap_or_else(|| env.limit_rate());
    (rate > 0).then(|| (rate, env.limit_rate_after()))
}

/// Milli-requests as nginx prints them: `1.500`.
fn milli(n: u64) -> String {
    format!("{}.{:03}", n / 1000, n % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parse_head;

    fn config(text: &str) -> crate::config::Config {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, text).unwrap();
        crate::config::load(&file, dir.path()).unwrap()
    }

    /// Routes `target` on `c`: the status of an early answer, else the request.
    fn route(c: &crate::config::Config, target: &str) -> Result<Routed, u16> {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        let (req, _) = parse_head(raw.as_bytes(), 8192).unwrap().unwrap();
        let origin = crate::handler::Origin::test_loopback();
        crate::handler::route(c, origin, &req).map_err(|e| e.resp.status)
    }

    #[test]
    fn burst_delay_and_refusal_through_the_phases() {
        let c = config(
            "http { limit_req_zone $binary_remote_addr zone=ut_req:1m rate=1r/m;
                limit_req_zone $arg_k zone=ut_key:1m rate=1r/m;
                server { listen 127.0.0.1:1;
                    location /d/ { limit_req zone=ut_req burst=1; }
                    location /k/ { limit_req zone=ut_key nodelay; limit_req_status 429; }
                    location /e/ { error_page 503 /d/x; limit_req zone=ut_key; }
                } }",
        );
        let first = route(&c, "/d/x").unwrap();
        assert_eq!(first.limits.delay, None);
        assert_eq!(first.vars.limit_req, Some(Status::Passed));
        // Within the burst: delayed by what the excess takes to drain (1r/m is
        // 16 milli-requests a second, as nginx rounds it: 62.5 s).
        let second = route(&c, "/d/x").unwrap();
        assert_eq!(second.vars.limit_req, Some(Status::Delayed));
        let (delay, _) = second.limits.delay.unwrap();
        assert_eq!(delay, Duration::from_millis(62_500));
        assert_eq!(route(&c, "/d/x").unwrap_err(), 503);
        // Keys apart; an empty key is not limited; the status is the location's.
        assert!(route(&c, "/k/?k=a").is_ok());
        assert_eq!(route(&c, "/k/?k=a").unwrap_err(), 429);
        assert!(route(&c, "/k/?k=b").is_ok());
        for _ in 0..3 {
            assert_eq!(route(&c, "/k/").unwrap().vars.limit_req, None);
        }
        // The error page's location is not limited again for the same request.
        assert!(route(&c, "/e/?k=e").is_ok());
        assert_eq!(route(&c, "/e/?k=e").map(|r| r.path), Err(503));
    }

    #[test]
    fn connection_counts_are_held_by_the_request() {
        let c = config(
            "http { limit_conn_zone $binary_remote_addr zone=ut_conn:1m;
                server { listen 127.0.0.1:1; location / { limit_conn ut_conn 1; } } }",
        );
        let held = route(&c, "/x").unwrap();
        assert_eq!(held.vars.limit_conn, Some(Status::Passed));
        assert_eq!(route(&c, "/x").unwrap_err(), 503);
        // A clone (the access log's copy) shares the count.
        let copy = held.clone();
        drop(held);
        assert_eq!(route(&c, "/x").unwrap_err(), 503);
        drop(copy);
        assert!(route(&c, "/x").is_ok());
    }

    #[test]
    fn milli_requests_print_as_nginx() {
        assert_eq!(milli(1000), "1.000");
        assert_eq!(milli(1500), "1.500");
        assert_eq!(milli(16), "0.016");
    }
}
