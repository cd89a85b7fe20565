//! The meaning pass, part two: drafts → the typed [`Config`]. Applies inheritance
//! main → http → server → location, fills defaults, synthesizes `location /` for
//! servers that lack one, and groups servers by listen address, rejecting two
//! `default_server`s or two servers answering the same name on one address. An
//! address with `listen ... ssl` gets its TLS configuration (see `tls`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use super::check::LocationDraft;
use super::check::{MainDraft, ServerDraft};
use super::settings::{self as defaults, Settings};
use super::tls::{self, TlsServer, TlsSettings};
use super::values::Arg;
use super::{Config, ConfigError, ListenGroup, LocKind, Location, Server, charset, link};

/// Default `worker_processes`.
const DEFAULT_WORKERS: usize = 1;
/// Default `worker_connections`.
const DEFAULT_CONNECTIONS: usize = 10240;

/// Builds the final configuration of the file `file`.
pub fn build(draft: MainDraft, file: &Path, prefix: &Path) -> Result<Config, ConfigError> {
    let http = draft.http.merge(&draft.main);
    let http_tls = draft.http_tls.merge(&draft.main_tls);
    let mut servers: Vec<Server> = draft
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
    check_names(&draft.servers, &listens);
    for g in &mut listens {
        // `listen ... http2` turns HTTP/2 on for every server of the address;
        // a cleartext address takes the preface when its default server has it.
        for &i in &g.servers {
            servers[i].http2.on |= g.http2;
        }
        g.http2 |= servers[g.default_server].http2.on;
    }
    for g in &mut listens {
        g.tls = tls_config(&servers, g)?;
    }
    let mut config = Config {
        file: file.to_path_buf(),
        worker_processes: draft.worker_processes.unwrap_or(DEFAULT_WORKERS),
        worker_connections: draft.worker_connections.unwrap_or(DEFAULT_CONNECTIONS),
        pid: draft.pid,
        error_log: draft.error_log,
        worker_rlimit_nofile: draft.worker_rlimit_nofile,
        servers,
        listens,
        vars: Vec::new(),
        ssl_vars: false,
        upstreams: draft.upstreams,
        charset_maps: draft.charset_maps,
    };
    upstreams(&mut config)?;
    charset::link(&mut config.charset_maps, &mut config.servers)?;
    let mut zones = draft.limit_zones;
    link::link(&mut config, draft.log_formats, draft.computed, &mut zones)?;
    super::limits::resolve(&zones, &mut config.servers)?;
    Ok(config)
}

/// Points every `proxy_pass` and `fastcgi_pass` at its group: an `upstream` of that name, else an
/// implicit group of the address (one per distinct address), resolved now.
fn upstreams(config: &mut Config) -> Result<(), ConfigError> {
    let groups = &mut config.upstreams;
    for server in &mut config.servers {
        for loc in &mut server.locations {
            let kind = loc.kind.clone();
            let noname = loc.noname;
            for pass in [&mut loc.proxy_pass, &mut loc.fastcgi_pass] {
                let Some(pass) = pass else {
                    continue;
                };
                pass_group(groups, &kind, noname, pass)?;
            }
            // A `limit_except` block's own: a URI part is refused there.
            if let Some(pass) = std::sync::Arc::make_mut(&mut loc.auth)
                .limit
                .as_mut()
                .and_then(|l| l.proxy_pass.as_mut())
            {
                pass_group(groups, &kind, true, pass)?;
            }
            if let Some(pass) = loc.proxy_pass.as_ref().filter(|p| p.tls) {
                let client = loc.proxy.ssl.finish(&pass.pos)?;
                std::sync::Arc::make_mut(&mut loc.proxy).tls = Some(client);
            }
        }
    }
    Ok(())
}

