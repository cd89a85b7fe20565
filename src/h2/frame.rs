//! HTTP/2 frames (RFC 9113 §4, §6): the 9-byte header, each type's payload and length
//! rules, and writers appending frames to an output buffer.
//!
//! [`parse`] takes a buffer that may hold a partial frame (`Ok(None)`: feed more) and
//! returns a borrowed [`Frame`]. A header announcing more than our
//! SETTINGS_MAX_FRAME_SIZE fails as soon as its 9 bytes are in, before the payload.

use super::{Error, ErrorCode};

/// The fixed frame header length (§4.1).
pub const HEADER_LEN: usize = 9;
/// The initial and smallest allowed SETTINGS_MAX_FRAME_SIZE (§6.5.2).
pub const MIN_MAX_FRAME_SIZE: u32 = 16_384;
/// The largest allowed SETTINGS_MAX_FRAME_SIZE (§6.5.2): 2^24-1.
pub const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;
/// The largest flow-control window (§6.9.1): 2^31-1.
pub const MAX_WINDOW: u32 = 0x7fff_ffff;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

pub const FLAG_END_STREAM: u8 = 0x1;
pub const FLAG_ACK: u8 = 0x1;
pub const FLAG_END_HEADERS: u8 = 0x4;
pub const FLAG_PADDED: u8 = 0x8;
pub const FLAG_PRIORITY: u8 = 0x20;

/// A stream dependency (§5.3.2, deprecated; parsed to check it, then ignored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    pub exclusive: bool,
    pub depends_on: u32,
    pub weight: u8,
}

/// One received frame, borrowing its payload from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Data {
        stream: u32,
        data: &'a [u8],
        end_stream: bool,
        /// The whole payload length, padding included: what flow control counts (§6.9).
        flow_len: u32,
    },
    Headers {
        stream: u32,
        block: &'a [u8],
        end_stream: bool,
        end_headers: bool,
        priority: Option<Priority>,
    },
    Priority {
        stream: u32,
        priority: Priority,
    },
    RstStream {
        stream: u32,
        code: ErrorCode,
    },
    Settings {
        ack: bool,
        /// Raw 6-byte (identifier, value) pairs; see [`settings_params`].
        params: &'a [u8],
    },
    PushPromise {
        stream: u32,
    },
    Ping {
        ack: bool,
        data: [u8; 8],
    },
    GoAway {
        last_stream: u32,
        code: ErrorCode,
        debug: &'a [u8],
    },
    WindowUpdate {
        stream: u32,
        increment: u32,
    },
    Continuation {
        stream: u32,
        block: &'a [u8],
        end_headers: bool,
    },
    /// A type this implementation does not know: ignored (§5.5).
    Unknown {
        kind: u8,
        stream: u32,
    },
}

/// Why a frame could not be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The whole connection is broken.
    Connection(Error),
    /// Only this stream is (a PRIORITY frame of the wrong length, §6.3); the frame's
    /// bytes are consumed all the same.
    Stream {
        stream: u32,
        code: ErrorCode,
        len: usize,
    },
}

/// The fixed header fields (§4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl FrameHead {
    pub fn parse(b: &[u8]) -> Option<FrameHead> {
        let b: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHead {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            // The reserved bit is ignored on receipt (§4.1).
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & MAX_WINDOW,
        })
    }
}

fn conn(code: ErrorCode, reason: &'static str) -> FrameError {
    FrameError::Connection(Error::new(code, reason))
}

/// Parses one frame from the front of `input`: `Ok(None)` until it is complete, else the
/// frame and the bytes it took. `max_frame_size` is the SETTINGS_MAX_FRAME_SIZE we sent.
pub fn parse(input: &[u8], max_frame_size: u32) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    let Some(head) = FrameHead::parse(input) else {
        return Ok(None);
    };
    // §4.2: a frame exceeding SETTINGS_MAX_FRAME_SIZE → FRAME_SIZE_ERROR.
    if head.len > max_frame_size {
        return Err(conn(
            ErrorCode::FrameSizeError,
            "frame larger than max frame size",
        ));
    }
    let total = HEADER_LEN + head.len as usize;
    let Some(payload) = input.get(HEADER_LEN..total) else {
        return Ok(None);
    };
    payload_frame(head, payload).map(|f| Some((f, total)))
}

