//! Static content over real sockets: files, index, directory redirects, autoindex,
//! conditional requests, ranges and large files.

mod common;

use std::time::Duration;

use common::{Conn, Fixture, TestServer, get, get_with, parse_all, pattern, request, simple_conf};

#[test]
fn file_is_served_with_type_and_length() {
    let f = Fixture::new();
    f.file("www/page.html", "<p>hi</p>\n");
    let s = f.start(&simple_conf(""));
    let r = get(s.port(), "/page.html");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/html"));
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.body, b"<p>hi</p>\n");
}

#[test]
fn directory_without_slash_redirects_keeping_the_query() {
    let f = Fixture::new();
    f.file("www/dir/index.html", "idx");
    let s = f.start(&simple_conf(""));
    let r = get(s.port(), "/dir?x=1&y=2");
    assert_eq!(r.status, 301);
    let location = r.header("Location").expect("Location");
    assert!(location.ends_with("/dir/?x=1&y=2"), "Location {location:?}");
}

#[test]
fn directory_serves_its_index_file() {
    let f = Fixture::new();
    f.file("www/dir/index.html", "the index\n");
    let s = f.start(&simple_conf(""));
    let r = get(s.port(), "/dir/");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"the index\n");
}

#[test]
fn index_directive_picks_the_first_existing_file() {
    let f = Fixture::new();
    f.file("www/dir/second.txt", "second\n");
    f.file("www/dir/third.txt", "third\n");
    let s = f.start(&simple_conf("    index first.txt second.txt third.txt;"));
    assert_eq!(get(s.port(), "/dir/").body, b"second\n");
}

#[test]
fn directory_without_index_and_autoindex_off_is_403() {
    let f = Fixture::new();
    f.file("www/dir/other.txt", "x");
    let s = f.start(&simple_conf(""));
    let r = get(s.port(), "/dir/");
    assert_eq!(r.status, 403);
    assert!(!r.text().contains("other.txt"));
}

#[test]
fn autoindex_escapes_names_and_encodes_hrefs() {
    let f = Fixture::new();
    f.file("www/list/a <b>&c.txt", "12345");
    f.mkdir("www/list/sub dir");
    let s = f.start(&simple_conf("    autoindex on;"));
    let r = get(s.port(), "/list/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    assert!(
        html.contains("<a href=\"a%20%3Cb%3E%26c.txt\">a &lt;b&gt;&amp;c.txt</a>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"sub%20dir/\">sub dir/</a>"),
        "{html}"
    );
    assert!(
        !html.contains("<b>"),
        "raw name leaked into the HTML: {html}"
    );
}

#[test]
fn etag_and_last_modified_are_sent() {
    let f = Fixture::new();
    f.file("www/v.txt", "validators\n");
    let s = f.start(&simple_conf(""));
    let r = get(s.port(), "/v.txt");
    let etag = r.header("ETag").expect("ETag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "ETag {etag:?}"
    );
    let lm = r.header("Last-Modified").expect("Last-Modified");
    assert!(
        lm.ends_with(" GMT") && lm.len() == 29,
        "Last-Modified {lm:?}"
    );
}

#[test]
fn if_none_match_gives_304_without_body() {
    let f = Fixture::new();
    f.file("www/v.txt", "validators\n");
    let s = f.start(&simple_conf(""));
    let etag = get(s.port(), "/v.txt").header("ETag").unwrap().to_owned();
    let mut c = Conn::open(s.port());
    let cond = format!("GET /v.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n");
    c.send(format!("{cond}{}", request("GET", "/v.txt", "")));
    let all = parse_all(&c.read_to_eof(), &[]);
    assert_eq!(all.len(), 2, "a 304 carries no body");
    assert_eq!(all[0].status, 304);
    assert_eq!(all[0].header("ETag"), Some(etag.as_str()));
    assert_eq!(all[1].status, 200);
    assert_eq!(all[1].body, b"validators\n");
}

#[test]
fn if_none_match_with_another_etag_gives_200() {
    let f = Fixture::new();
    f.file("www/v.txt", "validators\n");
    let s = f.start(&simple_conf(""));
    let r = get_with(s.port(), "/v.txt", "If-None-Match: \"nope\"\r\n");
    assert_eq!(r.status, 200);
}

#[test]
fn if_modified_since_gives_304() {
    let f = Fixture::new();
    f.file("www/v.txt", "validators\n");
    let s = f.start(&simple_conf(""));
    let lm = get(s.port(), "/v.txt")
        .header("Last-Modified")
        .unwrap()
        .to_owned();
    let r = get_with(s.port(), "/v.txt", &format!("If-Modified-Since: {lm}\r\n"));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Length"), None);
}

#[test]
fn if_modified_since_before_mtime_gives_200() {
    let f = Fixture::new();
    f.file("www/v.txt", "validators\n");
    let s = f.start(&simple_conf(""));
    let old = "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
    assert_eq!(get_with(s.port(), "/v.txt", old).status, 200);
}

