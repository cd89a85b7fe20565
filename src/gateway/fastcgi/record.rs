//! FastCGI 1.0 records on the wire: the encoders for what webserv sends an application
//! (BEGIN_REQUEST, PARAMS, STDIN, ABORT_REQUEST) and an incremental [`Decoder`] for
//! what comes back (STDOUT, STDERR, END_REQUEST). Pure byte work on caller buffers, no
//! I/O and nothing beyond `std`, so the relay owns the sockets and the timing.
//!
//! Record layout: an 8-byte header (version 1, type, request id and content length
//! big-endian, padding length, a reserved byte), the content, then the padding. Like
//! nginx, every record sent is padded to a multiple of 8 bytes.
//!
//! The decoder is as strict as nginx is with an application's answer: a version other
//! than 1, a request id other than ours, and any type but STDOUT, STDERR and
//! END_REQUEST (management records such as GET_VALUES_RESULT and UNKNOWN_TYPE among
//! them) are errors, never skipped.

use std::fmt;

/// The protocol version every record carries.
pub const FCGI_VERSION: u8 = 1;

pub const FCGI_BEGIN_REQUEST: u8 = 1;
pub const FCGI_ABORT_REQUEST: u8 = 2;
pub const FCGI_END_REQUEST: u8 = 3;
pub const FCGI_PARAMS: u8 = 4;
pub const FCGI_STDIN: u8 = 5;
pub const FCGI_STDOUT: u8 = 6;
pub const FCGI_STDERR: u8 = 7;
pub const FCGI_DATA: u8 = 8;
pub const FCGI_GET_VALUES: u8 = 9;
pub const FCGI_GET_VALUES_RESULT: u8 = 10;
pub const FCGI_UNKNOWN_TYPE: u8 = 11;

/// BEGIN_REQUEST role: the application answers the request (the only role webserv uses).
pub const FCGI_RESPONDER: u16 = 1;
/// BEGIN_REQUEST flag: the application keeps the connection open after END_REQUEST.
pub const FCGI_KEEP_CONN: u8 = 1;

/// END_REQUEST protocol status: the request ran to its end.
pub const FCGI_REQUEST_COMPLETE: u8 = 0;
/// END_REQUEST protocol status: the application takes one request per connection.
pub const FCGI_CANT_MPX_CONN: u8 = 1;
/// END_REQUEST protocol status: the application is out of some resource.
pub const FCGI_OVERLOADED: u8 = 2;
/// END_REQUEST protocol status: the application does not know the role asked for.
pub const FCGI_UNKNOWN_ROLE: u8 = 3;

/// Length of a record header.
pub const HEADER_LEN: usize = 8;
/// Largest content of one record (the 16-bit content length).
pub const MAX_CONTENT: usize = 65535;
/// Largest name or value length a name-value pair can state (31 bits).
pub const MAX_PAIR_LEN: usize = 0x7fff_ffff;

/// Padding that brings `len` content bytes to a multiple of 8.
fn padding_for(len: usize) -> usize {
    (8 - len % 8) % 8
}

/// The 8 header bytes of a record. `len` is at most [`MAX_CONTENT`] and `padding` at
/// most 7 here (callers only), so the casts keep every bit.
fn header_bytes(kind: u8, id: u16, len: usize, padding: usize) -> [u8; HEADER_LEN] {
    let [id_hi, id_lo] = id.to_be_bytes();
    let [len_hi, len_lo] = (len.min(MAX_CONTENT) as u16).to_be_bytes();
    [
        FCGI_VERSION,
        kind,
        id_hi,
        id_lo,
        len_hi,
        len_lo,
        padding as u8,
        0,
    ]
}

/// Appends one record with `content` (at most [`MAX_CONTENT`] bytes), padded to 8.
fn push_record(out: &mut Vec<u8>, kind: u8, id: u16, content: &[u8]) {
    let content = content.get(..MAX_CONTENT).unwrap_or(content);
    let padding = padding_for(content.len());
    out.extend_from_slice(&header_bytes(kind, id, content.len(), padding));
    out.extend_from_slice(content);
    out.resize(out.len() + padding, 0);
}

