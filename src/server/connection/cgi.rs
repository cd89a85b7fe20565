//! The connection's CGI state: pump the body into the script, relay its output to
//! the client as it comes through the gateway relay (`gateway::relay`: the header
//! filters, the framing, recoding and compression, as for an upstream), and log
//! its stderr. Reading stdout stops while the client is slower than the script
//! (the output buffer has a high-water mark), so a huge output costs bounded memory.
//! What is CGI's own is here: the process, its header block (`cgi::output`) and
//! local redirects. `limit_rate` paces the output as it does a file: the pace's
//! timer stands in for the script's deadline while it waits.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Connection, Ctx, State, Step};
use crate::cgi::output::{self, Reply};
use crate::cgi::process::{Process, spawn_failure};
use crate::gateway::relay::{self, CHUNK, Downstream, OUT_HIGH_WATER};
use crate::handler::{self, CgiJob, Routed};
use crate::http::request::Framing as ReqFraming;
use crate::http::{Method, Request, Response};

/// Internal redirects (`Location: /path` from a script) followed per request.
const MAX_REDIRECTS: u8 = 5;

pub(super) struct CgiRun {
    proc: Process,
    /// Output gathered until the header block is complete.
    head: Vec<u8>,
    /// Set once the response head has been queued.
    down: Option<Downstream>,
    close_after: bool,
    grace: Duration,
    /// When the script is stopped (`cgi_timeout`), also while a pace waits.
    kill_at: Instant,
    /// Where script output is read into; filled by several reads before it is
    /// framed, so chunks are large even when the script writes in small pieces.
    chunk: Vec<u8>,
}

impl CgiRun {
    /// Reads script output into `chunk` until the pipe is empty or the chunk is
    /// full. Returns the bytes read and whether the output ended.
    fn read_output(&mut self) -> (usize, bool) {
        if self.chunk.len() < CHUNK {
            self.chunk.resize(CHUNK, 0);
        }
        let mut filled = 0;
        while filled < CHUNK {
            match self.proc.read_stdout(&mut self.chunk[filled..]) {
                Ok(0) => return (filled, true),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return (filled, true),
            }
        }
        (filled, false)
    }
}

impl Connection {
    /// Spawns the script for a request whose body is complete.
    pub(super) fn start_cgi(&mut self, ctx: &mut Ctx, req: Request, routed: Routed, job: CgiJob) {
        let name = job.launch.script_name.clone();
        let interpreter = job.launch.interpreter().map(Path::to_path_buf);
        match Process::spawn(job.launch, job.body, ctx.registry, ctx.key) {
            Ok(proc) => {
                crate::metrics::cgi_spawn(true);
                let run = CgiRun {
                    proc,
                    head: Vec::new(),
                    down: None,
                    close_after: false,
                    grace: job.timeout,
                    kill_at: ctx.now + job.timeout,
                    chunk: Vec::new(),
                };
                self.deadline = Some(run.kill_at);
                self.state = State::Cgi {
                    req: Box::new(req),
                    routed: Box::new(routed),
                    run: Box::new(run),
                };
            }
            Err(e) => {
                crate::metrics::cgi_spawn(false);
                let why = spawn_failure(interpreter.as_deref(), &e);
                let message = format!("cannot run cgi {name}: {why}");
                log::error!("{message}");
                let resp = if e.kind() == io::ErrorKind::PermissionDenied {
                    handler::error_response(ctx.config, routed.server, Some(&routed), 403)
                } else {
                    handler::detail::error_with_detail(ctx.config, &routed, 500, &message)
                };
                self.respond(ctx, resp, Some(&req), false);
            }
        }
    }

    pub(super) fn step_cgi(&mut self, ctx: &mut Ctx) -> Step {
        let State::Cgi {
            req,
            routed,
            mut run,
        } = std::mem::replace(&mut self.state, State::Head { started: false })
        else {
            return Step::Close;
        };
        match self.cgi_round(ctx, &req, &routed, &mut run) {
            Round::Again(progress) => {
                self.state = State::Cgi { req, routed, run };
                if progress {
                    Step::Progress
                } else {
                    Step::Blocked
                }
            }
            Round::Finished => {
                let close_after = run.close_after;
                run.proc.finish(run.grace);
                self.state = State::Write { close_after };
                Step::Progress
            }
            Round::Replaced => Step::Progress,
            Round::Close => Step::Close,
        }
    }