/// A server with /digits.txt = "0123456789abcdefghij" (20 bytes).
fn digits_server() -> TestServer {
    let f = Fixture::new();
    f.file("www/digits.txt", "0123456789abcdefghij");
    f.start(&simple_conf(""))
}

#[test]
fn range_prefix_is_206() {
    let s = digits_server();
    let r = get_with(s.port(), "/digits.txt", "Range: bytes=0-9\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 0-9/20"));
    assert_eq!(r.header("Content-Length"), Some("10"));
    assert_eq!(r.body, b"0123456789");
}

#[test]
fn range_suffix_is_the_last_bytes() {
    let s = digits_server();
    let r = get_with(s.port(), "/digits.txt", "Range: bytes=-5\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 15-19/20"));
    assert_eq!(r.body, b"fghij");
}

#[test]
fn range_open_end_is_the_rest() {
    let s = digits_server();
    let r = get_with(s.port(), "/digits.txt", "Range: bytes=12-\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 12-19/20"));
    assert_eq!(r.body, b"cdefghij");
}

#[test]
fn range_past_the_end_is_416() {
    let s = digits_server();
    let r = get_with(s.port(), "/digits.txt", "Range: bytes=20-\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */20"));
    assert!(!r.text().contains("0123"));
}

/// Writes a 20 MiB file, fetches it and compares every byte.
fn big_file_roundtrip(sendfile: &str) {
    const SIZE: usize = 20 << 20;
    let f = Fixture::new();
    let data = pattern(SIZE);
    f.file("www/big.bin", &data);
    let s = f.start(&simple_conf(&format!("    sendfile {sendfile};")));
    let r = get(s.port(), "/big.bin");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some(SIZE.to_string().as_str()));
    assert_eq!(r.body.len(), SIZE);
    let mismatch = r.body.iter().zip(&data).position(|(a, b)| a != b);
    assert_eq!(mismatch, None, "first differing byte");
}

#[test]
fn big_file_is_byte_exact_with_sendfile_on() {
    big_file_roundtrip("on");
}

#[test]
fn big_file_is_byte_exact_with_sendfile_off() {
    big_file_roundtrip("off");
}

#[test]
fn big_file_range_from_the_middle() {
    const SIZE: usize = 3 << 20;
    let f = Fixture::new();
    let data = pattern(SIZE);
    f.file("www/big.bin", &data);
    let s = f.start(&simple_conf(""));
    let start = 1_000_003;
    let r = get_with(s.port(), "/big.bin", &format!("Range: bytes={start}-\r\n"));
    assert_eq!(r.status, 206);
    assert!(r.body == data[start..], "range body differs");
}

#[test]
fn big_file_head_sends_no_body() {
    let f = Fixture::new();
    f.file("www/big.bin", pattern(1 << 20));
    let s = f.start(&simple_conf(""));
    let mut c = Conn::open(s.port());
    c.send(request("HEAD", "/big.bin", ""));
    let r = c.head_response();
    assert_eq!(r.header("Content-Length"), Some("1048576"));
    assert!(c.closed_within(Duration::from_secs(3)), "bytes after HEAD");
}

// ---- nothing outside the root ---------------------------------------------------

const SECRET: &str = "TOP-SECRET-7f3a9c";

/// A root with /pub.txt, a secret file next to the root (DIR/secret.txt) and in a
/// sibling directory (DIR/outside/secret.txt), and `location /img` aliased to
/// DIR/images without a trailing slash: the classic `/img../` trap, where the alias
/// plus `../secret.txt` names DIR/secret.txt, which exists.
fn guarded_server() -> TestServer {
    let f = Fixture::new();
    f.file("www/pub.txt", "public\n");
    f.file("images/p.txt", "picture\n");
    f.file("secret.txt", SECRET);
    f.file("outside/secret.txt", SECRET);
    f.start(&simple_conf(
        "    location /img {\n        alias {dir}/images;\n    }",
    ))
}

/// Sends `target` raw and asserts the secret never appears and it is no 200.
fn assert_no_leak(s: &TestServer, target: &str) -> u16 {
    let bytes = common::raw(s.port(), request("GET", target, ""));
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(SECRET), "{target} leaked: {text}");
    let r = common::parse_one(&bytes);
    assert_ne!(r.status, 200, "{target}");
    r.status
}

#[test]
fn traversal_attempts_never_leave_the_root() {
    let s = guarded_server();
    let targets = [
        "/../secret.txt",
        "/../../secret.txt",
        "/a/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/..%2fsecret.txt",
        "/..%2f..%2fsecret.txt",
        "/%252e%252e/secret.txt",
        "/%252e%252e%252fsecret.txt",
        "/..\\secret.txt",
        "/%5c..%5csecret.txt",
        "/..%5csecret.txt",
        "//../secret.txt",
        "//..//outside//secret.txt",
        "/./.././secret.txt",
        "/img/../secret.txt",
        "/img/..%2f..%2fsecret.txt",
        "/img/%2e%2e/%2e%2e/secret.txt",
    ];
    for t in targets {
        let status = assert_no_leak(&s, t);
        assert!([400, 403, 404].contains(&status), "{t}: {status}");
    }
}

