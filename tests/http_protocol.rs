//! The HTTP/1.1 core over real sockets: persistent connections, pipelining,
//! incremental parsing, HEAD, common headers, request framing and protocol errors.

mod common;

use std::time::Duration;

use common::{Conn, Fixture, TestServer, parse_all, parse_one, raw, request, simple_conf};

/// A server with three small files: /a.txt, /b.txt, /c.txt.
fn abc_server(extra: &str) -> TestServer {
    let f = Fixture::new();
    f.file("www/a.txt", "alpha\n");
    f.file("www/b.txt", "bravo!\n");
    f.file("www/c.txt", "charlie\n");
    f.start(&simple_conf(extra))
}

fn get11(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    c.send(format!(
        "{}{}{}",
        get11("/a.txt"),
        get11("/b.txt"),
        request("GET", "/c.txt", "")
    ));
    let all = parse_all(&c.read_to_eof(), &[]);
    let bodies: Vec<String> = all.iter().map(|r| r.text()).collect();
    assert_eq!(bodies, ["alpha\n", "bravo!\n", "charlie\n"]);
    assert!(all.iter().all(|r| r.status == 200));
}

#[test]
fn request_delivered_one_byte_at_a_time() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    c.send_slowly(request("GET", "/b.txt", ""), Duration::from_millis(2));
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"bravo!\n");
}

#[test]
fn http11_connection_stays_open_between_requests() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    let first = c.request(get11("/a.txt"));
    assert_eq!(first.status, 200);
    assert_eq!(first.header("Connection"), Some("keep-alive"));
    let second = c.request(get11("/b.txt"));
    assert_eq!(second.status, 200);
    assert_eq!(second.body, b"bravo!\n");
}

#[test]
fn connection_close_closes_after_the_response() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    let r = c.request(request("GET", "/a.txt", ""));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(3)));
}

#[test]
fn http10_closes_by_default() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    let r = c.request("GET /a.txt HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"alpha\n");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(3)));
}

#[test]
fn http10_keep_alive_stays_open() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    let req = |p: &str| format!("GET {p} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let first = c.request(req("/a.txt"));
    assert_eq!(first.status, 200);
    assert_eq!(first.header("Connection"), Some("keep-alive"));
    let second = c.request(req("/c.txt"));
    assert_eq!(second.body, b"charlie\n");
}