    /// One pass over the script's pipes and the client socket.
    fn cgi_round(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut CgiRun,
    ) -> Round {
        let mut progress = run.proc.pump_stdin();
        progress |= run.proc.drain_stderr();
        if self.out.len() - self.out_pos < OUT_HIGH_WATER {
            let (n, eof) = run.read_output();
            if n > 0 {
                progress = true;
                let data = std::mem::take(&mut run.chunk);
                let round = self.cgi_output(ctx, req, routed, run, &data[..n]);
                run.chunk = data;
                if let Some(round) = round {
                    return round;
                }
            }
            if eof {
                return self.cgi_eof(ctx, req, routed, run);
            }
        }
        if self.out_pos < self.out.len() {
            // Script output leaves in pieces as it comes: no Nagle delay between them.
            self.set_nodelay();
            match self.relay_flush() {
                Ok(sent) => progress |= sent,
                Err(_) => return Round::Close,
            }
            // `limit_rate`: the rest waits for the pace's timer (no later than
            // the script's deadline).
            if self.out_pos < self.out.len() && self.pace_wait(ctx.now) {
                self.deadline = self.deadline.map(|t| t.min(run.kill_at));
                return Round::Again(false);
            }
        }
        if self.client_gone() {
            return Round::Close;
        }
        Round::Again(progress)
    }

    /// Sends what a relay queued, as far as the socket takes it (`Ok(true)` if any
    /// of it went), and drops what is sent from the buffer, so a long body relayed
    /// to a slow client keeps the buffer near the high-water mark instead of
    /// growing it to the body's size.
    pub(super) fn relay_flush(&mut self) -> io::Result<bool> {
        let before = self.out_pos;
        let result = match self.flush_out() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        };
        let sent = self.out_pos != before;
        if self.out_pos == self.out.len() || self.out_pos >= OUT_HIGH_WATER {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        result.map(|()| sent)
    }

