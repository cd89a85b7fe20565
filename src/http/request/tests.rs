use super::*;

fn parse(raw: &[u8]) -> Result<Option<(Request, usize)>, HeadError> {
    parse_head(raw, 8192)
}

fn status_of(raw: &[u8]) -> u16 {
    match parse(raw) {
        Ok(Some(_)) => 200,
        Ok(None) => 0,
        Err(e) => e.status(),
    }
}

#[test]
fn table_of_heads() {
    // (raw bytes, expected: 200 = parsed, 0 = incomplete, else the error status)
    let cases: &[(&[u8], u16)] = &[
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        (b"GET / HTTP/1.0\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", 0),
        (b"GET / HTTP/1.1\r\nHo", 0),
        (b"", 0),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 200),
        (b"GET / HTTP/1.9\r\nHost: a\r\n\r\n", 200),
        (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\n\r\n", 400),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
        (b"GET / FOO/1.1\r\nHost: a\r\n\r\n", 400),
        (b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        (b"OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        (b"POST * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"OPTIONS ** HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405),
        (b"PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 405),
        (b"CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"CONNECT a: HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"hello world\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400),
        (b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 200),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", 200),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000000005\r\n\r\n", 200),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 200),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", 200),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET http://Example.COM:8080/x?y HTTP/1.1\r\n\r\n", 400),
        (b"GET http://Example.COM:8080/x?y HTTP/1.0\r\n\r\n", 200),
        (b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET http://:80/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET http://localhost:80:80/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET http://localhost:8x/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET http://[::1]:80/x HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\nHost: ::::\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a:80:80\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: []\r\n\r\n", 400),
        // Dots as nginx checks them, before the trailing dot is stripped.
        (b"GET / HTTP/1.1\r\nHost: ..\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: .\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: ..:80\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: .example.com\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a.b..\r\n\r\n", 400),
        (b"GET http://../x HTTP/1.0\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: example.com.\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\nHost: a.\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: ../x\r\n\r\n", 400),
    ];
    for (raw, want) in cases {
        assert_eq!(status_of(raw), *want, "{:?}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn fields_are_extracted() {
    let raw = b"POST /a/b?x=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nContent-Length: 12\r\n\
                Expect: 100-continue\r\nConnection: close\r\n\r\nbody";
    let (req, n) = parse(raw).unwrap().unwrap();
    assert_eq!(n, raw.len() - 4);
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.path(), "/a/b");
    assert_eq!(req.query(), Some("x=1"));
    assert_eq!(req.host.as_deref(), Some("example.com"));
    assert_eq!(req.framing, Framing::Length(12));
    assert!(req.expect_continue);
    assert!(!req.keep_alive);
    assert_eq!(req.header("content-length"), Some("12"));
}

#[test]
fn minor_versions_above_one_are_http11() {
    let (req, n) = parse(b"GET /x HTTP/1.7\r\nHost: a\r\n\r\nNEXT")
        .unwrap()
        .unwrap();
    assert!(req.http11 && req.keep_alive);
    assert_eq!((req.target.as_str(), n), ("/x", 28));
}

#[test]
fn long_numbers_in_content_length() {
    let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000000000005\r\n\r\n";
    assert_eq!(parse(raw).unwrap().unwrap().0.framing, Framing::Length(5));
    let max = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n";
    assert_eq!(
        parse(max).unwrap().unwrap().0.framing,
        Framing::Length(u64::MAX)
    );
}

#[test]
fn absolute_form_sets_host_and_path() {
    let (req, _) = parse(b"GET http://Example.COM:8080/x?y HTTP/1.1\r\nHost: other\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(req.host.as_deref(), Some("example.com"));
    assert_eq!(req.target, "/x?y");
}

#[test]
fn keep_alive_rules() {
    let ka = |raw: &[u8]| parse(raw).unwrap().unwrap().0.keep_alive;
    assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(!ka(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    ));
    assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
}

#[test]
fn oversized_heads() {
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(100));
    assert_eq!(
        parse_head(long_uri.as_bytes(), 64).unwrap_err(),
        HeadError::UriTooLong
    );
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "a".repeat(100)
    );
    assert_eq!(
        parse_head(big_header.as_bytes(), 64).unwrap_err(),
        HeadError::HeadTooLarge
    );
    let many: String = (0..MAX_HEADERS + 1)
        .map(|i| format!("X{i}: v\r\n"))
        .collect();
    let raw = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
    assert_eq!(
        parse_head(raw.as_bytes(), 1 << 20).unwrap_err(),
        HeadError::HeadTooLarge
    );
}

#[test]
fn split_at_every_offset() {
    let raw = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\nNEXT";
    let head_len = raw.len() - 4;
    for cut in 0..head_len {
        assert!(parse(&raw[..cut]).unwrap().is_none(), "cut at {cut}");
    }
    for end in head_len..=raw.len() {
        let (req, n) = parse(&raw[..end]).unwrap().unwrap();
        assert_eq!((n, req.target.as_str()), (head_len, "/index.html?q=1"));
    }
}

#[test]
fn split_at_every_offset_with_a_newer_minor_version() {
    let raw = b"GET /v HTTP/1.4\r\nHost: a\r\n\r\n";
    for cut in 0..raw.len() {
        assert!(parse(&raw[..cut]).unwrap().is_none(), "cut at {cut}");
    }
    let (req, n) = parse(raw).unwrap().unwrap();
    assert_eq!((n, req.http11), (raw.len(), true));
    let bad = b"GET / HTTP/2.0\r\nHost: a\r\n\r\n";
    for cut in 0..16 {
        assert!(parse(&bad[..cut]).unwrap().is_none(), "cut at {cut}");
    }
    for cut in 16..=bad.len() {
        assert_eq!(parse(&bad[..cut]).unwrap_err(), HeadError::Version, "{cut}");
    }
}

#[test]
fn leading_empty_lines_are_skipped() {
    let (req, _) = parse(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(req.target, "/");
}

#[test]
fn line_lengths_within_large_buffers() {
    let long = "1234567890".repeat(20);
    let cases: &[(String, Option<u16>)] = &[
        ("GET / HTTP/1.0\r\nHost: a\r\n\r\n".into(), None),
        (
            format!("GET /{long} HTTP/1.0\r\nHost: a\r\n\r\n"),
            Some(414),
        ),
        (
            format!("GET / HTTP/1.0\r\nX-Foo: {long}\r\n\r\n"),
            Some(400),
        ),
        (format!("\r\nGET / HTTP/1.0\nX: {}\n\n", &long[..190]), None),
    ];
    for (head, want) in cases {
        let got = check_line_lengths(head.as_bytes(), 200)
            .err()
            .map(|e| e.status());
        assert_eq!(got, *want, "{head:?}");
    }
}

#[test]
fn fragments_end_the_path_and_the_query() {
    let cases: &[(&[u8], &str, Option<&str>)] = &[
        (b"GET /a/.#frag HTTP/1.1\r\nHost: a\r\n\r\n", "/a/.", None),
        (
            b"GET /a?b=1#frag HTTP/1.1\r\nHost: a\r\n\r\n",
            "/a",
            Some("b=1"),
        ),
        (b"GET /a#f?b=1 HTTP/1.1\r\nHost: a\r\n\r\n", "/a", None),
        (b"GET /a?b#c#d HTTP/1.1\r\nHost: a\r\n\r\n", "/a", Some("b")),
        (b"GET /a%23b HTTP/1.1\r\nHost: a\r\n\r\n", "/a%23b", None),
        (
            b"GET http://h?x#f HTTP/1.1\r\nHost: a\r\n\r\n",
            "/",
            Some("x"),
        ),
        (
            b"GET http://h:80?x#f HTTP/1.1\r\nHost: a\r\n\r\n",
            "/",
            Some("x"),
        ),
    ];
    for (raw, path, query) in cases {
        let (req, _) = parse(raw).unwrap().unwrap();
        assert_eq!((req.path(), req.query()), (*path, *query), "{raw:?}");
    }
}
