//! `h2::Session` (the HTTP/2 engine) fed the client preface, then arbitrary bytes in
//! two reads split at a fuzzer-chosen point, answering each request as a server would.
//!
//! Properties: no panic; `recv` never claims more than it was given; the output stays
//! within the high-water mark plus one frame's answer; the session always makes
//! progress or asks for more (bounded loop); the output is whole, parseable frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webserv::h2::frame::{self, MAX_MAX_FRAME_SIZE};
use webserv::h2::session::{OUTPUT_HIGH_WATER, PREFACE};
use webserv::h2::{ErrorCode, Event, Session, Settings};

fn answer(s: &mut Session) {
    while let Some(ev) = s.poll_event() {
        match ev {
            Event::Request { id, .. } => {
                s.send_headers(id, 200, &[("content-type", "text/plain")], false);
                let _ = s.send_window(id);
                s.send_data(id, b"hello", true);
            }
            Event::Data { id, data, .. } => s.consumed(id, data.len()),
            Event::WindowOpen { .. } | Event::Reset { .. } | Event::Trailers { .. } => {}
        }
    }
}

/// Checks the output parses into whole frames, then drops it (as if written).
fn drain(s: &mut Session) {
    let out = std::mem::take(s.output());
    let mut rest = &out[..];
    while !rest.is_empty() {
        match frame::parse(rest, MAX_MAX_FRAME_SIZE) {
            Ok(Some((_, n))) => rest = &rest[n..],
            other => panic!("our output does not parse: {other:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split) * input.len() / 256;
    let mut s = Session::new(Settings {
        max_concurrent_streams: 4,
        ..Settings::default()
    });
    let mut pending = PREFACE.to_vec();
    for piece in [&input[..cut], &input[cut..]] {
        pending.extend_from_slice(piece);
        for _ in 0..pending.len() + 16 {
            let n = match s.recv(&pending) {
                Ok(n) => n,
                Err(_) => {
                    drain(&mut s);
                    assert!(s.is_done());
                    return;
                }
            };
            assert!(n <= pending.len());
            assert!(s.output().len() <= OUTPUT_HIGH_WATER + 64 * 1024);
            pending.drain(..n);
            answer(&mut s);
            let stalled = !s.wants_read();
            drain(&mut s);
            if n == 0 && !stalled {
                break;
            }
        }
    }
    s.go_away(ErrorCode::NoError);
    drain(&mut s);
});
