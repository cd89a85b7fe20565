//! CGI on an HTTP/2 stream: the script's pipes are polled under the
//! connection's tokens like an HTTP/1 CGI's, and every turn gives each
//! running script a pass: its stdin is fed, its stderr logged, and its stdout
//! read while the stream's relayed bytes not yet taken by the peer's window
//! stay under one chunk. So a stream whose window is closed stops reading its
//! own script, not the connection. The head goes through the gateway relay's
//! header filters (`gateway::relay::prepare`), the body through its charset
//! and compression filters, unframed: the session makes the DATA frames.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::super::Ctx;
use super::super::write::log_exchange;
use super::exchange::{Exchange, Next, Phase};
use super::{H2, OUT_HIGH};
use crate::cgi::output::{self, Reply};
use crate::cgi::process::{Process, spawn_failure};
use crate::gateway::relay::{self, CHUNK, Downstream};
use crate::h2::ErrorCode;
use crate::handler::{self, CgiJob, Routed};
use crate::http::request::Framing;
use crate::http::status::bodiless;
use crate::http::{Method, Response, h2_response};

/// Internal redirects (`Location: /path` from a script) followed per request.
const MAX_REDIRECTS: u8 = 5;

/// A stream's running script.
pub(super) struct CgiStream {
    proc: Process,
    /// Output gathered until the header block is complete.
    head: Vec<u8>,
    /// Set once the response head is sent.
    down: Option<Downstream>,
    grace: Duration,
    /// `cgi_timeout`: the script is stopped then.
    pub until: Instant,
    /// Where script output is read into.
    chunk: Vec<u8>,
    /// Relayed body bytes the stream's window has not taken yet: `pending[pos..]`.
    pending: Vec<u8>,
    pos: usize,
    /// The script's output ended: what is pending is the rest of the body.
    ended: bool,
}

/// Where a pass left the script.
enum Pass {
    /// Still running (or its last bytes wait for the window).
    Running,
    /// The stream is answered some other way (an error, a local redirect).
    Replaced(Box<Next>),
    /// The body is out, or the stream was reset.
    Over,
}

impl CgiStream {
    /// Reads script output into `chunk` until the pipe is empty or the chunk
    /// is full: the bytes read and whether the output ended.
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

    fn waiting(&self) -> usize {
        self.pending.len() - self.pos
    }
}

impl H2 {
    /// Spawns the script for a stream whose request body is complete.
    pub(super) fn start_cgi(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        mut ex: Exchange,
        routed: Routed,
        job: CgiJob,
    ) -> Next {
        let name = job.launch.script_name.clone();
        let interpreter = job.launch.interpreter().map(Path::to_path_buf);
        match Process::spawn(job.launch, job.body, ctx.registry, ctx.key) {
            Ok(proc) => {
                crate::metrics::cgi_spawn(true);
                ex.holds = routed.limits.holds.clone();
                ex.phase = Phase::Cgi {
                    routed: Box::new(routed),
                    run: Box::new(CgiStream {
                        proc,
                        head: Vec::new(),
                        down: None,
                        grace: job.timeout,
                        until: ctx.now + job.timeout,
                        chunk: Vec::new(),
                        pending: Vec::new(),
                        pos: 0,
                        ended: false,
                    }),
                };
                self.scripts.push(id);
                Next::Keep(ex)
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
                self.respond(ctx, id, ex, resp, Some(&routed))
            }
        }
    }

