//! Hostile peers, each in a bounded loop: rapid reset, CONTINUATION flood, HPACK bomb,
//! floods of frames that make us answer or do nothing, and a peer that never reads.

use super::*;
use crate::h2::frame::*;
use crate::h2::guard::USELESS_LIMIT;
use crate::h2::session::*;

/// Builds the i-th frame of a flood.
type FrameMaker = Box<dyn Fn(u32) -> Vec<u8>>;

/// Feeds `frame` up to `max` times; the iteration at which the session gave up.
fn flood(s: &mut Session, frame: impl Fn(u32) -> Vec<u8>, max: u32) -> Option<(u32, ErrorCode)> {
    for i in 0..max {
        if let Err(e) = feed(s, &frame(i)) {
            let goaway = only(&out(s), GOAWAY);
            assert_eq!(goaway.code(), e.code);
            return Some((i, e.code));
        }
        s.output().clear();
        events(s);
    }
    None
}

#[test]
fn rapid_reset_goes_away() {
    let mut s = default_session();
    let attack = |i: u32| {
        [
            headers(2 * i + 1, &GET, false),
            rst(2 * i + 1, ErrorCode::Cancel),
        ]
        .concat()
    };
    let (at, code) = flood(&mut s, attack, 10_000).expect("the session gives up");
    assert_eq!(code, ErrorCode::EnhanceYourCalm);
    assert!(at <= 2 * 128 + 1, "gave up after {at}");
}

#[test]
fn resets_after_an_answer_are_normal() {
    let mut s = default_session();
    let mut id = 1;
    for _ in 0..3_000 {
        feed(&mut s, &headers(id, &GET, false)).unwrap();
        s.send_headers(id, 200, &[], false);
        feed(&mut s, &rst(id, ErrorCode::Cancel)).unwrap();
        s.output().clear();
        events(&mut s);
        id += 2;
    }
    assert!(s.wants_read());
}

#[test]
fn malformed_request_flood_goes_away() {
    let mut s = default_session();
    let attack = |i: u32| headers(2 * i + 1, &[GET[0], ("x", "y"), GET[1]], true);
    let (at, code) = flood(&mut s, attack, 10_000).expect("the session gives up");
    assert_eq!(code, ErrorCode::EnhanceYourCalm);
    assert!(at <= 2 * 128 + 1);
}

#[test]
fn continuation_flood_is_capped() {
    let mut s = default_session();
    feed(&mut s, &raw(HEADERS, 0, 1, &block(&GET))).unwrap();
    let chunk = vec![0x82; 1000];
    let (at, code) = flood(&mut s, |_| raw(CONTINUATION, 0, 1, &chunk), 10_000).expect("capped");
    assert_eq!(code, ErrorCode::EnhanceYourCalm);
    assert!(at < 70, "gave up after {at} frames");
    // Empty CONTINUATION frames grow nothing; they are counted instead.
    let mut s = default_session();
    feed(&mut s, &raw(HEADERS, 0, 1, &block(&GET))).unwrap();
    let (at, code) = flood(&mut s, |_| raw(CONTINUATION, 0, 1, &[]), 10_000).expect("capped");
    // The handshake's SETTINGS counted one already.
    assert_eq!((at, code), (USELESS_LIMIT - 1, ErrorCode::EnhanceYourCalm));
}

#[test]
fn hpack_bomb_resets_the_stream() {
    let mut s = default_session();
    // One 4000-byte entry, then 3000 one-byte references to it: 12 MB decoded.
    let mut b = block(&GET);
    b.extend([0x40, 0x01, b'x']);
    hpack::encode_int(3_900, 7, 0, &mut b);
    b.extend(std::iter::repeat_n(b'v', 3_900));
    b.extend(std::iter::repeat_n(0xbe, 3_000));
    feed(
        &mut s,
        &raw(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, &b),
    )
    .unwrap();
    let rst = only(&out(&mut s), RST_STREAM);
    assert_eq!((rst.stream, rst.code()), (1, ErrorCode::ProtocolError));
    assert!(events(&mut s).is_empty());
    // The connection goes on, and the table kept the entry.
    let mut next = block(&GET);
    next.push(0xbe);
    feed(
        &mut s,
        &raw(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 3, &next),
    )
    .unwrap();
    let ev = events(&mut s);
    let [Event::Request { id: 3, head, .. }] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(head.fields[0].0, "x");
}

#[test]
fn useless_frame_floods_go_away() {
    let kinds: [(&str, FrameMaker); 6] = [
        (
            "SETTINGS",
            Box::new(|_| settings(&[(MAX_FRAME_SIZE, 16_384)])),
        ),
        (
            "PING",
            Box::new(|i| raw(PING, 0, 0, &u64::from(i).to_be_bytes())),
        ),
        (
            "PRIORITY",
            Box::new(|i| raw(PRIORITY, 0, 2 * i + 1, &[0, 0, 0, 0, 1])),
        ),
        ("unknown", Box::new(|_| raw(0xfa, 0, 0, b"x"))),
        ("WINDOW_UPDATE on closed", Box::new(|_| window_update(1, 1))),
        (
            "RST_STREAM on closed",
            Box::new(|_| rst(1, ErrorCode::Cancel)),
        ),
    ];
    for (name, frame) in kinds {
        let mut s = default_session();
        feed(&mut s, &get(1)).unwrap();
        s.send_headers(1, 200, &[], true);
        let got = flood(&mut s, frame, 100_000);
        assert_eq!(
            got,
            Some((USELESS_LIMIT, ErrorCode::EnhanceYourCalm)),
            "{name}"
        );
    }
}

#[test]
fn empty_data_flood_goes_away() {
    let mut s = default_session();
    feed(&mut s, &headers(1, &GET, false)).unwrap();
    let got = flood(&mut s, |_| data(1, b"", false), 100_000);
    assert_eq!(got, Some((USELESS_LIMIT, ErrorCode::EnhanceYourCalm)));
}

#[test]
fn output_never_read_stays_bounded() {
    let mut s = start(Settings {
        initial_window: MAX_WINDOW,
        ..Settings::default()
    });
    feed(&mut s, &headers(1, &[GET[0], GET[1], GET[2]], false)).unwrap();
    // 20000 PINGs in one buffer, for a peer that never reads our ACKs. Useful DATA in
    // between keeps the flood counter down: only the output bound acts.
    let mut input = Vec::new();
    for i in 0..20_000u64 {
        input.extend(raw(PING, 0, 0, &i.to_be_bytes()));
        input.extend(data(1, b"x", false));
    }
    let (mut used, mut stops) = (0, 0);
    for _ in 0..100 {
        used += s.recv(&input[used..]).unwrap();
        assert!(
            s.output().len() <= OUTPUT_HIGH_WATER + 64,
            "output {}",
            s.output().len()
        );
        if used == input.len() {
            break;
        }
        // Stopped for the output: nothing more is taken until it is written.
        stops += 1;
        assert!(!s.wants_read());
        assert_eq!(s.recv(&input[used..]), Ok(0));
        s.output().clear();
        events(&mut s);
    }
    assert_eq!(used, input.len());
    assert!(stops >= 1, "the output bound stopped the input");
}
