//! The directives of a stock nginx configuration: `events { }`, `types { }`,
//! `server_tokens`, `expires`, `etag`, `if_modified_since`, the accepted tuning
//! knobs and the "not supported yet" errors. Values and exact error messages.

use super::load_src;
use crate::config::{Config, Expires, IfModifiedSince, Location};

fn load(src: &str) -> Config {
    load_src(src).unwrap_or_else(|e| panic!("{e}"))
}

fn fails(src: &str, want: &str) {
    match load_src(src) {
        Ok(_) => panic!("accepted: {src:?}"),
        Err(got) => assert_eq!(got, want, "{src:?}"),
    }
}

fn loc<'a>(c: &'a Config, path: &str) -> &'a Location {
    let s = &c.servers[0];
    s.locations
        .iter()
        .find(|l| l.path == path)
        .unwrap_or_else(|| panic!("no location {path}"))
}

#[test]
fn events_block_sets_worker_connections() {
    let c = load(
        "events {\n  worker_connections 768;\n  multi_accept on;\n  use epoll;\n  accept_mutex off;\n}\n\
         server { listen 80; }",
    );
    assert_eq!(c.worker_connections, 768);
    assert_eq!(
        load("events { } server { listen 80; }").worker_connections,
        10240
    );
    assert_eq!(
        load("worker_connections 5; server { listen 80; }").worker_connections,
        5
    );
}

#[test]
fn events_errors() {
    fails(
        "worker_connections 5;\nevents { worker_connections 6; }",
        "t.conf:2:10: \"worker_connections\" is duplicate",
    );
    fails(
        "events { use kqueue; }",
        "t.conf:1:14: \"use kqueue\" is not supported: webserv's event loop uses epoll",
    );
    fails(
        "events { multi_accept off; }",
        "t.conf:1:23: \"multi_accept off\" is not supported: webserv always accepts every pending connection, 16 at a time",
    );
    fails(
        "events { accept_mutex on; }",
        "t.conf:1:23: \"accept_mutex on\" is not supported: each worker has its own SO_REUSEPORT socket, so no accept mutex is needed",
    );
    fails(
        "events { root /x; }",
        "t.conf:1:10: \"root\" is not allowed in events context",
    );
    fails(
        "http { events { } }",
        "t.conf:1:8: \"events\" is not allowed in http context",
    );
    fails(
        "events { multi_accept on; multi_accept on; }",
        "t.conf:1:27: \"multi_accept\" is duplicate",
    );
}

#[test]
fn tuning_knobs_are_checked() {
    load(
        "http { tcp_nopush on; tcp_nodelay on; types_hash_max_size 2048;\n\
         server_names_hash_bucket_size 64; server { listen 80; } }",
    );
    fails(
        "tcp_nopush off;",
        "t.conf:1:12: \"tcp_nopush off\" is not supported: webserv always sends a response head with the start of its file (MSG_MORE)",
    );
    fails(
        "tcp_nodelay maybe;",
        "t.conf:1:13: \"tcp_nodelay\" takes on|off, got \"maybe\"",
    );
    fails(
        "types_hash_max_size big;",
        "t.conf:1:21: invalid size \"big\" in \"types_hash_max_size\"",
    );
}

#[test]
fn types_replace_whole_per_level_and_default_to_none() {
    let c = load(
        "http {\n types { text/html html; image/png png; }\n\
         server { listen 80;\n location /a { }\n location /b { types { text/plain html; } }\n } }",
    );
    let a = loc(&c, "/a").types.as_ref().unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(&*a["png"], "image/png");
    let b = loc(&c, "/b").types.as_ref().unwrap();
    assert_eq!(b.len(), 1, "a location's block replaces the inherited map");
    assert_eq!(&*b["html"], "text/plain");
    assert!(
        load("server { listen 80; }").servers[0].locations[0]
            .types
            .is_none()
    );
}

#[test]
fn shipped_mime_types_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nginx.conf");
    let mime = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/mime.types");
    std::fs::write(
        &conf,
        format!(
            "http {{ include {}; server {{ listen 80; }} }}",
            mime.display()
        ),
    )
    .unwrap();
    let c = crate::config::load(&conf, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let types = c.servers[0].locations[0].types.as_ref().unwrap();
    for (ext, mime) in [
        ("html", "text/html"),
        ("css", "text/css"),
        ("js", "application/javascript"),
        ("png", "image/png"),
        ("svg", "image/svg+xml"),
        ("woff2", "font/woff2"),
        ("json", "application/json"),
        ("mp4", "video/mp4"),
    ] {
        assert_eq!(types.get(ext).map(|m| &**m), Some(mime), "{ext}");
    }
    assert!(types.len() > 100, "{}", types.len());
}

