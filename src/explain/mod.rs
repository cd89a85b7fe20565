//! Answers the two questions every user of the server asks: "what configuration
//! is really in effect?" (`-T`, in [`dump`]: the whole config after includes and
//! inheritance, in the config language) and "which server and location will handle
//! this URL, and why?" (`--explain`: every phase's decision).

mod dump;

pub use dump::dump;
use dump::location_lines;

use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::config::{Config, ListenGroup, Location, Server};
use crate::handler::{self, Origin, path, route, static_file};
use crate::http::request::Fields;
use crate::http::{Framing, Method, Request};

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
        conn: crate::handler::Conn::accepted(std::time::Instant::now()),
        proxied: None,
        realip_from: None,
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
        http2: false,
        headers: Fields::from_pairs([("Host", host.as_bytes())]),
        host: Some(host.to_owned()),
        framing: Framing::None,
        keep_alive: true,
        expect_continue: false,
        head_len: 0,
        tls: None,
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
    let file = loc.file_for(clean);
    if loc.dav.handles(req.method) {
        return format!("WebDAV {} of {}", req.method, file.display());
    }
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
        Method::Mkcol | Method::Copy | Method::Move => {
            "no dav_methods for it here\nexpected  405".to_owned()
        }
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
}
