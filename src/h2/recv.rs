//! Receiving: the preface, then one frame at a time, each checked against the stream
//! states of RFC 9113 §5.1 and the flow-control windows of §6.9.

use super::frame::{self, Frame, FrameError, MAX_WINDOW};
use super::request;
use super::session::*;
use super::stream::Stream;
use super::{Error, ErrorCode};

fn proto(reason: &'static str) -> Error {
    Error::new(ErrorCode::ProtocolError, reason)
}

/// Where a stream id stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Known {
    Active,
    Closed,
    Idle,
}

impl Session {
    /// Feeds received bytes (the 24-byte client preface first); returns how many were
    /// consumed (a partial frame stays with the caller, who passes it again with more).
    /// Takes nothing while the output is above [`OUTPUT_HIGH_WATER`]. Err = connection
    /// error: a GOAWAY with that code is already queued in the output; the caller writes
    /// the output and closes.
    pub fn recv(&mut self, input: &[u8]) -> Result<usize, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mut used = 0;
        while self.out.len() <= OUTPUT_HIGH_WATER {
            match self.recv_one(&input[used..]) {
                Ok(0) => break,
                Ok(n) => used += n,
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(used)
    }

    /// One step: part of the preface, or one whole frame; 0 when more input is needed.
    fn recv_one(&mut self, input: &[u8]) -> Result<usize, Error> {
        if let Phase::Preface(left) = self.phase {
            let expected = &PREFACE[PREFACE.len() - left..];
            let n = input.len().min(left);
            if input[..n] != expected[..n] {
                return Err(proto("invalid connection preface"));
            }
            self.phase = if n == left {
                Phase::FirstSettings
            } else {
                Phase::Preface(left - n)
            };
            return Ok(n);
        }
        match frame::parse(input, self.settings.max_frame_size) {
            Ok(None) => Ok(0),
            Ok(Some((f, n))) => self.on_frame(f).map(|()| n),
            Err(FrameError::Connection(e)) => Err(e),
            Err(FrameError::Stream { stream, code, len }) => {
                self.stream_error(stream, code);
                Ok(len)
            }
        }
    }

    pub(crate) fn known(&self, id: u32) -> Known {
        if self.streams.contains_key(&id) {
            Known::Active
        } else if id <= self.last_stream && !id.is_multiple_of(2) {
            Known::Closed
        } else {
            Known::Idle
        }
    }

    fn on_frame(&mut self, f: Frame) -> Result<(), Error> {
        if self.phase == Phase::FirstSettings {
            if !matches!(f, Frame::Settings { ack: false, .. }) {
                return Err(proto("first frame is not SETTINGS"));
            }
            self.phase = Phase::Frames;
        }
        // §6.10: a header block admits only its own CONTINUATION frames.
        if let Some(b) = &self.block
            && !matches!(f, Frame::Continuation { stream, .. } if stream == b.stream)
        {
            return Err(proto("header block interrupted"));
        }
        match f {
            Frame::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => self.on_data(stream, data, end_stream, flow_len),
            Frame::Headers {
                stream,
                block,
                end_stream,
                end_headers,
                priority,
            } => {
                let self_dep = priority.is_some_and(|p| p.depends_on == stream);
                self.on_headers(stream, block, end_stream, end_headers, self_dep)
            }
            Frame::Continuation {
                block, end_headers, ..
            } => self.on_continuation(block, end_headers),
            Frame::Priority { stream, priority } => {
                // §5.3.1: a stream depending on itself is a stream error.
                if priority.depends_on == stream {
                    self.stream_error(stream, ErrorCode::ProtocolError);
                }
                self.guard.useless()
            }
            Frame::RstStream { stream, .. } => self.on_rst(stream),
            Frame::Settings { ack, params } => self.on_settings(ack, params),
            Frame::PushPromise { .. } => Err(proto("client sent PUSH_PROMISE")),
            Frame::Ping { ack, data } => {
                if !ack {
                    frame::write_ping_ack(&mut self.out, &data);
                }
                self.guard.useless()
            }
            Frame::GoAway { .. } => {
                self.goaway_received = true;
                Ok(())
            }
            Frame::WindowUpdate { stream, increment } => self.on_window_update(stream, increment),
            Frame::Unknown { .. } => self.guard.useless(),
        }
    }

    fn on_data(&mut self, id: u32, data: &[u8], end: bool, flow_len: u32) -> Result<(), Error> {
        let flow = i64::from(flow_len);
        if flow > self.conn_recv {
            return Err(Error::new(
                ErrorCode::FlowControlError,
                "DATA beyond the connection window",
            ));
        }
        self.conn_recv -= flow;
        if self.conn_recv < i64::from(MAX_WINDOW / 4) {
            frame::write_window_update(&mut self.out, 0, MAX_WINDOW - self.conn_recv as u32);
            self.conn_recv = i64::from(MAX_WINDOW);
        }
        match self.known(id) {
            Known::Idle => return Err(proto("DATA on an idle stream")),
            // In flight when we reset it: dropped (§5.4.2), counted.
            Known::Closed => return self.guard.useless(),
            Known::Active => {}
        }
        let initial = self.settings.initial_window;
        let Some(s) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        if !s.remote_open() {
            self.stream_error(id, ErrorCode::StreamClosed);
            return Ok(());
        }
        if flow > s.recv_window {
            self.stream_error(id, ErrorCode::FlowControlError);
            return Ok(());
        }
        s.recv_window -= flow;
        // Padding is never consumed by the server: returned at once.
        s.unacked += flow_len - data.len() as u32;
        s.received += data.len() as u64;
        let over = s.content_length.is_some_and(|n| s.received > n);
        if over || (end && !s.length_matches()) {
            self.stream_error(id, ErrorCode::ProtocolError);
            return self.guard.early_reset();
        }
        if data.is_empty() && !end {
            self.guard.useless()?;
        } else {
            self.guard.useful();
            let data = data.to_vec();
            self.events.push_back(Event::Data {
                id,
                data,
                end_stream: end,
            });
        }
        if end {
            self.close_remote(id);
        } else {
            self.return_window(id, initial);
        }
        Ok(())
    }

    /// Sends a stream WINDOW_UPDATE once half the window waits to be returned.
    pub(crate) fn return_window(&mut self, id: u32, initial: u32) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if !s.remote_open() || s.unacked == 0 || s.unacked < initial / 2 {
            return;
        }
        frame::write_window_update(&mut self.out, id, s.unacked);
        s.recv_window += i64::from(s.unacked);
        s.unacked = 0;
    }

