//! The handshake and a full GET exchange, fed whole and split at every offset; request
//! bodies, trailers and malformed requests.

use super::*;
use crate::h2::frame::*;
use crate::h2::session::*;

#[test]
fn new_session_announces_settings_and_window() {
    let mut s = Session::new(Settings {
        max_concurrent_streams: 10,
        ..Settings::default()
    });
    let frames = out(&mut s);
    assert_eq!(frames[0].kind, SETTINGS);
    let params: Vec<_> = settings_params(&frames[0].payload).collect();
    assert!(params.contains(&(MAX_CONCURRENT_STREAMS, 10)));
    assert!(params.contains(&(ENABLE_PUSH, 0)));
    assert!(params.contains(&(INITIAL_WINDOW_SIZE, 65_536)));
    assert_eq!(frames[1].kind, WINDOW_UPDATE);
    assert_eq!(
        (frames[1].stream, frames[1].u32_at(0)),
        (0, MAX_WINDOW - 65_535)
    );
    assert_eq!(frames.len(), 2);
}

/// The client's side of a GET: preface, SETTINGS, HEADERS.
fn get_input() -> Vec<u8> {
    let mut input = hello();
    let fields = [
        GET[0],
        GET[1],
        ("accept", "*/*"),
        GET[2],
        GET[3],
        ("cookie", "a=1"),
        ("cookie", "b=2"),
    ];
    // Pseudo-headers first: reorder so the list is valid.
    let mut ordered: Vec<(&str, &str)> = fields
        .iter()
        .filter(|f| f.0.starts_with(':'))
        .copied()
        .collect();
    ordered.extend(fields.iter().filter(|f| !f.0.starts_with(':')));
    input.extend(headers(1, &ordered, true));
    input
}

fn expect_get(events: &[Event]) {
    let [
        Event::Request {
            id: 1,
            head,
            end_stream: true,
        },
    ] = events
    else {
        panic!("{events:?}");
    };
    assert_eq!(
        (
            head.method.as_str(),
            head.scheme.as_str(),
            head.path.as_str()
        ),
        ("GET", "https", "/")
    );
    assert_eq!(head.authority.as_deref(), Some("example.com"));
    assert_eq!(
        head.fields,
        [
            ("accept".into(), "*/*".into()),
            ("cookie".into(), "a=1; b=2".into())
        ]
    );
}

#[test]
fn full_get_exchange() {
    let mut s = Session::new(Settings::default());
    out(&mut s);
    assert_eq!(s.recv(&get_input()), Ok(get_input().len()));
    expect_get(&events(&mut s));
    // Our answer to the peer's SETTINGS.
    assert_eq!(
        out(&mut s),
        [Got {
            kind: SETTINGS,
            flags: FLAG_ACK,
            stream: 0,
            payload: vec![]
        }]
    );
    assert_eq!(s.open_streams(), 1);

    s.send_headers(
        1,
        200,
        &[("Content-Type", "text/plain"), ("Connection", "close")],
        false,
    );
    assert_eq!(s.send_window(1), 65_535);
    assert_eq!(s.send_data(1, b"hello", true), 5);
    let frames = out(&mut s);
    assert_eq!(frames.len(), 2);
    assert_eq!(
        (frames[0].kind, frames[0].flags, frames[0].stream),
        (HEADERS, FLAG_END_HEADERS, 1)
    );
    let fields = decode_block(&mut Decoder::new(4096), &frames[0].payload);
    assert_eq!(
        fields,
        [
            (":status".into(), "200".into()),
            ("content-type".into(), "text/plain".into())
        ]
    );
    assert_eq!(
        frames[1],
        Got {
            kind: DATA,
            flags: FLAG_END_STREAM,
            stream: 1,
            payload: b"hello".to_vec()
        }
    );
    assert_eq!(s.open_streams(), 0);
    assert_eq!(s.send_window(1), 0);
    assert!(!s.is_done());
}

#[test]
fn get_split_at_every_offset() {
    let input = get_input();
    for cut in 0..=input.len() {
        let mut s = Session::new(Settings::default());
        let mut buf = input[..cut].to_vec();
        let n = s.recv(&buf).unwrap();
        buf.drain(..n);
        buf.extend_from_slice(&input[cut..]);
        let n = s.recv(&buf).unwrap();
        assert_eq!(n, buf.len(), "cut {cut}");
        expect_get(&events(&mut s));
    }
}

