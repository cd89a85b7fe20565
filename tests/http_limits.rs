//! Limits and timeouts over real sockets: head size (414/431), body size (413),
//! slow clients, idle and incomplete connections.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{Conn, Fixture, TestServer, parse_one, raw, request, simple_conf};

fn small_head_server() -> TestServer {
    let f = Fixture::new();
    f.file("www/a.txt", "a\n");
    f.start(&simple_conf("    client_header_buffer_size 1k;"))
}

#[test]
fn long_uri_is_414() {
    let s = small_head_server();
    let path = format!("/{}", "a".repeat(2000));
    let r = parse_one(&raw(s.port(), request("GET", &path, "")));
    assert_eq!(r.status, 414);
    assert_eq!(r.header("Connection"), Some("close"));
}

#[test]
fn big_headers_are_431() {
    let s = small_head_server();
    let extra: String = (0..20)
        .map(|i| format!("X-Filler-{i}: {}\r\n", "v".repeat(60)))
        .collect();
    let r = parse_one(&raw(s.port(), request("GET", "/a.txt", &extra)));
    assert_eq!(r.status, 431);
}

#[test]
fn head_just_under_the_limit_is_accepted() {
    let s = small_head_server();
    let extra = format!("X-Filler: {}\r\n", "v".repeat(800));
    let r = parse_one(&raw(s.port(), request("GET", "/a.txt", &extra)));
    assert_eq!(r.status, 200);
}

/// Upload location /up/ (store DIR/store) with `client_max_body_size 16`.
fn small_body_server() -> TestServer {
    let f = Fixture::new();
    f.mkdir("store");
    f.start(&simple_conf(
        "    location /up/ {\n        upload_store {dir}/store;\n        \
         allow_methods GET PUT POST;\n        client_max_body_size 16;\n    }",
    ))
}