#[test]
fn header_switches_inherit_and_default() {
    let c = load(
        "server_tokens off; etag off;\n\
         server { listen 80; expires 1h; if_modified_since exact;\n\
         location /a { }\n\
         location /b { server_tokens on; etag on; expires modified -1d; if_modified_since off; } }",
    );
    let a = loc(&c, "/a");
    assert!(!a.server_tokens && !a.etag);
    assert_eq!(a.expires, Expires::Access(3600));
    assert_eq!(a.if_modified_since, IfModifiedSince::Exact);
    let b = loc(&c, "/b");
    assert!(b.server_tokens && b.etag);
    assert_eq!(b.expires, Expires::Modified(-86_400));
    assert_eq!(b.if_modified_since, IfModifiedSince::Off);
    let d = &load("server { listen 80; }").servers[0].locations[0];
    assert!(d.server_tokens && d.etag);
    assert_eq!(d.expires, Expires::Off);
    assert_eq!(d.if_modified_since, IfModifiedSince::Before);
}

#[test]
fn header_switch_errors() {
    fails(
        "server_tokens maybe;",
        "t.conf:1:15: \"server_tokens\" takes on|off, got \"maybe\"",
    );
    fails(
        "etag yes;",
        "t.conf:1:6: \"etag\" takes on|off, got \"yes\"",
    );
    fails(
        "server { listen 80;\n  expires 1x; }",
        "t.conf:2:11: invalid value \"1x\" in \"expires\"",
    );
    fails(
        "if_modified_since newer;",
        "t.conf:1:19: \"if_modified_since\" takes off|exact|before, got \"newer\"",
    );
    fails(
        "expires 1h 2h 3h;",
        "t.conf:1:1: invalid number of arguments in \"expires\" directive",
    );
}

#[test]
fn unsupported_directives_say_so_at_their_position() {
    let cases = [
        (
            "server { listen 80;\n  location / {\n    proxy_cache_valid 1m;\n  } }",
            "t.conf:3:5: directive \"proxy_cache_valid\" is not supported yet (reverse proxying (caching, cookies))",
        ),
        (
            "server { listen 80;\n  location / {\n    proxy_pass https://127.0.0.1:9000;\n    proxy_ssl_verify on;\n  } }",
            "t.conf:3:5: no \"proxy_ssl_trusted_certificate\" for \"proxy_ssl_verify\"",
        ),
        (
            "server { listen 80;\n  location / { if ($host = example.com) { sub_filter a b; } }\n}",
            "t.conf:2:43: directive \"sub_filter\" is not supported yet (response body substitution)",
        ),
        (
            "http { server { listen 80;\n  location / { limit_req zone=one burst=5; } } }",
            "t.conf:2:16: zero size shared memory zone \"one\"",
        ),
        (
            "http { limit_req_zone $binary_remote_addr zone=one:1m rate=0r/s; }",
            "t.conf:1:55: invalid rate \"rate=0r/s\"",
        ),
        (
            "http { limit_req_zone $binary_remote_addr zone=one:1k rate=1r/s; }",
            "t.conf:1:43: zone \"zone=one:1k\" is too small",
        ),
        (
            "http { limit_conn_zone $remote_addr zone=c:1m;\n limit_conn_zone $uri zone=c:1m; }",
            "t.conf:2:2: limit_conn_zone \"c\" is already bound to key \"$remote_addr\"",
        ),
        (
            "http { limit_req_zone $uri zone=a:1m rate=1r/s;\n server { listen 80; limit_req zone=a burst=x; } }",
            "t.conf:2:39: invalid burst value \"burst=x\"",
        ),
        (
            "http { limit_conn_zone $uri zone=c:1m;\n server { listen 80; limit_conn c 0; } }",
            "t.conf:2:35: invalid number of connections \"0\"",
        ),
        (
            "http { limit_req_zone $uri zone=a:1m rate=1r/s;\n server { listen 80; limit_req zone=a; limit_req zone=a; } }",
            "t.conf:2:40: \"limit_req\" directive is duplicate",
        ),
        (
            "http { server { listen 80; limit_req_status 399; } }",
            "t.conf:1:45: invalid status code \"399\" in \"limit_req_status\"",
        ),
        (
            "http { geo $g {\n 10.0.0.1 a;\n ranges; } }",
            "t.conf:3:2: the \"ranges\" directive must be the first directive inside \"geo\" block",
        ),
        (
            "server { listen 80; location /php/ { fastcgi_cache zone; } }",
            "t.conf:1:38: directive \"fastcgi_cache\" is not supported yet (FastCGI (caching, stderr and header filters))",
        ),
        (
            "server { listen 80; auth_request /a; }",
            "t.conf:1:21: directive \"auth_request\" is not supported yet (subrequest authentication)",
        ),
        (
            "user www-data;",
            "t.conf:1:1: directive \"user\" is not supported yet (switching users (run webserv as the user it should be))",
        ),
    ];
    for (src, want) in cases {
        fails(src, want);
    }
    // A whole family is covered, whatever follows its prefix; other names
    // still get "unknown directive" and a suggestion.
    fails(
        "server { listen 80; proxy_pas x; }",
        "t.conf:1:21: directive \"proxy_pas\" is not supported yet (reverse proxying (caching, cookies))",
    );
    fails(
        "server { listen 80; roott x; }",
        "t.conf:1:21: unknown directive \"roott\" (did you mean \"root\"?)",
    );
}

