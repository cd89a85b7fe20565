//! HTTPS through the real binary with a rustls client and a CA made at test time:
//! handshake and ALPN, static files small and large, uploads, CGI, pipelining,
//! keep-alive, SNI between certificates (exact, wildcard and regex names), 421, and a SIGHUP that brings a new
//! certificate without dropping the connections already open.

mod common;
mod tls_util;

use common::{Fixture, TestServer, pattern};
use tls_util::{Ca, connect, get_req};

/// One TLS server for `localhost` / 127.0.0.1 on {port}, certificate `site`.
fn tls_conf(extra: &str) -> String {
    format!(
        "error_log stderr warn;\nserver {{\n    listen 127.0.0.1:{{port}} ssl;\n    \
         server_name localhost;\n    root {{root}};\n    \
         ssl_certificate {{dir}}/site.pem;\n    ssl_certificate_key {{dir}}/site.key;\n\
         {extra}\n}}\n"
    )
}

/// A fixture with a `site` certificate from `ca` for localhost and 127.0.0.1.
fn fixture(ca: &Ca) -> Fixture {
    let f = Fixture::new();
    ca.issue_files(f.dir(), "site", &["localhost", "127.0.0.1"]);
    f
}

#[test]
fn handshake_get_and_alpn() {
    let ca = Ca::new();
    let f = fixture(&ca);
    f.file("www/index.html", "hello over tls\n");
    let server = f.start(&tls_conf(""));
    let mut c = connect(server.port(), "localhost", &ca.client());
    let resp = c.request(get_req("/", "localhost"));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello over tls\n");
    assert_eq!(c.tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        c.tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    // By IP address: no SNI, the default server's certificate.
    let mut c = connect(server.port(), "127.0.0.1", &ca.client());
    assert_eq!(c.request(get_req("/", "127.0.0.1")).status, 200);
}

#[test]
fn tls12_works_when_configured_alone() {
    let ca = Ca::new();
    let f = fixture(&ca);
    f.file("www/index.html", "v12");
    let server = f.start(&tls_conf(
        "ssl_protocols TLSv1.2; ssl_ciphers ECDHE-ECDSA-AES256-GCM-SHA384;",
    ));
    let mut c = connect(server.port(), "localhost", &ca.client());
    assert_eq!(c.request(get_req("/", "localhost")).text(), "v12");
    assert_eq!(
        c.tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let suite = c.tls.conn.negotiated_cipher_suite().expect("suite").suite();
    assert_eq!(
        suite,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    );
}

#[test]
fn large_file_with_and_without_sendfile() {
    let ca = Ca::new();
    let f = fixture(&ca);
    let data = pattern(5 << 20);
    f.file("www/big.bin", &data);
    f.file("www/off/big.bin", &data);
    let server = f.start(&tls_conf("location /off/ { sendfile off; }"));
    let mut c = connect(server.port(), "localhost", &ca.client());
    for path in ["/big.bin", "/off/big.bin"] {
        let resp = c.request(get_req(path, "localhost"));
        assert_eq!(resp.status, 200, "{path}");
        assert!(resp.body == data, "{path}: body differs");
    }
    let resp = c.request(
        "GET /big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=1000000-1999999\r\n\r\n",
    );
    assert_eq!(resp.status, 206);
    assert!(resp.body == data[1_000_000..2_000_000]);
}

#[test]
fn upload_over_tls() {
    let ca = Ca::new();
    let f = fixture(&ca);
    f.mkdir("up");
    let server = f.start(&tls_conf(
        "location /up/ { allow_methods PUT GET; upload_store {dir}/up; client_max_body_size 8m; }",
    ));
    let body = pattern(3 << 20);
    let mut c = connect(server.port(), "localhost", &ca.client());
    let head = format!(
        "PUT /up/blob.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send(head);
    c.send(&body);
    let resp = c.response();
    assert_eq!(resp.status, 201, "{}", resp.text());
    let stored = std::fs::read(server.dir().join("up/blob.bin")).expect("stored file");
    assert!(stored == body, "stored upload differs");
}

#[test]
fn cgi_sees_https() {
    let ca = Ca::new();
    let f = fixture(&ca);
    f.file(
        "www/cgi/env.sh",
        "printf 'Content-Type: text/plain\\r\\n\\r\\n'\nprintf '%s %s' \"$HTTPS\" \"$REQUEST_SCHEME\"\n",
    );
    let server = f.start(&tls_conf("location /cgi/ { cgi .sh /bin/sh; }"));
    let mut c = connect(server.port(), "localhost", &ca.client());
    let resp = c.request(get_req("/cgi/env.sh", "localhost"));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "on https");
}

#[test]
fn cgi_on_plain_port_has_no_https() {
    let f = Fixture::new();
    f.file(
        "www/cgi/env.sh",
        "printf 'Content-Type: text/plain\\r\\n\\r\\n'\nprintf '[%s] %s' \"$HTTPS\" \"$REQUEST_SCHEME\"\n",
    );
    let server = f.start(&common::simple_conf("location /cgi/ { cgi .sh /bin/sh; }"));
    let resp = common::get(server.port(), "/cgi/env.sh");
    assert_eq!(resp.text(), "[] http");
}

#[test]
fn pipelining_and_keep_alive() {
    let ca = Ca::new();
    let f = fixture(&ca);
    for (name, body) in [("a", "first"), ("b", "second"), ("c", "third")] {
        f.file(&format!("www/{name}.txt"), body);
    }
    let server = f.start(&tls_conf(""));
    let mut c = connect(server.port(), "localhost", &ca.client());
    let mut all = String::new();
    for name in ["a", "b", "c"] {
        all.push_str(&get_req(&format!("/{name}.txt"), "localhost"));
    }
    c.send(all);
    for want in ["first", "second", "third"] {
        assert_eq!(c.response().text(), want);
    }
    // The same connection goes on serving, request after request.
    for _ in 0..3 {
        let resp = c.request(get_req("/b.txt", "localhost"));
        assert_eq!(resp.header("connection"), Some("keep-alive"));
        assert_eq!(resp.text(), "second");
    }
    let resp = c.request("GET /c.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(resp.text(), "third");
    assert!(c.read_to_eof().is_empty());
}

/// Two servers on one TLS port, each with its own certificate.
fn two_sites(ca: &Ca) -> TestServer {
    let f = Fixture::new();
    ca.issue_files(f.dir(), "a", &["a.test", "127.0.0.1"]);
    ca.issue_files(f.dir(), "b", &["b.test"]);
    f.file("www/a/index.html", "site a");
    f.file("www/b/index.html", "site b");
    f.start(
        "error_log stderr warn;\n\
         server { listen 127.0.0.1:{port} ssl; server_name a.test; root {root}/a;\n\
           ssl_certificate {dir}/a.pem; ssl_certificate_key {dir}/a.key; }\n\
         server { listen 127.0.0.1:{port} ssl; server_name b.test; root {root}/b;\n\
           ssl_certificate {dir}/b.pem; ssl_certificate_key {dir}/b.key; }\n",
    )
}

#[test]
fn sni_selects_the_certificate() {
    let ca = Ca::new();
    let server = two_sites(&ca);
    // The client verifies the certificate against the name it asked for, so each
    // success proves the matching certificate was presented.
    for (name, body) in [("a.test", "site a"), ("b.test", "site b")] {
        let mut c = connect(server.port(), name, &ca.client());
        assert_eq!(c.request(get_req("/", name)).text(), body);
    }
    // No SNI (an IP address): the default server's certificate, which names 127.0.0.1.
    let mut c = connect(server.port(), "127.0.0.1", &ca.client());
    assert_eq!(c.request(get_req("/", "b.test")).text(), "site b");
    // HTTP/1.0 without Host: the SNI name picks the server.
    let mut c = connect(server.port(), "b.test", &ca.client());
    assert_eq!(c.request("GET / HTTP/1.0\r\n\r\n").text(), "site b");
}

/// Regression: the SNI name picked a certificate by exact names and leading
/// wildcards only, so a trailing wildcard or a regex server got the default
/// server's certificate while its requests were routed to the right server.
#[test]
fn sni_selects_by_wildcards_and_regexes_as_host_does() {
    let ca = Ca::new();
    let f = Fixture::new();
    ca.issue_files(f.dir(), "dflt", &["default.test"]);
    ca.issue_files(f.dir(), "www", &["www.example.org", "www.example.net"]);
    ca.issue_files(f.dir(), "re", &["re5.test", "re7.test"]);
    let server = f.start(
        "error_log stderr warn;\n\
         server { listen 127.0.0.1:{port} ssl default_server; server_name default.test;\n\
           ssl_certificate {dir}/dflt.pem; ssl_certificate_key {dir}/dflt.key;\n\
           return 200 default; }\n\
         server { listen 127.0.0.1:{port} ssl; server_name www.example.*;\n\
           ssl_certificate {dir}/www.pem; ssl_certificate_key {dir}/www.key;\n\
           return 200 trailing; }\n\
         server { listen 127.0.0.1:{port} ssl; server_name \"~^re\\d+\\.test$\";\n\
           ssl_certificate {dir}/re.pem; ssl_certificate_key {dir}/re.key;\n\
           return 200 regex; }\n",
    );
    // The client checks the certificate against the name it sent: each answer
    // proves that server's certificate came.
    for (name, body) in [
        ("default.test", "default"),
        ("www.example.org", "trailing"),
        ("www.example.net", "trailing"),
        ("re5.test", "regex"),
        ("re7.test", "regex"),
    ] {
        let mut c = connect(server.port(), name, &ca.client());
        assert_eq!(c.request(get_req("/", name)).text(), body, "{name}");
    }
    // One selector: a Host the same regex server answers is no misdirection,
    // a Host of another server is.
    let mut c = connect(server.port(), "re7.test", &ca.client());
    assert_eq!(c.request(get_req("/", "re5.test")).text(), "regex");
    assert_eq!(c.request(get_req("/", "www.example.org")).status, 421);
}

#[test]
fn host_naming_another_server_than_sni_is_421() {
    let ca = Ca::new();
    let server = two_sites(&ca);
    let mut c = connect(server.port(), "a.test", &ca.client());
    let resp = c.request(get_req("/", "b.test"));
    assert_eq!(resp.status, 421);
    assert!(resp.text().contains("421 Misdirected Request"));
    // The Host may carry a port and another case.
    let resp = c.request(get_req("/", "A.Test:443"));
    assert_eq!(resp.text(), "site a");
}

#[test]
fn sighup_brings_a_new_certificate_without_dropping_connections() {
    let old_ca = Ca::new();
    let f = fixture(&old_ca);
    f.file("www/index.html", "same site");
    let mut server = f.start(&tls_conf("keepalive_timeout 60s;"));
    let mut kept = connect(server.port(), "localhost", &old_ca.client());
    assert_eq!(kept.request(get_req("/", "localhost")).status, 200);

    let new_ca = Ca::new();
    new_ca.issue_files(server.dir(), "site", &["localhost"]);
    server.signal(libc::SIGHUP);
    let deadline = std::time::Instant::now() + common::IO_TIMEOUT;
    loop {
        let mut c = connect(server.port(), "localhost", &new_ca.client());
        if c.handshake().is_ok() {
            assert_eq!(c.request(get_req("/", "localhost")).text(), "same site");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The old certificate is gone for new connections...
    let mut c = connect(server.port(), "localhost", &old_ca.client());
    assert!(c.handshake().is_err());
    // ...and the connection opened before the reload still works.
    assert_eq!(kept.request(get_req("/", "localhost")).text(), "same site");
}

#[test]
fn session_tickets_resume_unless_off() {
    let ca = Ca::new();
    for (setting, resumed) in [("", true), ("ssl_session_tickets off;", false)] {
        let f = fixture(&ca);
        f.file("www/index.html", "x");
        let server = f.start(&tls_conf(setting));
        // One client configuration keeps the tickets it was given.
        let config = ca.client();
        for round in 0..2 {
            let mut c = connect(server.port(), "localhost", &config);
            assert_eq!(c.request(get_req("/", "localhost")).status, 200);
            let kind = c.tls.conn.handshake_kind();
            let want = if round == 1 && resumed {
                rustls::HandshakeKind::Resumed
            } else {
                rustls::HandshakeKind::Full
            };
            assert_eq!(kind, Some(want), "{setting:?} round {round}");
        }
    }
}

#[test]
fn sighup_with_a_broken_certificate_keeps_the_running_one() {
    let ca = Ca::new();
    let f = fixture(&ca);
    f.file("www/index.html", "still here");
    let mut server = f.start(&tls_conf(""));
    // A key that belongs to another certificate: the reload must be refused.
    let (_, other_key) = ca.issue(&["localhost"]);
    std::fs::write(server.dir().join("site.key"), other_key).expect("write key");
    server.signal(libc::SIGHUP);
    let deadline = std::time::Instant::now() + common::IO_TIMEOUT;
    while !server.log().contains("does not match key") {
        assert!(std::time::Instant::now() < deadline, "{}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(server.log().contains("reload failed"), "{}", server.log());
    let mut c = connect(server.port(), "localhost", &ca.client());
    assert_eq!(c.request(get_req("/", "localhost")).text(), "still here");
}
