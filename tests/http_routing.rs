//! Routing over real sockets: virtual hosts, locations, alias, `return`,
//! `add_header`, `error_page` and method checks.

mod common;

use common::{Fixture, TestServer, get, get_host, parse_all, parse_one, raw, request, simple_conf};

// ---- virtual hosts ------------------------------------------------------------

/// Four servers on one port, each answering its own name with `return 200`.
/// `default` is marked `default_server` only if `with_default`.
fn vhost_server(with_default: bool) -> TestServer {
    let mark = if with_default { " default_server" } else { "" };
    let server = |names: &str, text: &str, listen_extra: &str| {
        format!(
            "server {{\n    listen 127.0.0.1:{{port}}{listen_extra};\n    \
             server_name {names};\n    location / {{ return 200 \"{text}\"; }}\n}}\n"
        )
    };
    let conf = [
        server("first.test", "first", ""),
        server("exact.test www.exact.test", "exact", ""),
        server("*.example.com", "wildcard", ""),
        server("default.test", "default", mark),
    ]
    .concat();
    Fixture::new().start(&format!("error_log stderr warn;\n{conf}"))
}

fn which(s: &TestServer, host: &str) -> String {
    let r = get_host(s.port(), host, "/");
    assert_eq!(r.status, 200, "Host {host}");
    r.text()
}

#[test]
fn vhost_exact_name() {
    let s = vhost_server(true);
    assert_eq!(which(&s, "exact.test"), "exact");
    assert_eq!(which(&s, "www.exact.test"), "exact");
    assert_eq!(which(&s, "first.test"), "first");
}

#[test]
fn vhost_wildcard_name() {
    let s = vhost_server(true);
    assert_eq!(which(&s, "foo.example.com"), "wildcard");
    assert_eq!(which(&s, "a.b.example.com"), "wildcard");
}

#[test]
fn vhost_match_ignores_case_and_port() {
    let s = vhost_server(true);
    assert_eq!(which(&s, "EXACT.Test"), "exact");
    assert_eq!(which(&s, "exact.test:8080"), "exact");
    assert_eq!(which(&s, "Foo.EXAMPLE.com:1234"), "wildcard");
}

#[test]
fn vhost_unknown_host_goes_to_default_server() {
    let s = vhost_server(true);
    assert_eq!(which(&s, "nobody.test"), "default");
    assert_eq!(which(&s, "example.com"), "default", "*.x does not match x");
}

#[test]
fn vhost_unknown_host_without_default_goes_to_first() {
    let s = vhost_server(false);
    assert_eq!(which(&s, "nobody.test"), "first");
}

#[test]
fn vhost_http10_without_host_goes_to_default_server() {
    let s = vhost_server(true);
    let r = parse_one(&raw(s.port(), "GET / HTTP/1.0\r\n\r\n"));
    assert_eq!(r.text(), "default");
}

// ---- locations ------------------------------------------------------------------

fn location_server() -> TestServer {
    let f = Fixture::new();
    f.file("www/x/long/file.txt", "from root\n");
    f.file("pics/p.txt", "aliased picture\n");
    f.start(&simple_conf(
        "    location = /x { return 200 \"exact\"; }\n    \
         location /x { return 200 \"prefix\"; }\n    \
         location /x/long { return 200 \"longer\"; }\n    \
         location /x/longer/ { return 200 \"longest\"; }\n    \
         location /pics/ { alias {dir}/pics/; }\n    \
         location = /old { return 301 http://example.com/new; }\n    \
         location /fixed { return 200 \"fixed text\"; }\n    \
         location /teapot { return 418; }",
    ))
}

#[test]
fn exact_location_beats_prefix() {
    let s = location_server();
    assert_eq!(get(s.port(), "/x").text(), "exact");
    assert_eq!(get(s.port(), "/x/").text(), "prefix");
    assert_eq!(get(s.port(), "/x?q=1").text(), "exact");
}

