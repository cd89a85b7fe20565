//! The process around the connections: graceful shutdown on signals and startup
//! failures, through the real binary.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use common::{Conn, Fixture, TestServer, get, pattern, request, simple_conf, wait_child};

#[test]
fn sigterm_exits_zero() {
    let f = Fixture::new();
    f.file("www/a.txt", "a\n");
    let mut s = f.start(&simple_conf(""));
    assert_eq!(get(s.port(), "/a.txt").status, 200);
    s.signal(libc::SIGTERM);
    let status = s.wait_exit(Duration::from_secs(5)).expect("still running");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn sigint_exits_zero() {
    let mut s = TestServer::start(&simple_conf(""));
    s.signal(libc::SIGINT);
    let status = s.wait_exit(Duration::from_secs(5)).expect("still running");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn sigterm_with_an_idle_keepalive_connection_exits_zero() {
    let f = Fixture::new();
    f.file("www/a.txt", "a\n");
    let mut s = f.start(&simple_conf(""));
    let mut c = Conn::open(s.port());
    let r = c.request("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    s.signal(libc::SIGTERM);
    let status = s.wait_exit(Duration::from_secs(5)).expect("still running");
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(c.closed_within(Duration::from_secs(3)));
}

#[test]
fn sigterm_finishes_the_response_in_flight() {
    // More than the loopback socket buffers hold, so the response is still being
    // written when the signal arrives.
    const SIZE: usize = 24 << 20;
    let f = Fixture::new();
    let data = pattern(SIZE);
    f.file("www/big.bin", &data);
    let mut s = f.start(&simple_conf(""));
    let mut c = Conn::open(s.port());
    c.send(request("GET", "/big.bin", ""));
    std::thread::sleep(Duration::from_millis(100));
    s.signal(libc::SIGTERM);
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(r.body == data, "body differs ({} bytes)", r.body.len());
    assert!(c.closed_within(Duration::from_secs(3)));
    drop(c);
    let status = s.wait_exit(Duration::from_secs(5)).expect("still running");
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn bind_failure_exits_1_naming_address_and_config_position() {
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = holder.local_addr().expect("addr").port();
    let f = Fixture::new();
    let conf = format!(
        "error_log stderr warn;\nserver {{\n    listen 127.0.0.1:{port};\n    root {{root}};\n}}\n"
    );
    let mut child = f.spawn(&conf);
    let status = wait_child(&mut child, Duration::from_secs(5)).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("webserv kept running on a taken port:\n{}", f.log())
    });
    assert_eq!(status.code(), Some(1), "{status}");
    let log = f.log();
    // Line 3, column 12: the address argument of `listen`.
    let want = format!(
        "webserv: {}:3:12: bind() to 127.0.0.1:{port} failed",
        f.conf_path().display()
    );
    assert!(log.contains(&want), "no {want:?} in: {log}");
    drop(holder);
}

#[test]
fn sigterm_with_a_stuck_half_request_exits_within_the_grace_period() {
    let mut s = TestServer::start(&simple_conf(""));
    let mut c = Conn::open(s.port());
    c.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n");
    std::thread::sleep(Duration::from_millis(200));
    s.signal(libc::SIGTERM);
    let status = s.wait_exit(Duration::from_secs(10)).expect("still running");
    assert_eq!(status.code(), Some(0), "{status}");
    let rest = c.read_to_eof();
    if !rest.is_empty() {
        assert!(rest.starts_with(b"HTTP/1.1 "), "{rest:?}");
    }
}