    /// Gives every running script a pass.
    pub(super) fn run_cgis(&mut self, ctx: &mut Ctx, progress: &mut bool) {
        if self.scripts.is_empty() {
            return;
        }
        for id in std::mem::take(&mut self.scripts) {
            // A stream reset meanwhile is gone: its process was dropped (stopped).
            let Some(mut ex) = self.streams.remove(&id) else {
                continue;
            };
            let (routed, mut run) = match std::mem::replace(&mut ex.phase, Phase::Routing) {
                Phase::Cgi { routed, run } => (routed, run),
                other => {
                    ex.phase = other;
                    self.streams.insert(id, ex);
                    continue;
                }
            };
            match self.cgi_pass(ctx, id, &mut ex, &routed, &mut run, progress) {
                Pass::Running => {
                    ex.phase = Phase::Cgi { routed, run };
                    self.streams.insert(id, ex);
                    self.scripts.push(id);
                }
                Pass::Replaced(next) => self.settle(id, *next),
                Pass::Over => {
                    let CgiStream { proc, grace, .. } = *run;
                    proc.finish(grace);
                }
            }
        }
    }

    /// One pass over a script: stdin, stderr, stdout while the stream can
    /// take more, and DATA frames as far as the windows allow.
    fn cgi_pass(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        ex: &mut Exchange,
        routed: &Routed,
        run: &mut CgiStream,
        progress: &mut bool,
    ) -> Pass {
        *progress |= run.proc.pump_stdin();
        *progress |= run.proc.drain_stderr();
        loop {
            if let Some(pass) = self.cgi_send(ctx, id, ex, run, progress) {
                return pass;
            }
            if run.ended || run.waiting() >= CHUNK || self.session.output().len() >= OUT_HIGH {
                return Pass::Running;
            }
            let (n, eof) = run.read_output();
            if n > 0 {
                *progress = true;
                let data = std::mem::take(&mut run.chunk);
                let replaced = self.cgi_output(ctx, id, ex, routed, run, &data[..n]);
                run.chunk = data;
                if let Some(pass) = replaced {
                    return pass;
                }
            }
            if eof {
                *progress = true;
                let Some(down) = run.down.as_mut() else {
                    log::error!(
                        "cgi {}: no complete header block before end of output",
                        routed.path
                    );
                    return self.cgi_fail(ctx, id, ex, routed, 502);
                };
                down.finish(true, &mut run.pending);
                run.ended = true;
            } else if n == 0 {
                return Pass::Running;
            }
        }
    }

    /// Sends pending body bytes; `Some` once the stream is over.
    fn cgi_send(
        &mut self,
        ctx: &Ctx,
        id: u32,
        ex: &mut Exchange,
        run: &mut CgiStream,
        progress: &mut bool,
    ) -> Option<Pass> {
        let broken = run.down.as_ref().is_some_and(|d| d.broken);
        let out = super::send::Relayed {
            pending: &mut run.pending,
            pos: &mut run.pos,
            ended: run.ended,
            broken,
        };
        self.send_relayed(ctx, id, ex, out, progress)
            .then_some(Pass::Over)
    }

    /// Script output: part of the header block, or body to relay.
    fn cgi_output(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        ex: &mut Exchange,
        routed: &Routed,
        run: &mut CgiStream,
        data: &[u8],
    ) -> Option<Pass> {
        if let Some(down) = run.down.as_mut() {
            down.body(data, &mut run.pending);
            return None;
        }
        run.head.extend_from_slice(data);
        match output::parse(&run.head) {
            Ok(None) => None,
            Ok(Some((reply, used))) => {
                let rest = run.head.split_off(used);
                self.cgi_reply(ctx, id, ex, routed, run, reply, &rest)
            }
            Err(e) => {
                log::error!("cgi {}: invalid response header block ({e:?})", routed.path);
                Some(self.cgi_fail(ctx, id, ex, routed, 502))
            }
        }
    }