/// Appends `data` as records of `kind`, [`MAX_CONTENT`] bytes each but the last; an
/// empty `data` appends nothing.
fn push_stream(out: &mut Vec<u8>, kind: u8, id: u16, data: &[u8]) {
    for chunk in data.chunks(MAX_CONTENT) {
        push_record(out, kind, id, chunk);
    }
}

/// Appends a BEGIN_REQUEST record (role responder, flags KEEP_CONN when keep_conn).
pub fn begin_request(out: &mut Vec<u8>, id: u16, keep_conn: bool) {
    let [role_hi, role_lo] = FCGI_RESPONDER.to_be_bytes();
    let flags = if keep_conn { FCGI_KEEP_CONN } else { 0 };
    push_record(
        out,
        FCGI_BEGIN_REQUEST,
        id,
        &[role_hi, role_lo, flags, 0, 0, 0, 0, 0],
    );
}

/// Appends PARAMS records carrying the name-value pairs (1- or 4-byte lengths), split
/// into records of at most 65535 content bytes (a pair may span records), then the
/// empty PARAMS record that ends the stream.
///
/// A name or value longer than [`MAX_PAIR_LEN`] cannot be stated in the protocol: that
/// pair is left out (the stream stays well-formed).
pub fn params<'a>(
    out: &mut Vec<u8>,
    id: u16,
    pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) {
    let mut w = StreamWriter::open(out, FCGI_PARAMS, id);
    for (name, value) in pairs {
        if name.len() > MAX_PAIR_LEN || value.len() > MAX_PAIR_LEN {
            continue;
        }
        w.write_len(name.len());
        w.write_len(value.len());
        w.write(name);
        w.write(value);
    }
    w.close();
    push_record(out, FCGI_PARAMS, id, &[]);
}

/// Appends STDIN records for `data` (split at 65535, padded to 8 bytes as nginx does);
/// an empty `data` appends the end-of-stdin record.
pub fn stdin(out: &mut Vec<u8>, id: u16, data: &[u8]) {
    if data.is_empty() {
        push_record(out, FCGI_STDIN, id, &[]);
    } else {
        push_stream(out, FCGI_STDIN, id, data);
    }
}

/// Appends an ABORT_REQUEST record: the application should end request `id` (it still
/// answers with END_REQUEST).
pub fn abort_request(out: &mut Vec<u8>, id: u16) {
    push_record(out, FCGI_ABORT_REQUEST, id, &[]);
}

/// Writes a byte stream straight into `out` as records of one type: a header is
/// reserved when a record opens and filled in when it closes, so a pair crossing
/// the 65535-byte limit continues in the next record without an extra copy.
struct StreamWriter<'o> {
    out: &'o mut Vec<u8>,
    kind: u8,
    id: u16,
    /// Where the open record's header starts in `out`.
    start: usize,
}

impl<'o> StreamWriter<'o> {
    fn open(out: &'o mut Vec<u8>, kind: u8, id: u16) -> StreamWriter<'o> {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER_LEN]);
        StreamWriter {
            out,
            kind,
            id,
            start,
        }
    }

    fn content_len(&self) -> usize {
        self.out.len() - self.start - HEADER_LEN
    }

    fn write(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = MAX_CONTENT - self.content_len();
            if room == 0 {
                self.close();
                self.start = self.out.len();
                self.out.extend_from_slice(&[0; HEADER_LEN]);
                continue;
            }
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.out.extend_from_slice(now);
            bytes = later;
        }
    }

    /// A name-value length: one byte up to 127, else four with the top bit set.
    fn write_len(&mut self, len: usize) {
        match u8::try_from(len) {
            Ok(short) if short <= 127 => self.write(&[short]),
            _ => self.write(&((len as u32) | 0x8000_0000).to_be_bytes()),
        }
    }

    /// Fills in the open record's header and pads it; an open record with no content
    /// is dropped (the terminating empty record is the caller's).
    fn close(&mut self) {
        let len = self.content_len();
        if len == 0 {
            self.out.truncate(self.start);
            return;
        }
        let padding = padding_for(len);
        let header = header_bytes(self.kind, self.id, len, padding);
        if let Some(slot) = self.out.get_mut(self.start..self.start + HEADER_LEN) {
            slot.copy_from_slice(&header);
        }
        self.out.resize(self.out.len() + padding, 0);
    }
}

