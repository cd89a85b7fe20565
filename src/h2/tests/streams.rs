//! Stream states (RFC 9113 §5.1), stream ids, SETTINGS values, PRIORITY, and the
//! concurrent stream limit: each case the error it must raise, connection or stream.

use super::*;
use crate::h2::frame::*;
use crate::h2::session::*;

#[test]
fn connection_errors_on_stream_ids() {
    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        (get(2), ErrorCode::ProtocolError),
        (data(1, b"x", false), ErrorCode::ProtocolError),
        (rst(1, ErrorCode::Cancel), ErrorCode::ProtocolError),
        (window_update(1, 10), ErrorCode::ProtocolError),
        (window_update(0, 0), ErrorCode::ProtocolError),
        (window_update(0, MAX_WINDOW), ErrorCode::FlowControlError),
        (settings(&[(ENABLE_PUSH, 2)]), ErrorCode::ProtocolError),
        (
            settings(&[(INITIAL_WINDOW_SIZE, MAX_WINDOW + 1)]),
            ErrorCode::FlowControlError,
        ),
        (
            settings(&[(MAX_FRAME_SIZE, 16_383)]),
            ErrorCode::ProtocolError,
        ),
        (
            settings(&[(MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE + 1)]),
            ErrorCode::ProtocolError,
        ),
        (raw(DATA, 0, 1, &vec![0; 16_385]), ErrorCode::FrameSizeError),
        (raw(PING, 0, 0, &[0; 7]), ErrorCode::FrameSizeError),
    ];
    for (input, code) in cases {
        let mut s = default_session();
        assert_eq!(conn_error(&mut s, &input), code, "{:02x?}", &input[..9]);
    }
}

#[test]
fn good_settings_are_acknowledged() {
    let mut s = default_session();
    let params = [
        (ENABLE_PUSH, 1),
        (MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE),
        (HEADER_TABLE_SIZE, 0),
        (0x99, 7),
    ];
    feed(&mut s, &settings(&params)).unwrap();
    assert_eq!(
        out(&mut s),
        [Got {
            kind: SETTINGS,
            flags: FLAG_ACK,
            stream: 0,
            payload: vec![]
        }]
    );
    feed(&mut s, &raw(SETTINGS, FLAG_ACK, 0, &[])).unwrap();
    assert!(out(&mut s).is_empty());
}

#[test]
fn lower_stream_id_after_a_higher_one() {
    let mut s = default_session();
    feed(&mut s, &get(5)).unwrap();
    events(&mut s);
    // Stream 3 was skipped: it is closed now (§5.1.1); its HEADERS gets STREAM_CLOSED.
    feed(&mut s, &get(3)).unwrap();
    assert_eq!(
        only(&out(&mut s), RST_STREAM).code(),
        ErrorCode::StreamClosed
    );
    assert!(events(&mut s).is_empty());
    // Frames on closed streams that need no answer are dropped.
    feed(
        &mut s,
        &[
            window_update(3, 5),
            rst(3, ErrorCode::Cancel),
            data(3, b"late", true),
        ]
        .concat(),
    )
    .unwrap();
    assert!(out(&mut s).is_empty());
}

#[test]
fn data_on_half_closed_remote() {
    let mut s = default_session();
    feed(&mut s, &[get(1), data(1, b"x", false)].concat()).unwrap();
    let rst = only(&out(&mut s), RST_STREAM);
    assert_eq!((rst.stream, rst.code()), (1, ErrorCode::StreamClosed));
    let ev = events(&mut s);
    assert_eq!(ev.last(), Some(&Event::Reset { id: 1 }));
}

#[test]
fn peer_reset_drops_the_stream() {
    let mut s = default_session();
    feed(
        &mut s,
        &[headers(1, &GET, false), rst(1, ErrorCode::Cancel)].concat(),
    )
    .unwrap();
    assert_eq!(events(&mut s)[1], Event::Reset { id: 1 });
    assert_eq!(s.open_streams(), 0);
    s.send_headers(1, 200, &[], true);
    assert!(out(&mut s).is_empty(), "nothing sent on a reset stream");
}

#[test]
fn priority_parsed_and_ignored() {
    let mut s = default_session();
    feed(&mut s, &raw(PRIORITY, 0, 9, &[0, 0, 0, 1, 20])).unwrap();
    assert!(out(&mut s).is_empty());
    // A PRIORITY of the wrong length is a stream error FRAME_SIZE_ERROR.
    feed(&mut s, &raw(PRIORITY, 0, 9, &[0, 0, 0, 1])).unwrap();
    assert_eq!(
        only(&out(&mut s), RST_STREAM).code(),
        ErrorCode::FrameSizeError
    );
    // Stream 9 is still idle: a request can open it.
    feed(&mut s, &get(9)).unwrap();
    assert!(matches!(events(&mut s)[..], [Event::Request { id: 9, .. }]));
}

#[test]
fn self_dependency_is_a_stream_error() {
    let mut s = default_session();
    feed(&mut s, &raw(PRIORITY, 0, 7, &[0, 0, 0, 7, 20])).unwrap();
    assert_eq!(only(&out(&mut s), RST_STREAM).stream, 7);
    let mut payload = vec![0, 0, 0, 1, 20];
    payload.extend(block(&GET));
    feed(
        &mut s,
        &raw(
            HEADERS,
            FLAG_PRIORITY | FLAG_END_HEADERS | FLAG_END_STREAM,
            1,
            &payload,
        ),
    )
    .unwrap();
    let rst = only(&out(&mut s), RST_STREAM);
    assert_eq!((rst.stream, rst.code()), (1, ErrorCode::ProtocolError));
    assert!(events(&mut s).is_empty());
    // The HPACK state survived: the next request decodes.
    feed(&mut s, &get(3)).unwrap();
    assert_eq!(events(&mut s).len(), 1);
}

#[test]
fn streams_beyond_the_limit_are_refused() {
    let mut s = start(Settings {
        max_concurrent_streams: 2,
        ..Settings::default()
    });
    feed(&mut s, &[get(1), get(3), get(5)].concat()).unwrap();
    let rst = only(&out(&mut s), RST_STREAM);
    assert_eq!((rst.stream, rst.code()), (5, ErrorCode::RefusedStream));
    assert_eq!(events(&mut s).len(), 2);
    assert_eq!(s.open_streams(), 2);
    // Finishing one makes room.
    s.send_headers(1, 200, &[], true);
    feed(&mut s, &get(7)).unwrap();
    assert!(matches!(events(&mut s)[..], [Event::Request { id: 7, .. }]));
}

#[test]
fn stream_window_update_errors() {
    let mut s = default_session();
    feed(&mut s, &[get(1), window_update(1, 0)].concat()).unwrap();
    assert_eq!(
        only(&out(&mut s), RST_STREAM).code(),
        ErrorCode::ProtocolError
    );
    feed(&mut s, &[get(3), window_update(3, MAX_WINDOW)].concat()).unwrap();
    let rst = only(&out(&mut s), RST_STREAM);
    assert_eq!((rst.stream, rst.code()), (3, ErrorCode::FlowControlError));
}
