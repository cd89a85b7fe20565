//! The meaning pass, part two: drafts → the typed [`Config`]. Applies inheritance
//! main → http → server → location, fills defaults, synthesizes `location /` for
//! servers that lack one, and groups servers by listen address, rejecting two
//! `default_server`s or two servers answering the same name on one address. An
//! address with `listen ... ssl` gets its TLS configuration (see `tls`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use super::check::{MainDraft, ServerDraft};
use super::settings::{self as defaults, Settings};
use super::tls::{self, TlsServer, TlsSettings};
use super::values::Arg;
use super::{Config, ConfigError, ListenGroup, Location, Server};

/// Default `worker_processes`.
const DEFAULT_WORKERS: usize = 1;
/// Default `worker_connections`.
const DEFAULT_CONNECTIONS: usize = 10240;

/// Builds the final configuration of the file `file`.
pub fn build(draft: MainDraft, file: &Path, prefix: &Path) -> Result<Config, ConfigError> {
    let http = draft.http.merge(&draft.main);
    let http_tls = draft.http_tls.merge(&draft.main_tls);
    let servers: Vec<Server> = draft
        .servers
        .iter()
        .map(|s| {
            let (outer, outer_tls) = match s.in_http {
                true => (&http, &http_tls),
                false => (&draft.main, &draft.main_tls),
            };
            server(s, outer, outer_tls, prefix)
        })
        .collect();
    let mut listens = group_listens(&servers)?;
    check_names(&draft.servers, &listens)?;
    for g in &mut listens {
        g.tls = tls_config(&servers, g)?;
    }
    Ok(Config {
        file: file.to_path_buf(),
        worker_processes: draft.worker_processes.unwrap_or(DEFAULT_WORKERS),
        worker_connections: draft.worker_connections.unwrap_or(DEFAULT_CONNECTIONS),
        pid: draft.pid,
        error_log: draft.error_log,
        servers,
        listens,
    })
}

/// One server, its settings merged over `outer` and `outer_tls`.
fn server(d: &ServerDraft, outer: &Settings, outer_tls: &TlsSettings, prefix: &Path) -> Server {
    let s = d.settings.merge(outer);
    Server {
        listen: d.listen.clone(),
        server_names: d.names.iter().map(|(n, _)| n.clone()).collect(),
        client_header_buffer_size: s
            .client_header_buffer_size
            .unwrap_or(defaults::DEFAULT_HEADER_BUFFER),
        client_header_timeout: s
            .client_header_timeout
            .unwrap_or(defaults::DEFAULT_HEADER_TIMEOUT),
        client_body_timeout: s
            .client_body_timeout
            .unwrap_or(defaults::DEFAULT_BODY_TIMEOUT),
        send_timeout: s.send_timeout.unwrap_or(defaults::DEFAULT_SEND_TIMEOUT),
        keepalive_timeout: s
            .keepalive_timeout
            .unwrap_or(defaults::DEFAULT_KEEPALIVE_TIMEOUT),
        keepalive_requests: s
            .keepalive_requests
            .unwrap_or(defaults::DEFAULT_KEEPALIVE_REQUESTS),
        ret: d.ret.clone(),
        locations: locations(d, &s, prefix),
        tls: d.tls.merge(outer_tls),
        pos: d.pos.clone(),
    }
}

/// The server's locations, plus a synthesized prefix location `/` if it has none.
fn locations(d: &ServerDraft, server: &Settings, prefix: &Path) -> Vec<Location> {
    let mut out: Vec<Location> = d
        .locations
        .iter()
        .map(|l| {
            let mut loc = l
                .settings
                .merge(server)
                .to_location(&l.path, l.exact, &l.pos, prefix);
            loc.alias = l.alias.clone();
            loc.ret = l.ret.clone();
            loc
        })
        .collect();
    if !out.iter().any(|l| l.path == "/" && !l.exact) {
        out.push(server.to_location("/", false, &d.pos, prefix));
    }
    out
}

/// Groups servers by listen address, in order of first appearance.
fn group_listens(servers: &[Server]) -> Result<Vec<ListenGroup>, ConfigError> {
    let mut groups: Vec<ListenGroup> = Vec::new();
    let mut explicit_default: Vec<bool> = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        for l in &server.listen {
            let g = match groups.iter().position(|g| g.addr == l.addr) {
                Some(g) => g,
                None => {
                    groups.push(new_group(l.addr, i, &l.pos));
                    explicit_default.push(false);
                    groups.len() - 1
                }
            };
            if !groups[g].servers.contains(&i) {
                groups[g].servers.push(i);
            }
            if l.default_server {
                if explicit_default[g] {
                    let msg = format!("a duplicate default server for {}", l.addr);
                    return Err(ConfigError::at(&l.pos, msg));
                }
                explicit_default[g] = true;
                groups[g].default_server = i;
            }
        }
    }
    Ok(groups)
}

fn new_group(addr: SocketAddr, first: usize, pos: &super::Pos) -> ListenGroup {
    ListenGroup {
        addr,
        servers: Vec::new(),
        default_server: first,
        pos: pos.clone(),
        tls: None,
    }
}

/// The TLS configuration of an address if any `listen` for it says `ssl` (as in
/// nginx, `ssl` belongs to the address: every server on it speaks TLS).
fn tls_config(
    servers: &[Server],
    g: &ListenGroup,
) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>, ConfigError> {
    let on_group = || g.servers.iter().flat_map(|&i| &servers[i].listen);
    let Some(first_ssl) = on_group().find(|l| l.addr == g.addr && l.ssl) else {
        return Ok(None);
    };
    let members: Vec<TlsServer> = g
        .servers
        .iter()
        .map(|&i| TlsServer {
            names: &servers[i].server_names,
            settings: &servers[i].tls,
            listen: servers[i]
                .listen
                .iter()
                .find(|l| l.addr == g.addr)
                .map_or(&first_ssl.pos, |l| &l.pos),
        })
        .collect();
    let default = g
        .servers
        .iter()
        .position(|&i| i == g.default_server)
        .unwrap_or(0);
    tls::server_config(&members, default, &first_ssl.pos).map(Some)
}

/// Two servers on one address may not answer the same name; a server without
/// `server_name` answers the name "".
fn check_names(drafts: &[ServerDraft], groups: &[ListenGroup]) -> Result<(), ConfigError> {
    for g in groups {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for &i in &g.servers {
            for (name, pos) in names_of(&drafts[i]) {
                if seen.insert(name, i).is_some_and(|other| other != i) {
                    let msg = format!("conflicting server name \"{name}\" on {}", g.addr);
                    return Err(super::ConfigError::at(&pos, msg));
                }
            }
        }
    }
    Ok(())
}

/// The names a server answers, with where they were written.
fn names_of(d: &ServerDraft) -> Vec<(&str, super::Pos)> {
    if d.names.is_empty() {
        return vec![("", d.pos.clone())];
    }
    d.names
        .iter()
        .map(|(n, p): &Arg| (n.as_str(), p.clone()))
        .collect()
}