    fn on_headers(
        &mut self,
        id: u32,
        block: &[u8],
        end: bool,
        end_headers: bool,
        self_dep: bool,
    ) -> Result<(), Error> {
        let kind = match self.known(id) {
            Known::Active => BlockKind::Trailers,
            Known::Closed => BlockKind::Closed,
            Known::Idle if id.is_multiple_of(2) => {
                return Err(proto("HEADERS on an even stream id"));
            }
            Known::Idle => {
                self.last_stream = id;
                BlockKind::Request {
                    self_dependent: self_dep,
                }
            }
        };
        self.check_block_size(block.len())?;
        let b = Block {
            stream: id,
            kind,
            buf: block.to_vec(),
            end_stream: end,
        };
        if end_headers {
            return self.on_block(b);
        }
        self.block = Some(b);
        Ok(())
    }

    /// CONTINUATION flood (CVE-2024-27316): a header block may not grow past twice the
    /// header list limit (a legal block is never much larger than what it decodes to).
    fn check_block_size(&self, len: usize) -> Result<(), Error> {
        let cap = 2 * self.settings.max_header_list_size as usize + 1024;
        if len > cap {
            return Err(Error::new(
                ErrorCode::EnhanceYourCalm,
                "header block too large",
            ));
        }
        Ok(())
    }

