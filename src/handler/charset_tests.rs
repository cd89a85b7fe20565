use std::sync::Arc;

use super::*;
use crate::config::Pos;
use crate::config::charset::types;

fn pos() -> Pos {
    Pos {
        file: Arc::from("t.conf"),
        line: 1,
        col: 1,
    }
}

fn fixed(name: &str) -> Option<Name> {
    Some(Name::Fixed(name.to_string(), pos()))
}

/// `charset_map B A { 58 59; }` (X → Y), and `C` known from a directive.
fn maps() -> CharsetMaps {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.conf");
    let conf = "charset_map B A { 58 59; }
        server { listen 127.0.0.1:1; location /c/ { source_charset C; } }";
    std::fs::write(&file, conf).unwrap();
    crate::config::load(&file, dir.path()).unwrap().charset_maps
}

fn settings(charset: Option<Name>, source: Option<Name>, over: bool) -> Charset {
    Charset {
        charset,
        source,
        override_charset: over,
        types: types(&[]),
    }
}

fn no_vars(_: &Template) -> Option<String> {
    panic!("no variable expected")
}

/// The Content-Type set and whether the body is recoded; `None`: kept.
fn run(cs: &Charset, value: &str, status: u16, encoded: bool) -> Option<(String, bool)> {
    match decide(cs, &maps(), value, status, encoded, &no_vars) {
        Verdict::Keep => None,
        Verdict::Close => panic!("closed"),
        Verdict::Set {
            content_type,
            table,
        } => Some((content_type, table.is_some())),
    }
}

#[test]
fn content_type_parsing_follows_nginx() {
    let cases = [
        ("text/html", 9, ""),
        ("text/html; charset=koi8-r", 9, "koi8-r"),
        ("text/html;charset=\"koi8-r\"", 9, "koi8-r"),
        ("text/html;  CHARSET=x; q=1", 9, "x; q=1"),
        ("text/plain; format=flowed", 25, ""),
        ("text/plain; format=flowed; charset=a", 25, "a"),
        ("text/html; charset=", 9, ""),
        ("text/html; charset=\"", 9, ""),
        ("text/html; ", 11, ""),
    ];
    for (value, type_len, charset) in cases {
        assert_eq!(parse(value), Parsed { type_len, charset }, "{value}");
    }
}

#[test]
fn charset_is_added_to_listed_types_only() {
    let cs = settings(fixed("utf-8"), None, false);
    let cases: &[(&str, Option<&str>)] = &[
        ("text/html", Some("text/html; charset=utf-8")),
        ("TEXT/HTML", Some("TEXT/HTML; charset=utf-8")),
        (
            "application/javascript",
            Some("application/javascript; charset=utf-8"),
        ),
        ("text/css", None),
        ("image/png", None),
        ("text/html; charset=iso-8859-1", None),
        ("text/html;CHARSET=latin1", None),
        // nginx looks the whole value up when it names no charset.
        ("text/plain; format=flowed", None),
        ("", None),
    ];
    for (value, want) in cases {
        let got = run(&cs, value, 200, false);
        assert_eq!(got, want.map(|w| (w.to_string(), false)), "{value}");
    }
    let mut any = cs.clone();
    any.types = vec!["*".into()];
    let got = run(&any, "image/png", 200, false);
    assert_eq!(got, Some(("image/png; charset=utf-8".into(), false)));
    // Redirects name no charset.
    assert_eq!(
        run(&cs, "text/html", 302, false),
        Some(("text/html".into(), false))
    );
}

#[test]
fn a_map_recodes_in_either_direction() {
    let ba = settings(fixed("A"), fixed("B"), false);
    assert_eq!(
        run(&ba, "text/html", 200, false),
        Some(("text/html; charset=A".into(), true))
    );
    let ab = settings(fixed("b"), fixed("A"), false);
    assert_eq!(
        run(&ab, "text/html", 200, false),
        Some(("text/html; charset=b".into(), true))
    );
    // A Content-Encoding: left alone, not even the charset named.
    assert_eq!(run(&ba, "text/html", 200, true), None);
    // The same charset: named, nothing to recode (a Content-Encoding is fine).
    let aa = settings(fixed("A"), fixed("a"), false);
    assert_eq!(
        run(&aa, "text/html", 200, true),
        Some(("text/html; charset=A".into(), false))
    );
    // Both known, no map between them.
    let ca = settings(fixed("A"), fixed("C"), false);
    assert_eq!(run(&ca, "text/html", 200, false), None);
    // Recoded on a 301 too, without naming the charset.
    assert_eq!(
        run(&ba, "text/html", 301, false),
        Some(("text/html".into(), true))
    );
}

#[test]
fn override_charset_recodes_what_names_its_own() {
    let on = settings(fixed("A"), None, true);
    let off = settings(fixed("A"), None, false);
    type Case<'a> = (&'a Charset, &'a str, Option<(&'a str, bool)>);
    let cases: &[Case] = &[
        (&off, "text/html; charset=B", None),
        (
            &on,
            "text/html; charset=B",
            Some(("text/html; charset=A", true)),
        ),
        (
            &on,
            "text/css; charset=\"b\"",
            Some(("text/css; charset=A", true)),
        ),
        (
            &on,
            "text/html; charset=a",
            Some(("text/html; charset=A", false)),
        ),
        (&on, "text/html", Some(("text/html; charset=A", false))),
        // Unknown charsets: only the same name passes, the type kept as it is.
        (&on, "text/html; charset=zz", None),
    ];
    for (cs, value, want) in cases {
        let got = run(cs, value, 200, false);
        let want = want.map(|(ct, t)| (ct.to_string(), t));
        assert_eq!(got, want, "{value}");
    }
    let zz = settings(fixed("zz"), None, true);
    let got = run(&zz, "text/html; charset=ZZ", 200, false);
    assert_eq!(got, Some(("text/html; charset=ZZ".into(), false)));
}

#[test]
fn variables() {
    let cs = Charset {
        charset: Some(Name::Var(Template::compile("$arg_c", &pos()).unwrap())),
        ..settings(None, fixed("B"), false)
    };
    let with = |v: Option<&str>| {
        let value = v.map(str::to_string);
        let resolve = move |_: &Template| value.clone();
        match decide(&cs, &maps(), "text/html", 200, false, &resolve) {
            Verdict::Keep => "keep".to_string(),
            Verdict::Close => "close".to_string(),
            Verdict::Set {
                content_type,
                table,
            } => format!("{content_type} {}", table.is_some()),
        }
    };
    assert_eq!(with(Some("A")), "text/html; charset=A true");
    assert_eq!(with(Some("b")), "text/html; charset=b false");
    assert_eq!(with(Some("")), "keep");
    assert_eq!(with(Some("zz")), "keep");
    assert_eq!(with(None), "close");
    // Not a listed type: the variable is not read.
    let r = decide(&cs, &maps(), "image/png", 200, false, &no_vars);
    assert!(matches!(r, Verdict::Keep));
    let plain = Charset {
        source: None,
        ..cs.clone()
    };
    let empty = |_: &Template| Some(String::new());
    let r = decide(&plain, &maps(), "text/html", 200, false, &empty);
    assert!(matches!(r, Verdict::Set { content_type, .. } if content_type == "text/html"));
}