    /// The script's header block: the stream's HEADERS, or a local redirect.
    #[allow(clippy::too_many_arguments)]
    fn cgi_reply(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        ex: &mut Exchange,
        routed: &Routed,
        run: &mut CgiStream,
        reply: Reply,
        rest: &[u8],
    ) -> Option<Pass> {
        let (status, reason, headers, length) = match reply {
            Reply::Document {
                status,
                reason,
                headers,
                length,
            } => (status, reason, headers, length),
            Reply::LocalRedirect(target) => return Some(self.cgi_redirect(ctx, id, ex, target)),
        };
        let mut resp = Response::new(status);
        resp.reason = reason.map(String::into_boxed_str);
        resp.raw_headers = headers;
        let cx = handler::Cx {
            config: ctx.config,
            origin: ex.origin.clone(),
            req: &ex.req,
            trace: None,
        };
        let Some(prepared) = relay::prepare(&cx, routed, &mut resp, length, None) else {
            // `charset $var` without a value: no answer at all.
            self.session.reset(id, ErrorCode::InternalError);
            return Some(Pass::Over);
        };
        let length = match prepared.framing {
            Framing::Length(n) if !bodiless(status) => Some(n),
            _ => None,
        };
        let fields = h2_response::fields(&resp, ctx.date, length);
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let empty = prepared.head_only || length == Some(0);
        let before = self.session.output().len();
        self.session.send_headers(id, status, &pairs, empty);
        let head = self.session.output().len().saturating_sub(before) as u64;
        let sent = if prepared.head_only {
            0
        } else {
            length.unwrap_or(0)
        };
        let at = (&ex.origin, ex.started, ex.server);
        log_exchange(
            ctx,
            at,
            Some(&ex.req),
            &resp,
            Some(routed),
            (head, sent),
            None,
        );
        if empty {
            return Some(Pass::Over);
        }
        let mut down = prepared.down;
        down.body(rest, &mut run.pending);
        run.down = Some(down);
        None
    }

    /// An error answer instead of the script's (the script is stopped).
    fn cgi_fail(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        ex: &mut Exchange,
        routed: &Routed,
        status: u16,
    ) -> Pass {
        let resp = handler::error_response(ctx.config, routed.server, Some(routed), status);
        let ex = take_exchange(ex, ctx.now);
        Pass::Replaced(Box::new(self.respond(ctx, id, ex, resp, Some(routed))))
    }

    /// `Location: /path` alone: the stream is served that path with GET
    /// instead (RFC 3875 §6.2.2).
    fn cgi_redirect(&mut self, ctx: &mut Ctx, id: u32, ex: &mut Exchange, target: String) -> Pass {
        let mut ex = take_exchange(ex, ctx.now);
        ex.redirects += 1;
        if ex.redirects > MAX_REDIRECTS {
            let resp = handler::error_response(ctx.config, ex.server, None, 500);
            return Pass::Replaced(Box::new(self.respond(ctx, id, ex, resp, None)));
        }
        if ex.req.method != Method::Head {
            ex.req.method = Method::Get;
        }
        ex.req.target = target;
        ex.req.framing = Framing::None;
        Pass::Replaced(Box::new(self.route(ctx, id, ex)))
    }

    /// The script ran past its `cgi_timeout`: 504 if nothing was sent yet,
    /// else the stream is reset.
    pub(super) fn cgi_timeout(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        ex: Exchange,
        routed: Routed,
        run: CgiStream,
    ) -> Next {
        crate::metrics::timeout(crate::metrics::TimeoutKind::Cgi);
        log::error!("cgi {}: timed out, stopping it", routed.path);
        self.scripts.retain(|&s| s != id);
        if run.down.is_some() {
            self.session.reset(id, ErrorCode::InternalError);
            return Next::Done;
        }
        drop(run);
        let resp = handler::error_response(ctx.config, routed.server, Some(&routed), 504);
        self.respond(ctx, id, ex, resp, Some(&routed))
    }
}

/// The exchange out of its slot, for a new answer (its phase goes with the
/// old answer).
pub(super) fn take_exchange(ex: &mut Exchange, now: Instant) -> Exchange {
    Exchange {
        req: std::mem::replace(&mut ex.req, crate::http::h2_request::unread()),
        origin: ex.origin.clone(),
        started: ex.started,
        server: ex.server,
        phase: Phase::Routing,
        holds: ex.holds.take(),
        since: now,
        redirects: ex.redirects,
    }
}