fn store_entries(s: &TestServer) -> Vec<String> {
    std::fs::read_dir(s.dir().join("store"))
        .expect("store dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn content_length_over_limit_is_413_before_the_body() {
    let s = small_body_server();
    let mut c = Conn::open(s.port());
    // The head alone: the answer must come without the body being sent.
    c.send("PUT /up/big.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(store_entries(&s).is_empty(), "{:?}", store_entries(&s));
}

#[test]
fn body_at_the_limit_is_accepted() {
    let s = small_body_server();
    let body = "0123456789abcdef";
    let req = format!(
        "PUT /up/ok.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{body}"
    );
    assert_eq!(parse_one(&raw(s.port(), req)).status, 201);
    assert_eq!(store_entries(&s), ["ok.txt"]);
}

#[test]
fn chunked_total_over_limit_is_413() {
    let s = small_body_server();
    let mut c = Conn::open(s.port());
    c.send("PUT /up/big.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    c.send("a\r\n0123456789\r\n");
    c.send("a\r\n0123456789\r\n");
    let r = c.response();
    assert_eq!(r.status, 413);
    assert!(store_entries(&s).is_empty(), "{:?}", store_entries(&s));
}

#[test]
fn slow_client_does_not_delay_another() {
    let f = Fixture::new();
    f.file("www/a.txt", "a\n");
    let s = f.start(&simple_conf(""));
    let port = s.port();
    let req = request("GET", "/a.txt", "");
    let (first, rest) = req.as_bytes().split_at(10);
    let (first, rest) = (first.to_vec(), rest.to_vec());
    let slow = thread::spawn(move || {
        let mut c = Conn::open(port);
        c.send_slowly(&first, Duration::from_millis(200));
        c.send(&rest);
        c.response()
    });
    thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let fast = common::get(port, "/a.txt");
    let elapsed = started.elapsed();
    assert_eq!(fast.status, 200);
    assert!(
        elapsed < Duration::from_secs(1),
        "fast client took {elapsed:?}"
    );
    let slow = slow.join().expect("slow client thread");
    assert_eq!(slow.status, 200);
    assert_eq!(slow.body, b"a\n");
}

#[test]
fn idle_keepalive_connection_is_closed_after_timeout() {
    let f = Fixture::new();
    f.file("www/a.txt", "a\n");
    let s = f.start(&simple_conf("    keepalive_timeout 1s;"));
    let mut c = Conn::open(s.port());
    let r = c.request("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    let started = Instant::now();
    assert!(c.closed_within(Duration::from_secs(5)), "still open");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(500),
        "closed too early: {elapsed:?}"
    );
}

#[test]
fn partial_head_times_out_with_408_or_close() {
    let s = TestServer::start(&simple_conf("    client_header_timeout 1s;"));
    let mut c = Conn::open(s.port());
    c.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n");
    let started = Instant::now();
    let rest = c.read_to_eof();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    if !rest.is_empty() {
        let r = parse_one(&rest);
        assert_eq!(r.status, 408);
    }
}

#[test]
fn silent_connection_is_closed_after_header_timeout() {
    let s = TestServer::start(&simple_conf("    client_header_timeout 1s;"));
    let mut c = Conn::open(s.port());
    let started = Instant::now();
    assert!(c.closed_within(Duration::from_secs(5)), "still open");
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[test]
fn oversized_body_sent_anyway_still_gets_413() {
    let s = small_body_server();
    let mut c = Conn::open(s.port());
    let body = vec![b'x'; 256 * 1024];
    let head = format!(
        "PUT /up/big.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send(head);
    c.send(&body);
    let r = c.response();
    assert_eq!(r.status, 413);
}

#[test]
fn stalled_body_times_out_with_408_or_close() {
    let f = Fixture::new();
    f.mkdir("store");
    let s = f.start(&simple_conf(
        "    client_body_timeout 1s;\n    location /up/ {\n        \
         upload_store {dir}/store;\n        allow_methods PUT;\n    }",
    ));
    let mut c = Conn::open(s.port());
    c.send("PUT /up/stalled.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    let started = Instant::now();
    let rest = c.read_to_eof();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    if !rest.is_empty() {
        assert_eq!(parse_one(&rest).status, 408);
    }
    assert!(store_entries(&s).is_empty(), "{:?}", store_entries(&s));
}

#[test]
fn client_that_stops_reading_is_dropped_after_send_timeout() {
    const SIZE: u64 = 256 << 20;
    let f = Fixture::new();
    // Sparse: big enough that socket buffers cannot hold the response.
    let big = f.file("www/huge.bin", "");
    std::fs::File::options()
        .write(true)
        .open(&big)
        .and_then(|file| file.set_len(SIZE))
        .expect("set_len");
    let s = f.start(&simple_conf("    send_timeout 1s;"));
    let mut c = Conn::open(s.port());
    c.send("GET /huge.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    thread::sleep(Duration::from_millis(2500));
    let got = c.read_to_eof();
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!((got.len() as u64) < SIZE, "whole body sent: {}", got.len());
}

#[test]
fn body_over_limit_on_a_static_location_is_413() {
    let f = Fixture::new();
    f.file("www/a.txt", "a\n");
    let s = f.start(&simple_conf("    client_max_body_size 1k;"));
    let req = request("GET", "/a.txt", "Content-Length: 2048\r\n");
    assert_eq!(parse_one(&raw(s.port(), req)).status, 413);
}

#[test]
fn zero_body_limit_means_unlimited() {
    let f = Fixture::new();
    f.mkdir("store");
    let s = f.start(&simple_conf(
        "    client_max_body_size 0;\n    location /up/ {\n        \
         upload_store {dir}/store;\n        allow_methods PUT;\n    }",
    ));
    let body = vec![b'z'; 3 << 20];
    let mut c = Conn::open(s.port());
    c.send(request(
        "PUT",
        "/up/big.bin",
        &format!("Content-Length: {}\r\n", body.len()),
    ));
    c.send(&body);
    assert_eq!(c.response().status, 201);
    let stored = std::fs::read(s.dir().join("store/big.bin")).expect("stored");
    assert!(stored == body, "stored body differs");
}

#[test]
fn pipeline_longer_than_the_head_buffer() {
    let s = small_head_server();
    let mut c = Conn::open(s.port());
    let one = "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut batch = one.repeat(100);
    batch.push_str(&request("GET", "/a.txt", ""));
    assert!(batch.len() > 2048);
    c.send(batch);
    let all = common::parse_all(&c.read_to_eof(), &[]);
    assert_eq!(all.len(), 101);
    assert!(all.iter().all(|r| r.status == 200 && r.body == b"a\n"));
}

#[test]
fn keepalive_timeout_zero_disables_keep_alive() {
    let f = Fixture::new();
    f.file("www/a.txt", "a\n");
    let s = f.start(&simple_conf("    keepalive_timeout 0;"));
    let mut c = Conn::open(s.port());
    let r = c.request("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    // nginx: "The zero value disables keep-alive client connections", so the
    // response must not promise a connection that is closed right after it.
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(3)));
}

/// Two servers on one port: the default with the defaults, `b.test` with its own
/// keep-alive settings.
fn vhost_keepalive_server() -> TestServer {
    let f = Fixture::new();
    f.file("www/a.txt", "a\n");
    f.start(
        "error_log stderr warn;\n\
         server {\n    listen 127.0.0.1:{port};\n    root {root};\n}\n\
         server {\n    listen 127.0.0.1:{port};\n    server_name b.test;\n    \
         root {root};\n    keepalive_requests 2;\n    keepalive_timeout 1s;\n}\n",
    )
}

#[test]
fn keepalive_requests_of_a_named_vhost_applies() {
    let s = vhost_keepalive_server();
    let mut c = Conn::open(s.port());
    let req = "GET /a.txt HTTP/1.1\r\nHost: b.test\r\n\r\n";
    assert_eq!(c.request(req).header("Connection"), Some("keep-alive"));
    assert_eq!(c.request(req).header("Connection"), Some("close"));
    assert!(c.closed_within(Duration::from_secs(3)));
}

#[test]
fn keepalive_timeout_of_a_named_vhost_applies() {
    let s = vhost_keepalive_server();
    let mut c = Conn::open(s.port());
    let r = c.request("GET /a.txt HTTP/1.1\r\nHost: b.test\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(
        c.closed_within(Duration::from_secs(4)),
        "open after 4 s (timeout 1s)"
    );
}
