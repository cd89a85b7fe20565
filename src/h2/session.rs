//! The server side of one HTTP/2 connection, sans-IO (nghttp2's `mem_recv` /
//! `mem_send` shape): [`Session::recv`] takes the bytes read from the socket and turns
//! them into [`Event`]s; the `send_*` methods and the session's own answers (SETTINGS
//! ACK, PING ACK, WINDOW_UPDATE, RST_STREAM, GOAWAY) queue frames in
//! [`Session::output`], which the caller writes out and drains.
//!
//! Receiving is in `recv.rs`, sending in `send.rs`; this file holds the state.
//!
//! Back-pressure: while more than [`OUTPUT_HIGH_WATER`] bytes wait in the output,
//! `recv` consumes nothing (returns `Ok(0)`, as for a partial frame): the caller writes
//! before feeding more, so a peer that never reads cannot grow our output by sending
//! frames we must answer. Check [`Session::wants_read`] before reading the socket.

use std::collections::{HashMap, VecDeque};

use super::frame::{self, MAX_WINDOW, MIN_MAX_FRAME_SIZE};
use super::guard::Guard;
use super::hpack::Decoder;
use super::stream::{State, Stream};
use super::{Error, ErrorCode, RequestHead};

/// Output above which `recv` stops taking input.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;

/// The default window of a new stream and of the connection (§6.9.2).
pub const DEFAULT_WINDOW: u32 = 65_535;

/// SETTINGS identifiers (§6.5.2).
pub(crate) const HEADER_TABLE_SIZE: u16 = 1;
pub(crate) const ENABLE_PUSH: u16 = 2;
pub(crate) const MAX_CONCURRENT_STREAMS: u16 = 3;
pub(crate) const INITIAL_WINDOW_SIZE: u16 = 4;
pub(crate) const MAX_FRAME_SIZE: u16 = 5;
pub(crate) const MAX_HEADER_LIST_SIZE: u16 = 6;

/// What we announce, from the server's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `http2_max_concurrent_streams` (128).
    pub max_concurrent_streams: u32,
    /// Our per-stream receive window: nginx's `http2_body_preread_size` (64k).
    pub initial_window: u32,
    /// The largest frame we accept (16384..=2^24-1).
    pub max_frame_size: u32,
    /// The largest decoded header list (`large_client_header_buffers`, e.g. 32k).
    pub max_header_list_size: u32,
    /// Our HPACK decoder's table size (4096).
    pub header_table_size: u32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_concurrent_streams: 128,
            initial_window: 65_536,
            max_frame_size: MIN_MAX_FRAME_SIZE,
            max_header_list_size: 32 * 1024,
            header_table_size: 4096,
        }
    }
}

/// What the server learns from the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete, validated request head (HEADERS [+ CONTINUATION] with END_HEADERS).
    Request {
        id: u32,
        head: RequestHead,
        end_stream: bool,
    },
    /// Request body bytes; the server calls [`Session::consumed`] as it uses them.
    Data {
        id: u32,
        data: Vec<u8>,
        end_stream: bool,
    },
    /// The stream is gone (the peer's RST_STREAM, or our stream error on its request
    /// body or trailers): drop its work. Only for streams that had a `Request`.
    Reset { id: u32 },
    /// The peer raised a window that had stopped a `send_data`: that stream (or, for
    /// id 0, every stream) may send again.
    WindowOpen { id: u32 },
    /// Trailers of a request body (HEADERS with END_STREAM after DATA).
    Trailers {
        id: u32,
        fields: Vec<(String, String)>,
    },
}

/// The peer's settings that bind what we send.
#[derive(Debug)]
pub(crate) struct Peer {
    pub initial_window: u32,
    pub max_frame_size: u32,
}

/// Where the byte stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// This many bytes of the client preface are still to come.
    Preface(usize),
    /// The first frame must be SETTINGS (§3.4).
    FirstSettings,
    Frames,
}

/// What a header block in progress will become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockKind {
    Request {
        self_dependent: bool,
    },
    Trailers,
    /// On a closed stream: decoded for HPACK's sake, then the stream is reset.
    Closed,
}

/// A header block waiting for its CONTINUATION frames.
#[derive(Debug)]
pub(crate) struct Block {
    pub stream: u32,
    pub kind: BlockKind,
    pub buf: Vec<u8>,
    pub end_stream: bool,
}