/// What the application sent, as the decoder meets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Response bytes (CGI header block, then body); a record may come in pieces.
    Stdout(&'a [u8]),
    /// Error-stream bytes, for the error log; a record may come in pieces.
    Stderr(&'a [u8]),
    /// END_REQUEST: the request is over. Final: the decoder takes nothing more.
    End {
        app_status: u32,
        protocol_status: u8,
    },
}

/// A malformed or unexpected record. The decoder keeps returning it afterwards; the
/// connection to the application is not usable any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A record header's version byte is not 1.
    Version(u8),
    /// A record type other than STDOUT, STDERR or END_REQUEST (management records
    /// such as GET_VALUES_RESULT and UNKNOWN_TYPE included, as nginx does).
    UnexpectedType(u8),
    /// A record for another request id (management records, id 0, are refused by
    /// type first).
    WrongId(u16),
    /// An END_REQUEST record with less than the 8 content bytes its body needs.
    EndRequestLength(u16),
    /// Bytes after END_REQUEST. The response is whole; nginx only stops reusing such a
    /// connection, and so should the relay.
    AfterEnd,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Version(v) => write!(f, "unsupported FastCGI protocol version: {v}"),
            DecodeError::UnexpectedType(t) => write!(f, "unexpected FastCGI record type: {t}"),
            DecodeError::WrongId(id) => write!(f, "unexpected FastCGI request id: {id}"),
            DecodeError::EndRequestLength(n) => {
                write!(f, "FastCGI end request record too short: {n} bytes")
            }
            DecodeError::AfterEnd => f.write_str("FastCGI data after the end request record"),
        }
    }
}

impl std::error::Error for DecodeError {}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Gathering a record header.
    Header {
        buf: [u8; HEADER_LEN],
        have: usize,
    },
    /// Inside STDOUT or STDERR content: `left` bytes, then `padding`.
    Stream {
        stderr: bool,
        left: usize,
        padding: usize,
    },
    /// Gathering END_REQUEST's 8-byte body, then skipping `skip` bytes (any longer
    /// content and the padding) before reporting it.
    End {
        body: [u8; 8],
        have: usize,
        skip: usize,
    },
    /// Skipping padding.
    Padding {
        left: usize,
    },
    /// END_REQUEST reported.
    Done,
    Failed(DecodeError),
}

/// Incremental decoder of what the application sends back for one request.
#[derive(Debug, Clone)]
pub struct Decoder {
    id: u16,
    state: State,
    stdout_closed: bool,
}

impl Decoder {
    /// A decoder for the records of request `id` (the id BEGIN_REQUEST was sent with).
    pub fn new(id: u16) -> Decoder {
        Decoder {
            id,
            state: State::Header {
                buf: [0; HEADER_LEN],
                have: 0,
            },
            stdout_closed: false,
        }
    }

    /// Whether END_REQUEST has been reported.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether the empty STDOUT record that ends the stdout stream has been seen
    /// (nginx calls an end of stdout before the header block is whole a premature
    /// close).
    pub fn stdout_closed(&self) -> bool {
        self.stdout_closed
    }