/// The frame that `payload` (exactly `head.len` bytes) holds.
pub fn payload_frame(head: FrameHead, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    let FrameHead {
        kind,
        flags,
        stream,
        ..
    } = head;
    let needs_stream = matches!(
        kind,
        DATA | HEADERS | PRIORITY | RST_STREAM | PUSH_PROMISE | CONTINUATION
    );
    // §6.1-§6.10: these frames on stream 0, or connection frames on a stream.
    if needs_stream && stream == 0 {
        return Err(conn(ErrorCode::ProtocolError, "stream frame on stream 0"));
    }
    if matches!(kind, SETTINGS | PING | GOAWAY) && stream != 0 {
        return Err(conn(
            ErrorCode::ProtocolError,
            "connection frame on a stream",
        ));
    }
    match kind {
        DATA => data(flags, stream, payload),
        HEADERS => headers(flags, stream, payload),
        PRIORITY => priority_frame(stream, payload),
        RST_STREAM => rst_stream(stream, payload),
        SETTINGS => settings(flags, payload),
        PUSH_PROMISE => Ok(Frame::PushPromise { stream }),
        PING => ping(flags, payload),
        GOAWAY => goaway(payload),
        WINDOW_UPDATE => window_update(stream, payload),
        CONTINUATION => Ok(Frame::Continuation {
            stream,
            block: payload,
            end_headers: flags & FLAG_END_HEADERS != 0,
        }),
        kind => Ok(Frame::Unknown { kind, stream }),
    }
}

/// Strips padding (§6.1): the pad length byte and that many trailing bytes.
fn unpad(flags: u8, payload: &[u8]) -> Result<&[u8], FrameError> {
    if flags & FLAG_PADDED == 0 {
        return Ok(payload);
    }
    let Some((&pad, rest)) = payload.split_first() else {
        return Err(conn(
            ErrorCode::FrameSizeError,
            "padded frame without pad length",
        ));
    };
    // §6.1: padding as long as the payload or longer → PROTOCOL_ERROR.
    let keep = rest.len().checked_sub(usize::from(pad));
    keep.map(|k| &rest[..k])
        .ok_or_else(|| conn(ErrorCode::ProtocolError, "padding exceeds payload"))
}

fn data(flags: u8, stream: u32, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    Ok(Frame::Data {
        stream,
        data: unpad(flags, payload)?,
        end_stream: flags & FLAG_END_STREAM != 0,
        flow_len: payload.len() as u32,
    })
}

fn priority_fields(b: &[u8]) -> Priority {
    let word = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Priority {
        exclusive: word & 0x8000_0000 != 0,
        depends_on: word & MAX_WINDOW,
        weight: b[4],
    }
}

fn headers(flags: u8, stream: u32, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    let mut block = unpad(flags, payload)?;
    let mut priority = None;
    if flags & FLAG_PRIORITY != 0 {
        if block.len() < 5 {
            return Err(conn(
                ErrorCode::FrameSizeError,
                "HEADERS too short for priority",
            ));
        }
        priority = Some(priority_fields(block));
        block = &block[5..];
    }
    Ok(Frame::Headers {
        stream,
        block,
        end_stream: flags & FLAG_END_STREAM != 0,
        end_headers: flags & FLAG_END_HEADERS != 0,
        priority,
    })
}