pub struct Session {
    /// Ours, as announced (clamped to the legal ranges).
    pub(crate) settings: Settings,
    /// The peer acknowledged our SETTINGS: our smaller window now binds it.
    pub(crate) settings_acked: bool,
    pub(crate) peer: Peer,
    pub(crate) phase: Phase,
    pub(crate) decoder: Decoder,
    /// Streams that are open or half closed; idle and closed ones have no entry.
    pub(crate) streams: HashMap<u32, Stream>,
    /// The highest stream id the peer used: every lower odd one is closed or active.
    pub(crate) last_stream: u32,
    pub(crate) block: Option<Block>,
    /// DATA bytes we may send on the whole connection.
    pub(crate) conn_send: i64,
    /// DATA bytes the peer may send on the whole connection.
    pub(crate) conn_recv: i64,
    /// A `send_data` stopped at the connection window.
    pub(crate) conn_blocked: bool,
    pub(crate) events: VecDeque<Event>,
    pub(crate) out: Vec<u8>,
    /// The last stream id of the GOAWAY we sent: later streams are ignored.
    pub(crate) goaway_sent: Option<u32>,
    pub(crate) goaway_received: bool,
    /// A connection error ended the session.
    pub(crate) failed: Option<Error>,
    pub(crate) guard: Guard,
}

/// The client connection preface (§3.4).
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

impl Session {
    /// A session that has queued our SETTINGS and a connection WINDOW_UPDATE (we keep
    /// the connection window at its maximum, as nginx does; stream windows bound what
    /// a peer can make us buffer).
    pub fn new(s: Settings) -> Session {
        let settings = Settings {
            max_concurrent_streams: s.max_concurrent_streams.max(1),
            initial_window: s.initial_window.min(MAX_WINDOW),
            max_frame_size: s
                .max_frame_size
                .clamp(MIN_MAX_FRAME_SIZE, frame::MAX_MAX_FRAME_SIZE),
            ..s
        };
        let mut session = Session {
            settings,
            settings_acked: false,
            peer: Peer {
                initial_window: DEFAULT_WINDOW,
                max_frame_size: MIN_MAX_FRAME_SIZE,
            },
            phase: Phase::Preface(PREFACE.len()),
            decoder: Decoder::new(settings.header_table_size as usize),
            streams: HashMap::new(),
            last_stream: 0,
            block: None,
            conn_send: i64::from(DEFAULT_WINDOW),
            conn_recv: i64::from(MAX_WINDOW),
            conn_blocked: false,
            events: VecDeque::new(),
            out: Vec::new(),
            goaway_sent: None,
            goaway_received: false,
            failed: None,
            guard: Guard::new(settings.max_concurrent_streams),
        };
        let params = session.announced();
        frame::write_settings(&mut session.out, &params);
        frame::write_window_update(&mut session.out, 0, MAX_WINDOW - DEFAULT_WINDOW);
        session
    }

    fn announced(&self) -> Vec<(u16, u32)> {
        let s = &self.settings;
        let mut params = vec![
            (ENABLE_PUSH, 0),
            (MAX_CONCURRENT_STREAMS, s.max_concurrent_streams),
            (INITIAL_WINDOW_SIZE, s.initial_window),
            (MAX_FRAME_SIZE, s.max_frame_size),
            (MAX_HEADER_LIST_SIZE, s.max_header_list_size),
        ];
        if s.header_table_size != 4096 {
            params.insert(0, (HEADER_TABLE_SIZE, s.header_table_size));
        }
        params
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes to write to the socket; the caller drains what went out.
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Whether `recv` would take input now (no connection error, output below the
    /// high-water mark).
    pub fn wants_read(&self) -> bool {
        self.failed.is_none() && self.out.len() <= OUTPUT_HIGH_WATER
    }

    /// GOAWAY sent or received (or a connection error), and no stream left open.
    pub fn is_done(&self) -> bool {
        let closing = self.goaway_sent.is_some() || self.goaway_received;
        self.failed.is_some() || (closing && self.streams.is_empty())
    }

    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Queues the GOAWAY for a connection error, once; the session takes nothing more.
    pub(crate) fn fail(&mut self, e: Error) -> Error {
        if self.failed.is_none() {
            frame::write_goaway(&mut self.out, self.last_stream, e.code);
            self.failed = Some(e);
        }
        e
    }

    /// A stream error (§5.4.2): RST_STREAM, and `Event::Reset` if the server knew it.
    pub(crate) fn stream_error(&mut self, id: u32, code: ErrorCode) {
        frame::write_rst_stream(&mut self.out, id, code);
        if self.streams.remove(&id).is_some() {
            self.events.push_back(Event::Reset { id });
        }
    }

    /// END_STREAM from the peer.
    pub(crate) fn close_remote(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        match s.state {
            State::HalfClosedLocal => {
                self.streams.remove(&id);
            }
            _ => s.state = State::HalfClosedRemote,
        }
    }

    /// END_STREAM from us.
    pub(crate) fn close_local(&mut self, id: u32) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        match s.state {
            State::HalfClosedRemote => {
                self.streams.remove(&id);
            }
            _ => s.state = State::HalfClosedLocal,
        }
    }
}
