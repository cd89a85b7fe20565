//! `-T`: the effective configuration in the config language, with every inherited
//! value and default written out in each location (and nested locations nested).

use std::fmt::Write as _;
use std::time::Duration;

use crate::config::{CgiPathInfo, Config, Fallback, Location, Op, RewriteFlag, Server};

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
    for e in &config.error_logs {
        let _ = writeln!(out, "{}", error_log_line(e));
    }
    if config.error_logs.is_empty() {
        out.push_str("error_log stderr info;\n");
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
        let pp = if l.proxy_protocol {
            " proxy_protocol"
        } else {
            ""
        };
        let _ = writeln!(out, "    listen {}{flag}{ssl}{pp}{opts};", l.addr);
    }
    if !s.server_names.is_empty() {
        let names: Vec<String> = s.server_names.iter().map(|n| quote(n)).collect();
        let _ = writeln!(out, "    server_name {};", names.join(" "));
    }
    for line in s.tls.lines() {
        let _ = writeln!(out, "    {line};");
    }
    // A server-level setting kept in every location (all share the server's value).
    if let Some(loc) = s.locations.first() {
        let on = if loc.underscores_in_headers {
            "on"
        } else {
            "off"
        };
        let _ = writeln!(out, "    underscores_in_headers {on};");
    }
    let merge = if s.merge_slashes { "on" } else { "off" };
    let _ = writeln!(out, "    merge_slashes {merge};");
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
    let k = &s.keepalive;
    let header = k.header.map_or(String::new(), |h| format!(" {}", secs(h)));
    let _ = writeln!(out, "    keepalive_timeout {}{header};", secs(k.timeout));
    let _ = writeln!(out, "    keepalive_requests {};", k.requests);
    let _ = writeln!(out, "    keepalive_time {};", secs(k.time));
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
        Op::If(b) => format!("if ... {{ {} directives }}", b.ops.len()),
    }
}

/// The `autoindex_*` and `charset*` lines of a location.
fn listing_lines(loc: &Location) -> Vec<String> {
    let format = match loc.listing.format {
        crate::config::ListingFormat::Html => "html",
        crate::config::ListingFormat::Json => "json",
        crate::config::ListingFormat::Jsonp => "jsonp",
        crate::config::ListingFormat::Xml => "xml",
    };
    let cs = &loc.charset;
    let mut v = vec![
        format!("autoindex_exact_size {}", on_off(loc.listing.exact_size)),
        format!("autoindex_localtime {}", on_off(loc.listing.localtime)),
        format!("autoindex_format {format}"),
        format!(
            "charset {}",
            cs.charset.as_ref().map_or("off", |n| n.source())
        ),
    ];
    // Unset, it has no value to write.
    v.extend(
        cs.source
            .as_ref()
            .map(|n| format!("source_charset {}", n.source())),
    );
    v.push(format!("override_charset {}", on_off(cs.override_charset)));
    v.push(format!("charset_types {}", cs.types.join(" ")));
    v
}

/// Every directive of a location, as config lines (without the `;`).
pub(super) fn location_lines(loc: &Location) -> Vec<String> {
    // root and alias exclude each other in one location.
    let mut v = vec![match &loc.alias {
        Some(a) => format!("alias {}", a.display()),
        None => format!("root {}", loc.root.display()),
    }];
    let names: Vec<&str> = loc
        .index
        .iter()
        .map(crate::vars::Template::source)
        .collect();
    v.push(format!("index {}", names.join(" ")));
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
    for (directive, list) in [
        ("add_header", &loc.add_headers),
        ("add_trailer", &loc.add_trailers),
    ] {
        for h in list {
            let always = if h.always { " always" } else { "" };
            v.push(format!(
                "{directive} {} {}{always}",
                h.name,
                quote(h.value.source())
            ));
        }
    }
    if loc.access_logs.is_empty() {
        v.push("access_log off".to_owned());
    }
    for log in &loc.access_logs {
        v.push(format!("access_log {} {}", log.path.display(), log.format));
    }
    for e in loc.error_logs.iter().flat_map(|l| l.iter()) {
        v.push(error_log_line(e).trim_end_matches(';').to_owned());
    }
    v.extend(crate::config::compress::lines(&loc.compression));
    v.extend(loc.realip.lines());
    v.extend(loc.access.iter().map(crate::config::access::Rule::line));
    v.extend(loc.limits.lines());
    v.extend(loc.auth.lines());
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

/// `error_log PATH|stderr LEVEL;`
pub(crate) fn error_log_line(e: &crate::config::ErrorLog) -> String {
    let target = e
        .path
        .as_ref()
        .map_or("stderr".to_owned(), |p| p.display().to_string());
    format!("error_log {target} {};", e.level.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("two words"), "\"two words\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(""), "\"\"");
    }
}
