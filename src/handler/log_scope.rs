//! The error log's view of the request being handled: which `error_log` lines
//! its records go to (its location's, as the phases move it) and the tail
//! nginx writes after each (`client:`, `server:`, `request:`, `host:`).

use crate::config::Config;
use crate::http::Request;
use crate::logging::scope::{self, Guard, Scope};

use super::{Origin, Routed};

/// Records made until the guard drops belong to `req` on server `server`,
/// in the location `location` (else the server level).
pub fn enter(
    config: &Config,
    origin: &Origin,
    req: &Request,
    server: usize,
    location: Option<usize>,
) -> Guard {
    let srv = config.servers.get(server);
    let logs = match (srv, location) {
        (Some(s), Some(l)) => s.locations.get(l).and_then(|l| l.error_logs.clone()),
        (Some(s), None) => s.error_logs.clone(),
        (None, _) => None,
    };
    let name = srv
        .and_then(|s| s.server_names.first())
        .map_or("", String::as_str);
    let line = format!(
        "{} {} {}",
        req.method.as_str(),
        req.target,
        req.version_str()
    );
    scope::enter(Scope {
        logs,
        conn: origin.conn.serial,
        // The Host header as sent (port included), as nginx logs it.
        tail: scope::tail(
            origin.peer.ip(),
            name,
            &line,
            req.header("host").or(req.host.as_deref()),
        ),
    })
}

/// The request is now in `r`'s location: its records go to that location's lines.
pub fn follow(config: &Config, r: &Routed) {
    scope::set_logs(r.location(config).error_logs.as_ref());
}