/// Points one `proxy_pass` or `fastcgi_pass` at its group.
fn pass_group(
    groups: &mut Vec<super::upstream::Upstream>,
    kind: &LocKind,
    noname: bool,
    pass: &mut super::proxy::Pass,
) -> Result<(), ConfigError> {
    if pass.dynamic.is_some() {
        return Ok(());
    }
    let odd = noname || matches!(kind, LocKind::Regex(_) | LocKind::Named);
    if pass.uri.is_some() && odd {
        let msg = "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block";
        return Err(ConfigError::at(&pass.pos, msg));
    }
    if let Some(i) = groups.iter().position(|u| u.name == pass.authority) {
        pass.upstream = i;
        return Ok(());
    }
    // An implicit group is named by its address, the scheme's port included.
    let name = match pass.tls && pass.port == 443 && !pass.authority.ends_with(":443") {
        true => format!("{}:443", pass.authority),
        false => pass.authority.clone(),
    };
    if let Some(i) = groups.iter().position(|u| u.name == name) {
        pass.upstream = i;
        return Ok(());
    }
    let arg = (name, pass.pos.clone());
    let addrs = super::upstream::addresses(&arg)?;
    groups.push(super::upstream::Upstream::implicit(
        &arg.0, addrs, &pass.pos,
    ));
    pass.upstream = groups.len() - 1;
    Ok(())
}

/// One server, its settings merged over `outer` and `outer_tls`.
fn server(d: &ServerDraft, outer: &Settings, outer_tls: &TlsSettings, prefix: &Path) -> Server {
    let s = d.settings.merge(outer);
    let (locations, top) = locations(d, &s, prefix);
    Server {
        listen: d.listen.clone(),
        server_names: d.names.iter().map(|(n, _)| n.clone()).collect(),
        name_regexes: d.regexes.clone(),
        client_header_buffer_size: {
            let own = s
                .client_header_buffer_size
                .unwrap_or(defaults::DEFAULT_HEADER_BUFFER);
            let large = s
                .large_client_header_buffers
                .map_or(0, |(n, size)| n.saturating_mul(size));
            own.max(large)
        },
        header_line_max: s.large_client_header_buffers.map(|(_, size)| size),
        ignore_invalid_headers: s.ignore_invalid_headers.unwrap_or(true),
        underscores_in_headers: s.underscores_in_headers.unwrap_or(false),
        max_headers: s
            .max_headers
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        client_header_timeout: s
            .client_header_timeout
            .unwrap_or(defaults::DEFAULT_HEADER_TIMEOUT),
        client_body_timeout: s
            .client_body_timeout
            .unwrap_or(defaults::DEFAULT_BODY_TIMEOUT),
        send_timeout: s.send_timeout.unwrap_or(defaults::DEFAULT_SEND_TIMEOUT),
        keepalive: s.keepalive(),
        rewrite: d.ops.clone(),
        locations,
        top,
        tls: d.tls.merge(outer_tls),
        redirect: s.redirect_style(),
        merge_slashes: s.merge_slashes.unwrap_or(true),
        realip: std::sync::Arc::new(s.realip.finish()),
        http2: s.http2.finish(false),
        computed: Default::default(),
        pos: d.pos.clone(),
    }
}

/// The server's locations, nested ones flattened after their parent, plus a
/// synthesized prefix location `/` (carrying a server-level `try_files`) if it has
/// none; and the indices of the top-level ones.
fn locations(d: &ServerDraft, server: &Settings, prefix: &Path) -> (Vec<Location>, Vec<usize>) {
    let mut out = Vec::new();
    let mut top = Vec::new();
    for l in &d.locations {
        top.push(add_location(&mut out, l, server, None, prefix));
    }
    if !top
        .iter()
        .any(|&i| out[i].path == "/" && out[i].is_prefix())
    {
        let mut loc = server.to_location("/", LocKind::Prefix, &d.pos, prefix);
        loc.try_files = d.try_files.clone();
        out.push(loc);
        top.push(out.len() - 1);
    }
    (out, top)
}

/// Adds `l` (merged over `outer`) and its nested locations; returns its index.
fn add_location(
    out: &mut Vec<Location>,
    l: &LocationDraft,
    outer: &Settings,
    parent: Option<usize>,
    prefix: &Path,
) -> usize {
    let merged = l.settings.merge(outer);
    let mut loc = merged.to_location(&l.path, l.kind.clone(), &l.pos, prefix);
    loc.alias = l.alias.clone();
    loc.alias_vars = l.alias_vars.clone();
    loc.rewrite = l.ops.clone();
    loc.try_files = l.try_files.clone();
    loc.internal = l.internal;
    loc.status_page = l.status_page;
    loc.parent = parent;
    out.push(loc);
    let idx = out.len() - 1;
    if !l.ifs.is_empty() {
        let base = out.len();
        for settings in &l.ifs {
            let mut inner =
                settings
                    .merge(&merged)
                    .to_location(&l.path, l.kind.clone(), &l.pos, prefix);
            inner.alias = l.alias.clone();
            inner.alias_vars = l.alias_vars.clone();
            inner.parent = Some(idx);
            inner.noname = true;
            out.push(inner);
        }
        place_ifs(&mut out[idx].rewrite, base);
    }
    for child in &l.children {
        let c = add_location(out, child, &merged, Some(idx), prefix);
        out[idx].children.push(c);
    }
    idx
}

