//! The access log: one line per finished request for every `access_log` of its
//! location, in the `log_format` each names (nginx's "combined" unless told
//! otherwise). `if=COND` skips the line when COND is empty or "0". The lines go to
//! [`LogFiles`]: literal paths kept open (and buffered with `buffer=`), paths with
//! variables expanded per line.

use std::time::Instant;

use super::log_files::LogFiles;
use crate::config::{AccessLog, Config, Location};
use crate::handler::{Origin, Routed, route};
use crate::http::{Request, Response};
use crate::vars::{Done, Env, State};

/// The worker's access log files.
#[derive(Default)]
pub struct AccessLogs {
    files: LogFiles,
}

/// What is known about a finished exchange.
pub struct Exchange<'a> {
    pub origin: Origin,
    pub req: Option<&'a Request>,
    pub routed: Option<&'a Routed>,
    pub resp: &'a Response,
    /// The response head's bytes (`$bytes_sent` is head and body).
    pub head_bytes: u64,
    pub body_bytes: u64,
    pub started: Option<Instant>,
    /// What the upstreams answered (a proxied request).
    pub upstream: Option<&'a crate::vars::upstream::Trace>,
}

impl AccessLogs {
    /// Writes the lines every `access_log` of the exchange's location asks for.
    pub fn log(&mut self, config: &Config, x: &Exchange) {
        let blank;
        let req = match x.req {
            Some(r) => r,
            None => {
                blank = crate::handler::error_page::blank_request();
                &blank
            }
        };
        let server_idx = match x.routed {
            Some(r) => r.server,
            None => crate::handler::server_index(config, x.origin.group, req.host.as_deref()),
        };
        let server = &config.servers[server_idx];
        let loc = match x.routed {
            Some(r) => r.location(config),
            None => route::match_location(server, "/"),
        };
        if loc.access_logs.is_empty() {
            return;
        }
        let state = State::default();
        // A request the phases never routed: nginx's `$uri` is empty when the
        // target was no valid path (`/../x`), else the path as sent.
        let unrouted = match x.routed {
            Some(_) => String::new(),
            None if crate::handler::path::clean(req.path()).is_some() => req.path().to_string(),
            None => String::new(),
        };
        let done = Done {
            status: x.resp.status,
            body_bytes: x.body_bytes,
            bytes_sent: x.head_bytes + x.body_bytes,
            request_time: x.started.map(|t| t.elapsed()).unwrap_or_default(),
            response: Some(x.resp),
            upstream: x.upstream,
        };
        let env = Env {
            req,
            origin: &x.origin,
            server,
            location: Some(loc),
            uri: x.routed.map_or(unrouted.as_str(), |r| r.path.as_str()),
            args: x.routed.map_or(req.query(), |r| r.args.as_deref()),
            state: x.routed.map_or(&state, |r| &r.vars),
            done: Some(&done),
        };
        let now = Instant::now();
        for log in &loc.access_logs {
            self.write(log, &env, loc, now);
        }
    }

    fn write(&mut self, log: &AccessLog, env: &Env, loc: &Location, now: Instant) {
        if let Some(cond) = &log.condition {
            let v = cond.expand(env);
            if v.is_empty() || v == "0" {
                return;
            }
        }
        let Some(format) = &log.compiled else {
            return;
        };
        let mut line = String::with_capacity(160);
        format.template.expand_into(env, &mut line, format.escape);
        line.push('\n');
        let Some(name) = &log.path_vars else {
            return self
                .files
                .write_fixed(&log.path, log.buffer, line.as_bytes(), now);
        };
        // nginx names a file from a request only when the location's root
        // exists (a `$host` in the path makes no file for an unknown host).
        let root: std::path::PathBuf = match (&loc.alias_vars, &loc.root_vars, &loc.alias) {
            (Some(t), _, _) | (None, Some(t), None) => t.expand(env).into(),
            _ => loc.document_root().to_path_buf(),
        };
        if !root.is_dir() {
            return;
        }
        let path = log.prefix.join(name.expand(env));
        let cache = loc.log_file_cache.as_ref();
        self.files
            .write_expanded(&path, cache, line.as_bytes(), now);
    }

    /// When the next buffer must be written (`flush=`).
    pub fn next_flush(&self) -> Option<Instant> {
        self.files.next_flush()
    }

    /// Writes the buffers whose `flush=` time has come.
    pub fn flush_due(&mut self, now: Instant) {
        self.files.flush_due(now);
    }

    /// SIGUSR1 and reloads: buffers written, files closed; the next line opens
    /// its file again (a file renamed away by logrotate is created anew).
    pub fn reopen(&mut self) {
        self.files = LogFiles::default();
    }
}
