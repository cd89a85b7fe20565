//! Response bodies as DATA frames: each sending stream in turn gets up to
//! `http2_chunk_size` per frame, as much as the connection's and its own
//! window allow; a stream whose window is closed waits for the peer's
//! WINDOW_UPDATE (the engine's `WindowOpen`), without holding the others. Work
//! per turn is bounded like HTTP/1's (`outgoing::SHARE`).

use super::super::Ctx;
use super::super::outgoing::{Produced, Sink as Out};
use super::exchange::{Exchange, Phase};
use super::{H2, OUT_HIGH};
use crate::h2::ErrorCode;

/// Where one stream's turn left it.
enum Turn {
    /// More to send once it gets another turn.
    Again,
    /// Its window is closed (or its file read waits): off the turn list.
    Waiting,
    /// The response is out (or the stream was reset).
    Finished,
    /// The turn's share is spent: let the other connections run.
    Share,
}

impl H2 {
    /// Sends what the windows allow; `true` when the share is spent.
    pub(super) fn send_bodies(&mut self, ctx: &mut Ctx, progress: &mut bool) -> bool {
        let mut spent = 0u64;
        let mut turns = self.sending.len();
        while turns > 0 && self.session.output().len() < OUT_HIGH {
            turns -= 1;
            let Some(id) = self.sending.pop_front() else {
                break;
            };
            match self.stream_turn(ctx, id, &mut spent, progress) {
                Turn::Again => self.sending.push_back(id),
                Turn::Waiting => {}
                Turn::Finished => {
                    self.streams.remove(&id);
                }
                Turn::Share => {
                    self.sending.push_front(id);
                    return true;
                }
            }
        }
        false
    }

    fn stream_turn(
        &mut self,
        ctx: &mut Ctx,
        id: u32,
        spent: &mut u64,
        progress: &mut bool,
    ) -> Turn {
        let chunk = self.settings.chunk_size as usize;
        let owner = (ctx.key, self.serial);
        let Some(ex) = self.streams.get_mut(&id) else {
            return Turn::Finished;
        };
        let Phase::Send {
            buf,
            pos,
            body,
            trailers,
            ..
        } = &mut ex.phase
        else {
            return Turn::Waiting;
        };
        let since = &mut ex.since;
        loop {
            if *pos < buf.len() {
                // With the window shut this sends nothing, and the session
                // notes the stream as blocked: its WindowOpen says when to retry.
                let window = self.session.send_window(id);
                let end = buf.len().min(*pos + window.min(chunk));
                let finishing = end == buf.len() && !body.has_more();
                let last = finishing && trailers.is_none();
                let n = self.session.send_data(id, &buf[*pos..end], last);
                if n == 0 {
                    return Turn::Waiting;
                }
                *progress = true;
                *since = ctx.now;
                *pos += n;
                if finishing && *pos == buf.len() {
                    if let Some(fields) = trailers.take() {
                        send_trailers(&mut self.session, id, &fields);
                    }
                    return Turn::Finished;
                }
                if self.session.output().len() >= OUT_HIGH {
                    return Turn::Again;
                }
                continue;
            }
            buf.clear();
            *pos = 0;
            let mut out = Out {
                out: buf,
                aio: ctx.aio,
                owner,
            };
            match body.produce(&mut out, spent) {
                Ok(Produced::Done) => {
                    if buf.is_empty() {
                        match trailers.take() {
                            Some(fields) => send_trailers(&mut self.session, id, &fields),
                            None => {
                                self.session.send_data(id, &[], true);
                            }
                        }
                        *progress = true;
                        return Turn::Finished;
                    }
                }
                Ok(Produced::More) => {}
                Ok(Produced::Share) => return Turn::Share,
                Ok(Produced::SendFile) | Err(_) => {
                    // The file shrank or could not be read: the stream cannot
                    // be completed; the connection goes on.
                    log::error!("reading a response body for an HTTP/2 stream failed");
                    self.session.reset(id, ErrorCode::InternalError);
                    *progress = true;
                    return Turn::Finished;
                }
            }
        }
    }

    /// The peer opened a window: its stream (id 0: every sending stream) gets
    /// turns again.
    pub(super) fn window_open(&mut self, id: u32) {
        let ids: Vec<u32> = if id == 0 {
            self.streams
                .iter()
                .filter(|(_, ex)| matches!(ex.phase, Phase::Send { .. }))
                .map(|(&id, _)| id)
                .collect()
        } else {
            vec![id]
        };
        for id in ids {
            if self.streams.contains_key(&id) && !self.sending.contains(&id) {
                self.sending.push_back(id);
            }
        }
    }
}

/// `add_trailer` fields as the stream's closing HEADERS frame (names in
/// lowercase, as HTTP/2 wants them).
fn send_trailers(session: &mut crate::h2::Session, id: u32, fields: &[(String, String)]) {
    let lower: Vec<(String, String)> = fields
        .iter()
        .map(|(n, v)| {
            let clean: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            (n.to_ascii_lowercase(), clean)
        })
        .collect();
    let pairs: Vec<(&str, &str)> = lower
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    session.send_trailers(id, &pairs);
}

/// A relayed body (a script's, an upstream's) on its way into DATA frames:
/// `pending[pos..]` waits for the stream's window; `ended` when the backend's
/// output is over (then what is pending is the rest), `broken` when it was cut
/// short (the stream is reset instead of ended).
pub(super) struct Relayed<'a> {
    pub pending: &'a mut Vec<u8>,
    pub pos: &'a mut usize,
    pub ended: bool,
    pub broken: bool,
}

impl H2 {
    /// Sends pending relayed bytes as far as the windows and the output allow;
    /// `true` once the stream is over (ended or reset).
    pub(super) fn send_relayed(
        &mut self,
        ctx: &Ctx,
        id: u32,
        ex: &mut Exchange,
        out: Relayed,
        progress: &mut bool,
    ) -> bool {
        let Relayed {
            pending,
            pos,
            ended,
            broken,
        } = out;
        let chunk = self.settings.chunk_size as usize;
        while *pos < pending.len() && self.session.output().len() < OUT_HIGH {
            // A shut window sends nothing and marks the stream blocked (see
            // `stream_turn`); the backend is then not read until it opens.
            let window = self.session.send_window(id);
            let end = pending.len().min(*pos + window.min(chunk));
            let last = ended && !broken && end == pending.len();
            let n = self.session.send_data(id, &pending[*pos..end], last);
            if n == 0 {
                return false;
            }
            *progress = true;
            ex.since = ctx.now;
            *pos += n;
            if last && *pos == pending.len() {
                return true;
            }
        }
        if *pos < pending.len() {
            return false;
        }
        pending.clear();
        *pos = 0;
        if !ended {
            return false;
        }
        *progress = true;
        if broken {
            // The backend promised more than it sent: the stream cannot end well.
            self.session.reset(id, ErrorCode::InternalError);
        } else {
            self.session.send_data(id, &[], true);
        }
        true
    }
}
