//! Request-head validation (RFC 9113 §8.3): a table of field lists, good and malformed.

use super::*;

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

fn list(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

const GET: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/a?b"),
    (":authority", "example.com"),
];

fn with(extra: &[(&str, &str)]) -> Fields {
    let mut all = GET.to_vec();
    all.extend_from_slice(extra);
    list(&all)
}

#[test]
fn good_get() {
    let head = request_head(with(&[("accept", "*/*"), ("te", "trailers")])).unwrap();
    assert_eq!(head.method, "GET");
    assert_eq!(head.scheme, "https");
    assert_eq!(head.path, "/a?b");
    assert_eq!(head.authority.as_deref(), Some("example.com"));
    assert_eq!(
        head.fields,
        [
            ("accept".into(), "*/*".into()),
            ("te".into(), "trailers".into())
        ]
    );
    assert_eq!(head.content_length, None);
}

#[test]
fn cookies_joined_in_place_of_the_first() {
    let extra = [
        ("cookie", "a=1"),
        ("x", "y"),
        ("cookie", "b=2"),
        ("cookie", "c=3"),
    ];
    let head = request_head(with(&extra)).unwrap();
    assert_eq!(
        head.fields,
        [
            ("cookie".into(), "a=1; b=2; c=3".into()),
            ("x".into(), "y".into())
        ]
    );
}

#[test]
fn content_length_and_host() {
    let head = request_head(with(&[("content-length", "42"), ("host", "EXAMPLE.com")])).unwrap();
    assert_eq!(head.content_length, Some(42));
    let no_authority = list(&[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        ("host", "h"),
    ]);
    let head = request_head(no_authority).unwrap();
    assert_eq!(head.authority, None);
    assert_eq!(head.fields, [("host".into(), "h".into())]);
}

#[test]
fn connect_and_options_star() {
    let connect = list(&[(":method", "CONNECT"), (":authority", "h:443")]);
    let head = request_head(connect).unwrap();
    assert_eq!((head.scheme.as_str(), head.path.as_str()), ("", ""));
    let star = list(&[(":method", "OPTIONS"), (":scheme", "http"), (":path", "*")]);
    assert!(request_head(star).is_ok());
}

#[test]
fn malformed() {
    let cases: Vec<(Fields, &str)> = vec![
        (list(&GET[1..]), "missing :method"),
        (list(&[GET[0], GET[2], GET[3]]), "missing :scheme"),
        (list(&[GET[0], GET[1], GET[3]]), "missing :path"),
        (with(&[(":path", "/again")]), "repeated pseudo-header"),
        (
            list(&[GET[0], ("x", "y"), GET[1], GET[2]]),
            "pseudo-header after a regular field",
        ),
        (with(&[(":protocol", "websocket")]), "unknown pseudo-header"),
        (
            list(&[GET[0], GET[1], (":path", "")]),
            "bad :scheme or :path",
        ),
        (
            list(&[GET[0], GET[1], (":path", "a")]),
            "bad :scheme or :path",
        ),
        (
            list(&[GET[0], GET[1], (":path", "*")]),
            "bad :scheme or :path",
        ),
        (with(&[("Accept", "x")]), "bad field name"),
        (with(&[("", "x")]), "bad field name"),
        (with(&[("a b", "x")]), "bad field name"),
        (with(&[("x", "a\r\nb")]), "bad field value"),
        (with(&[("x", " a")]), "whitespace around field value"),
        (
            with(&[("connection", "close")]),
            "connection-specific field",
        ),
        (with(&[("keep-alive", "5")]), "connection-specific field"),
        (
            with(&[("proxy-connection", "x")]),
            "connection-specific field",
        ),
        (
            with(&[("transfer-encoding", "chunked")]),
            "connection-specific field",
        ),
        (with(&[("upgrade", "h2c")]), "connection-specific field"),
        (with(&[("te", "gzip")]), "te other than trailers"),
        (with(&[("content-length", "1x")]), "bad content-length"),
        (with(&[("content-length", "")]), "bad content-length"),
        (
            with(&[("content-length", "1"), ("content-length", "2")]),
            "conflicting content-length",
        ),
        (
            with(&[("content-length", "1, 2")]),
            "conflicting content-length",
        ),
        (with(&[("host", "other.org")]), ":authority and host differ"),
        (
            list(&[(":method", "CONNECT"), (":authority", "h"), (":path", "/")]),
            "bad CONNECT pseudo-headers",
        ),
        (
            list(&[(":method", "CONNECT")]),
            "bad CONNECT pseudo-headers",
        ),
    ];
    for (fields, why) in cases {
        assert_eq!(request_head(fields.clone()), Err(why), "{fields:?}");
    }
}

#[test]
fn trailer_sections() {
    assert_eq!(
        trailers(list(&[("x-sum", "1")])),
        Ok(vec![("x-sum".into(), "1".into())])
    );
    assert_eq!(
        trailers(list(&[(":path", "/")])),
        Err("pseudo-header in trailers")
    );
    assert_eq!(trailers(list(&[("X", "1")])), Err("bad field name"));
}