    /// Decodes from `input`; returns (bytes consumed, event) — event None = need more
    /// input, and then all of `input` was consumed. With an event, the caller calls
    /// again with the rest. STDOUT/STDERR content comes in pieces as it arrives (a
    /// record split across reads yields what is there); empty STDOUT/STDERR records
    /// and padding are consumed without an event. Records for other ids and every
    /// other type, management ones (GET_VALUES_RESULT, UNKNOWN_TYPE) included, are
    /// errors, as in nginx. `End` is reported once its record, padding included, is
    /// whole; after it any further byte is [`DecodeError::AfterEnd`].
    pub fn decode<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Event<'a>>), DecodeError> {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or_default();
            match &mut self.state {
                State::Failed(e) => return Err(*e),
                State::Done if rest.is_empty() => return Ok((pos, None)),
                State::Done => return Err(self.fail(DecodeError::AfterEnd)),
                _ if rest.is_empty() => return Ok((pos, None)),
                State::Header { buf, have } => {
                    pos += fill(buf, have, rest);
                    let (header, have) = (*buf, *have);
                    if let Err(e) = self.check(header.get(..have).unwrap_or_default()) {
                        return Err(self.fail(e));
                    }
                    if have == HEADER_LEN {
                        self.state = self.start_record(header)?;
                    }
                }
                State::Stream {
                    stderr,
                    left,
                    padding,
                } => {
                    let n = (*left).min(rest.len());
                    let data = rest.get(..n).unwrap_or_default();
                    let event = if *stderr {
                        Event::Stderr(data)
                    } else {
                        Event::Stdout(data)
                    };
                    *left -= n;
                    pos += n;
                    if *left == 0 {
                        self.state = State::Padding { left: *padding };
                    }
                    return Ok((pos, Some(event)));
                }
                State::Padding { left } => {
                    let n = (*left).min(rest.len());
                    *left -= n;
                    pos += n;
                    if *left == 0 {
                        self.state = State::Header {
                            buf: [0; HEADER_LEN],
                            have: 0,
                        };
                    }
                }
                State::End { body, have, skip } => {
                    if *have < body.len() {
                        pos += fill(body, have, rest);
                    } else {
                        let n = (*skip).min(rest.len());
                        *skip -= n;
                        pos += n;
                    }
                    if *have == body.len() && *skip == 0 {
                        let [a, b, c, d, protocol_status, ..] = *body;
                        self.state = State::Done;
                        let app_status = u32::from_be_bytes([a, b, c, d]);
                        return Ok((
                            pos,
                            Some(Event::End {
                                app_status,
                                protocol_status,
                            }),
                        ));
                    }
                }
            }
        }
    }

    /// Checks the fields a header's first bytes already hold, in nginx's order
    /// (version, type, id), so a bad record fails as soon as its fault arrives.
    fn check(&self, h: &[u8]) -> Result<(), DecodeError> {
        if let Some(&version) = h.first()
            && version != FCGI_VERSION
        {
            return Err(DecodeError::Version(version));
        }
        if let Some(&kind) = h.get(1)
            && !matches!(kind, FCGI_STDOUT | FCGI_STDERR | FCGI_END_REQUEST)
        {
            return Err(DecodeError::UnexpectedType(kind));
        }
        if let Some(&[hi, lo]) = h.get(2..4)
            && u16::from_be_bytes([hi, lo]) != self.id
        {
            return Err(DecodeError::WrongId(u16::from_be_bytes([hi, lo])));
        }
        Ok(())
    }

    /// The state after a whole header, its version, type and id checked.
    fn start_record(&mut self, h: [u8; HEADER_LEN]) -> Result<State, DecodeError> {
        let [_, kind, _, _, len_hi, len_lo, padding, _] = h;
        let len = u16::from_be_bytes([len_hi, len_lo]);
        let padding = usize::from(padding);
        if kind == FCGI_END_REQUEST {
            let Some(extra) = usize::from(len).checked_sub(8) else {
                return Err(self.fail(DecodeError::EndRequestLength(len)));
            };
            return Ok(State::End {
                body: [0; 8],
                have: 0,
                skip: extra + padding,
            });
        }
        if kind == FCGI_STDOUT && len == 0 {
            self.stdout_closed = true;
        }
        if len == 0 {
            return Ok(State::Padding { left: padding });
        }
        let stderr = kind == FCGI_STDERR;
        Ok(State::Stream {
            stderr,
            left: usize::from(len),
            padding,
        })
    }

    fn fail(&mut self, e: DecodeError) -> DecodeError {
        self.state = State::Failed(e);
        e
    }
}

/// Copies what fits of `from` into `buf` after its first `*have` bytes; returns how
/// many bytes were taken.
fn fill(buf: &mut [u8], have: &mut usize, from: &[u8]) -> usize {
    let room = buf.get_mut(*have..).unwrap_or_default();
    let n = room.len().min(from.len());
    if let (Some(to), Some(src)) = (room.get_mut(..n), from.get(..n)) {
        to.copy_from_slice(src);
    }
    *have += n;
    n
}

#[cfg(test)]
#[path = "record/tests.rs"]
mod tests;