    /// Reads what the client sent meanwhile (kept for the next request); `true`
    /// if it closed the connection, which stops the script.
    pub(super) fn client_gone(&mut self) -> bool {
        match self.fill(super::super::buffer::INITIAL) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::OutOfMemory
            ),
        }
    }

    /// Script output: part of the header block, or body to relay.
    fn cgi_output(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut CgiRun,
        data: &[u8],
    ) -> Option<Round> {
        let Some(down) = run.down.as_mut() else {
            run.head.extend_from_slice(data);
            return match output::parse(&run.head) {
                Ok(None) => None,
                Ok(Some((reply, used))) => {
                    let rest = run.head.split_off(used);
                    self.cgi_reply(ctx, req, routed, run, reply, &rest)
                }
                Err(e) => {
                    log::error!("cgi {}: invalid response header block ({e:?})", routed.path);
                    Some(self.cgi_fail(ctx, req, routed, 502))
                }
            };
        };
        down.body(data, &mut self.out);
        None
    }

    fn cgi_reply(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut CgiRun,
        reply: Reply,
        rest: &[u8],
    ) -> Option<Round> {
        let Reply::Document {
            status,
            reason,
            headers,
            length,
        } = reply
        else {
            let Reply::LocalRedirect(target) = reply else {
                return None;
            };
            return Some(self.cgi_redirect(ctx, req, target));
        };
        let mut resp = Response::new(status);
        resp.reason = reason.map(String::into_boxed_str);
        resp.raw_headers = headers;
        let cx = handler::Cx {
            config: ctx.config,
            origin: self.origin.clone(),
            req,
            trace: None,
        };
        let Some(prepared) = relay::prepare(&cx, routed, &mut resp, length, None) else {
            let resp = Response::new(handler::rewrite::CLOSE);
            self.respond(ctx, resp, Some(req), false);
            return Some(Round::Replaced);
        };
        let keep_alive =
            self.keep_alive_for(ctx, Some(req), false, Some(routed)) && !prepared.until_close;
        if keep_alive {
            self.announce_keep_alive(&mut resp);
        }
        let sent = match prepared.framing {
            ReqFraming::Length(n) if !prepared.head_only => n,
            _ => 0,
        };
        self.out.drain(..self.out_pos);
        self.out_pos = 0;
        let before = self.out.len();
        resp.write_head_framed(&mut self.out, ctx.date, keep_alive, prepared.framing);
        let head = (self.out.len() - before) as u64;
        self.log_response(ctx, Some(req), &resp, Some(routed), (head, sent), None);
        // `limit_rate` paces the output (and the `limit_conn` counts are held)
        // until the response is written.
        self.keep_limits(ctx, Some(req), Some(routed));
        self.pace_relayed();
        run.close_after = !keep_alive;
        let mut down = prepared.down;
        down.body(rest, &mut self.out);
        run.down = Some(down);
        None
    }

    /// The script closed its stdout: finish the response.
    fn cgi_eof(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut CgiRun,
    ) -> Round {
        let Some(down) = run.down.as_mut() else {
            log::error!(
                "cgi {}: no complete header block before end of output",
                routed.path
            );
            return self.cgi_fail(ctx, req, routed, 502);
        };
        // The script's end of output is its body's end; a promise of more breaks it.
        down.finish(true, &mut self.out);
        run.close_after |= down.broken;
        Round::Finished
    }

    /// An error answer instead of the script's (the script is stopped).
    fn cgi_fail(&mut self, ctx: &mut Ctx, req: &Request, routed: &Routed, status: u16) -> Round {
        let resp = handler::error_response(ctx.config, routed.server, Some(routed), status);
        self.respond(ctx, resp, Some(req), false);
        Round::Replaced
    }

    /// `Location: /path` alone: serve that path with GET instead (RFC 3875 §6.2.2).
    fn cgi_redirect(&mut self, ctx: &mut Ctx, req: &Request, target: String) -> Round {
        self.redirects += 1;
        if self.redirects > MAX_REDIRECTS {
            let idx = handler::server_index(ctx.config, self.origin.group, req.host.as_deref());
            let resp = handler::error_response(ctx.config, idx, None, 500);
            self.respond(ctx, resp, Some(req), false);
            return Round::Replaced;
        }
        let mut next = req.clone();
        next.method = if req.method == Method::Head {
            Method::Head
        } else {
            Method::Get
        };
        next.target = target;
        next.framing = ReqFraming::None;
        next.expect_continue = false;
        self.start_request(ctx, next);
        Round::Replaced
    }

    /// Whether the timer that fired was a paced response's (the script's own
    /// deadline has not come): the deadline is the script's again, and the
    /// output goes on.
    pub(super) fn cgi_pace_timer(&mut self, now: Instant) -> bool {
        let State::Cgi { run, .. } = &self.state else {
            return false;
        };
        let kill_at = run.kill_at;
        if now >= kill_at || !self.pace_timer() {
            return false;
        }
        self.deadline = Some(kill_at);
        true
    }

    /// The deadline passed while the script ran: 504 if nothing was sent yet.
    pub(super) fn cgi_timeout(&mut self, ctx: &mut Ctx) -> bool {
        let State::Cgi { req, routed, run } =
            std::mem::replace(&mut self.state, State::Head { started: false })
        else {
            return false;
        };
        log::error!("cgi {}: timed out, stopping it", routed.path);
        if run.down.is_some() {
            return false;
        }
        drop(run);
        self.cgi_fail(ctx, &req, &routed, 504);
        true
    }
}

/// The result of one pass.
enum Round {
    /// Still running; whether anything moved.
    Again(bool),
    /// Output complete: send what is queued, then keep-alive or close.
    Finished,
    /// The connection's state was replaced (error response or internal redirect).
    Replaced,
    Close,
}
