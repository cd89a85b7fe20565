//! Flow control both ways: our DATA under the peer's windows, the peer's DATA under
//! ours, and the WINDOW_UPDATEs that move them.

use super::*;
use crate::h2::frame::*;
use crate::h2::session::*;

fn answered(s: &mut Session, id: u32) {
    feed(s, &get(id)).unwrap();
    s.send_headers(id, 200, &[], false);
    events(s);
    out(s);
}

#[test]
fn one_mebibyte_against_the_default_window() {
    let mut s = default_session();
    answered(&mut s, 1);
    let body = vec![7u8; 1 << 20];
    assert_eq!(s.send_window(1), 65_535);
    assert_eq!(s.send_data(1, &body, true), 65_535);
    let frames = out(&mut s);
    let sizes: Vec<usize> = frames.iter().map(|f| f.payload.len()).collect();
    assert_eq!(sizes, [16_384, 16_384, 16_384, 16_383]);
    assert!(
        frames
            .iter()
            .all(|f| f.kind == DATA && f.flags == 0 && f.stream == 1)
    );
    assert_eq!(s.send_window(1), 0);
    assert_eq!(s.send_data(1, &body[65_535..], true), 0);
    assert!(out(&mut s).is_empty());
    // The stream window opens: the connection's is still shut.
    feed(&mut s, &window_update(1, 100_000)).unwrap();
    assert_eq!(events(&mut s), [Event::WindowOpen { id: 1 }]);
    assert_eq!(s.send_window(1), 0);
    assert_eq!(s.send_data(1, &body[65_535..], true), 0);
    feed(&mut s, &window_update(0, 10)).unwrap();
    assert_eq!(events(&mut s), [Event::WindowOpen { id: 0 }]);
    assert_eq!(s.send_window(1), 10);
    assert_eq!(s.send_data(1, &body[65_535..], true), 10);
    // A window that was never exhausted raises no event.
    answered(&mut s, 3);
    feed(&mut s, &window_update(3, 1)).unwrap();
    assert!(events(&mut s).is_empty());
}

#[test]
fn peer_frame_size_and_initial_window_settings() {
    let mut s = default_session();
    feed(
        &mut s,
        &settings(&[(MAX_FRAME_SIZE, 40_000), (INITIAL_WINDOW_SIZE, 100)]),
    )
    .unwrap();
    answered(&mut s, 1);
    assert_eq!(s.send_data(1, &[1; 300], false), 100);
    assert_eq!(out(&mut s).len(), 1);
    // Raising the initial window reopens the stopped stream (§6.9.2).
    feed(&mut s, &settings(&[(INITIAL_WINDOW_SIZE, 50_100)])).unwrap();
    assert_eq!(events(&mut s), [Event::WindowOpen { id: 1 }]);
    assert_eq!(s.send_window(1), 50_000);
    feed(&mut s, &window_update(0, 100_000)).unwrap();
    assert_eq!(s.send_data(1, &vec![1; 60_000], true), 50_000);
    let sizes: Vec<usize> = out(&mut s)
        .iter()
        .filter(|f| f.kind == DATA)
        .map(|f| f.payload.len())
        .collect();
    assert_eq!(sizes, [40_000, 10_000]);
    // Lowering it can make a window negative: nothing may be sent.
    feed(&mut s, &settings(&[(INITIAL_WINDOW_SIZE, 0)])).unwrap();
    assert_eq!(s.send_window(1), 0);
}

#[test]
fn no_data_before_the_response_head() {
    let mut s = default_session();
    feed(&mut s, &get(1)).unwrap();
    assert_eq!(s.send_window(1), 0);
    assert_eq!(s.send_data(1, b"x", true), 0);
    assert!(out(&mut s).is_empty());
}

#[test]
fn response_headers_split_by_peer_frame_size() {
    let mut s = default_session();
    feed(&mut s, &get(1)).unwrap();
    let big = "v".repeat(40_000);
    s.send_headers(1, 200, &[("x-big", &big)], false);
    let frames = out(&mut s);
    let kinds: Vec<u8> = frames.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [HEADERS, CONTINUATION, CONTINUATION]);
    let block: Vec<u8> = frames.iter().flat_map(|f| f.payload.clone()).collect();
    let fields = decode_block(&mut Decoder::new(4096), &block);
    assert_eq!(fields[1], ("x-big".into(), big));
    assert_eq!(frames[2].flags, FLAG_END_HEADERS);
}

#[test]
fn our_receive_window_is_enforced_and_returned() {
    let window = 16_384;
    let mut s = start(Settings {
        initial_window: window,
        ..Settings::default()
    });
    feed(&mut s, &raw(SETTINGS, FLAG_ACK, 0, &[])).unwrap();
    feed(&mut s, &headers(1, &[GET[0], GET[1], GET[2]], false)).unwrap();
    feed(&mut s, &data(1, &vec![0; 10_000], false)).unwrap();
    events(&mut s);
    assert!(out(&mut s).is_empty());
    // Half the window consumed: a stream WINDOW_UPDATE returns it.
    s.consumed(1, 4_000);
    assert!(out(&mut s).is_empty());
    s.consumed(1, 6_000);
    let wu = only(&out(&mut s), WINDOW_UPDATE);
    assert_eq!((wu.stream, wu.u32_at(0)), (1, 10_000));
    // Now 16384 may come; one byte more is a FLOW_CONTROL_ERROR on the stream.
    feed(&mut s, &data(1, &vec![0; 16_384], false)).unwrap();
    assert!(out(&mut s).is_empty());
    feed(&mut s, &data(1, b"x", false)).unwrap();
    let rst = only(&out(&mut s), RST_STREAM);
    assert_eq!((rst.stream, rst.code()), (1, ErrorCode::FlowControlError));
}

#[test]
fn padding_counts_against_the_window_and_comes_back() {
    let mut s = start(Settings {
        initial_window: 100,
        ..Settings::default()
    });
    feed(&mut s, &raw(SETTINGS, FLAG_ACK, 0, &[])).unwrap();
    feed(&mut s, &headers(1, &[GET[0], GET[1], GET[2]], false)).unwrap();
    let mut padded = vec![60];
    padded.extend([b'a'; 10]);
    padded.extend([0; 60]);
    feed(&mut s, &raw(DATA, FLAG_PADDED, 1, &padded)).unwrap();
    assert_eq!(
        events(&mut s)[1],
        Event::Data {
            id: 1,
            data: vec![b'a'; 10],
            end_stream: false
        }
    );
    // 71 counted; the 61 bytes of padding are returned at once.
    let wu = only(&out(&mut s), WINDOW_UPDATE);
    assert_eq!(wu.u32_at(0), 61);
}

#[test]
fn connection_window_refilled_on_receipt() {
    let mut s = default_session();
    feed(&mut s, &headers(1, &[GET[0], GET[1], GET[2]], false)).unwrap();
    // As if 3/4 of the connection window had been used already.
    s.conn_recv = i64::from(MAX_WINDOW / 4) + 10;
    feed(&mut s, &data(1, &[0; 20], false)).unwrap();
    let wu = only(&out(&mut s), WINDOW_UPDATE);
    assert_eq!(
        (wu.stream, wu.u32_at(0)),
        (0, MAX_WINDOW - (MAX_WINDOW / 4 - 10))
    );
    assert_eq!(s.conn_recv, i64::from(MAX_WINDOW));
    // DATA beyond the connection window is a connection error.
    s.conn_recv = 5;
    assert_eq!(
        conn_error(&mut s, &data(1, &[0; 6], false)),
        ErrorCode::FlowControlError
    );
}
