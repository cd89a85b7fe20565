//! The backend's response head: read (an HTTP/1 status line and fields, or the
//! CGI-style header block of a FastCGI application's stdout), then retried,
//! intercepted, tunnelled or turned into the client's response head.

use std::io;

use super::{Failure, Phase, ProxyRun, Round};
use crate::config::proxy::{Protocol, Redirect};
use crate::gateway::fastcgi;
use crate::gateway::http::{self as up, BodyDecoder, Head};
use crate::gateway::relay;
use crate::handler::{self, Cx, Routed};
use crate::http::{Method, Request, Response};
use crate::server::connection::{Connection, Ctx};

/// Reads the upstream's response head as far as it has come: `Ok(None)` while
/// more is to come, `Err` when the attempt failed.
pub(in crate::server::connection) fn read_head_bytes(
    ctx: &mut Ctx,
    run: &mut ProxyRun,
    key: usize,
) -> Result<Option<Head>, Failure> {
    loop {
        let Some(stream) = ctx.gateway.backends.stream(key) else {
            return Err(Failure::Error);
        };
        let read = crate::server::buffer::read_with(stream, 16 * 1024, |bytes| {
            super::body::take_in(run, bytes)
        });
        match read {
            Ok((0, _)) => {
                log::error!(
                    "upstream {} prematurely closed connection while reading response header",
                    run.attempt.addr
                );
                return Err(Failure::Error);
            }
            Ok((_, Err(e))) => {
                log::error!("upstream {} sent {e}", run.attempt.addr);
                return Err(Failure::InvalidHeader);
            }
            Ok((_, Ok(()))) => {
                if run.fcgi.as_ref().is_some_and(|d| d.caught) {
                    log::error!(
                        "upstream {} sent a caught stderr text (fastcgi_catch_stderr)",
                        run.attempt.addr
                    );
                    return Err(Failure::InvalidHeader);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => {
                log::error!("reading from upstream {} failed ({e})", run.attempt.addr);
                return Err(Failure::Error);
            }
        }
        let parsed = match run.protocol {
            Protocol::Http => up::parse_head(&run.input).map_err(|e| format!("{e:?}")),
            Protocol::FastCgi => fastcgi::parse_head(&run.input).map_err(|e| format!("{e:?}")),
        };
        match parsed {
            Ok(None) if run.fcgi.as_ref().is_some_and(|d| d.ended) => {
                log::error!(
                    "upstream {} prematurely closed FastCGI stdout while reading response header",
                    run.attempt.addr
                );
                return Err(Failure::InvalidHeader);
            }
            Ok(None) => continue,
            Ok(Some((head, used))) => {
                // The head as it came, for `$upstream_http_NAME`.
                run.trace.head.clear();
                run.trace
                    .head
                    .extend_from_slice(&run.input[head.skipped..used]);
                run.trace.status_line = run.protocol == Protocol::Http;
                run.input.drain(..used);
                run.attempt.status = head.status;
                run.attempt.header = Some(ctx.now - run.attempt_started);
                return Ok(Some(head));
            }
            Err(e) => {
                log::error!("upstream {} sent invalid header ({e})", run.attempt.addr);
                return Err(Failure::InvalidHeader);
            }
        }
    }
}

/// The client's response for a backend's head (hidden and hop-by-hop fields
/// dropped, `Location` and `Refresh` rewritten, the body's decoder chosen), and
/// the pace the backend asked for (`X-Accel-Limit-Rate`).
pub(in crate::server::connection) fn client_head(
    cx: &Cx,
    routed: &Routed,
    run: &mut ProxyRun,
    head: &mut Head,
    tunnel: bool,
) -> (Response, Option<u64>) {
    let settings = std::sync::Arc::clone(&run.settings);
    let mut resp = Response::new(head.status);
    if routed.in_error_page
        && let Some(code) = routed.vars.err_status
    {
        // An error page's answer keeps the error's status (or `=CODE`'s).
        resp.status = code;
        resp.reason = None;
    }
    if resp.status == head.status {
        resp.reason = Some(head.reason.clone().into_boxed_str()).filter(|r| !r.is_empty());
    }
    // An unbuffered relay (`proxy_buffering off`) is not paced, as nginx.
    let accel = match settings.buffering {
        true => accel_limit_rate(&head.fields, settings.ignore_headers),
        false => Some(0),
    };
    resp.raw_headers.reserve(head.fields.len());
    for (name, value) in std::mem::take(&mut head.fields) {
        if hidden(&name, run.protocol, &settings.hide, &settings.pass)
            || (!tunnel && up::hop_by_hop(&name))
        {
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        // An application's Location is relayed as it is, relative or not (as
        // nginx does); only the proxy rewrites it (proxy_redirect).
        let value = if run.protocol == Protocol::FastCgi {
            value
        } else if name.eq_ignore_ascii_case("location") {
            rewrite_location(cx, routed, &settings.redirects, &value, false)
        } else if name.eq_ignore_ascii_case("refresh") {
            rewrite_location(cx, routed, &settings.redirects, &value, true)
        } else {
            value
        };
        resp.relays_server |= name.eq_ignore_ascii_case("server");
        resp.relays_date |= name.eq_ignore_ascii_case("date");
        resp.raw_headers.push((name, value));
    }
    run.decoder = match run.protocol {
        Protocol::Http => {
            BodyDecoder::for_head(head, run.head_request || cx.req.method == Method::Head)
        }
        // The application's stdout ends at END_REQUEST, whatever it says.
        Protocol::FastCgi => BodyDecoder::UntilClose,
    };
    run.upstream_close = head.close;
    (resp, accel)
}

/// The length a relayed head announces to the client.
pub(in crate::server::connection) fn relayed_length(run: &ProxyRun, head: &Head) -> Option<u64> {
    let length = if head.chunked { None } else { head.length };
    match run.decoder {
        BodyDecoder::Empty => length.or(Some(0)),
        _ => length,
    }
}

/// Whether the head is answered otherwise: retried on the next server
/// (`Err`), or `Ok(true)` when the location's error page intercepts it.
pub(in crate::server::connection) fn intercepted(
    ctx: &mut Ctx,
    routed: &Routed,
    run: &mut ProxyRun,
    status: u16,
) -> Result<bool, Failure> {
    let retry = Failure::Status(status);
    if run.settings.next_upstream & retry.bit() != 0 && run.tries_left > 0 {
        return Err(retry);
    }
    let loc = routed.location(ctx.config);
    if run.settings.intercept_errors && status >= 300 && loc.error_pages.contains_key(&status) {
        super::release_lease(ctx, run, false);
        run.end_attempt(ctx.now, status);
        return Ok(true);
    }
    if let Some(b) = ctx.gateway.balancer(ctx.config, run.group) {
        b.done(run.peer, false, ctx.now);
    }
    Ok(false)
}

impl Connection {
    /// Reads the upstream's response head; `None` once it is in and handled (the
    /// phase moved on), else what the round does.
    pub(super) fn read_head(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut ProxyRun,
        key: usize,
    ) -> Option<Round> {
        match read_head_bytes(ctx, run, key) {
            Ok(Some(head)) => self.got_head(ctx, req, routed, run, head),
            Ok(None) if self.client_gone() => Some(Round::Close),
            Ok(None) => Some(Round::Again(false)),
            Err(why) => Some(Round::Failed(why)),
        }
    }

    /// A response head arrived: retry, intercept, tunnel, or relay it.
    pub(super) fn got_head(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut ProxyRun,
        mut head: Head,
    ) -> Option<Round> {
        match intercepted(ctx, routed, run, head.status) {
            Err(retry) => return Some(Round::Failed(retry)),
            Ok(true) => {
                self.proxy_finish_error(ctx, req, routed, run, head.status);
                return Some(Round::Replaced);
            }
            Ok(false) => {}
        }
        let tunnel = head.status == 101 && run.upgrade;
        let cx = self.cx(ctx, req);
        let (mut resp, accel) = client_head(&cx, routed, run, &mut head, tunnel);
        if tunnel {
            return Some(self.start_tunnel(ctx, req, routed, run, resp));
        }
        let length = relayed_length(run, &head);
        let Some(prepared) = relay::prepare(&cx, routed, &mut resp, length, Some(&run.trace))
        else {
            // `charset $var` without a value: no response at all, as nginx.
            super::release_lease(ctx, run, false);
            run.end_attempt(ctx.now, head.status);
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
        // `limit_rate` (or the backend's `X-Accel-Limit-Rate`) paces the
        // relayed body too.
        self.keep_limits_at(ctx, Some(req), Some(routed), accel);
        self.pace_relayed();
        run.down = Some(prepared.down);
        run.resp = Some(Box::new(resp));
        run.phase = Phase::Body;
        None
    }
}

/// Whether a backend header is kept from the client: nginx's hidden list of the
/// protocol plus `*_hide_header`, minus `*_pass_header`.
fn hidden(name: &str, protocol: Protocol, hide: &[String], pass: &[String]) -> bool {
    const ACCEL: &[&str] = &[
        "x-accel-expires",
        "x-accel-redirect",
        "x-accel-limit-rate",
        "x-accel-buffering",
        "x-accel-charset",
    ];
    // `hide` and `pass` hold lowercase names; no field is lowercased (copied).
    let is = |list: &[&str]| list.iter().any(|n| n.eq_ignore_ascii_case(name));
    let listed = |list: &[String]| list.iter().any(|n| n.eq_ignore_ascii_case(name));
    if listed(pass) {
        return false;
    }
    let own = match protocol {
        Protocol::Http => is(&["date", "server", "x-pad"]),
        Protocol::FastCgi => name.eq_ignore_ascii_case("status"),
    };
    own || is(ACCEL) || listed(hide)
}

/// The backend's `X-Accel-Limit-Rate` (bytes per second; 0: no pace), unless
/// `*_ignore_headers` names it. As nginx: only the first field counts (a second
/// is logged), and a value that is not a plain number is ignored.
fn accel_limit_rate(fields: &[(String, Vec<u8>)], ignore: u16) -> Option<u64> {
    let mut found = fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-accel-limit-rate"));
    let (_, first) = found.next()?;
    if let Some((name, again)) = found.next() {
        log::warn!(
            "upstream sent duplicate header line: \"{name}: {}\", previous value: \"{name}: {}\", ignored",
            String::from_utf8_lossy(again),
            String::from_utf8_lossy(first)
        );
    }
    if ignore & crate::config::ignore_headers::LIMIT_RATE != 0 {
        return None;
    }
    if first.is_empty() || !first.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(first).ok()?.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::accel_limit_rate;
    use crate::config::ignore_headers::LIMIT_RATE;

    #[test]
    fn x_accel_limit_rate_as_nginx_reads_it() {
        let field = |v: &str| ("X-Accel-Limit-Rate".to_string(), v.as_bytes().to_vec());
        let other = ("X-Other".to_string(), b"5".to_vec());
        // fields, ignore bits, rate
        let cases = [
            (vec![field("1024")], 0, Some(1024)),
            (vec![other.clone(), field("0")], 0, Some(0)),
            (vec![field("1024")], LIMIT_RATE, None),
            (vec![field("10k")], 0, None),
            (vec![field("")], 0, None),
            (vec![field("-5")], 0, None),
            (vec![field("99999999999999999999999")], 0, None),
            (vec![field("7"), field("9")], 0, Some(7)),
            (vec![other], 0, None),
        ];
        for (fields, ignore, want) in cases {
            assert_eq!(accel_limit_rate(&fields, ignore), want, "{fields:?}");
        }
    }
}
