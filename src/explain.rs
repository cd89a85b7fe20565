//! Answers the two questions every user of the server asks: "what configuration
//! is really in effect?" (`-T`: the whole config after includes and inheritance,
//! in the config language) and "which server and location will handle this URL,
//! and why?" (`--explain`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{
    CgiPathInfo, Config, Fallback, ListenGroup, Location, Op, RewriteFlag, Server,
};
use crate::handler::{self, Origin, path, route, static_file};
use crate::http::request::Fields;
use crate::http::{Framing, Method, Request};

/// The effective configuration in nginx syntax, with every inherited value and
/// default written out in each location.
pub fn dump(config: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# effective configuration of {}",
        config.file.display()
    );
    let _ = writeln!(out, "worker_processes {};", config.worker_processes);
    let _ = writeln!(
        out,
        "events {{ worker_connections {}; }}",
        config.worker_connections
    );
    if let Some(p) = &config.pid {
        let _ = writeln!(out, "pid {};", p.display());
    }
    match &config.error_log {
        Some(e) => {
            let target = e
                .path
                .as_ref()
                .map_or("stderr".to_owned(), |p| p.display().to_string());
            let _ = writeln!(
                out,
                "error_log {target} {};",
                e.level.as_str().to_lowercase()
            );
        }
        None => out.push_str("error_log stderr;\n"),
    }
    for server in &config.servers {
        dump_server(&mut out, server);
    }
    out
}

fn dump_server(out: &mut String, s: &Server) {
    let _ = writeln!(out, "\n# {}\nserver {{", s.pos);
    for l in &s.listen {
        let flag = if l.default_server {
            " default_server"
        } else {
            ""
        };
        let opts = l.options.map(|o| o.to_conf()).unwrap_or_default();
        let ssl = if l.ssl { " ssl" } else { "" };
        let _ = writeln!(out, "    listen {}{flag}{ssl}{opts};", l.addr);
    }
    if !s.server_names.is_empty() {
        let names: Vec<String> = s.server_names.iter().map(|n| quote(n)).collect();
        let _ = writeln!(out, "    server_name {};", names.join(" "));
    }
    for line in s.tls.lines() {
        let _ = writeln!(out, "    {line};");
    }
    let _ = writeln!(
        out,
        "    client_header_buffer_size {};",
        s.client_header_buffer_size
    );
    let _ = writeln!(
        out,
        "    client_header_timeout {};",
        secs(s.client_header_timeout)
    );
    let _ = writeln!(
        out,
        "    client_body_timeout {};",
        secs(s.client_body_timeout)
    );
    let _ = writeln!(out, "    send_timeout {};", secs(s.send_timeout));
    let _ = writeln!(out, "    keepalive_timeout {};", secs(s.keepalive_timeout));
    let _ = writeln!(out, "    keepalive_requests {};", s.keepalive_requests);
    for op in &s.rewrite {
        let _ = writeln!(out, "    {};", op_line(op));
    }
    for &i in &s.top {
        dump_location(out, s, i, 1);
    }
    out.push_str("}\n");
}

/// A location and its nested ones, indented `depth` levels.
fn dump_location(out: &mut String, s: &Server, i: usize, depth: usize) {
    let loc = &s.locations[i];
    let pad = "    ".repeat(depth);
    let _ = writeln!(
        out,
        "\n{pad}# {}\n{pad}location {}{} {{",
        loc.pos,
        loc.modifier(),
        quote(&loc.path)
    );
    for line in location_lines(loc) {
        // A block line (`types { ... }`) takes no `;`.
        let end = if line.ends_with('}') { "" } else { ";" };
        let _ = writeln!(out, "{pad}    {line}{end}");
    }
    for &c in &loc.children {
        dump_location(out, s, c, depth + 1);
    }
    let _ = writeln!(out, "{pad}}}");
}

/// A rewrite-module directive as written.
fn op_line(op: &Op) -> String {
    match op {
        Op::Rewrite {
            pattern,
            replacement,
            flag,
            ..
        } => {
            let flag = match flag {
                RewriteFlag::None => "",
                RewriteFlag::Last => " last",
                RewriteFlag::Break => " break",
                RewriteFlag::Redirect => " redirect",
                RewriteFlag::Permanent => " permanent",
            };
            format!(
                "rewrite {} {}{flag}",
                quote(pattern.as_str()),
                quote(replacement.source())
            )
        }
        Op::Return(r) => format!(
            "return {}{}",
            r.code,
            r.target
                .as_ref()
                .map_or(String::new(), |t| format!(" {}", quote(t.source())))
        ),
        Op::Set { value, .. } => format!("set {}", quote(value.source())),
        Op::Break => "break".into(),
    }
}

