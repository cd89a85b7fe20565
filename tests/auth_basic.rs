//! Basic authentication through the real binary: configuration errors name
//! `file:line:col`, and a request parked for a bcrypt check keeps its place among
//! pipelined requests on its connection.

mod common;

use std::process::Command;

use common::{Conn, Fixture, request};

/// `webserv -t` on `text`: the exit code and stderr.
fn check(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("t.conf");
    std::fs::write(&conf, text).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_webserv"))
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg(&conf)
        .output()
        .expect("run webserv");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_access_directives_name_their_place() {
    let cases = [
        (
            "server { listen 80;\n location / { limit_except GET FETCH { deny all; } } }",
            "t.conf:2:32: invalid method \"FETCH\"",
        ),
        (
            "server { listen 80;\n satisfy some; }",
            "t.conf:2:10: invalid value \"some\" in \"satisfy\" directive, it must be \"all\" or \"any\"",
        ),
        (
            "server { listen 80;\n limit_except GET { deny all; } }",
            "t.conf:2:2: \"limit_except\" is not allowed in server context",
        ),
        (
            "server { listen 80;\n location / { limit_except GET { root /x; } } }",
            "t.conf:2:34: \"root\" is not allowed in limit_except context",
        ),
        (
            "server { listen 80;\n location / { if ($arg_a) { auth_basic x; } } }",
            "t.conf:2:29: \"auth_basic\" is not allowed in if context",
        ),
        (
            "server { listen 80;\n location / { limit_except GET { }\n limit_except POST { } } }",
            "t.conf:3:2: \"limit_except\" is duplicate",
        ),
        (
            "server { listen 80;\n location / { limit_except GET { proxy_pass http://127.0.0.1:1/x; } } }",
            "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block",
        ),
    ];
    for (text, want) in cases {
        let (code, stderr) = check(text);
        assert_eq!(code, Some(1), "{text}: {stderr}");
        assert!(
            stderr.contains(want),
            "{text}\nwant {want}\nstderr: {stderr}"
        );
    }
    let good = "server { listen 80;\n auth_basic \"$host area\"; auth_basic_user_file $arg_f;\n \
                satisfy any; auth_delay 1s;\n location / { limit_except GET POST { allow 127.0.0.1; \
                deny all; auth_basic off; } } }";
    let (code, stderr) = check(good);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_parked_request_keeps_its_place_in_the_pipeline() {
    let f = Fixture::new();
    let hash = bcrypt::hash_with_salt("pw", 10, [3u8; 16]).expect("bcrypt");
    let line = format!(
        "slow:{}\nfast:{{PLAIN}}f\n",
        hash.format_for_version(bcrypt::Version::TwoY)
    );
    f.file("htpasswd", line);
    f.file("www/index.html", "index\n");
    f.file("www/open/page.html", "open\n");
    let s = f.start(
        "server { listen 127.0.0.1:{port}; root {root};\n\
         location / { auth_basic \"p\"; auth_basic_user_file {dir}/htpasswd; }\n\
         location /open/ { auth_basic off; } }",
    );
    let auth = |user_pass: &str| {
        let mut enc = String::new();
        let b = user_pass.as_bytes();
        let t = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    enc.push(t[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    enc.push('=');
                }
            }
        }
        format!("Authorization: Basic {enc}\r\n")
    };
    let keep =
        |path: &str, extra: &str| format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n");
    let mut c = Conn::open(s.port());
    let pipeline = [
        keep("/", &auth("slow:pw")),
        keep("/open/page.html", ""),
        keep("/", &auth("slow:bad")),
        request("GET", "/", &auth("fast:f")),
    ]
    .concat();
    c.send(pipeline);
    let statuses: Vec<(u16, String)> = (0..4)
        .map(|_| {
            let r = c.response();
            (r.status, r.text())
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (200, "index\n".to_string()),
            (200, "open\n".to_string()),
            (401, statuses[2].1.clone()),
            (200, "index\n".to_string()),
        ]
    );
}
