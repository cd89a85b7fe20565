//! Sending: response heads, bodies as DATA under the peer's windows, trailers, resets,
//! GOAWAY, and the WINDOW_UPDATEs that return consumed request body bytes.

use super::ErrorCode;
use super::frame::{self, MAX_WINDOW};
use super::hpack;
use super::session::Session;

/// Fields HTTP/2 forbids (RFC 9113 §8.2.2): dropped from responses.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

fn encode_fields(block: &mut Vec<u8>, headers: &[(&str, &str)]) {
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if CONNECTION_SPECIFIC.contains(&name.as_str()) {
            continue;
        }
        hpack::encode_field(&name, value, block);
    }
}

impl Session {
    fn can_send(&self, id: u32) -> bool {
        self.streams.get(&id).is_some_and(|s| s.local_open())
    }

    /// The response head. Names are lowercased; connection-specific fields dropped.
    /// Ignored on a stream that is gone or already answered.
    pub fn send_headers(
        &mut self,
        id: u32,
        status: u16,
        headers: &[(&str, &str)],
        end_stream: bool,
    ) {
        if !self.can_send(id) || self.streams.get(&id).is_some_and(|s| s.answered) {
            return;
        }
        let mut block = Vec::new();
        hpack::encode_field(":status", &status.to_string(), &mut block);
        encode_fields(&mut block, headers);
        let max = self.peer.max_frame_size as usize;
        frame::write_headers(&mut self.out, id, &block, end_stream, max);
        if let Some(s) = self.streams.get_mut(&id) {
            s.answered = true;
        }
        if end_stream {
            self.close_local(id);
        }
    }

    /// Trailers after the body: a HEADERS frame with END_STREAM.
    pub fn send_trailers(&mut self, id: u32, headers: &[(&str, &str)]) {
        if !self.can_send(id) || !self.streams.get(&id).is_some_and(|s| s.answered) {
            return;
        }
        let mut block = Vec::new();
        encode_fields(&mut block, headers);
        let max = self.peer.max_frame_size as usize;
        frame::write_headers(&mut self.out, id, &block, true, max);
        self.close_local(id);
    }

    /// How many DATA payload bytes may be sent on `id` now (the smaller of the
    /// connection and stream windows; 0 if the stream is closed, reset or unanswered).
    pub fn send_window(&self, id: u32) -> usize {
        match self.streams.get(&id) {
            Some(s) if s.local_open() && s.answered => {
                s.send_window.min(self.conn_send).max(0) as usize
            }
            _ => 0,
        }
    }

    /// Frames up to `send_window` bytes of `data` as DATA (split by the peer's max frame
    /// size); END_STREAM goes on the last frame if all of `data` was taken. Returns the
    /// bytes taken. When the window stops it, `Event::WindowOpen` says when to retry.
    pub fn send_data(&mut self, id: u32, data: &[u8], end_stream: bool) -> usize {
        let window = self.send_window(id);
        if !self.can_send(id) {
            return 0;
        }
        let take = data.len().min(window);
        let finish = end_stream && take == data.len();
        let body = &data[..take];
        let max = self.peer.max_frame_size as usize;
        let mut chunks = body.chunks(max).peekable();
        if body.is_empty() && finish {
            frame::write_data(&mut self.out, id, &[], true);
        }
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            frame::write_data(&mut self.out, id, chunk, finish && last);
        }
        self.conn_send -= take as i64;
        if let Some(s) = self.streams.get_mut(&id) {
            s.send_window -= take as i64;
            s.blocked = s.send_window <= 0;
        }
        self.conn_blocked |= self.conn_send <= 0;
        if finish {
            self.close_local(id);
        }
        take
    }

    /// The server consumed `n` bytes of stream `id`'s request body: a WINDOW_UPDATE once
    /// half the stream window is waiting (the connection window is kept full on receipt).
    pub fn consumed(&mut self, id: u32, n: usize) {
        let initial = self.settings.initial_window;
        if let Some(s) = self.streams.get_mut(&id) {
            let n = u32::try_from(n).unwrap_or(MAX_WINDOW);
            s.unacked = s.unacked.saturating_add(n).min(MAX_WINDOW);
        }
        self.return_window(id, initial);
    }

    /// RST_STREAM from our side (the response failed, or the body is unwanted).
    pub fn reset(&mut self, id: u32, code: ErrorCode) {
        if self.streams.remove(&id).is_some() {
            frame::write_rst_stream(&mut self.out, id, code);
        }
    }

    /// Graceful GOAWAY: the last stream id is the highest the peer opened; streams in
    /// flight finish, later ones are ignored.
    pub fn go_away(&mut self, code: ErrorCode) {
        if self.goaway_sent.is_none() && self.failed.is_none() {
            frame::write_goaway(&mut self.out, self.last_stream, code);
            self.goaway_sent = Some(self.last_stream);
        }
    }
}
