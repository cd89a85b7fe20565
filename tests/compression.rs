//! Compression over real sockets: the filter on keep-alive connections with
//! pipelined requests (compressed, streamed and plain responses in one stream, a
//! request split at every offset), HEAD, and bad configuration values.

mod common;

use std::io::Read;

use common::{Conn, Fixture, get_with, pattern, simple_conf};

const GZIP_ON: &str = "    gzip on;\n    gzip_types text/plain;\n    compression_cache off;";

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// Text that compresses, `len` bytes.
fn text(len: usize) -> Vec<u8> {
    let line = b"a line of text that compresses well, number ";
    let mut out = Vec::with_capacity(len + 64);
    let mut i = 0u32;
    while out.len() < len {
        out.extend_from_slice(line);
        out.extend_from_slice(format!("{}\n", i % 1000).as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

#[test]
fn pipelined_compressed_streamed_and_plain_responses() {
    let f = Fixture::new();
    let big = text(300_000);
    let small = text(5_000);
    f.file("www/big.txt", &big);
    f.file("www/small.txt", &small);
    f.file("www/raw.bin", pattern(70_000));
    let s = f.start(&simple_conf(GZIP_ON));
    let ae = "Accept-Encoding: gzip\r\n";
    let reqs = [
        ("/big.txt", ae),
        ("/small.txt", ""),
        ("/small.txt", ae),
        ("/raw.bin", ae),
        ("/big.txt", ae),
    ];
    let mut all = String::new();
    for (path, extra) in reqs {
        all.push_str(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n"));
    }
    let mut c = Conn::open(s.port());
    c.send(all);
    let want: [(&[u8], bool); 5] = [
        (&big, true),
        (&small, false),
        (&small, true),
        (&pattern(70_000), false),
        (&big, true),
    ];
    for (i, (body, compressed)) in want.iter().enumerate() {
        let r = c.response();
        assert_eq!(r.status, 200, "response {i}");
        let got = if *compressed {
            assert_eq!(r.header("Content-Encoding"), Some("gzip"), "response {i}");
            gunzip(&r.body)
        } else {
            assert_eq!(r.header("Content-Encoding"), None, "response {i}");
            r.body.clone()
        };
        assert_eq!(&got, body, "response {i}");
    }
    // The big file is streamed (chunked), the small one fits a buffer.
    let r = get_with(s.port(), "/big.txt", ae);
    assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
    let r = get_with(s.port(), "/small.txt", ae);
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
}

#[test]
fn a_request_split_at_every_offset_gets_the_same_compressed_answer() {
    let f = Fixture::new();
    let body = text(3_000);
    f.file("www/a.txt", &body);
    let s = f.start(&simple_conf(GZIP_ON));
    let req = b"GET /a.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br;q=0.5, gzip\r\n\r\n";
    let mut c = Conn::open(s.port());
    for cut in 0..=req.len() {
        c.send(&req[..cut]);
        c.send(&req[cut..]);
        let r = c.response();
        assert_eq!(r.header("Content-Encoding"), Some("gzip"), "cut {cut}");
        assert_eq!(gunzip(&r.body), body, "cut {cut}");
    }
}

#[test]
fn head_and_get_agree_and_head_has_no_body() {
    let f = Fixture::new();
    f.file("www/big.txt", text(200_000));
    let s = f.start(&simple_conf(GZIP_ON));
    let mut c = Conn::open(s.port());
    c.send("HEAD /big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    c.send("GET /big.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    let head = c.head_response();
    let get = c.response();
    let strip = |r: &common::Response| {
        r.headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&head), strip(&get));
    assert!(head.body.is_empty());
    assert_eq!(gunzip(&get.body), text(200_000));
}

#[test]
fn bad_compression_values_name_file_line_and_column() {
    let f = Fixture::new();
    let cases = [
        (
            "    gzip_comp_level 0;",
            ":5:21: invalid level \"0\" in \"gzip_comp_level\" (1-9)",
        ),
        (
            "    zstd_static always;",
            ":5:17: \"zstd_static\" takes on|off, got \"always\"",
        ),
        (
            "    gzip_types;",
            ":5:5: invalid number of arguments in \"gzip_types\" directive",
        ),
    ];
    for (line, want) in cases {
        let conf = format!(
            "error_log stderr warn;\nserver {{\n    listen 127.0.0.1:{{port}};\n    \
             root {{root}};\n{line}\n}}\n"
        );
        let mut child = f.spawn(&conf);
        let status = common::wait_child(&mut child, std::time::Duration::from_secs(10));
        assert_eq!(status.and_then(|s| s.code()), Some(1), "{line}");
        let log = f.log();
        assert!(log.contains(want), "{line}: {log}");
    }
}