    fn on_continuation(&mut self, block: &[u8], end_headers: bool) -> Result<(), Error> {
        let Some(mut b) = self.block.take() else {
            return Err(proto("CONTINUATION without HEADERS"));
        };
        self.check_block_size(b.buf.len() + block.len())?;
        if block.is_empty() {
            self.guard.useless()?;
        }
        b.buf.extend_from_slice(block);
        if end_headers {
            return self.on_block(b);
        }
        self.block = Some(b);
        Ok(())
    }

    /// A complete header block: decoded whatever becomes of it (HPACK state, §4.3).
    fn on_block(&mut self, b: Block) -> Result<(), Error> {
        let max = self.settings.max_header_list_size as usize;
        let decoded = self
            .decoder
            .decode(&b.buf, max)
            .map_err(|e| Error::new(ErrorCode::CompressionError, e.0))?;
        let id = b.stream;
        match b.kind {
            BlockKind::Closed => {
                frame::write_rst_stream(&mut self.out, id, ErrorCode::StreamClosed);
                self.guard.useless()
            }
            BlockKind::Trailers => {
                if decoded.too_large {
                    self.stream_error(id, ErrorCode::ProtocolError);
                    return Ok(());
                }
                self.on_trailers(id, decoded.fields, b.end_stream)
            }
            BlockKind::Request { self_dependent } => {
                if self_dependent || decoded.too_large {
                    self.stream_error(id, ErrorCode::ProtocolError);
                    return self.guard.early_reset();
                }
                self.open_stream(id, decoded.fields, b.end_stream)
            }
        }
    }

    fn open_stream(
        &mut self,
        id: u32,
        fields: Vec<(Vec<u8>, Vec<u8>)>,
        end: bool,
    ) -> Result<(), Error> {
        // After our GOAWAY, new streams are ignored (§6.8).
        if self.goaway_sent.is_some_and(|last| id > last) {
            return Ok(());
        }
        if self.streams.len() >= self.settings.max_concurrent_streams as usize {
            frame::write_rst_stream(&mut self.out, id, ErrorCode::RefusedStream);
            return self.guard.useless();
        }
        self.guard.request();
        let head = match request::request_head(fields) {
            Ok(head) if !end || head.content_length.is_none_or(|n| n == 0) => head,
            _ => {
                frame::write_rst_stream(&mut self.out, id, ErrorCode::ProtocolError);
                return self.guard.early_reset();
            }
        };
        let recv_window = match self.settings_acked {
            true => self.settings.initial_window,
            false => self.settings.initial_window.max(DEFAULT_WINDOW),
        };
        let mut s = Stream::new(end, self.peer.initial_window, recv_window);
        s.content_length = head.content_length;
        self.streams.insert(id, s);
        self.events.push_back(Event::Request {
            id,
            head,
            end_stream: end,
        });
        Ok(())
    }

    fn on_trailers(
        &mut self,
        id: u32,
        fields: Vec<(Vec<u8>, Vec<u8>)>,
        end: bool,
    ) -> Result<(), Error> {
        let Some(s) = self.streams.get(&id) else {
            return Ok(());
        };
        if !s.remote_open() {
            self.stream_error(id, ErrorCode::StreamClosed);
            return Ok(());
        }
        // §8.1: trailers end the stream; the body must match its content-length.
        let length_ok = s.length_matches();
        match request::trailers(fields) {
            Ok(fields) if end && length_ok => {
                self.events.push_back(Event::Trailers { id, fields });
                self.close_remote(id);
            }
            _ => self.stream_error(id, ErrorCode::ProtocolError),
        }
        Ok(())
    }

    fn on_rst(&mut self, id: u32) -> Result<(), Error> {
        match self.known(id) {
            Known::Idle => Err(proto("RST_STREAM on an idle stream")),
            Known::Closed => self.guard.useless(),
            Known::Active => {
                let answered = self.streams.remove(&id).is_some_and(|s| s.answered);
                self.events.push_back(Event::Reset { id });
                if answered {
                    Ok(())
                } else {
                    self.guard.early_reset()
                }
            }
        }
    }
}

#[path = "recv_control.rs"]
mod control;
