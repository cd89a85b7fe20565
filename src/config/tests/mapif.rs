//! `map`, `geo` and `if`: what the configuration accepts, and each error with its
//! exact `file:line:col`.

use super::load_src;
use crate::config::Op;
use crate::config::cond::{Cond, FileTest};
use crate::vars::computed::Item;

fn fails(src: &str, want: &str) {
    match load_src(src) {
        Ok(_) => panic!("accepted: {src:?}"),
        Err(got) => assert_eq!(got, want, "{src:?}"),
    }
}

const SERVER: &str = "server { listen 127.0.0.1:1; }";

#[test]
fn maps_and_geos_are_read() {
    let src = format!(
        "http {{ map_hash_max_size 2048; map_hash_bucket_size 64;
         map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
         map $host $h {{ hostnames; volatile; *.a.com x; .b.com y; www.c.* z; \\~lit l; ~^(?<n>.+)$ $n; }}
         geo $g {{ default 0; 10.0.0.0/8 1; ::1 2; delete 10.0.0.0/8; }}
         geo $arg_ip $g2 {{ 127.0.0.1 one; }}
         {SERVER} }}"
    );
    let c = load_src(&src).unwrap();
    let items = &c.servers[0].computed.items;
    assert_eq!(items.len(), 4);
    let Item::Map(m) = &items[1] else { panic!() };
    assert!(m.hostnames && m.volatile);
    assert_eq!((m.head.len(), m.tail.len(), m.regexes.len()), (2, 1, 1));
    assert!(m.exact.contains_key("~lit"));
    let Item::Geo(g) = &items[2] else { panic!() };
    assert_eq!(
        g.nets.len(),
        3,
        "default is two networks, one more, one deleted"
    );
    assert!(
        c.vars.contains(&"n".to_string()),
        "a named capture is a variable"
    );
}

#[test]
fn map_errors() {
    let cases = [
        ("map $a b { }", "t.conf:1:8: invalid variable name \"b\""),
        (
            "map $a $b {\n default 1;\n default 2; }",
            "t.conf:3:2: duplicate default map parameter",
        ),
        (
            "map $a $b {\n x 1;\n X 2; }",
            "t.conf:3:2: conflicting parameter \"x\"",
        ),
        (
            "map $a $b {\n x 1 2; }",
            "t.conf:2:2: invalid number of the map parameters",
        ),
        (
            "map $a $b {\n hostnames;\n a.*.b 1; }",
            "t.conf:3:2: invalid hostname or wildcard \"a.*.b\"",
        ),
        (
            "map $a $b {\n ~(x 1; }",
            "t.conf:2:2: invalid regex \"(x\": unclosed group",
        ),
        (
            "map $host $b { x $nope; }",
            "t.conf:1:18: unknown \"nope\" variable",
        ),
        (
            "map $a $b { }\nmap $c $b { }",
            "t.conf:2:1: the duplicate \"b\" variable",
        ),
        (
            "server { listen 1; map $a $b { } }",
            "t.conf:1:20: \"map\" is not allowed in server context",
        ),
    ];
    for (src, want) in cases {
        fails(src, want);
    }
}

#[test]
fn geo_errors() {
    let cases = [
        (
            "geo $g {\n 10.0.0.300 x; }",
            "t.conf:2:2: invalid network \"10.0.0.300\"",
        ),
        (
            "geo $g {\n proxy 10.0.0.x; }",
            "t.conf:2:8: invalid network \"10.0.0.x\"",
        ),
        (
            "geo $g { ranges;\n 10.0.0.5-10.0.0.1 x; }",
            "t.conf:2:2: invalid range \"10.0.0.5-10.0.0.1\"",
        ),
        (
            "geo $g { ranges;\n 10.0.0.0/8 x; }",
            "t.conf:2:2: invalid range \"10.0.0.0/8\"",
        ),
        (
            "geo $g { ranges;\n 10.0.0.0-10.0.0.9 x;\n 10.0.0.5-10.0.1.0 y; }",
            "t.conf:3:2: range \"10.0.0.5-10.0.1.0\" overlaps \"10.0.0.0-10.0.0.9\"",
        ),
        (
            "geo $g {\n 10.0.0.1 a b; }",
            "t.conf:2:2: invalid number of the geo parameters",
        ),
        ("geo g { }", "t.conf:1:5: invalid variable name \"g\""),
        (
            "geo $a $b $c { }",
            "t.conf:1:1: invalid number of arguments in \"geo\" directive",
        ),
    ];
    for (src, want) in cases {
        fails(src, want);
    }
}

