//! Inheritance main → http → server → location, defaults, the synthesized `/`
//! location and listen grouping.

use std::path::PathBuf;
use std::time::Duration;

use super::load_src;
use crate::config::{CgiPathInfo, Config, Location, Op};

fn load(src: &str) -> Config {
    load_src(src).unwrap_or_else(|e| panic!("{e}"))
}

/// The location `path` (prefix) of server `i`.
fn loc<'a>(c: &'a Config, i: usize, path: &str) -> &'a Location {
    c.servers[i]
        .locations
        .iter()
        .find(|l| l.path == path && l.is_prefix())
        .unwrap_or_else(|| panic!("no location {path}"))
}

#[test]
fn root_at_main_is_overridden_in_server_and_inherited_by_location() {
    let c = load(
        "root www;\n\
         server { listen 80; location /a { } }\n\
         server { listen 81; root /srv; location /a { } location /b { root b; } }",
    );
    assert_eq!(loc(&c, 0, "/a").root, PathBuf::from("/p/www"));
    assert_eq!(loc(&c, 1, "/a").root, PathBuf::from("/srv"));
    assert_eq!(loc(&c, 1, "/b").root, PathBuf::from("/p/b"));
}

#[test]
fn http_settings_reach_only_servers_inside_http() {
    let c = load(
        "autoindex on;\n\
         http { root /h; server { listen 80; } }\n\
         server { listen 81; }",
    );
    assert_eq!(loc(&c, 0, "/").root, PathBuf::from("/h"));
    assert!(loc(&c, 0, "/").autoindex);
    assert_eq!(loc(&c, 1, "/").root, PathBuf::from("/p/www"));
    assert!(loc(&c, 1, "/").autoindex);
}

#[test]
fn main_directive_after_the_server_still_applies() {
    let c = load("server { listen 80; }\nsendfile off;");
    assert!(!loc(&c, 0, "/").sendfile);
}

#[test]
fn index_is_replaced_whole_in_location() {
    let c = load(
        "index a.html b.html;\n\
         server { listen 80; location /x { index c.html; } location /y { } }",
    );
    assert_eq!(loc(&c, 0, "/x").index, ["c.html"]);
    assert_eq!(loc(&c, 0, "/y").index, ["a.html", "b.html"]);
}