#[test]
fn longest_prefix_wins() {
    let s = location_server();
    assert_eq!(get(s.port(), "/xy").text(), "prefix");
    assert_eq!(get(s.port(), "/x/lon").text(), "prefix");
    assert_eq!(get(s.port(), "/x/long/file.txt").text(), "longer");
    assert_eq!(get(s.port(), "/x/longer/").text(), "longest");
}

#[test]
fn location_matches_the_normalized_path() {
    let s = location_server();
    assert_eq!(get(s.port(), "/a/../x").text(), "exact");
    assert_eq!(get(s.port(), "//x//long").text(), "longer");
    assert_eq!(get(s.port(), "/%78").text(), "exact");
}

#[test]
fn alias_replaces_the_location_prefix() {
    let s = location_server();
    let r = get(s.port(), "/pics/p.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"aliased picture\n");
    assert_eq!(get(s.port(), "/pics/missing.txt").status, 404);
}

#[test]
fn return_301_url_redirects() {
    let s = location_server();
    let r = get(s.port(), "/old");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("http://example.com/new"));
}

#[test]
fn return_200_text_is_the_body() {
    let s = location_server();
    let r = get(s.port(), "/fixed/anything");
    assert_eq!(r.status, 200);
    // nginx sends the text as the location's default_type.
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(r.body, b"fixed text");
}

#[test]
fn return_error_code_alone_gives_its_page() {
    let s = location_server();
    let r = get(s.port(), "/teapot");
    assert_eq!(r.status, 418);
}

#[test]
fn server_level_return_answers_every_path() {
    let f = Fixture::new();
    f.file("www/a.txt", "never served\n");
    let s = f.start(&simple_conf("    return 302 http://elsewhere.test/;"));
    for path in ["/", "/a.txt", "/missing/deep"] {
        let r = get(s.port(), path);
        assert_eq!(r.status, 302, "{path}");
        assert_eq!(r.header("Location"), Some("http://elsewhere.test/"));
        assert!(!r.text().contains("never served"));
    }
}

// ---- headers and errors ------------------------------------------------------------

fn header_server() -> TestServer {
    let f = Fixture::new();
    f.file("www/a.txt", "a\n");
    f.start(&simple_conf("    add_header X-Test yes;"))
}

#[test]
fn add_header_on_success() {
    let s = header_server();
    let r = get(s.port(), "/a.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Test"), Some("yes"));
}

#[test]
fn add_header_not_on_404() {
    let s = header_server();
    let r = get(s.port(), "/missing.txt");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("X-Test"), None);
}

#[test]
fn builtin_404_page() {
    let s = header_server();
    let r = get(s.port(), "/missing.txt");
    assert_eq!(r.status, 404);
    assert_eq!(r.reason, "Not Found");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(r.text().contains("404 Not Found"), "{}", r.text());
}

fn error_page_server(directive: &str) -> TestServer {
    let f = Fixture::new();
    f.file("www/custom.html", "<h1>custom not found</h1>\n");
    f.start(&simple_conf(&format!("    {directive}")))
}

#[test]
fn error_page_keeps_the_original_status() {
    let s = error_page_server("error_page 404 /custom.html;");
    let r = get(s.port(), "/missing.txt");
    assert_eq!(r.status, 404);
    assert_eq!(r.body, b"<h1>custom not found</h1>\n");
    assert_eq!(r.header("Content-Type"), Some("text/html"));
}

#[test]
fn error_page_with_status_override() {
    let s = error_page_server("error_page 404 =200 /custom.html;");
    let r = get(s.port(), "/missing.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"<h1>custom not found</h1>\n");
}

#[test]
fn error_page_to_absolute_url_is_302() {
    let s = error_page_server("error_page 404 http://errors.test/404;");
    let r = get(s.port(), "/missing.txt");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("Location"), Some("http://errors.test/404"));
}