#[test]
fn keepalive_requests_limits_a_connection() {
    let s = abc_server("keepalive_requests 3;");
    let mut c = Conn::open(s.port());
    for _ in 0..2 {
        let r = c.request(get11("/a.txt"));
        assert_eq!(r.header("Connection"), Some("keep-alive"));
    }
    let last = c.request(get11("/a.txt"));
    assert_eq!(last.status, 200);
    assert_eq!(last.header("Connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(3)));
}

#[test]
fn head_has_get_headers_and_no_body() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    let head_req = "HEAD /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
    c.send(format!("{head_req}{}", request("GET", "/b.txt", "")));
    let all = parse_all(&c.read_to_eof(), &[true, false]);
    assert_eq!(all.len(), 2, "HEAD must not send a body");
    let (head, get) = (&all[0], &all[1]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for name in ["Content-Length", "Content-Type", "ETag", "Last-Modified"] {
        assert_eq!(head.header(name), get.header(name), "{name}");
    }
    assert_eq!(head.header("Content-Length"), Some("7"));
    assert_eq!(get.body, b"bravo!\n");
}

#[test]
fn every_response_has_date_and_server() {
    let s = abc_server("");
    let requests = [
        request("GET", "/a.txt", ""),
        request("GET", "/missing", ""),
        request("GET", "/", ""),
        request("POST", "/a.txt", "Content-Length: 0\r\n"),
        "GET / HTTP/1.1\r\n\r\n".to_owned(),
        "BREW / HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
    ];
    let mut statuses = Vec::new();
    for req in requests {
        let r = parse_one(&raw(s.port(), req));
        let date = r.header("Date").expect("Date");
        assert!(date.ends_with(" GMT") && date.len() == 29, "Date {date:?}");
        assert_eq!(
            r.header("Server"),
            Some(concat!("webserv/", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(r.count("Date"), 1);
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 404, 403, 405, 400, 501]);
}

#[test]
fn unknown_method_is_501() {
    let s = abc_server("");
    let r = parse_one(&raw(s.port(), request("BREW", "/a.txt", "")));
    assert_eq!(r.status, 501);
    assert_eq!(r.reason, "Not Implemented");
}

#[test]
fn http2_version_is_505() {
    let s = abc_server("");
    let r = parse_one(&raw(s.port(), "GET /a.txt HTTP/2.0\r\nHost: x\r\n\r\n"));
    assert_eq!(r.status, 505);
}

#[test]
fn http11_without_host_is_400() {
    let s = abc_server("");
    let r = parse_one(&raw(s.port(), "GET /a.txt HTTP/1.1\r\n\r\n"));
    assert_eq!(r.status, 400);
    assert_eq!(r.header("Connection"), Some("close"));
}

#[test]
fn garbage_is_400_and_closed() {
    let s = abc_server("");
    let r = parse_one(&raw(s.port(), "\x01\x02 nonsense \x7f\r\n\r\n"));
    assert_eq!(r.status, 400);
    assert_eq!(r.header("Connection"), Some("close"));
}

#[test]
fn content_length_with_transfer_encoding_is_400_and_closed() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    c.send(
        "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    let r = c.response();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(3)));
}

#[test]
fn differing_content_lengths_are_400() {
    let s = abc_server("");
    let req =
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
    assert_eq!(parse_one(&raw(s.port(), req)).status, 400);
}

#[test]
fn malformed_content_length_is_400() {
    let s = abc_server("");
    let req = "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n";
    assert_eq!(parse_one(&raw(s.port(), req)).status, 400);
}

#[test]
fn transfer_encoding_gzip_is_501() {
    let s = abc_server("");
    let req = "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n";
    assert_eq!(parse_one(&raw(s.port(), req)).status, 501);
}

/// A server with an upload location at /up/ storing into DIR/store.
fn upload_server(max_body: &str) -> TestServer {
    Fixture::new().start(&simple_conf(&format!(
        "    location /up/ {{\n        upload_store {{dir}}/store;\n        \
         allow_methods GET PUT POST;\n        client_max_body_size {max_body};\n    }}"
    )))
}

#[test]
fn expect_100_continue_comes_before_the_final_response() {
    let s = upload_server("1m");
    let mut c = Conn::open(s.port());
    c.send(
        "PUT /up/note.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\
         Expect: 100-continue\r\n\r\n",
    );
    let interim = c.try_response(false).expect("interim response");
    assert_eq!(interim.status, 100);
    assert_eq!(interim.version, "HTTP/1.1");
    assert_eq!(interim.reason, "Continue");
    assert!(
        c.pending().is_empty(),
        "nothing after the 100 before the body"
    );
    c.send("hello");
    let r = c.response();
    assert_eq!(r.status, 201);
    let stored = std::fs::read(s.dir().join("store/note.txt")).expect("stored file");
    assert_eq!(stored, b"hello");
}

#[test]
fn expect_100_continue_with_oversized_body_gets_413_only() {
    let s = upload_server("4");
    let mut c = Conn::open(s.port());
    c.send(
        "PUT /up/big.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\
         Expect: 100-continue\r\n\r\n",
    );
    let r = c.response();
    assert_eq!(r.status, 413);
}

#[test]
fn chunked_body_with_extensions_and_trailers_is_accepted() {
    let s = upload_server("1m");
    let mut c = Conn::open(s.port());
    let r = c.request(
        "PUT /up/chunks.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;name=value\r\nhello\r\n6;x;y=\"z\"\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let stored = std::fs::read(s.dir().join("store/chunks.txt")).expect("stored file");
    assert_eq!(stored, b"hello world");
    // The trailer was consumed: the connection is ready for the next request.
    let next = c.request(get11("/up/chunks.txt"));
    assert_eq!(
        next.status, 404,
        "no file under the root, but a clean parse"
    );
}

#[test]
fn many_pipelined_requests_in_one_write() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    let names = ["/a.txt", "/b.txt", "/c.txt", "/missing"];
    let mut batch = String::new();
    for i in 0..40 {
        batch.push_str(&get11(names[i % 4]));
    }
    batch.push_str(&request("GET", "/a.txt", ""));
    c.send(batch);
    let all = parse_all(&c.read_to_eof(), &[]);
    assert_eq!(all.len(), 41);
    for (i, r) in all.iter().take(40).enumerate() {
        let want = [200, 200, 200, 404][i % 4];
        assert_eq!(r.status, want, "response {i}");
    }
    assert_eq!(all[40].body, b"alpha\n");
}

#[test]
fn pipelined_big_file_then_small_file() {
    let f = Fixture::new();
    let big = common::pattern(5 << 20);
    f.file("www/big.bin", &big);
    f.file("www/a.txt", "alpha\n");
    let s = f.start(&simple_conf(""));
    let mut c = Conn::open(s.port());
    c.send(format!(
        "{}{}",
        get11("/big.bin"),
        request("GET", "/a.txt", "")
    ));
    let first = c.response();
    assert!(first.body == big, "big body differs");
    assert_eq!(c.response().body, b"alpha\n");
}

#[test]
fn pipelined_body_then_get() {
    let s = upload_server("1m");
    let mut c = Conn::open(s.port());
    c.send(format!(
        "PUT /up/p.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody{}",
        request("GET", "/up/none", "")
    ));
    let all = parse_all(&c.read_to_eof(), &[]);
    let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 404]);
    assert_eq!(std::fs::read(s.dir().join("store/p.txt")).unwrap(), b"body");
}

#[test]
fn bad_request_after_a_good_one_in_a_pipeline() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    c.send(format!("{}GET /b.txt HTTP/1.1\r\n\r\n", get11("/a.txt")));
    let all = parse_all(&c.read_to_eof(), &[]);
    let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 400]);
    assert_eq!(all[1].header("Connection"), Some("close"));
}