#[test]
fn add_header_inherited_only_when_location_has_none() {
    let c = load(
        "server { listen 80; add_header X-A 1; add_header X-B 2;\n\
         location /x { add_header X-C 3; } location /y { } }",
    );
    let pairs = |l: &Location| {
        l.add_headers
            .iter()
            .map(|h| h.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs(loc(&c, 0, "/x")), ["X-C"]);
    assert_eq!(pairs(loc(&c, 0, "/y")), ["X-A", "X-B"]);
}

#[test]
fn error_page_inherited_only_when_location_has_none() {
    let c = load(
        "error_page 404 /404.html;\n\
         server { listen 80; location /x { error_page 500 /500.html; } location /y { } }",
    );
    assert!(!loc(&c, 0, "/x").error_pages.contains_key(&404));
    assert_eq!(loc(&c, 0, "/y").error_pages[&404].uri.source(), "/404.html");
}

#[test]
fn defaults_when_nothing_is_set() {
    let c = load("server { listen 80; }");
    assert_eq!((c.worker_processes, c.worker_connections), (1, 10240));
    assert!(c.error_logs.is_empty());
    let s = &c.servers[0];
    assert_eq!(s.client_header_buffer_size, 8192);
    let secs = Duration::from_secs;
    assert_eq!(s.client_header_timeout, secs(60));
    assert_eq!(s.client_body_timeout, secs(60));
    assert_eq!(s.send_timeout, secs(60));
    assert_eq!(s.keepalive.timeout, secs(75));
    assert_eq!(s.keepalive.requests, 1000);
    let l = loc(&c, 0, "/");
    assert_eq!(l.root, PathBuf::from("/p/www"));
    assert_eq!(l.index, ["index.html"]);
    assert_eq!(l.client_max_body_size, 1 << 20);
    assert_eq!(l.allow_methods, ["GET", "HEAD"]);
    assert_eq!(l.cgi_timeout, secs(30));
    assert_eq!(l.cgi_path_info, CgiPathInfo::Split);
    assert!(l.sendfile && !l.autoindex);
    assert_eq!(l.default_type, "application/octet-stream");
    assert!(l.access_logs.is_empty() && l.upload_store.is_none());
}

#[test]
fn cgi_path_info_is_inherited_and_overridden() {
    let c = load(
        "cgi_path_info full;\n\
         server { listen 80; location /a/ { } location /b/ { cgi_path_info split; } }",
    );
    assert_eq!(loc(&c, 0, "/a/").cgi_path_info, CgiPathInfo::Full);
    assert_eq!(loc(&c, 0, "/b/").cgi_path_info, CgiPathInfo::Split);
}

#[test]
fn server_level_limits_inherit_from_main() {
    let c = load(
        "keepalive_timeout 5s; client_header_buffer_size 1k;\n\
         server { listen 80; keepalive_timeout 10s; } server { listen 81; }",
    );
    assert_eq!(c.servers[0].keepalive.timeout, Duration::from_secs(10));
    assert_eq!(c.servers[1].keepalive.timeout, Duration::from_secs(5));
    assert_eq!(c.servers[1].client_header_buffer_size, 1024);
}

#[test]
fn allow_methods_get_implies_head() {
    let c = load("server { listen 80; location /u { allow_methods GET POST; } }");
    assert_eq!(loc(&c, 0, "/u").allow_methods, ["GET", "POST", "HEAD"]);
}

#[test]
fn allow_methods_can_refuse_head_explicitly() {
    let c = load("server { listen 80; location /u { allow_methods GET !HEAD; } }");
    assert_eq!(loc(&c, 0, "/u").allow_methods, ["GET"]);
}

#[test]
fn synthesized_root_location_carries_server_settings() {
    let c = load("server { listen 80; root /s; autoindex on; location /a { } }");
    let paths: Vec<_> = c.servers[0]
        .locations
        .iter()
        .map(|l| l.path.as_str())
        .collect();
    assert_eq!(paths, ["/a", "/"]);
    let slash = loc(&c, 0, "/");
    assert_eq!(slash.root, PathBuf::from("/s"));
    assert!(slash.autoindex);
    assert_eq!(slash.pos, c.servers[0].pos);
}

#[test]
fn no_synthesized_location_when_slash_is_declared() {
    let c = load("server { listen 80; location / { root /x; } location = / { } }");
    assert_eq!(c.servers[0].locations.len(), 2);
    let c = load("server { listen 80; location = / { } }");
    assert_eq!(c.servers[0].locations.len(), 2);
}

#[test]
fn return_is_per_level() {
    let c = load(
        "server { listen 80; return 301 https://e.com$request_uri;\n\
         location /a { return /b; } location /c { return 404 \"gone\"; } location /d { } }",
    );
    let s = &c.servers[0];
    let ret = |ops: &[Op]| match ops {
        [Op::Return(r)] => Some((r.code, r.target.as_ref().map(|t| t.source().to_string()))),
        _ => None,
    };
    let some = |code, t: &str| Some((code, Some(t.to_string())));
    assert_eq!(ret(&s.rewrite), some(301, "https://e.com$request_uri"));
    assert_eq!(ret(&loc(&c, 0, "/a").rewrite), some(302, "/b"));
    assert_eq!(ret(&loc(&c, 0, "/c").rewrite), some(404, "gone"));
    assert_eq!(ret(&loc(&c, 0, "/d").rewrite), None);
}

#[test]
fn alias_and_upload_store_resolve_against_prefix() {
    let c = load("server { listen 80; location /i { alias img; upload_store up; } }");
    let l = loc(&c, 0, "/i");
    assert_eq!(l.alias, Some(PathBuf::from("/p/img")));
    assert_eq!(l.upload_store, Some(PathBuf::from("/p/up")));
}

#[test]
fn listens_are_grouped_with_their_default_server() {
    let c = load(
        "server { listen 8080; server_name a; }\n\
         server { listen 8080 default_server; listen 127.0.0.1:9090; server_name b; }\n\
         server { listen localhost:9090; server_name c; }",
    );
    let groups: Vec<_> = c
        .listens
        .iter()
        .map(|g| (g.addr.to_string(), g.servers.clone(), g.default_server))
        .collect();
    assert_eq!(
        groups,
        [
            ("0.0.0.0:8080".to_string(), vec![0, 1], 1),
            ("127.0.0.1:9090".to_string(), vec![1, 2], 1),
        ]
    );
    assert_eq!((c.listens[0].pos.line, c.listens[0].pos.col), (1, 17));
}

#[test]
fn first_server_is_default_without_default_server() {
    let c = load("server { listen 80; server_name a; } server { listen 80; server_name b; }");
    assert_eq!(c.listens[0].default_server, 0);
}

#[test]
fn server_names_are_lower_cased() {
    let c = load("server { listen 80; server_name Example.COM *.Example.com; }");
    assert_eq!(c.servers[0].server_names, ["example.com", "*.example.com"]);
}

#[test]
fn error_log_and_workers() {
    let c = load("worker_processes 3; worker_connections 64; error_log logs/e.log warn;");
    assert_eq!((c.worker_processes, c.worker_connections), (3, 64));
    let log = &c.error_logs[0];
    assert_eq!(log.path, Some(PathBuf::from("/p/logs/e.log")));
    assert_eq!(log.level, crate::config::Level::Warn);
    let c = load("error_log stderr;");
    assert_eq!(c.error_logs[0].path, None);
}

#[test]
fn error_logs_per_level_replace_the_outer_ones() {
    use crate::config::Level;
    let c = load(
        "error_log a.log; error_log stderr notice;
         http { error_log h.log info;
           server { listen 80;
             location /own { error_log l.log debug; error_log l.log crit; }
             location /inherits { }
           }
           server { listen 81; error_log s.log warn; }
         }",
    );
    let levels = |l: &[crate::config::ErrorLog]| -> Vec<(Option<PathBuf>, Level)> {
        l.iter().map(|e| (e.path.clone(), e.level)).collect()
    };
    assert_eq!(
        levels(&c.error_logs),
        [
            (Some(PathBuf::from("/p/a.log")), Level::Error),
            (None, Level::Notice)
        ]
    );
    let s = &c.servers[0];
    let own = s.locations.iter().find(|l| l.path == "/own").unwrap();
    let own = levels(own.error_logs.as_deref().unwrap());
    let l = Some(PathBuf::from("/p/l.log"));
    assert_eq!(own, [(l.clone(), Level::Debug), (l, Level::Crit)]);
    let inherits = s.locations.iter().find(|l| l.path == "/inherits").unwrap();
    let h = vec![(Some(PathBuf::from("/p/h.log")), Level::Info)];
    assert_eq!(levels(inherits.error_logs.as_deref().unwrap()), h);
    assert_eq!(levels(s.error_logs.as_deref().unwrap()), h);
    let s2 = &c.servers[1];
    let want = vec![(Some(PathBuf::from("/p/s.log")), Level::Warn)];
    assert_eq!(levels(s2.locations[0].error_logs.as_deref().unwrap()), want);
}

#[test]
fn aio_and_open_file_cache_inherit_and_default() {
    use crate::config::OpenFileCache;
    let c = load(
        "open_file_cache max=50 inactive=20s;\n\
         server { listen 80; aio threads;\n\
           location /a { open_file_cache_valid 2s; }\n\
           location /b { open_file_cache off; aio off; } }\n\
         server { listen 81; }",
    );
    let a = loc(&c, 0, "/a");
    assert!(a.aio);
    assert_eq!(
        a.open_file_cache,
        OpenFileCache {
            max: 50,
            inactive: Duration::from_secs(20),
            valid: Duration::from_secs(2),
        }
    );
    let b = loc(&c, 0, "/b");
    assert!(!b.aio);
    assert_eq!(b.open_file_cache.max, 0);
    let other = loc(&c, 1, "/");
    assert!(!other.aio, "aio is off by default");
    assert_eq!(other.open_file_cache.max, 50);
    assert_eq!(other.open_file_cache.valid, Duration::ZERO);
    let plain = load("server { listen 80; }");
    assert_eq!(
        loc(&plain, 0, "/").open_file_cache,
        OpenFileCache::default()
    );
}