#[test]
fn error_page_only_for_its_codes() {
    let s = error_page_server("error_page 404 /custom.html;");
    let r = get(s.port(), "/");
    assert_eq!(r.status, 403);
    assert!(!r.text().contains("custom not found"));
}

#[test]
fn method_not_allowed_lists_allowed_methods() {
    let f = Fixture::new();
    f.file("www/a.txt", "a\n");
    let s = f.start(&simple_conf(""));
    let r = parse_one(&raw(s.port(), request("DELETE", "/a.txt", "")));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, OPTIONS"));
    assert!(f_exists(&s, "www/a.txt"), "405 must not delete");
}

#[test]
fn allow_methods_per_location() {
    let f = Fixture::new();
    f.file("www/ro/a.txt", "a\n");
    let s = f.start(&simple_conf(
        "    location /ro/ { allow_methods GET; }\n    \
         location /none/ { allow_methods DELETE; }",
    ));
    assert_eq!(get(s.port(), "/ro/a.txt").status, 200);
    let bytes = raw(s.port(), request("HEAD", "/none/x", ""));
    let all = parse_all(&bytes, &[true]);
    assert_eq!(all.len(), 1, "HEAD gets no body");
    let head = &all[0];
    assert_eq!(head.status, 405);
    assert_eq!(head.header("Allow"), Some("DELETE, OPTIONS"));
}

fn f_exists(s: &TestServer, rel: &str) -> bool {
    s.dir().join(rel).exists()
}

#[test]
fn error_page_target_missing_falls_back_to_builtin() {
    let s = error_page_server("error_page 404 /nothere.html;");
    let r = get(s.port(), "/missing.txt");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("404 Not Found"), "{}", r.text());
}

#[test]
fn error_page_is_inherited_by_locations() {
    let f = Fixture::new();
    f.file("www/custom.html", "custom\n");
    let s = f.start(&simple_conf(
        "    error_page 404 /custom.html;\n    location /sub/ { autoindex on; }",
    ));
    let r = get(s.port(), "/sub/missing.txt");
    assert_eq!(r.status, 404);
    assert_eq!(r.body, b"custom\n");
}

#[test]
fn location_root_appends_the_whole_uri() {
    let f = Fixture::new();
    f.file("other/other/x.txt", "root + full uri\n");
    f.file("other/x.txt", "alias-like mapping\n");
    let s = f.start(&simple_conf("    location /other/ { root {dir}/other; }"));
    assert_eq!(get(s.port(), "/other/x.txt").body, b"root + full uri\n");
}

#[test]
fn head_of_a_fixed_return_has_no_body() {
    let s = location_server();
    let bytes = raw(s.port(), request("HEAD", "/fixed", ""));
    let all = parse_all(&bytes, &[true]);
    assert_eq!(all.len(), 1, "HEAD gets no body");
    assert_eq!(all[0].status, 200);
    assert_eq!(all[0].header("Content-Length"), Some("10"));
}

#[test]
fn listen_port_selects_the_server() {
    let f = Fixture::new();
    let port2 = common::free_port();
    let conf = format!(
        "server {{\n    listen 127.0.0.1:{{port}};\n    server_name same.test;\n    \
         return 200 \"one\";\n}}\nserver {{\n    listen 127.0.0.1:{port2};\n    \
         server_name same.test;\n    return 200 \"two\";\n}}\n"
    );
    let s = f.start(&conf);
    assert_eq!(get_host(s.port(), "same.test", "/").text(), "one");
    assert_eq!(get_host(port2, "same.test", "/").text(), "two");
    assert_eq!(get_host(port2, "other.test", "/").text(), "two");
}

#[test]
fn vhost_absolute_form_host_wins_over_host_header() {
    let s = vhost_server(true);
    let req = "GET http://exact.test/ HTTP/1.1\r\nHost: first.test\r\nConnection: close\r\n\r\n";
    assert_eq!(parse_one(&raw(s.port(), req)).text(), "exact");
}
