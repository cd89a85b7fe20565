//! Session tests: a scripted client writes raw frames, and our output is read back
//! with our own frame parser and HPACK decoder.

mod basic;
mod flow;
mod hostile;
mod streams;

use super::frame;
use super::hpack::{self, Decoder};
use super::session::PREFACE;
use super::{Error, ErrorCode, Event, Session, Settings};

/// A frame from our output, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Got {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Got {
    pub fn code(&self) -> ErrorCode {
        let at = if self.kind == frame::GOAWAY { 4 } else { 0 };
        let b = &self.payload[at..at + 4];
        ErrorCode::from_u32(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u32_at(&self, at: usize) -> u32 {
        let b = &self.payload[at..at + 4];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
}

pub fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::write_head(&mut out, payload.len(), kind, flags, stream);
    out.extend_from_slice(payload);
    out
}

pub fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in fields {
        hpack::encode_field(n, v, &mut out);
    }
    out
}

pub const GET: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/"),
    (":authority", "example.com"),
];

/// HEADERS with END_HEADERS (and END_STREAM if `end`).
pub fn headers(id: u32, fields: &[(&str, &str)], end: bool) -> Vec<u8> {
    let flags = frame::FLAG_END_HEADERS | if end { frame::FLAG_END_STREAM } else { 0 };
    raw(frame::HEADERS, flags, id, &block(fields))
}

pub fn get(id: u32) -> Vec<u8> {
    headers(id, &GET, true)
}

pub fn data(id: u32, body: &[u8], end: bool) -> Vec<u8> {
    raw(
        frame::DATA,
        if end { frame::FLAG_END_STREAM } else { 0 },
        id,
        body,
    )
}

pub fn rst(id: u32, code: ErrorCode) -> Vec<u8> {
    raw(frame::RST_STREAM, 0, id, &code.to_u32().to_be_bytes())
}

pub fn window_update(id: u32, inc: u32) -> Vec<u8> {
    raw(frame::WINDOW_UPDATE, 0, id, &inc.to_be_bytes())
}

pub fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::write_settings(&mut out, params);
    out
}

/// The preface and an empty SETTINGS.
pub fn hello() -> Vec<u8> {
    let mut v = PREFACE.to_vec();
    v.extend(settings(&[]));
    v
}

/// A session past the handshake, its output drained.
pub fn start(s: Settings) -> Session {
    let mut session = Session::new(s);
    feed(&mut session, &hello()).unwrap();
    session.output().clear();
    session
}

pub fn default_session() -> Session {
    start(Settings::default())
}

/// Feeds all of `input` the way the event loop does: keep what was not consumed,
/// write (here: drop) the output when recv stops for it. Bounded.
pub fn feed(s: &mut Session, input: &[u8]) -> Result<(), Error> {
    let mut pending = input;
    for _ in 0..1_000_000 {
        if pending.is_empty() {
            return Ok(());
        }
        let n = s.recv(pending)?;
        if n == 0 {
            assert!(
                !s.wants_read(),
                "partial frame left at the end of the input"
            );
            s.output().clear();
        }
        pending = &pending[n..];
    }
    panic!("feed does not finish");
}

/// Our output as frames, drained.
pub fn out(s: &mut Session) -> Vec<Got> {
    let bytes = std::mem::take(s.output());
    let mut rest = &bytes[..];
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let head = frame::FrameHead::parse(rest).expect("whole frame header");
        let total = frame::HEADER_LEN + head.len as usize;
        frames.push(Got {
            kind: head.kind,
            flags: head.flags,
            stream: head.stream,
            payload: rest[frame::HEADER_LEN..total].to_vec(),
        });
        rest = &rest[total..];
    }
    frames
}

pub fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// The fields of a header block we sent.
pub fn decode_block(d: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    let decoded = d.decode(block, 1 << 20).unwrap();
    decoded
        .fields
        .iter()
        .map(|(n, v)| (text(n), text(v)))
        .collect()
}

/// The one frame of `kind` in `frames`.
pub fn only(frames: &[Got], kind: u8) -> Got {
    let found: Vec<&Got> = frames.iter().filter(|f| f.kind == kind).collect();
    assert_eq!(found.len(), 1, "{frames:?}");
    found[0].clone()
}

/// The connection error from feeding `input` to a fresh session, and the GOAWAY code.
pub fn conn_error(s: &mut Session, input: &[u8]) -> ErrorCode {
    let err = feed(s, input).expect_err("a connection error");
    let frames = out(s);
    let goaway = frames.last().expect("a GOAWAY");
    assert_eq!(goaway.kind, frame::GOAWAY);
    assert_eq!(goaway.code(), err.code);
    // The session takes nothing more.
    assert_eq!(s.recv(&get(99)), Err(err));
    assert!(s.is_done());
    err.code
}
