//! Reading a request: the head (parsed when complete, pipelined bytes kept
//! for the next), then its body into the handler's sink. HTTP/1 framing is
//! this codec's: a malformed head or body is answered here and closes.

use std::io;

use super::{Connection, Ctx, State, Step};
use crate::handler;
use crate::http::request::{NameRules, check_line_lengths, parse_head_with};
use crate::metrics::{self, ErrorKind, Phase};

impl Connection {
    pub(super) fn step_head(&mut self, ctx: &mut Ctx) -> Step {
        // A new request: realip's address was the previous one's.
        self.origin.without_client();
        let server = self.default_server(ctx.config);
        let limit = server.client_header_buffer_size;
        let rules = NameRules {
            ignore_invalid: server.ignore_invalid_headers,
            underscores: server.underscores_in_headers,
            max_headers: server.max_headers,
            lenient: true,
        };
        match self.wants_h2(ctx) {
            Some(true) => {
                self.start_h2(ctx);
                return Step::Progress;
            }
            // Part of the preface: wait for the rest.
            None => return self.fill_head(ctx, limit),
            Some(false) => {}
        }
        if !self.input.is_empty() {
            let parsed = parse_head_with(self.input.filled(), limit, &rules);
            match parsed.and_then(|head| handler::dav::gate(ctx.config, head)) {
                Ok(Some((req, n))) => {
                    let line_max = self.default_server(ctx.config).header_line_max;
                    if let Some(Err(e)) =
                        line_max.map(|m| check_line_lengths(&self.input.filled()[..n], m))
                    {
                        self.input.consume(n);
                        self.count_request();
                        metrics::error(ErrorKind::BadRequest);
                        let idx = handler::server_index(ctx.config, self.origin.group, None);
                        let resp = handler::error_response(ctx.config, idx, None, e.status());
                        self.respond(ctx, resp, Some(&req), true);
                        return Step::Progress;
                    }
                    self.input.consume(n);
                    self.redirects = 0;
                    self.origin.conn.requests += 1;
                    self.count_request();
                    // As nginx: from a complete head on, the request is "writing"
                    // (a body to read makes it "reading" again).
                    self.meter.set(Phase::Writing);
                    self.start_request(ctx, req);
                    return Step::Progress;
                }
                Ok(None) => {}
                Err(e) => {
                    self.count_request();
                    metrics::error(ErrorKind::BadRequest);
                    self.meter.set(Phase::Writing);
                    let idx = handler::server_index(ctx.config, self.origin.group, None);
                    let resp = handler::error_response(ctx.config, idx, None, e.status());
                    self.respond(ctx, resp, None, true);
                    return Step::Progress;
                }
            }
        }
        self.fill_head(ctx, limit)
    }

    /// Reads more of a head.
    fn fill_head(&mut self, ctx: &mut Ctx, limit: usize) -> Step {
        match self.fill(limit) {
            Ok(0) => Step::Close,
            Ok(_) => {
                if let State::Head { started: false } = self.state {
                    // A request begins with its first byte (nginx counts it then).
                    metrics::request_started();
                    self.state = State::Head { started: true };
                    let timeout = self.default_server(ctx.config).client_header_timeout;
                    self.deadline = Some(ctx.now + timeout);
                }
                Step::Progress
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.input.release();
                Step::Blocked
            }
            Err(_) => Step::Close,
        }
    }

    /// Counts a request whose head came whole from the buffer (pipelined): one
    /// whose first byte came with a read was counted then.
    pub(super) fn count_request(&self) {
        if let State::Head { started: false } = self.state {
            metrics::request_started();
        }
    }

    /// Reads once into the input buffer (retrying EINTR).
    ///
    /// A read that returned less than it asked for emptied the socket, so the next
    /// one would only say WouldBlock: it is skipped until the next readiness event
    /// (new data is always a new edge), saving a syscall per request.
    pub(super) fn fill(&mut self, max: usize) -> io::Result<usize> {
        let r = self.fill_once(max);
        match &r {
            Ok(n) => metrics::received(*n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => metrics::error(ErrorKind::ClientIo),
        }
        r
    }

    pub(super) fn fill_once(&mut self, max: usize) -> io::Result<usize> {
        if !self.read_ready && !self.hangup {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let room = self.input.room(max);
        loop {
            match self.input.read_from(&mut self.stream, max) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_ready = false;
                    return Err(e);
                }
                Ok(n) if n > 0 && n < room && !self.hangup && self.stream.short_read_drains() => {
                    self.read_ready = false;
                    return Ok(n);
                }
                other => return other,
            }
        }
    }

    pub(super) fn step_body(&mut self, ctx: &mut Ctx) -> Step {
        let State::Body { reader, sink, .. } = &mut self.state else {
            return Step::Close;
        };
        match reader.feed(self.input.filled(), sink) {
            Ok(n) => self.input.consume(n),
            Err(e) => return self.fail_body(ctx, e.status()),
        }
        if reader.is_done() {
            let State::Body {
                req, routed, sink, ..
            } = std::mem::replace(&mut self.state, State::Head { started: false })
            else {
                return Step::Close;
            };
            self.meter.set(Phase::Writing);
            self.finish_request(ctx, *req, *routed, sink);
            return Step::Progress;
        }
        if self.out_pos < self.out.len() {
            // A pending "100 Continue": best effort, the body may come anyway.
            if let Err(e) = self.flush_out()
                && e.kind() != io::ErrorKind::WouldBlock
            {
                return Step::Close;
            }
        }
        match self.fill(crate::server::buffer::INITIAL) {
            Ok(0) => Step::Close,
            Ok(_) => {
                if let State::Body { routed, .. } = &self.state {
                    self.deadline = Some(ctx.now + routed.server(ctx.config).client_body_timeout);
                }
                Step::Progress
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::Blocked,
            Err(_) => Step::Close,
        }
    }

    pub(super) fn fail_body(&mut self, ctx: &mut Ctx, status: u16) -> Step {
        metrics::error(ErrorKind::BadBody);
        self.meter.set(Phase::Writing);
        let State::Body { req, routed, .. } =
            std::mem::replace(&mut self.state, State::Head { started: false })
        else {
            return Step::Close;
        };
        let resp = handler::error_response(ctx.config, routed.server, Some(&routed), status);
        self.respond(ctx, resp, Some(&req), true);
        Step::Progress
    }
}