/// The `autoindex_*` and `charset*` lines of a location.
fn listing_lines(loc: &Location) -> [String; 5] {
    let format = match loc.listing.format {
        crate::config::ListingFormat::Html => "html",
        crate::config::ListingFormat::Json => "json",
        crate::config::ListingFormat::Xml => "xml",
    };
    [
        format!("autoindex_exact_size {}", on_off(loc.listing.exact_size)),
        format!("autoindex_localtime {}", on_off(loc.listing.localtime)),
        format!("autoindex_format {format}"),
        format!("charset {}", loc.charset.as_deref().unwrap_or("off")),
        format!("charset_types {}", loc.charset_types.join(" ")),
    ]
}

/// Every directive of a location, as config lines (without the `;`).
fn location_lines(loc: &Location) -> Vec<String> {
    // root and alias exclude each other in one location.
    let mut v = vec![match &loc.alias {
        Some(a) => format!("alias {}", a.display()),
        None => format!("root {}", loc.root.display()),
    }];
    v.push(format!("index {}", loc.index.join(" ")));
    v.push(format!("autoindex {}", on_off(loc.autoindex)));
    v.extend(listing_lines(loc));
    let mut pages: Vec<_> = loc.error_pages.iter().collect();
    pages.sort_by_key(|(code, _)| **code);
    for (code, page) in pages {
        let over = page
            .status_override
            .map_or(String::new(), |c| format!(" ={c}"));
        v.push(format!(
            "error_page {code}{over} {}",
            quote(page.uri.source())
        ));
    }
    v.push(format!("client_max_body_size {}", loc.client_max_body_size));
    v.push(format!("allow_methods {}", loc.allow_methods.join(" ")));
    if loc.internal {
        v.push("internal".into());
    }
    v.extend(loc.rewrite.iter().map(op_line));
    if let Some(tf) = &loc.try_files {
        let mut line = String::from("try_files");
        for f in &tf.files {
            line.push(' ');
            line.push_str(&quote(f.source()));
        }
        match &tf.fallback {
            Fallback::Uri(t) => line.push_str(&format!(" {}", quote(t.source()))),
            Fallback::Status(c) => line.push_str(&format!(" ={c}")),
        }
        v.push(line);
    }
    if let Some(u) = &loc.upload_store {
        v.push(format!("upload_store {}", u.display()));
    }
    for h in &loc.cgi {
        let interp = h
            .interpreter
            .as_ref()
            .map_or(String::new(), |p| format!(" {}", p.display()));
        v.push(format!("cgi {}{interp}", h.ext));
    }
    v.push(format!("cgi_timeout {}", secs(loc.cgi_timeout)));
    v.push(match loc.cgi_path_info {
        CgiPathInfo::Split => "cgi_path_info split".to_owned(),
        CgiPathInfo::Full => "cgi_path_info full".to_owned(),
    });
    v.push(format!("sendfile {}", on_off(loc.sendfile)));
    v.push(format!("aio {}", if loc.aio { "threads" } else { "off" }));
    let cache = &loc.open_file_cache;
    v.push(if cache.max == 0 {
        "open_file_cache off".to_owned()
    } else {
        format!(
            "open_file_cache max={} inactive={}",
            cache.max,
            secs(cache.inactive)
        )
    });
    v.push(format!("open_file_cache_valid {}", secs(cache.valid)));
    v.push(format!("default_type {}", loc.default_type));
    v.extend(loc.header_lines());
    for h in &loc.add_headers {
        let always = if h.always { " always" } else { "" };
        v.push(format!(
            "add_header {} {}{always}",
            h.name,
            quote(h.value.source())
        ));
    }
    if loc.access_logs.is_empty() {
        v.push("access_log off".to_owned());
    }
    for log in &loc.access_logs {
        v.push(format!("access_log {} {}", log.path.display(), log.format));
    }
    v.extend(crate::config::compress::lines(&loc.compression));
    v
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"\"';{}#".contains(&b))
    {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// A URL taken apart: the address it connects to, the Host it sends, the target.
struct Target {
    addr: SocketAddr,
    host: String,
    target: String,
}

fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("expected an http:// URL, got \"{url}\""))?;
    let (authority, target) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("bad port in \"{url}\""))?,
        ),
        _ => (authority, 80),
    };
    let ip_text = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => "127.0.0.1",
        other => other,
    };
    let ip = ip_text
        .parse()
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        host: host.to_ascii_lowercase(),
        target: target.to_owned(),
    })
}

