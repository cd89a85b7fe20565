//! The access log: one line per request, in the `log_format` its `access_log` names
//! (nginx's "combined" unless told otherwise), appended to the file (files opened
//! once and kept). `if=COND` skips the line when COND is empty or "0".

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::{AccessLog, Config};
use crate::handler::{Origin, Routed, route};
use crate::http::{Request, Response};
use crate::vars::{Done, Env, State};

/// Open log files by path.
#[derive(Default)]
pub struct AccessLogs {
    files: HashMap<PathBuf, Option<File>>,
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
        let done = Done {
            status: x.resp.status,
            body_bytes: x.body_bytes,
            bytes_sent: x.head_bytes + x.body_bytes,
            request_time: x.started.map(|t| t.elapsed()).unwrap_or_default(),
            response: Some(x.resp),
        };
        let env = Env {
            req,
            origin: &x.origin,
            server,
            location: Some(loc),
            uri: x.routed.map_or(req.path(), |r| r.path.as_str()),
            args: x.routed.map_or(req.query(), |r| r.args.as_deref()),
            state: x.routed.map_or(&state, |r| &r.vars),
            done: Some(&done),
        };
        for log in &loc.access_logs {
            self.write(log, &env);
        }
    }

    fn write(&mut self, log: &AccessLog, env: &Env) {
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
        let slot = self
            .files
            .entry(log.path.clone())
            .or_insert_with(|| open(&log.path));
        if let Some(file) = slot
            && let Err(e) = file.write_all(line.as_bytes())
        {
            log::error!("access log {}: {e}", log.path.display());
        }
    }
}

fn open(path: &Path) -> Option<File> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(f) => Some(f),
        Err(e) => {
            log::error!("cannot open access log {}: {e}", path.display());
            None
        }
    }
}
