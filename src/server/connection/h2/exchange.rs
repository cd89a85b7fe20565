//! One HTTP/2 stream's exchange: its request through the same admission,
//! phases and handlers as an HTTP/1 request, its body fed to the handler's
//! sink as DATA arrives, and its response: a HEADERS frame, then the body from
//! the same body source HTTP/1 uses ([`Outgoing`]), as DATA frames under the
//! peer's windows (see `super::send`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::Ctx;
use super::super::outgoing::{Outgoing, Sink as Out};
use super::super::write::log_exchange;
use super::H2;
use super::cgi::CgiStream;
use super::proxy::ProxyStream;
use crate::h2::ErrorCode;
use crate::handler::{self, Early, Origin, Outcome, Routed, Sink};
use crate::http::body::BodySink;
use crate::http::status::bodiless;
use crate::http::{Body, Framing, Method, Request, Response, h2_response};
use crate::limit::zones::Hold;
use crate::metrics::{self, TimeoutKind};
use crate::transport::{self, Transport};

/// nginx's `send_timeout` default, for an answer with no server to ask.
const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// A stream's request and where it stands.
pub(super) struct Exchange {
    pub req: Request,
    pub origin: Origin,
    /// When its head was complete (`$request_time`).
    pub started: Instant,
    /// The server its Host chose.
    pub server: usize,
    pub phase: Phase,
    /// `limit_conn` counts, given back when the exchange ends.
    pub holds: Option<Arc<[Hold]>>,
    /// When the stream last moved (body bytes in, DATA out): its
    /// `client_body_timeout` and `send_timeout` count from here.
    pub since: Instant,
    /// Local redirects of its CGI scripts so far.
    pub redirects: u8,
}

pub(super) enum Phase {
    /// The head is in and the phases are deciding (an exchange is in this
    /// state only while an event is being handled).
    Routing,
    /// The request body arrives into its sink.
    Body {
        routed: Box<Routed>,
        sink: Sink,
        received: u64,
        /// `client_max_body_size` (0: none).
        limit: u64,
        /// `client_body_timeout`.
        timeout: Duration,
    },
    /// A password check runs on the pool; the request is routed again after.
    Auth,
    /// `limit_req` delays the routed request until `until`.
    Delayed { routed: Box<Routed>, until: Instant },
    /// `auth_delay` holds a 401 until `until`.
    Held {
        resp: Box<Response>,
        routed: Box<Routed>,
        until: Instant,
    },
    /// The response body goes out: `buf[pos..]` first, then `body`.
    Send {
        buf: Vec<u8>,
        pos: usize,
        body: Outgoing,
        /// `send_timeout`: a stream whose window stays closed this long is reset.
        timeout: Duration,
        /// `add_trailer` fields, sent after the body.
        trailers: Option<Vec<(String, String)>>,
    },
    /// A CGI script runs for the stream; its output is relayed as it comes.
    Cgi {
        routed: Box<Routed>,
        run: Box<CgiStream>,
    },
    /// The request is with an upstream (`proxy_pass`, `fastcgi_pass`).
    Proxy {
        routed: Box<Routed>,
        run: Box<ProxyStream>,
    },
}

/// What an event did to the stream.
pub(super) enum Next {
    /// It waits (for body, a check, a timer, the window).
    Keep(Exchange),
    /// Its response is queued: its body is to be sent.
    Sending(Exchange),
    /// It is over (answered whole, or reset).
    Done,
}

impl H2 {
    /// A stream's request head arrived.
    pub(super) fn start(
        &mut self,
        ctx: &mut Ctx,
        stream: &Transport,
        origin: &Origin,
        id: u32,
        mut req: Request,
    ) -> Next {
        req.tls.clone_from(&self.tls_info);
        let mut origin = origin.clone();
        origin.without_client();
        let mut req_origin = origin.clone();
        req_origin.conn.requests += 1;
        let refused = transport::admit(ctx.config, req_origin.clone(), stream, &mut req);
        let server = handler::server_index(ctx.config, origin.group, req.host.as_deref());
        let ex = Exchange {
            req,
            origin: req_origin,
            started: ctx.now,
            server,
            phase: Phase::Routing,
            holds: None,
            since: ctx.now,
            redirects: 0,
        };
        if let Some(resp) = refused {
            return self.respond(ctx, id, ex, resp, None);
        }
        if let Some(resp) = transport::check_client_cert(ctx.config, server, &ex.req) {
            return self.respond(ctx, id, ex, resp, None);
        }
        self.route(ctx, id, ex)
    }