/// Points each `if` of a location at its configuration, the `base`-th location on.
fn place_ifs(ops: &mut [super::Op], base: usize) {
    for op in ops {
        if let super::Op::If(b) = op
            && let Some(k) = &mut b.location
        {
            *k += base;
        }
    }
}

/// Groups servers by listen address, in order of first appearance.
fn group_listens(servers: &[Server]) -> Result<Vec<ListenGroup>, ConfigError> {
    let mut groups: Vec<ListenGroup> = Vec::new();
    let mut explicit_default: Vec<bool> = Vec::new();
    let mut explicit_options: Vec<bool> = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        for l in &server.listen {
            let g = match groups.iter().position(|g| g.addr == l.addr) {
                Some(g) => g,
                None => {
                    groups.push(new_group(l.addr, i, &l.pos));
                    explicit_default.push(false);
                    explicit_options.push(false);
                    groups.len() - 1
                }
            };
            if let Some(options) = l.options {
                if explicit_options[g] {
                    let msg = format!("duplicate listen options for {}", l.addr);
                    return Err(ConfigError::at(&l.pos, msg));
                }
                explicit_options[g] = true;
                groups[g].options = options;
            }
            groups[g].proxy_protocol |= l.proxy_protocol;
            groups[g].http2 |= l.http2;
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
        options: Default::default(),
        tls: None,
        proxy_protocol: false,
        http2: false,
    }
}

/// The TLS configuration of an address if any `listen` for it says `ssl` (as in
/// nginx, `ssl` belongs to the address: every server on it speaks TLS).
fn tls_config(
    servers: &[Server],
    g: &ListenGroup,
) -> Result<Option<std::sync::Arc<tls::TlsPort>>, ConfigError> {
    let on_group = || g.servers.iter().flat_map(|&i| &servers[i].listen);
    let Some(first_ssl) = on_group().find(|l| l.addr == g.addr && l.ssl) else {
        return Ok(None);
    };
    let members: Vec<TlsServer> = g
        .servers
        .iter()
        .map(|&i| TlsServer {
            names: &servers[i].server_names,
            regexes: &servers[i].name_regexes,
            settings: &servers[i].tls,
            listen: servers[i]
                .listen
                .iter()
                .find(|l| l.addr == g.addr)
                .map_or(&first_ssl.pos, |l| &l.pos),
            ssl: servers[i].listen.iter().any(|l| l.addr == g.addr && l.ssl),
            h2: servers[i].http2.on,
        })
        .collect();
    let default = g
        .servers
        .iter()
        .position(|&i| i == g.default_server)
        .unwrap_or(0);
    tls::server_config(&members, default, &first_ssl.pos).map(Some)
}

/// A name two servers on one address both claim (a server without `server_name`
/// answers the name ""): as nginx, a warning, and the first server keeps it.
fn check_names(drafts: &[ServerDraft], groups: &[ListenGroup]) {
    for g in groups {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for &i in &g.servers {
            for (name, pos) in names_of(&drafts[i]) {
                match seen.get(name) {
                    Some(&first) if first != i => {
                        let msg =
                            format!("conflicting server name \"{name}\" on {}, ignored", g.addr);
                        super::tls::warn(&pos, &msg);
                    }
                    _ => {
                        seen.insert(name, i);
                    }
                }
            }
        }
    }
}

/// The names a server answers, with where they were written.
fn names_of(d: &ServerDraft) -> Vec<(&str, super::Pos)> {
    if d.names.is_empty() {
        return vec![("", d.pos.clone())];
    }
    // Regexes are tried in order and may overlap, as in nginx: no conflict.
    d.names
        .iter()
        .filter(|(n, _)| !n.starts_with('~'))
        .map(|(n, p): &Arg| (n.as_str(), p.clone()))
        .collect()
}