/// The listen group a connection to `addr` lands on (exact address, else a
/// wildcard address on the same port).
fn group_for(config: &Config, addr: SocketAddr) -> Option<usize> {
    let exact = config.listens.iter().position(|g| g.addr == addr);
    exact.or_else(|| {
        config
            .listens
            .iter()
            .position(|g| g.addr.port() == addr.port() && g.addr.ip().is_unspecified())
    })
}

/// Explains how a request for `url` would be handled.
pub fn explain(
    config: &Config,
    url: &str,
    method: &str,
    host: Option<&str>,
    headers: &[String],
) -> Result<String, String> {
    let t = parse_url(url)?;
    let host = host.map_or(t.host.clone(), str::to_ascii_lowercase);
    let method = Method::from_name(&method.to_ascii_uppercase()).ok_or_else(|| {
        format!("unknown method \"{method}\" (GET, HEAD, POST, PUT, DELETE, OPTIONS)")
    })?;
    let mut out = String::new();
    let _ = writeln!(out, "request   {} {} (Host: {host})", method, t.target);
    let Some(gi) = group_for(config, t.addr) else {
        let listens: Vec<String> = config.listens.iter().map(|g| g.addr.to_string()).collect();
        let _ = writeln!(
            out,
            "listen    nothing listens on {} (listening: {})",
            t.addr,
            listens.join(", ")
        );
        let _ = writeln!(out, "expected  connection refused");
        return Ok(out);
    };
    let group = &config.listens[gi];
    let _ = writeln!(
        out,
        "listen    {} ({}), {} server(s)",
        group.addr,
        group.pos,
        group.servers.len()
    );
    let server_idx = handler::server_index(config, gi, Some(&host));
    let server = &config.servers[server_idx];
    let _ = writeln!(
        out,
        "server    {} at {}: {}",
        server_label(server),
        server.pos,
        why_server(config, group, server_idx, &host)
    );
    let mut req = synthetic(method, &t.target, &host);
    req.headers = request_fields(&host, headers)?;
    let origin = Origin {
        group: gi,
        local: group.addr,
        peer: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: group.tls.is_some(),
    };
    let Some(clean) = path::clean(req.path()) else {
        let _ = writeln!(out, "path      \"{}\" cannot be decoded safely", req.path());
        let _ = writeln!(out, "expected  400");
        return Ok(out);
    };
    let _ = writeln!(out, "path      {clean}");
    let (result, trace) = handler::route_traced(config, origin, &req);
    for line in &trace {
        let _ = writeln!(out, "phase     {line}");
    }
    let (li, how) = match &result {
        Ok(r) if r.redirects > 0 => (r.location, None),
        _ => {
            let (i, how) = route::find_location(server, &clean, &mut crate::vars::State::default());
            (i, Some(how))
        }
    };
    let loc = &server.locations[li];
    let why = match how {
        Some(how) => why_location(server, loc, how, &clean),
        None => "reached by internal redirect".to_owned(),
    };
    let _ = writeln!(
        out,
        "location  {}{} at {}: {why}",
        loc.modifier(),
        loc.path,
        loc.pos,
    );
    out.push_str("effective\n");
    for line in location_lines(loc) {
        let end = if line.ends_with('}') { "" } else { ";" };
        let _ = writeln!(out, "          {line}{end}");
    }
    let _ = writeln!(out, "handler   {}", handler_text(result, &req, config));
    Ok(out)
}

fn server_label(s: &Server) -> String {
    match s.server_names.first() {
        Some(_) => format!("\"{}\"", s.server_names.join(" ")),
        None => "(no server_name)".to_owned(),
    }
}

fn why_server(config: &Config, group: &ListenGroup, idx: usize, host: &str) -> String {
    let s = &config.servers[idx];
    if s.server_names.iter().any(|n| n == host) {
        return format!("server_name \"{host}\" matches exactly");
    }
    if let Some(w) = s
        .server_names
        .iter()
        .find(|n| crate::config::name_matches(n, host))
    {
        return format!("wildcard server_name \"{w}\" matches \"{host}\"");
    }
    if let Some(why) = handler::vhost::select(config, group, Some(host)).regex_reason(host) {
        return why;
    }
    if idx == group.default_server {
        let marked = s
            .listen
            .iter()
            .any(|l| l.default_server && l.addr == group.addr);
        let why = if marked {
            "it is marked default_server"
        } else {
            "it is the first server on this address"
        };
        return format!("no server_name matches \"{host}\"; default server because {why}");
    }
    "default server".to_owned()
}