fn first_if(src: &str) -> (crate::config::Config, Cond) {
    let c = load_src(src).unwrap();
    let ops = &c.servers[0].rewrite;
    let Some(Op::If(b)) = ops.first() else {
        panic!("no if in {src}")
    };
    let cond = b.cond.clone();
    (c, cond)
}

#[test]
fn conditions_parse_as_nginx_does() {
    let cases = [
        "($a)",
        "( $a )",
        "($a = x)",
        "($a != \"x y\")",
        "($a ~ ^/x)",
        "($a ~* \"^/x y\")",
        "($a !~ x)",
        "($a !~* x)",
        "(-f $uri)",
        "( !-d /tmp )",
        "(-e /tmp)",
        "(!-x /bin/sh)",
    ];
    for cond in cases {
        let src = format!("server {{ listen 1; set $a 1; if {cond} {{ return 204; }} }}");
        let c = load_src(&src).unwrap_or_else(|e| panic!("{cond}: {e}"));
        assert!(matches!(c.servers[0].rewrite[1], Op::If(_)), "{cond}");
    }
    let (_, c) = first_if("server { listen 1; if (!-x /bin/sh) { return 204; } }");
    assert!(matches!(
        c,
        Cond::File {
            test: FileTest::Exec,
            negated: true,
            ..
        }
    ));
    let (_, c) = first_if("server { listen 1; if ($host !~* ^a) { return 204; } }");
    assert!(matches!(c, Cond::Regex { negated: true, .. }));
}

#[test]
fn if_errors() {
    let cases = [
        (
            "server { listen 1; if $a) { }}",
            "t.conf:1:23: invalid condition \"$a)\"",
        ),
        (
            "server { listen 1; if ($a { }}",
            "t.conf:1:23: invalid condition \"$a\"",
        ),
        (
            "server { listen 1; if ($host x y) { }}",
            "t.conf:1:30: unexpected \"x\" in condition",
        ),
        (
            "server { listen 1; if ($host = a b) { }}",
            "t.conf:1:23: invalid condition \"$host\"",
        ),
        (
            "server { listen 1; if (-z /x) { }}",
            "t.conf:1:23: invalid condition \"-z\"",
        ),
        (
            "server { listen 1; if ($host ~ \"(\") { }}",
            "t.conf:1:32: invalid regex \"(\": unclosed group",
        ),
        (
            "server { listen 1; if ($host) {\n root /x; }}",
            "t.conf:2:2: \"root\" is not allowed in if context",
        ),
        (
            "server { listen 1; location / { if ($host) {\n index a; } }}",
            "t.conf:2:2: \"index\" is not allowed in if context",
        ),
        (
            "server { listen 1; location / { if ($host) {\n if ($host) { } } }}",
            "t.conf:2:2: \"if\" is not allowed in if context",
        ),
        (
            "server { listen 1; location / { if ($host) {\n proxy_pass http://127.0.0.1:9/x; } }}",
            "t.conf:2:2: \"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, or inside \"if\" statement, or inside \"limit_except\" block",
        ),
        (
            "server { listen 1; if ($nope) { }}",
            "t.conf:1:23: unknown \"nope\" variable",
        ),
    ];
    for (src, want) in cases {
        fails(src, want);
    }
}

#[test]
fn an_if_in_a_location_has_its_own_configuration() {
    let src = "server { listen 1; root /r; location /a { add_header X 1;
        if ($host) { add_header Y 2; root /s; set $v 1; } return 204; } }";
    let c = load_src(src).unwrap();
    let s = &c.servers[0];
    let a = s
        .locations
        .iter()
        .position(|l| l.path == "/a" && !l.noname)
        .unwrap();
    let Op::If(b) = &s.locations[a].rewrite[0] else {
        panic!()
    };
    assert_eq!(b.ops.len(), 1);
    let inner = &s.locations[b.location.unwrap()];
    assert!(inner.noname);
    assert_eq!(inner.path, "/a");
    assert_eq!(inner.root, std::path::Path::new("/s"));
    assert_eq!(
        inner.add_headers.len(),
        1,
        "add_header replaces the list, as nginx"
    );
    assert_eq!(inner.add_headers[0].name, "Y");
    assert!(!s.top.contains(&b.location.unwrap()));
}

#[test]
fn rewrite_logging_switches_are_accepted_in_every_rewrite_context() {
    let src = "rewrite_log on; server { listen 1; uninitialized_variable_warn off;
        if ($host) { rewrite_log on; } location / { if ($host) { rewrite_log off; } } }";
    load_src(src).unwrap();
    fails(
        "server { listen 1; if ($host) {\n rewrite_log maybe; } }",
        "t.conf:2:14: \"rewrite_log\" takes on|off, got \"maybe\"",
    );
}
