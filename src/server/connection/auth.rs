//! The connection's wait for a slow password check (`auth_basic` with bcrypt or
//! SHA-crypt): the check runs on the worker's thread pool while the loop serves
//! everyone else; its completion (`auth_done`) routes the request again, and the
//! phases then find the verdict in `handler::auth`'s cache.

use std::time::Duration;

use super::{Connection, Ctx, State, Step};
use crate::handler::Routed;
use crate::handler::auth::Verify;
use crate::http::{Framing, Request, Response};

impl Connection {
    /// Parks `req` until `check` has run on the pool (inline if it cannot start).
    pub(super) fn wait_for_check(&mut self, ctx: &mut Ctx, req: Request, check: Box<Verify>) {
        let owner = (ctx.key, self.serial);
        match ctx.aio.submit_verify(owner, check) {
            Ok(()) => {
                self.deadline =
                    Some(ctx.now + self.request_server(ctx.config).client_header_timeout);
                self.state = State::Auth {
                    req: Box::new(req),
                    ready: false,
                };
            }
            Err(check) => {
                check.finish(check.run());
                self.route_request(ctx, req);
            }
        }
    }

    /// The pool finished this connection's password check.
    pub fn auth_done(&mut self) {
        self.h2_auth_done();
        if let State::Auth { ready, .. } = &mut self.state {
            *ready = true;
        }
    }

    /// Holds `resp` for `delay` (the timer sends it): `auth_delay`'s 401, or an
    /// error page `limit_req` delays.
    pub(super) fn delay_answer(
        &mut self,
        ctx: &mut Ctx,
        req: Request,
        resp: Response,
        routed: Routed,
        delay: Duration,
    ) {
        if resp.status == 401 {
            log::info!("delaying unauthorized request");
        }
        self.deadline = Some(ctx.now + delay);
        self.state = State::HeldAnswer {
            req: Box::new(req),
            resp: Box::new(resp),
            routed: Box::new(routed),
        };
    }

    /// The delay is over: the held answer goes out.
    pub(super) fn send_delayed(&mut self, ctx: &mut Ctx) {
        let State::HeldAnswer { req, resp, routed } =
            std::mem::replace(&mut self.state, State::Head { started: false })
        else {
            return;
        };
        let has_body = req.framing != Framing::None;
        self.respond_logged(ctx, *resp, Some(&req), has_body, Some(&routed));
    }

    /// Waits for the check; once it is done, routes the request again.
    pub(super) fn step_auth(&mut self, ctx: &mut Ctx) -> Step {
        if !matches!(self.state, State::Auth { ready: true, .. }) {
            return Step::Blocked;
        }
        let State::Auth { req, .. } =
            std::mem::replace(&mut self.state, State::Head { started: false })
        else {
            return Step::Close;
        };
        self.route_request(ctx, *req);
        Step::Progress
    }
}