#[test]
fn invalid_preface() {
    let mut s = Session::new(Settings::default());
    out(&mut s);
    assert_eq!(
        conn_error(&mut s, b"GET / HTTP/1.1\r\n\r\n"),
        ErrorCode::ProtocolError
    );
    // A partial preface is fine.
    let mut s = Session::new(Settings::default());
    assert_eq!(s.recv(&PREFACE[..10]), Ok(10));
    assert_eq!(s.recv(&PREFACE[10..]), Ok(14));
}

#[test]
fn first_frame_must_be_settings() {
    let mut s = Session::new(Settings::default());
    out(&mut s);
    let mut input = PREFACE.to_vec();
    input.extend(get(1));
    assert_eq!(conn_error(&mut s, &input), ErrorCode::ProtocolError);
}

#[test]
fn request_body_and_content_length() {
    let mut s = default_session();
    let mut input = headers(1, &[GET[0], GET[1], GET[2], ("content-length", "5")], false);
    input.extend(data(1, b"hel", false));
    input.extend(data(1, b"lo", true));
    feed(&mut s, &input).unwrap();
    let ev = events(&mut s);
    assert!(
        matches!(&ev[0], Event::Request { id: 1, head, end_stream: false } if head.content_length == Some(5))
    );
    assert_eq!(
        ev[1],
        Event::Data {
            id: 1,
            data: b"hel".to_vec(),
            end_stream: false
        }
    );
    assert_eq!(
        ev[2],
        Event::Data {
            id: 1,
            data: b"lo".to_vec(),
            end_stream: true
        }
    );
    assert!(out(&mut s).is_empty());
}

#[test]
fn content_length_mismatch_is_a_stream_error() {
    let cl = [GET[0], GET[1], GET[2], ("content-length", "3")];
    // Too short at END_STREAM, too long as it arrives, END_STREAM on HEADERS with a length.
    let cases = [
        [headers(1, &cl, false), data(1, b"ab", true)].concat(),
        [headers(1, &cl, false), data(1, b"abcd", false)].concat(),
        headers(1, &cl, true),
    ];
    for input in cases {
        let mut s = default_session();
        feed(&mut s, &input).unwrap();
        let frames = out(&mut s);
        let rst = only(&frames, RST_STREAM);
        assert_eq!((rst.stream, rst.code()), (1, ErrorCode::ProtocolError));
        // The connection goes on.
        feed(&mut s, &get(3)).unwrap();
        assert!(
            events(&mut s)
                .iter()
                .any(|e| matches!(e, Event::Request { id: 3, .. }))
        );
    }
}

#[test]
fn trailers_end_the_body() {
    let mut s = default_session();
    let mut input = headers(1, &[GET[0], GET[1], GET[2]], false);
    input.extend(data(1, b"x", false));
    input.extend(headers(1, &[("x-checksum", "42")], true));
    feed(&mut s, &input).unwrap();
    let ev = events(&mut s);
    assert_eq!(
        ev[2],
        Event::Trailers {
            id: 1,
            fields: vec![("x-checksum".into(), "42".into())]
        }
    );
    // Trailers without END_STREAM, or with a pseudo-header, are malformed.
    for bad in [
        headers(3, &[("x", "1")], false),
        headers(3, &[(":path", "/")], true),
    ] {
        let mut s = default_session();
        feed(
            &mut s,
            &[headers(3, &[GET[0], GET[1], GET[2]], false), bad].concat(),
        )
        .unwrap();
        assert_eq!(
            only(&out(&mut s), RST_STREAM).code(),
            ErrorCode::ProtocolError
        );
        assert_eq!(events(&mut s).last(), Some(&Event::Reset { id: 3 }));
    }
}