#[test]
fn head_of_a_missing_file_has_no_body() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    c.send(format!(
        "HEAD /missing HTTP/1.1\r\nHost: x\r\n\r\n{}",
        request("GET", "/a.txt", "")
    ));
    let all = parse_all(&c.read_to_eof(), &[true, false]);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].status, 404);
    assert_eq!(all[1].body, b"alpha\n");
}

#[test]
fn absolute_form_target_is_served() {
    let s = abc_server("");
    let req = "GET http://localhost/c.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(parse_one(&raw(s.port(), req)).body, b"charlie\n");
}

#[test]
fn duplicate_host_is_400() {
    let s = abc_server("");
    let req = "GET /a.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    assert_eq!(parse_one(&raw(s.port(), req)).status, 400);
}

#[test]
fn invalid_chunk_size_is_400() {
    let s = upload_server("1m");
    let req = "PUT /up/x.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n";
    assert_eq!(parse_one(&raw(s.port(), req)).status, 400);
    assert!(!s.dir().join("store/x.txt").exists());
}

#[test]
fn several_workers_serve_requests() {
    let f = Fixture::new();
    f.file("www/a.txt", "alpha\n");
    let s = f.start(&format!("worker_processes 3;\n{}", simple_conf("")));
    for _ in 0..20 {
        assert_eq!(common::get(s.port(), "/a.txt").body, b"alpha\n");
    }
}

#[test]
fn nul_in_a_header_value_is_400() {
    let s = abc_server("");
    let req = "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Bad: a\0b\r\n\r\n";
    assert_eq!(parse_one(&raw(s.port(), req)).status, 400);
}

#[test]
fn close_token_among_others_closes() {
    let s = abc_server("");
    let mut c = Conn::open(s.port());
    let r = c.request("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(3)));
}

#[test]
fn no_content_response_has_no_body() {
    let s = upload_server("1m");
    std::fs::create_dir_all(s.dir().join("store")).unwrap();
    std::fs::write(s.dir().join("store/r.txt"), "old").unwrap();
    let mut c = Conn::open(s.port());
    c.send(format!(
        "PUT /up/r.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nnew{}",
        request("GET", "/up/none", "")
    ));
    let all = parse_all(&c.read_to_eof(), &[]);
    let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [204, 404]);
    assert_eq!(all[0].header("Content-Length"), None);
    assert_eq!(std::fs::read(s.dir().join("store/r.txt")).unwrap(), b"new");
}

#[test]
fn chunked_request_split_at_every_offset() {
    let s = upload_server("1m");
    let req = "PUT /up/split.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
               3;e=1\r\nabc\r\n4\r\ndefg\r\n0\r\nT: v\r\n\r\n";
    for k in 1..req.len() {
        let mut c = Conn::open(s.port());
        c.send(&req[..k]);
        std::thread::sleep(Duration::from_millis(3));
        c.send(&req[k..]);
        let r = c.response();
        assert!([201, 204].contains(&r.status), "split at {k}: {}", r.status);
        let stored = std::fs::read(s.dir().join("store/split.txt")).unwrap();
        assert_eq!(stored, b"abcdefg", "split at {k}");
    }
}