    /// The phases for the stream's request (again after a password check).
    pub(super) fn route(&mut self, ctx: &mut Ctx, id: u32, ex: Exchange) -> Next {
        let routed = handler::route(ctx.config, ex.origin.clone(), &ex.req);
        self.routed(ctx, id, ex, routed)
    }

    /// What the phases made of the request (see the HTTP/1 `routed`).
    pub(super) fn routed(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        mut ex: Exchange,
        routed: Result<Routed, Box<Early>>,
    ) -> Next {
        match routed {
            Ok(mut r) => {
                if let Some(check) = r.pending.take() {
                    return match ctx.aio.submit_verify((ctx.key, self.serial), check) {
                        Ok(()) => {
                            ex.phase = Phase::Auth;
                            self.checks.push_back(id);
                            Next::Keep(ex)
                        }
                        Err(check) => {
                            check.finish(check.run());
                            self.route(ctx, id, ex)
                        }
                    };
                }
                ex.origin = ex.origin.for_request(&r);
                match r.limits.delay {
                    Some((delay, _)) => {
                        ex.phase = Phase::Delayed {
                            until: ctx.now + delay,
                            routed: Box::new(r),
                        };
                        Next::Keep(ex)
                    }
                    None => self.read_body(ctx, id, ex, r),
                }
            }
            Err(early) => {
                let Early { resp, routed, .. } = *early;
                if let Some(r) = &routed {
                    ex.origin = ex.origin.for_request(r);
                    if let Some(delay) = r.delay {
                        ex.phase = Phase::Held {
                            resp: Box::new(resp),
                            routed: Box::new(r.clone()),
                            until: ctx.now + delay,
                        };
                        return Next::Keep(ex);
                    }
                }
                self.respond(ctx, id, ex, resp, routed.as_ref())
            }
        }
    }

    /// A routed request: its body is read into its sink, or it runs at once.
    fn read_body(&mut self, ctx: &mut Ctx, id: u32, mut ex: Exchange, routed: Routed) -> Next {
        let limit = routed.location(ctx.config).client_max_body_size;
        if let Framing::Length(n) = ex.req.framing
            && limit != 0
            && n > limit
        {
            let resp = handler::error_response(ctx.config, routed.server, Some(&routed), 413);
            return self.respond(ctx, id, ex, resp, Some(&routed));
        }
        let sink = match handler::body_sink(ctx.config, &routed, &ex.req) {
            Ok(s) => s,
            Err(status) => {
                let resp =
                    handler::error_response(ctx.config, routed.server, Some(&routed), status);
                return self.respond(ctx, id, ex, resp, Some(&routed));
            }
        };
        if ex.req.framing == Framing::None {
            return self.run(ctx, id, ex, routed, sink);
        }
        ex.phase = Phase::Body {
            timeout: routed.server(ctx.config).client_body_timeout,
            routed: Box::new(routed),
            sink,
            received: 0,
            limit,
        };
        Next::Keep(ex)
    }

    /// Body bytes for the stream; `end`: the body is complete.
    pub(super) fn body(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        mut ex: Exchange,
        data: &[u8],
        end: bool,
    ) -> Next {
        let Phase::Body {
            sink,
            received,
            limit,
            ..
        } = &mut ex.phase
        else {
            // Answered before its body came: the rest is dropped.
            return Next::Keep(ex);
        };
        ex.since = ctx.now;
        *received += data.len() as u64;
        let refused = if *limit != 0 && *received > *limit {
            Some(413)
        } else {
            sink.write(data).err().map(|e| e.status())
        };
        if refused.is_none() && !end {
            return Next::Keep(ex);
        }
        let Phase::Body { routed, sink, .. } = std::mem::replace(&mut ex.phase, Phase::Routing)
        else {
            return Next::Done;
        };
        if let Some(status) = refused {
            // The sink is dropped unfinished: a partial upload is removed.
            drop(sink);
            let resp = handler::error_response(ctx.config, routed.server, Some(&routed), status);
            return self.respond(ctx, id, ex, resp, Some(&routed));
        }
        self.run(ctx, id, ex, *routed, sink)
    }

    /// The content handler for a request whose body is in.
    fn run(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        ex: Exchange,
        mut routed: Routed,
        sink: Sink,
    ) -> Next {
        match handler::process(ctx.config, &mut routed, ex.origin.clone(), &ex.req, sink) {
            Outcome::Respond(resp) => self.respond(ctx, id, ex, resp, Some(&routed)),
            Outcome::Cgi(job) => self.start_cgi(ctx, id, ex, routed, job),
            Outcome::Proxy(body) => self.start_proxy(ctx, id, ex, routed, body),
            Outcome::ErrorPass(get) => self.start_error_pass(ctx, id, ex, *get, routed),
        }
    }