#[test]
fn malformed_request_resets_the_stream_only() {
    let mut s = default_session();
    feed(
        &mut s,
        &headers(1, &[GET[0], GET[1], GET[2], ("connection", "close")], true),
    )
    .unwrap();
    feed(
        &mut s,
        &headers(
            3,
            &[GET[0], GET[1], GET[2], GET[3], ("host", "evil.org")],
            true,
        ),
    )
    .unwrap();
    feed(&mut s, &headers(5, &[GET[0], ("Accept", "x")], true)).unwrap();
    let frames = out(&mut s);
    let rsts: Vec<(u32, ErrorCode)> = frames
        .iter()
        .filter(|f| f.kind == RST_STREAM)
        .map(|f| (f.stream, f.code()))
        .collect();
    assert_eq!(
        rsts,
        [
            (1, ErrorCode::ProtocolError),
            (3, ErrorCode::ProtocolError),
            (5, ErrorCode::ProtocolError)
        ]
    );
    assert!(events(&mut s).is_empty());
    feed(&mut s, &get(7)).unwrap();
    assert!(matches!(events(&mut s)[..], [Event::Request { id: 7, .. }]));
}

#[test]
fn headers_with_continuation() {
    let b = block(&GET);
    let (first, rest) = b.split_at(3);
    let mut input = raw(HEADERS, FLAG_END_STREAM, 1, first);
    input.extend(raw(CONTINUATION, 0, 1, &rest[..2]));
    input.extend(raw(CONTINUATION, FLAG_END_HEADERS, 1, &rest[2..]));
    let mut s = default_session();
    feed(&mut s, &input).unwrap();
    assert!(matches!(
        events(&mut s)[..],
        [Event::Request {
            id: 1,
            end_stream: true,
            ..
        }]
    ));
    // Anything else in the middle of a block is a connection error.
    let mut s = default_session();
    let input = [raw(HEADERS, 0, 1, first), raw(PING, 0, 0, &[0; 8])].concat();
    assert_eq!(conn_error(&mut s, &input), ErrorCode::ProtocolError);
    let mut s = default_session();
    let input = [
        raw(HEADERS, 0, 1, first),
        raw(CONTINUATION, FLAG_END_HEADERS, 3, rest),
    ]
    .concat();
    assert_eq!(conn_error(&mut s, &input), ErrorCode::ProtocolError);
    let mut s = default_session();
    assert_eq!(
        conn_error(&mut s, &raw(CONTINUATION, FLAG_END_HEADERS, 1, rest)),
        ErrorCode::ProtocolError
    );
}

#[test]
fn bad_hpack_is_a_compression_error() {
    let mut s = default_session();
    let input = raw(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, &[0x80]);
    assert_eq!(conn_error(&mut s, &input), ErrorCode::CompressionError);
}

#[test]
fn ping_answered_and_peer_goaway() {
    let mut s = default_session();
    feed(&mut s, &raw(PING, 0, 0, b"12345678")).unwrap();
    feed(&mut s, &raw(PING, FLAG_ACK, 0, b"abcdefgh")).unwrap();
    assert_eq!(
        out(&mut s),
        [Got {
            kind: PING,
            flags: FLAG_ACK,
            stream: 0,
            payload: b"12345678".to_vec()
        }]
    );
    feed(&mut s, &get(1)).unwrap();
    feed(&mut s, &raw(GOAWAY, 0, 0, &[0; 8])).unwrap();
    assert!(!s.is_done(), "stream 1 still open");
    s.send_headers(1, 204, &[], true);
    assert!(s.is_done());
}

#[test]
fn graceful_go_away() {
    let mut s = default_session();
    feed(&mut s, &get(1)).unwrap();
    feed(&mut s, &get(3)).unwrap();
    events(&mut s);
    s.go_away(ErrorCode::NoError);
    let goaway = only(&out(&mut s), GOAWAY);
    assert_eq!((goaway.u32_at(0), goaway.code()), (3, ErrorCode::NoError));
    // A later stream is ignored; the open ones finish.
    feed(&mut s, &get(5)).unwrap();
    assert!(events(&mut s).is_empty());
    assert!(out(&mut s).is_empty());
    s.send_headers(1, 200, &[], true);
    assert!(!s.is_done());
    s.send_headers(3, 200, &[], false);
    s.send_data(3, b"", true);
    assert!(s.is_done());
    assert_eq!(
        out(&mut s).last().map(|f| (f.kind, f.flags)),
        Some((DATA, FLAG_END_STREAM))
    );
}

#[test]
fn push_promise_from_client() {
    let mut s = default_session();
    assert_eq!(
        conn_error(
            &mut s,
            &raw(PUSH_PROMISE, FLAG_END_HEADERS, 1, &[0, 0, 0, 2])
        ),
        ErrorCode::ProtocolError
    );
}
