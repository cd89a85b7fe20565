//! The connection's wait for a slow password check (`auth_basic` with bcrypt or
//! SHA-crypt): the check runs on the worker's thread pool while the loop serves
//! everyone else; its completion (`auth_done`) routes the request again, and the
//! phases then find the verdict in `handler::auth`'s cache.

use super::{Connection, Ctx, State, Step};
use crate::handler::auth::Verify;
use crate::http::Request;

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
        if let State::Auth { ready, .. } = &mut self.state {
            *ready = true;
        }
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
