//! Receiving SETTINGS (§6.5) and WINDOW_UPDATE (§6.9): the peer's limits on what we
//! send, and the windows that reopen stopped streams.

use super::Known;
use crate::h2::frame::{self, MAX_MAX_FRAME_SIZE, MAX_WINDOW, MIN_MAX_FRAME_SIZE};
use crate::h2::session::*;
use crate::h2::{Error, ErrorCode};

fn flow(reason: &'static str) -> Error {
    Error::new(ErrorCode::FlowControlError, reason)
}

impl Session {
    pub(super) fn on_settings(&mut self, ack: bool, params: &[u8]) -> Result<(), Error> {
        if ack {
            self.settings_acked = true;
            return Ok(());
        }
        for (id, value) in frame::settings_params(params) {
            self.apply_setting(id, value)?;
        }
        frame::write_settings_ack(&mut self.out);
        self.guard.useless()
    }

    fn apply_setting(&mut self, id: u16, value: u32) -> Result<(), Error> {
        match id {
            ENABLE_PUSH if value > 1 => {
                Err(Error::new(ErrorCode::ProtocolError, "bad ENABLE_PUSH"))
            }
            INITIAL_WINDOW_SIZE if value > MAX_WINDOW => {
                Err(flow("INITIAL_WINDOW_SIZE above 2^31-1"))
            }
            INITIAL_WINDOW_SIZE => self.set_initial_window(value),
            MAX_FRAME_SIZE if !(MIN_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) => {
                Err(Error::new(ErrorCode::ProtocolError, "bad MAX_FRAME_SIZE"))
            }
            MAX_FRAME_SIZE => {
                self.peer.max_frame_size = value;
                Ok(())
            }
            // HEADER_TABLE_SIZE: our encoder uses no dynamic table. MAX_CONCURRENT_STREAMS:
            // we open no streams. MAX_HEADER_LIST_SIZE: advisory. Unknown: ignored (§6.5.2).
            _ => Ok(()),
        }
    }

    /// §6.9.2: a new initial window changes every stream's send window by the difference.
    fn set_initial_window(&mut self, value: u32) -> Result<(), Error> {
        let delta = i64::from(value) - i64::from(self.peer.initial_window);
        self.peer.initial_window = value;
        for (&id, s) in self.streams.iter_mut() {
            s.send_window += delta;
            if s.send_window > i64::from(MAX_WINDOW) {
                return Err(flow("stream window above 2^31-1"));
            }
            if s.blocked && s.send_window > 0 {
                s.blocked = false;
                self.events.push_back(Event::WindowOpen { id });
            }
        }
        Ok(())
    }

    pub(super) fn on_window_update(&mut self, id: u32, increment: u32) -> Result<(), Error> {
        if id == 0 {
            return self.conn_window_update(increment);
        }
        match self.known(id) {
            Known::Idle => {
                return Err(Error::new(
                    ErrorCode::ProtocolError,
                    "WINDOW_UPDATE on an idle stream",
                ));
            }
            Known::Closed => return self.guard.useless(),
            Known::Active => {}
        }
        let Some(s) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        // §6.9: an increment of 0 is a stream error here, past 2^31-1 too (§6.9.1).
        let grown = s.send_window + i64::from(increment);
        if increment == 0 || grown > i64::from(MAX_WINDOW) {
            let code = if increment == 0 {
                ErrorCode::ProtocolError
            } else {
                ErrorCode::FlowControlError
            };
            self.stream_error(id, code);
            return Ok(());
        }
        s.send_window = grown;
        if s.blocked && grown > 0 {
            s.blocked = false;
            self.events.push_back(Event::WindowOpen { id });
        }
        Ok(())
    }

    fn conn_window_update(&mut self, increment: u32) -> Result<(), Error> {
        if increment == 0 {
            return Err(Error::new(
                ErrorCode::ProtocolError,
                "WINDOW_UPDATE of 0 on the connection",
            ));
        }
        self.conn_send += i64::from(increment);
        if self.conn_send > i64::from(MAX_WINDOW) {
            return Err(flow("connection window above 2^31-1"));
        }
        if self.conn_blocked && self.conn_send > 0 {
            self.conn_blocked = false;
            self.events.push_back(Event::WindowOpen { id: 0 });
        }
        Ok(())
    }
}