    /// A timer of the stream is due: a delayed request goes on, a held 401
    /// goes out, a stalled body gets 408, a stalled send or a script past its
    /// `cgi_timeout` ends the stream.
    pub(super) fn timer(&mut self, ctx: &mut Ctx, id: u32, mut ex: Exchange) -> Next {
        match std::mem::replace(&mut ex.phase, Phase::Routing) {
            Phase::Delayed { routed, .. } => {
                let routed = handler::resume(ctx.config, ex.origin.clone(), &ex.req, *routed);
                self.routed(ctx, id, ex, routed)
            }
            Phase::Held { resp, routed, .. } => self.respond(ctx, id, ex, *resp, Some(&routed)),
            Phase::Body { routed, .. } => {
                metrics::timeout(TimeoutKind::ClientBody);
                log::info!(
                    "client {}: timed out reading the body of stream {id}",
                    ex.origin.peer
                );
                let resp = handler::error_response(ctx.config, routed.server, Some(&routed), 408);
                self.respond(ctx, id, ex, resp, Some(&routed))
            }
            Phase::Send { .. } => {
                metrics::timeout(TimeoutKind::Send);
                log::info!("client {}: timed out sending stream {id}", ex.origin.peer);
                self.session.reset(id, ErrorCode::Cancel);
                Next::Done
            }
            Phase::Cgi { routed, run } => self.cgi_timeout(ctx, id, ex, *routed, *run),
            Phase::Proxy { routed, run } => self.gateway_timeout(ctx, id, ex, *routed, run),
            other => {
                ex.phase = other;
                Next::Keep(ex)
            }
        }
    }

    /// Queues the response: HEADERS (with END_STREAM when there is no body),
    /// the access log line, and the body to send.
    pub(super) fn respond(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        mut ex: Exchange,
        mut resp: Response,
        routed: Option<&Routed>,
    ) -> Next {
        let at = (&ex.origin, ex.started, ex.server);
        if resp.status == handler::rewrite::CLOSE {
            // `return 444`: the stream is reset, nothing is sent (as nginx).
            log_exchange(ctx, at, Some(&ex.req), &resp, routed, (0, 0), None);
            self.session.reset(id, ErrorCode::InternalError);
            return Next::Done;
        }
        let head_only = ex.req.method == Method::Head || bodiless(resp.status);
        // `add_trailer`: a HEADERS frame after the body (not after a HEAD's head).
        let trailers = resp.trailers.take().filter(|_| !head_only).map(|t| *t);
        let body = without_aio(std::mem::take(&mut resp.body));
        let length = if bodiless(resp.status) {
            None
        } else {
            h2_response::length(&body)
        };
        let fields = h2_response::fields(&resp, ctx.date, length);
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let empty = head_only || (length == Some(0) && trailers.is_none());
        let before = self.session.output().len();
        self.session.send_headers(id, resp.status, &pairs, empty);
        let head = self.session.output().len().saturating_sub(before) as u64;
        let sent = if head_only { 0 } else { length.unwrap_or(0) };
        log_exchange(ctx, at, Some(&ex.req), &resp, routed, (head, sent), None);
        if empty {
            return Next::Done;
        }
        ex.holds = routed.and_then(|r| r.limits.holds.clone());
        let mut buf = Vec::new();
        let mut out = Out {
            out: &mut buf,
            aio: ctx.aio,
            owner: (ctx.key, self.serial),
        };
        let mut outgoing = Outgoing::default();
        outgoing.queue(&mut out, body, false, false);
        let timeout = match routed {
            Some(r) => r.location(ctx.config).send_timeout,
            None => ctx
                .config
                .servers
                .get(ex.server)
                .map_or(DEFAULT_SEND_TIMEOUT, |s| s.send_timeout),
        };
        ex.since = ctx.now;
        ex.phase = Phase::Send {
            buf,
            pos: 0,
            body: outgoing,
            timeout,
            trailers,
        };
        Next::Sending(ex)
    }
}

/// The body with its file reads inline: an aio completion names the
/// connection, not the stream it was for.
fn without_aio(body: Body) -> Body {
    match body {
        Body::File {
            file,
            offset,
            len,
            sendfile,
            ..
        } => Body::File {
            file,
            offset,
            len,
            sendfile,
            aio: false,
        },
        Body::Parts { pieces, whole } => Body::Parts {
            pieces: pieces.into_iter().map(without_aio).collect(),
            whole,
        },
        other => other,
    }
}
