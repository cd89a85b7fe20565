//! Finding the configuration for a request: the virtual server (address:port, then
//! Host) and the location (`=` exact first, then the longest prefix), as nginx does.

use crate::config::{Config, ListenGroup, Location, Server, name_matches};

/// Picks the server for `host` among those listening on `group`: an exact
/// server_name first, then the longest matching wildcard, then the default server.
pub fn select_server<'c>(
    config: &'c Config,
    group: &ListenGroup,
    host: Option<&str>,
) -> &'c Server {
    let candidates = || group.servers.iter().map(|&i| &config.servers[i]);
    if let Some(host) = host {
        if let Some(s) = candidates().find(|s| s.server_names.iter().any(|n| n == host)) {
            return s;
        }
        let wildcard = candidates()
            .flat_map(|s| s.server_names.iter().map(move |n| (s, n)))
            .filter(|(_, n)| (n.starts_with('.') || n.starts_with("*.")) && name_matches(n, host))
            .max_by_key(|(_, n)| n.len());
        if let Some((s, _)) = wildcard {
            return s;
        }
    }
    &config.servers[group.default_server]
}

/// The location for a clean path: an exact `location = /uri` wins, otherwise the
/// longest prefix. The checker guarantees a `/` prefix location exists, so the
/// fallback to the last location only matters for hand-built configs.
pub fn match_location<'s>(server: &'s Server, path: &str) -> &'s Location {
    if let Some(exact) = server.locations.iter().find(|l| l.exact && l.path == path) {
        return exact;
    }
    server
        .locations
        .iter()
        .filter(|l| !l.exact && path.starts_with(l.path.as_str()))
        .max_by_key(|l| l.path.len())
        .or_else(|| server.locations.last())
        .unwrap_or_else(|| unreachable_location())
}

#[cold]
fn unreachable_location() -> &'static Location {
    // A Server always has at least the synthesized `/` location (see config::check).
    panic!("server without locations: the config checker must add `location /`")
}
