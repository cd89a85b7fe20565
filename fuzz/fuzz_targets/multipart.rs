//! `http::multipart::MultipartParser` on a fuzzer-chosen boundary and body.
//!
//! Layout: byte 0 = boundary length (1..=70), byte 1 = split point, then the boundary,
//! then the body. The driver is the one `handler::upload` uses (keep what the parser
//! did not consume, feed it again with the next read). Properties: no panic, always
//! progress, the same events (data merged) whether the body comes in one read, two,
//! or byte by byte, and every file name sanitizes to a safe single component.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webserv::handler::upload::sanitize;
use webserv::http::multipart::{Event, MultipartError, MultipartParser, boundary};

#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Part(Option<String>, Option<String>, Option<String>),
    Data(Vec<u8>),
    PartEnd,
    End,
    Error(MultipartError),
    Incomplete,
}

fn push(events: &mut Vec<Ev>, ev: Ev) {
    if let (Some(Ev::Data(prev)), Ev::Data(more)) = (events.last_mut(), &ev) {
        prev.extend_from_slice(more);
        return;
    }
    if let Ev::Data(d) = &ev
        && d.is_empty()
    {
        return;
    }
    events.push(ev);
}

fn run(bnd: &str, pieces: &[&[u8]]) -> Vec<Ev> {
    let mut parser = MultipartParser::new(bnd);
    let mut pending: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    let mut steps = 0usize;
    for piece in pieces {
        pending.extend_from_slice(piece);
        let mut used = 0;
        loop {
            steps += 1;
            assert!(steps <= 4 * total + 64, "parser makes no progress");
            let (n, ev) = match parser.next(&pending[used..]) {
                Ok(x) => x,
                Err(e) => {
                    push(&mut events, Ev::Error(e));
                    return events;
                }
            };
            assert!(used + n <= pending.len(), "consumed past the input");
            used += n;
            match ev {
                Event::Part(info) => {
                    if let Some(f) = &info.filename
                        && let Some(s) = sanitize(f)
                    {
                        assert!(!s.is_empty() && s.len() <= 255);
                        assert!(!s.contains(['/', '\\', '\0']), "unsafe name {s:?}");
                        assert!(!s.starts_with('.'), "hidden name {s:?}");
                    }
                    push(
                        &mut events,
                        Ev::Part(info.name, info.filename, info.content_type),
                    );
                }
                Event::Data(d) => {
                    assert!(n > 0, "data without progress");
                    push(&mut events, Ev::Data(d.to_vec()));
                }
                Event::PartEnd => push(&mut events, Ev::PartEnd),
                Event::End => {
                    assert!(parser.is_done());
                    push(&mut events, Ev::End);
                    return events;
                }
                Event::NeedMore if n == 0 => break,
                Event::NeedMore => {}
            }
        }
        pending.drain(..used);
    }
    push(&mut events, Ev::Incomplete);
    events
}

fuzz_target!(|data: &[u8]| {
    let [blen, split, rest @ ..] = data else {
        return;
    };
    let blen = 1 + usize::from(*blen) % 70;
    if rest.len() < blen {
        return;
    }
    let (bnd, body) = rest.split_at(blen);
    let Ok(bnd) = std::str::from_utf8(bnd) else {
        return;
    };
    // The Content-Type parser must agree on a plain boundary parameter.
    let ct = format!("multipart/form-data; boundary={bnd}");
    let _ = boundary(&ct);
    let cut = usize::from(*split) * body.len() / 256;
    let whole = run(bnd, &[body]);
    let parts = run(bnd, &[&body[..cut], &body[cut..]]);
    assert_eq!(whole, parts, "events differ when split at {cut}");
    if body.len() <= 512 {
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(whole, run(bnd, &bytes), "events differ byte by byte");
    }
});
