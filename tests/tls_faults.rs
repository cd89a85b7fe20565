//! A TLS port under bad or slow peers: a client that stops mid-handshake, plain
//! HTTP, garbage, TLS records split across many reads, and a client that reads
//! one byte at a time. Nobody else may wait on any of them.

mod common;
mod tls_util;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{Fixture, TestServer, pattern};
use tls_util::{Ca, Trickle, connect, get_req, over, tcp};

/// A TLS server for localhost with a short header timeout.
fn start(ca: &Ca, files: &[(&str, &[u8])]) -> TestServer {
    let f = Fixture::new();
    ca.issue_files(f.dir(), "site", &["localhost"]);
    for (name, data) in files {
        f.file(&format!("www/{name}"), data);
    }
    f.start(
        "error_log stderr warn;\nserver {\n    listen 127.0.0.1:{port} ssl;\n    \
         server_name localhost;\n    root {root};\n    client_header_timeout 1s;\n    \
         ssl_certificate {dir}/site.pem;\n    ssl_certificate_key {dir}/site.key;\n}\n",
    )
}

/// A real ClientHello, as the first bytes a rustls client writes.
fn client_hello(ca: &Ca) -> Vec<u8> {
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut conn = rustls::ClientConnection::new(ca.client(), name).expect("client");
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).expect("hello");
    hello
}

/// Reads until EOF or reset; what arrived, and whether it ended within `limit`.
fn read_until_closed(sock: &mut std::net::TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    sock.set_read_timeout(Some(limit)).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (got, true),
            Err(_) => return (got, false),
        }
    }
}

/// Another client is served at once.
fn others_are_served(ca: &Ca, port: u16) {
    let mut c = connect(port, "localhost", &ca.client());
    assert_eq!(c.request(get_req("/", "localhost")).status, 200);
}

#[test]
fn a_client_stopping_mid_handshake_times_out_and_blocks_nobody() {
    let ca = Ca::new();
    let server = start(&ca, &[("index.html", b"ok")]);
    let hello = client_hello(&ca);
    let mut silent = Vec::new();
    for cut in [0, 5, hello.len() / 2, hello.len()] {
        let mut s = tcp(server.port());
        s.write_all(&hello[..cut]).expect("send part");
        silent.push(s);
    }
    others_are_served(&ca, server.port());
    let started = Instant::now();
    for mut s in silent {
        let (_, closed) = read_until_closed(&mut s, Duration::from_secs(5));
        assert!(closed, "a stalled handshake was not closed");
    }
    // client_header_timeout is 1s; the timer may fire a little late.
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn plain_http_to_the_tls_port_gets_nginx_400() {
    let ca = Ca::new();
    let server = start(&ca, &[("index.html", b"ok")]);
    let mut s = tcp(server.port());
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(5));
    assert!(closed);
    let resp = common::parse_one(&got);
    assert_eq!(resp.status, 400);
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(
        resp.text()
            .contains("The plain HTTP request was sent to HTTPS port"),
        "{}",
        resp.text()
    );
    others_are_served(&ca, server.port());
}

#[test]
fn garbage_gets_an_alert_or_a_close() {
    let ca = Ca::new();
    let server = start(&ca, &[("index.html", b"ok")]);
    // A handshake record holding a ClientHello of nonsense: rustls answers with an
    // alert record (content type 21) and the connection closes.
    let mut s = tcp(server.port());
    let mut junk = vec![0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c];
    junk.extend(pattern(60));
    s.write_all(&junk).expect("send");
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(5));
    assert!(closed);
    assert_eq!(got.first(), Some(&0x15), "expected an alert, got {got:?}");
    // Binary bytes that are not TLS at all: closed with a plain 400, as nginx does.
    let mut s = tcp(server.port());
    s.write_all(&[0u8, 1, 2, 3, 0xff, b'\r', b'\n', b'\r', b'\n'])
        .expect("send");
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(5));
    assert!(closed);
    assert!(
        got.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    others_are_served(&ca, server.port());
}

#[test]
fn records_split_across_many_reads() {
    let ca = Ca::new();
    let body = pattern(100_000);
    let server = start(&ca, &[("index.html", b"ok"), ("p.bin", &body)]);
    for chunk in [1, 3, 7, 100] {
        let sock = Trickle {
            sock: tcp(server.port()),
            chunk,
            pause: Duration::from_micros(200),
        };
        let mut c = over(sock, "localhost", &ca.client());
        let resp = c.request(get_req("/p.bin", "localhost"));
        assert_eq!(resp.status, 200, "chunk {chunk}");
        assert!(resp.body == body, "chunk {chunk}: body differs");
    }
}

#[test]
fn a_client_reading_one_byte_at_a_time() {
    let ca = Ca::new();
    let body = pattern(300_000);
    let server = start(&ca, &[("index.html", b"ok"), ("p.bin", &body)]);
    let sock = tcp(server.port());
    let sock2 = socket2::SockRef::from(&sock);
    sock2.set_recv_buffer_size(4096).expect("rcvbuf");
    let trickle = Trickle {
        sock,
        chunk: 1,
        pause: Duration::ZERO,
    };
    let mut slow = over(trickle, "localhost", &ca.client());
    slow.send(get_req("/p.bin", "localhost"));
    // While the slow reader holds its response back, others are served.
    others_are_served(&ca, server.port());
    let resp = slow.response();
    assert!(resp.body == body, "body differs");
}

#[test]
fn many_handshakes_in_a_row() {
    let ca = Ca::new();
    let server = start(&ca, &[("index.html", b"ok")]);
    let config = ca.client();
    for _ in 0..50 {
        let mut c = connect(server.port(), "localhost", &config);
        let resp = c.request("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        assert_eq!(resp.text(), "ok");
        assert!(c.read_to_eof().is_empty());
    }
}
