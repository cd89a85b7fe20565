//! One request through the phases: a complete head is admitted (TLS checks),
//! routed, and then either answered at once, delayed, parked for a password
//! check, or read (its body) before its content handler runs.

use super::{Connection, Ctx, State, proxy};
use crate::handler::{self, Early, Outcome, Routed, Sink};
use crate::http::body::BodyReader;
use crate::http::{Framing, Request, Response};
use crate::transport;

impl Connection {
    /// Answers a request `ssl_verify_client` refuses (before any phase, as
    /// nginx), with the `add_header ... always` of where it would have gone.
    pub(super) fn refuse_client_cert(&mut self, ctx: &mut Ctx, mut resp: Response, req: Request) {
        let routed = match handler::route(ctx.config, self.origin.clone(), &req) {
            Ok(r) => Some(r),
            Err(early) => early.routed,
        };
        if let Some(r) = &routed {
            let cx = handler::Cx {
                config: ctx.config,
                origin: self.origin.for_request(r),
                req: &req,
                trace: None,
            };
            cx.add_headers(&mut resp, r);
        }
        self.respond(ctx, resp, Some(&req), true);
    }

    /// A head is complete: route it, then read its body or answer at once.
    pub(super) fn start_request(&mut self, ctx: &mut Ctx, mut req: Request) {
        self.release_limits();
        let has_body = req.framing != Framing::None;
        if self.redirects == 0 {
            self.started = ctx.now;
        }
        if ctx.config.ssl_vars {
            req.tls = self.stream.ssl_info();
        }
        let refused = transport::admit(ctx.config, self.origin.clone(), &self.stream, &mut req);
        self.server = handler::server_index(ctx.config, self.origin.group, req.host.as_deref());
        if let Some(resp) = refused {
            // nginx closes after its TLS 400s (495-497), not after a 421.
            let close = has_body || self.stream.plain_http_on_tls() || resp.status == 400;
            return self.respond(ctx, resp, Some(&req), close);
        }
        if let Some(resp) = transport::check_client_cert(ctx.config, self.server, &req) {
            return self.refuse_client_cert(ctx, resp, req);
        }
        self.route_request(ctx, req);
    }

    /// The phases for an admitted head (again after a password check), then
    /// its body or the answer.
    pub(super) fn route_request(&mut self, ctx: &mut Ctx, req: Request) {
        let has_body = req.framing != Framing::None;
        let routed = handler::route(ctx.config, self.origin.clone(), &req);
        self.routed(ctx, req, routed, has_body);
    }

    /// What the phases made of `req`: an early answer (or an error page's request
    /// for a backend), a password check to wait for, a wait (`limit_req`'s
    /// delay), or a routed request.
    pub(super) fn routed(
        &mut self,
        ctx: &mut Ctx,
        mut req: Request,
        routed: Result<Routed, Box<Early>>,
        has_body: bool,
    ) {
        let routed = match routed {
            Ok(mut r) => {
                if let Some(check) = r.pending.take() {
                    return self.wait_for_check(ctx, req, check);
                }
                self.origin = self.origin.for_request(&r);
                r
            }
            Err(early) => {
                let Early { resp, routed, pass } = *early;
                if let Some(r) = &routed {
                    self.origin = self.origin.for_request(r);
                    if let Some(delay) = r.delay {
                        return self.delay_answer(ctx, req, resp, r.clone(), delay);
                    }
                }
                match (pass, routed) {
                    // An error page in a proxied location: its request (with
                    // the body, as nginx passes it) goes on from here.
                    (Some(get), Some(r)) if r.location(ctx.config).gateway().is_some() => {
                        req = *get;
                        r
                    }
                    (_, routed) => {
                        return self.answer_early(ctx, &req, resp, routed.as_ref(), has_body);
                    }
                }
            }
        };
        match routed.limits.delay {
            Some((delay, _)) => self.park_delayed(ctx, req, routed, delay),
            None => self.routed_request(ctx, req, routed),
        }
    }

    /// A routed request (after any `limit_req` delay): read its body or answer.
    pub(super) fn routed_request(&mut self, ctx: &mut Ctx, req: Request, routed: Routed) {
        let has_body = req.framing != Framing::None;
        let limit = routed.location(ctx.config).client_max_body_size;
        let reader = match BodyReader::new(req.framing, limit) {
            Ok(r) => r,
            Err(e) => {
                let resp =
                    handler::error_response(ctx.config, routed.server, Some(&routed), e.status());
                return self.respond(ctx, resp, Some(&req), true);
            }
        };
        // A body already here whole and within the buffer is read as buffered:
        // nginx keeps such a preread body in memory, where `$request_body` sees it.
        let preread = matches!(req.framing, Framing::Length(n)
            if usize::try_from(n).is_ok_and(|n| n <= self.input.filled().len()
                && n <= routed.location(ctx.config).bodies.memory_limit()));
        if !preread && let Some(live) = proxy::live::for_request(ctx.config, &routed, &req) {
            if req.expect_continue && self.input.is_empty() {
                self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            return self.start_live_proxy(ctx, req, routed, live);
        }
        let sink = match handler::body_sink(ctx.config, &routed, &req) {
            Ok(s) => s,
            Err(status) => {
                let resp =
                    handler::error_response(ctx.config, routed.server, Some(&routed), status);
                return self.respond(ctx, resp, Some(&req), has_body);
            }
        };
        if reader.is_done() {
            // An empty body a backend reads is still "read": nginx answers the
            // expectation first.
            let reads = routed.script.is_some() || routed.location(ctx.config).gateway().is_some();
            let declared = has_body || req.header("content-length").is_some();
            if req.expect_continue && declared && reads && self.input.is_empty() {
                self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            return self.finish_request(ctx, req, routed, sink);
        }
        if req.expect_continue && self.input.is_empty() {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        self.deadline = Some(ctx.now + routed.server(ctx.config).client_body_timeout);
        self.state = State::Body {
            req: Box::new(req),
            routed: Box::new(routed),
            reader,
            sink,
        };
    }

    pub(super) fn finish_request(
        &mut self,
        ctx: &mut Ctx,
        req: Request,
        mut routed: Routed,
        sink: Sink,
    ) {
        match handler::process(ctx.config, &mut routed, self.origin.clone(), &req, sink) {
            Outcome::Respond(resp) => {
                self.respond_logged(ctx, resp, Some(&req), false, Some(&routed));
            }
            Outcome::Cgi(job) => self.start_cgi(ctx, req, routed, job),
            Outcome::Proxy(body) => self.start_proxy(ctx, req, routed, body),
            Outcome::ErrorPass(get) => self.start_error_pass(ctx, *get, routed),
        }
    }
}
