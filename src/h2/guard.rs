//! Limits on what a hostile peer can make us do: frames that cost work or output but
//! carry no request (SETTINGS, PING, empty DATA, PRIORITY, frames on closed streams),
//! and streams reset before we could answer them (rapid reset, CVE-2023-44487). Past a
//! limit the connection goes away with ENHANCE_YOUR_CALM, as nginx does.

use super::{Error, ErrorCode};

/// Net frames doing no work (each useful frame forgives one) before we give up.
pub const USELESS_LIMIT: u32 = 1000;

#[derive(Debug)]
pub(crate) struct Guard {
    /// Useless frames, less useful ones.
    useless: u32,
    /// Streams opened in the current window of requests.
    window_requests: u32,
    /// Of those, reset before we answered them (by the peer, or by us as malformed).
    window_resets: u32,
    /// Resets allowed in one window: twice the concurrent streams, at least 32.
    reset_limit: u32,
}

fn calm(reason: &'static str) -> Error {
    Error::new(ErrorCode::EnhanceYourCalm, reason)
}

impl Guard {
    pub fn new(max_concurrent: u32) -> Guard {
        let reset_limit = max_concurrent.saturating_mul(2).max(32);
        Guard {
            useless: 0,
            window_requests: 0,
            window_resets: 0,
            reset_limit,
        }
    }

    pub fn useless(&mut self) -> Result<(), Error> {
        self.useless += 1;
        if self.useless > USELESS_LIMIT {
            return Err(calm("flood of frames that do no work"));
        }
        Ok(())
    }

    pub fn useful(&mut self) {
        self.useless = self.useless.saturating_sub(1);
    }

    /// A new stream; the window restarts every `2 × reset_limit` of them.
    pub fn request(&mut self) {
        self.useful();
        self.window_requests += 1;
        if self.window_requests > self.reset_limit.saturating_mul(2) {
            self.window_requests = 0;
            self.window_resets = 0;
        }
    }

    /// A stream reset before it was answered.
    pub fn early_reset(&mut self) -> Result<(), Error> {
        self.window_resets += 1;
        if self.window_resets > self.reset_limit {
            return Err(calm("too many streams reset before an answer"));
        }
        Ok(())
    }
}
