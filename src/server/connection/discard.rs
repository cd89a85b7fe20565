//! The body of a request answered before it was read (`return`, a redirect):
//! read and dropped so the connection can carry the next request, as nginx
//! discards it. What is buffered with the head is dropped before the answer (a
//! malformed chunk there turns the answer into a 400); the rest after it, in
//! `State::Discard`, before the next request's head is parsed.

use std::io;

use super::{Connection, Ctx, State, Step};
use crate::handler::{self, Routed};
use crate::http::body::{BodyReader, Discard};
use crate::http::{Request, Response};

/// What becomes of the body of a request answered before it was read.
pub(super) enum Discarding {
    /// The answer closes the connection: the body is never read.
    Close,
    /// The body was all buffered and is dropped.
    Done,
    /// The rest is read and dropped after the answer.
    Pending(Box<BodyReader>),
}

impl Connection {
    /// Sends `resp`, found before the body of `req` was read (`has_body`): the
    /// body is then discarded so the connection can go on, or it closes.
    pub(super) fn answer_early(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        resp: Response,
        routed: Option<&Routed>,
        has_body: bool,
    ) {
        let (close, discard) = match has_body.then(|| self.discard_body(req, &resp)) {
            None => (false, None),
            Some(Ok(Discarding::Close)) => (true, None),
            Some(Ok(Discarding::Done)) => (false, None),
            Some(Ok(Discarding::Pending(reader))) => (false, Some(reader)),
            Some(Err(())) => {
                // What came of the body is malformed: nginx answers 400.
                let resp = handler::error_response(ctx.config, self.server, None, 400);
                return self.respond(ctx, resp, Some(req), true);
            }
        };
        if discard.is_some() && req.expect_continue && resp.status < 300 {
            // nginx meets the expectation of a body it discards after a
            // plain answer, so the client does not wait for it in vain.
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        self.respond_logged(ctx, resp, Some(req), close, routed);
        if let (State::Write { close_after: false }, Some(reader)) = (&self.state, discard) {
            self.state = State::WriteDiscarding { reader };
        }
    }

    /// Starts discarding the body of `req`, answered with `resp` before it was
    /// read, as nginx does for answers that keep the connection (not 400, 413,
    /// 414, 500, 501); what is already buffered is dropped now. `Err`: the
    /// buffered body is malformed.
    pub(super) fn discard_body(
        &mut self,
        req: &Request,
        resp: &Response,
    ) -> Result<Discarding, ()> {
        if matches!(resp.status, 400 | 413 | 414 | 500 | 501) || resp.status >= 600 {
            return Ok(Discarding::Close);
        }
        let Ok(mut reader) = BodyReader::new(req.framing, 0) else {
            return Ok(Discarding::Close);
        };
        if !self.discard_input(&mut reader) {
            return Err(());
        }
        Ok(match reader.is_done() {
            true => Discarding::Done,
            false => Discarding::Pending(Box::new(reader)),
        })
    }

    /// Drops the buffered bytes of a discarded body; `false` if it is malformed.
    fn discard_input(&mut self, reader: &mut BodyReader) -> bool {
        match reader.feed(self.input.filled(), &mut Discard) {
            Ok(n) => {
                self.input.consume(n);
                true
            }
            Err(_) => false,
        }
    }

    /// Reads and drops the rest of a discarded body, then waits for the next head.
    pub(super) fn step_discard(&mut self, ctx: &mut Ctx) -> Step {
        let State::Discard { mut reader } =
            std::mem::replace(&mut self.state, State::Head { started: false })
        else {
            return Step::Close;
        };
        if !self.discard_input(&mut reader) {
            return Step::Close;
        }
        if reader.is_done() {
            return Step::Progress;
        }
        self.state = State::Discard { reader };
        match self.fill(crate::server::buffer::INITIAL) {
            Ok(0) => Step::Close,
            Ok(_) => {
                let timeout = self.request_server(ctx.config).client_body_timeout;
                self.deadline = Some(ctx.now + timeout);
                Step::Progress
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.input.release();
                Step::Blocked
            }
            Err(_) => Step::Close,
        }
    }
}