fn priority_frame(stream: u32, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    // §6.3: a length other than 5 is a stream error FRAME_SIZE_ERROR.
    if payload.len() != 5 {
        let len = HEADER_LEN + payload.len();
        return Err(FrameError::Stream {
            stream,
            code: ErrorCode::FrameSizeError,
            len,
        });
    }
    Ok(Frame::Priority {
        stream,
        priority: priority_fields(payload),
    })
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn rst_stream(stream: u32, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    if payload.len() != 4 {
        return Err(conn(
            ErrorCode::FrameSizeError,
            "RST_STREAM length is not 4",
        ));
    }
    Ok(Frame::RstStream {
        stream,
        code: ErrorCode::from_u32(be32(payload)),
    })
}

fn settings(flags: u8, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    let ack = flags & FLAG_ACK != 0;
    // §6.5: an ACK with a payload, or a length not a multiple of 6 → FRAME_SIZE_ERROR.
    if (ack && !payload.is_empty()) || !payload.len().is_multiple_of(6) {
        return Err(conn(ErrorCode::FrameSizeError, "bad SETTINGS length"));
    }
    Ok(Frame::Settings {
        ack,
        params: payload,
    })
}

/// The (identifier, value) pairs of a SETTINGS payload.
pub fn settings_params(params: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    params
        .chunks_exact(6)
        .map(|p| (u16::from_be_bytes([p[0], p[1]]), be32(&p[2..])))
}

fn ping(flags: u8, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    let data: [u8; 8] = payload
        .try_into()
        .map_err(|_| conn(ErrorCode::FrameSizeError, "PING length is not 8"))?;
    Ok(Frame::Ping {
        ack: flags & FLAG_ACK != 0,
        data,
    })
}

fn goaway(payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    if payload.len() < 8 {
        return Err(conn(ErrorCode::FrameSizeError, "GOAWAY shorter than 8"));
    }
    Ok(Frame::GoAway {
        last_stream: be32(payload) & MAX_WINDOW,
        code: ErrorCode::from_u32(be32(&payload[4..])),
        debug: &payload[8..],
    })
}

fn window_update(stream: u32, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    if payload.len() != 4 {
        return Err(conn(
            ErrorCode::FrameSizeError,
            "WINDOW_UPDATE length is not 4",
        ));
    }
    Ok(Frame::WindowUpdate {
        stream,
        increment: be32(payload) & MAX_WINDOW,
    })
}

// ---- writers ----

/// Appends a frame header.
pub fn write_head(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    let len = (len as u32).to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & MAX_WINDOW).to_be_bytes());
}

pub fn write_settings(out: &mut Vec<u8>, params: &[(u16, u32)]) {
    write_head(out, params.len() * 6, SETTINGS, 0, 0);
    for (id, value) in params {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

pub fn write_settings_ack(out: &mut Vec<u8>) {
    write_head(out, 0, SETTINGS, FLAG_ACK, 0);
}

pub fn write_ping_ack(out: &mut Vec<u8>, data: &[u8; 8]) {
    write_head(out, 8, PING, FLAG_ACK, 0);
    out.extend_from_slice(data);
}

pub fn write_goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode) {
    write_head(out, 8, GOAWAY, 0, 0);
    out.extend_from_slice(&(last_stream & MAX_WINDOW).to_be_bytes());
    out.extend_from_slice(&code.to_u32().to_be_bytes());
}

pub fn write_rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    write_head(out, 4, RST_STREAM, 0, stream);
    out.extend_from_slice(&code.to_u32().to_be_bytes());
}

pub fn write_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    write_head(out, 4, WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&(increment & MAX_WINDOW).to_be_bytes());
}

pub fn write_data(out: &mut Vec<u8>, stream: u32, data: &[u8], end_stream: bool) {
    let flags = if end_stream { FLAG_END_STREAM } else { 0 };
    write_head(out, data.len(), DATA, flags, stream);
    out.extend_from_slice(data);
}

/// A header block as HEADERS and as many CONTINUATION frames as `max_frame` requires.
pub fn write_headers(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame: usize,
) {
    let max_frame = max_frame.max(1);
    let mut chunks = block.chunks(max_frame).peekable();
    let first = chunks.next().unwrap_or(&[]);
    let mut flags = if end_stream { FLAG_END_STREAM } else { 0 };
    if chunks.peek().is_none() {
        flags |= FLAG_END_HEADERS;
    }
    write_head(out, first.len(), HEADERS, flags, stream);
    out.extend_from_slice(first);
    while let Some(chunk) = chunks.next() {
        let flags = if chunks.peek().is_none() {
            FLAG_END_HEADERS
        } else {
            0
        };
        write_head(out, chunk.len(), CONTINUATION, flags, stream);
        out.extend_from_slice(chunk);
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