#[test]
fn alias_prefix_without_slash_does_not_escape() {
    let s = guarded_server();
    assert_eq!(get(s.port(), "/img/p.txt").body, b"picture\n");
    // nginx would map this to ALIAS/../secret.txt (which exists); an alias location
    // only matches at a segment boundary, so the root's location answers: no such file.
    assert_eq!(assert_no_leak(&s, "/img../secret.txt"), 404);
}

#[test]
fn absolute_form_target_cannot_escape() {
    let s = guarded_server();
    assert_no_leak(&s, "http://localhost/../secret.txt");
    assert_no_leak(&s, "http://localhost/%2e%2e/secret.txt");
}

#[test]
fn encoded_nul_is_400() {
    let s = guarded_server();
    assert_eq!(get(s.port(), "/pub.txt%00.html").status, 400);
}

#[test]
fn malformed_escape_is_400() {
    let s = guarded_server();
    assert_eq!(get(s.port(), "/pub%zz.txt").status, 400);
    assert_eq!(get(s.port(), "/pub.txt%2").status, 400);
}

#[test]
fn symlink_to_a_file_outside_is_refused() {
    let f = Fixture::new();
    f.file("secret.txt", SECRET);
    f.symlink("www/leak.txt", f.dir().join("secret.txt"));
    f.symlink("www/rel-leak.txt", "../secret.txt");
    let s = f.start(&simple_conf(""));
    for t in ["/leak.txt", "/rel-leak.txt"] {
        let status = assert_no_leak(&s, t);
        assert!([403, 404].contains(&status), "{t}: {status}");
    }
}

#[test]
fn symlinked_directory_outside_is_refused() {
    let f = Fixture::new();
    f.file("outside/secret.txt", SECRET);
    f.symlink("www/out", f.dir().join("outside"));
    let s = f.start(&simple_conf("    autoindex on;"));
    for t in ["/out/secret.txt", "/out/"] {
        let status = assert_no_leak(&s, t);
        assert!([403, 404].contains(&status), "{t}: {status}");
    }
    let listing = get(s.port(), "/out/").text();
    assert!(!listing.contains("secret.txt"), "{listing}");
}

#[test]
fn symlink_inside_the_root_is_served() {
    let f = Fixture::new();
    f.file("www/real/target.txt", "target\n");
    f.symlink("www/link.txt", "real/target.txt");
    f.symlink("www/linkdir", f.root().join("real"));
    let s = f.start(&simple_conf(""));
    assert_eq!(get(s.port(), "/link.txt").body, b"target\n");
    assert_eq!(get(s.port(), "/linkdir/target.txt").body, b"target\n");
}

#[test]
fn directory_redirect_percent_encodes_the_location() {
    let f = Fixture::new();
    f.file("www/my dir/index.html", "idx");
    let s = f.start(&simple_conf(""));
    let r = get(s.port(), "/my%20dir?q");
    assert_eq!(r.status, 301);
    let location = r.header("Location").expect("Location");
    assert!(location.ends_with("/my%20dir/?q"), "Location {location:?}");
}

#[test]
fn file_path_with_trailing_slash_is_404() {
    let f = Fixture::new();
    f.file("www/a.txt", "a\n");
    let s = f.start(&simple_conf(""));
    assert_eq!(get(s.port(), "/a.txt/").status, 404);
}

#[test]
fn if_range_mismatch_sends_the_whole_file() {
    let s = digits_server();
    let r = get_with(
        s.port(),
        "/digits.txt",
        "Range: bytes=0-3\r\nIf-Range: \"other\"\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"0123456789abcdefghij");
}

#[test]
fn if_range_match_sends_the_range() {
    let s = digits_server();
    let etag = get(s.port(), "/digits.txt")
        .header("ETag")
        .unwrap()
        .to_owned();
    let extra = format!("Range: bytes=0-3\r\nIf-Range: {etag}\r\n");
    let r = get_with(s.port(), "/digits.txt", &extra);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, b"0123");
}

#[test]
fn unknown_extension_gets_default_type() {
    let f = Fixture::new();
    f.file("www/blob.zzqx", "?");
    f.file("www/plain.zzqy", "?");
    let s = f.start(&simple_conf(
        "    location /t/ { default_type text/x-custom; alias {root}/; }",
    ));
    let r = get(s.port(), "/blob.zzqx");
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    let r = get(s.port(), "/t/plain.zzqy");
    assert_eq!(r.header("Content-Type"), Some("text/x-custom"));
}

#[test]
fn if_none_match_mismatch_wins_over_if_modified_since() {
    let f = Fixture::new();
    f.file("www/v.txt", "validators\n");
    let s = f.start(&simple_conf(""));
    let lm = get(s.port(), "/v.txt")
        .header("Last-Modified")
        .unwrap()
        .to_owned();
    let extra = format!("If-None-Match: \"nope\"\r\nIf-Modified-Since: {lm}\r\n");
    assert_eq!(get_with(s.port(), "/v.txt", &extra).status, 200);
}