#[test]
fn listen_parameters() {
    let c = load(
        "server { listen 127.0.0.1:80 default_server reuseport backlog=511 rcvbuf=64k sndbuf=1m bind; }\n\
         server { server_name b; listen 127.0.0.1:80; listen [::1]:81 ipv6only=off; }",
    );
    let g = &c.listens[0];
    assert_eq!(g.default_server, 0);
    assert!(g.options.reuseport);
    assert_eq!(g.options.backlog, Some(511));
    assert_eq!(g.options.rcvbuf, Some(64 << 10));
    assert_eq!(g.options.sndbuf, Some(1 << 20));
    assert_eq!(c.listens[1].options.ipv6only, Some(false));
    assert!(c.servers[0].listen[0].default_server);
    assert_eq!(
        load("server { listen 80; }").listens[0].options,
        Default::default()
    );
}

#[test]
fn listen_parameter_errors() {
    let cases = [
        (
            "server { listen 80 backlog=x; }",
            "t.conf:1:20: invalid backlog \"backlog=x\" in \"listen\"",
        ),
        (
            "server { listen 80 backlog=99999999999; }",
            "t.conf:1:20: invalid backlog \"backlog=99999999999\" in \"listen\"",
        ),
        (
            "server { listen 80 ipv6only=on; }",
            "t.conf:1:20: \"ipv6only\" is only for IPv6 addresses, not 0.0.0.0:80",
        ),
        (
            "server { listen [::1]:80 ipv6only=yes; }",
            "t.conf:1:26: \"listen ... ipv6only\" takes on|off, got \"yes\"",
        ),
        (
            "server { listen 80 rcvbuf=lots; }",
            "t.conf:1:20: invalid rcvbuf \"rcvbuf=lots\" in \"listen\"",
        ),
        (
            "server { listen 80 quic; }",
            "t.conf:1:20: listen parameter \"quic\" is not supported yet (HTTP/3)",
        ),
        (
            "server { listen 80 reuseport=1; }",
            "t.conf:1:20: invalid parameter \"reuseport=1\" in \"listen\"",
        ),
        (
            "server { listen 80 fast; }",
            "t.conf:1:20: invalid parameter \"fast\" in \"listen\"",
        ),
        (
            "server { listen 80 backlog=8; }\nserver { listen 80 reuseport; }",
            "t.conf:2:17: duplicate listen options for 0.0.0.0:80",
        ),
    ];
    for (src, want) in cases {
        fails(src, want);
    }
}

#[test]
fn http2_settings_and_their_errors() {
    let first = |conf: &str| load_src(conf).map(|c| c.servers[0].http2);
    let on = first("server { listen 8080; http2 on; http2_chunk_size 16k; }").unwrap();
    assert!(on.on);
    assert_eq!(on.chunk_size, 16 * 1024);
    assert_eq!(on.max_concurrent_streams, 128);
    let by_listen = first("server { listen 8080 http2; }").unwrap();
    assert!(by_listen.on);
    let off = first("http { http2_max_concurrent_streams 8; server { listen 8080; } }").unwrap();
    assert!(!off.on);
    assert_eq!(off.max_concurrent_streams, 8);
    fails(
        "server { listen 8080; http2_chunk_size 0; }",
        "t.conf:1:40: invalid value \"0\" in \"http2_chunk_size\"",
    );
    assert!(first("server { listen 8080; http2 maybe; }").is_err());
}