fn why_location(server: &Server, loc: &Location, how: route::How, path: &str) -> String {
    match how {
        route::How::Exact => return "exact match (= locations are checked first)".to_owned(),
        route::How::Regex => {
            return "regex matches (regexes are tried in order after the longest prefix)"
                .to_owned();
        }
        route::How::Prefix if matches!(loc.kind, crate::config::LocKind::NoRegex) => {
            return "longest matching prefix, marked ^~ (no regex is tried)".to_owned();
        }
        route::How::Prefix => {}
    }
    let others: Vec<&str> = server
        .locations
        .iter()
        .filter(|l| l.is_prefix() && path.starts_with(l.path.as_str()) && l.path != loc.path)
        .map(|l| l.path.as_str())
        .collect();
    if others.is_empty() {
        "the only prefix location that matches".to_owned()
    } else {
        format!(
            "longest matching prefix (also matching: {})",
            others.join(", ")
        )
    }
}

/// Host plus the `--header 'Name: value'` fields.
fn request_fields(host: &str, headers: &[String]) -> Result<Fields, String> {
    let mut pairs = vec![("Host", host.as_bytes())];
    for h in headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("--header \"{h}\" is not \"Name: value\""))?;
        pairs.push((name.trim(), value.trim().as_bytes()));
    }
    Ok(Fields::from_pairs(pairs))
}

fn synthetic(method: Method, target: &str, host: &str) -> Request {
    Request {
        method,
        target: target.to_owned(),
        http11: true,
        headers: Fields::from_pairs([("Host", host.as_bytes())]),
        host: Some(host.to_owned()),
        framing: Framing::None,
        keep_alive: true,
        expect_continue: false,
    }
}

/// What would answer, without running or changing anything.
fn handler_text(
    result: Result<handler::Routed, crate::http::Response>,
    req: &Request,
    config: &Config,
) -> String {
    let routed = match result {
        Ok(r) => r,
        Err(resp) => {
            let to = resp
                .get_header("Location")
                .map_or(String::new(), |l| format!(" → {l}"));
            return format!(
                "answered before any content handler\nexpected  {}{to}",
                resp.status
            );
        }
    };
    let loc = routed.location(config);
    let clean = routed.path.as_str();
    if let Some(script) = &routed.script {
        let via = script
            .interpreter
            .as_ref()
            .map_or("executed directly".to_owned(), |i| {
                format!("via {}", i.display())
            });
        return format!(
            "CGI script {} ({via}), SCRIPT_NAME={} PATH_INFO={}\nencoding  {}\nexpected  the script's status (502 if its output is invalid, 504 after cgi_timeout)",
            script.file.display(),
            script.name,
            if script.path_info.is_empty() {
                "\"\""
            } else {
                &script.path_info
            },
            crate::filter::explain::describe(&loc.compression, req, None)
        );
    }
    let file = path::map_to_fs(clean, &loc.path, &loc.root, loc.alias.as_deref());
    match req.method {
        Method::Get | Method::Head => match static_file::serve(loc, clean, req) {
            Ok(resp) => format!(
                "static {}\nencoding  {}\nexpected  {}",
                file.display(),
                crate::filter::explain::describe(&loc.compression, req, Some(&resp)),
                resp.status
            ),
            Err(status) => format!("static {}\nexpected  {status}", file.display()),
        },
        Method::Post | Method::Put => match &loc.upload_store {
            Some(store) => format!(
                "upload into {}\nexpected  201 (created) or 204 (replaced)",
                store.display()
            ),
            None => "no upload_store and no CGI here\nexpected  405".to_owned(),
        },
        Method::Delete => {
            let exists = std::fs::symlink_metadata(&file);
            let status = match exists {
                Ok(m) if m.is_dir() => 409,
                Ok(_) => 204,
                Err(e) => static_file::io_status(&e),
            };
            format!("delete {}\nexpected  {status}", file.display())
        }
        Method::Options => "answered by the server\nexpected  204".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("http://localhost:8080/a/b?x=1").unwrap();
        assert_eq!(
            (
                t.addr.to_string().as_str(),
                t.host.as_str(),
                t.target.as_str()
            ),
            ("127.0.0.1:8080", "localhost", "/a/b?x=1")
        );
        let t = parse_url("http://Example.test").unwrap();
        assert_eq!(
            (t.addr.port(), t.host.as_str(), t.target.as_str()),
            (80, "example.test", "/")
        );
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("http://x:99999/").is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("two words"), "\"two words\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(""), "\"\"");
    }
}
