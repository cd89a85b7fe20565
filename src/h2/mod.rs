//! HTTP/2 protocol engine (RFC 9113) with HPACK (RFC 7541), sans-IO: bytes in, events
//! and bytes out. The server's event loop owns the socket and feeds [`Session::recv`];
//! nothing here reads, writes or keeps time.
//!
//! - [`frame`]: the 9-byte frame header, each frame type's payload rules, writers.
//! - [`hpack`]: header compression (decoder with bounded output, encoder).
//! - [`session`]: the server-side connection state machine ([`Session`], [`Event`]).
//! - `stream`, `request`, `guard`: per-stream state, request-head validation (§8.3) and
//!   the counters that stop hostile peers.

pub mod frame;
mod guard;
pub mod hpack;
mod recv;
mod request;
mod send;
pub mod session;
mod stream;

#[cfg(test)]
mod tests;

pub use request::RequestHead;
pub use session::{Event, Session, Settings};

/// RFC 9113 §7 error codes, for RST_STREAM and GOAWAY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    NoError,
    ProtocolError,
    InternalError,
    FlowControlError,
    SettingsTimeout,
    StreamClosed,
    FrameSizeError,
    RefusedStream,
    Cancel,
    CompressionError,
    ConnectError,
    EnhanceYourCalm,
    InadequateSecurity,
    Http11Required,
    /// A code this implementation does not know (allowed on the wire: §7).
    Other(u32),
}

impl ErrorCode {
    pub fn to_u32(self) -> u32 {
        use ErrorCode::*;
        match self {
            NoError => 0,
            ProtocolError => 1,
            InternalError => 2,
            FlowControlError => 3,
            SettingsTimeout => 4,
            StreamClosed => 5,
            FrameSizeError => 6,
            RefusedStream => 7,
            Cancel => 8,
            CompressionError => 9,
            ConnectError => 0xa,
            EnhanceYourCalm => 0xb,
            InadequateSecurity => 0xc,
            Http11Required => 0xd,
            Other(n) => n,
        }
    }

    pub fn from_u32(n: u32) -> ErrorCode {
        use ErrorCode::*;
        const KNOWN: [ErrorCode; 14] = [
            NoError,
            ProtocolError,
            InternalError,
            FlowControlError,
            SettingsTimeout,
            StreamClosed,
            FrameSizeError,
            RefusedStream,
            Cancel,
            CompressionError,
            ConnectError,
            EnhanceYourCalm,
            InadequateSecurity,
            Http11Required,
        ];
        KNOWN.get(n as usize).copied().unwrap_or(Other(n))
    }
}

/// A connection error: the session has queued a GOAWAY with `code`; the caller writes
/// the output and closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    /// What the peer did, for the error log.
    pub reason: &'static str,
}

impl Error {
    pub(crate) fn new(code: ErrorCode, reason: &'static str) -> Error {
        Error { code, reason }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http2 connection error {:?}: {}", self.code, self.reason)
    }
}

impl std::error::Error for Error {}
