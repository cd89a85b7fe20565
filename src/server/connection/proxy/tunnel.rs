//! An upgraded connection (a 101 from the upstream): the head sent, then bytes
//! copied both ways at once until either side is done.

use std::io::{self, Read, Write};

use super::{Phase, ProxyRun, Round};
use crate::gateway::relay::OUT_HIGH_WATER;
use crate::handler::Routed;
use crate::http::{Request, Response};
use crate::server::connection::{Connection, Ctx};

impl Connection {
    /// A 101 from the upstream: send the head, then copy bytes both ways.
    pub(super) fn start_tunnel(
        &mut self,
        ctx: &mut Ctx,
        req: &Request,
        routed: &Routed,
        run: &mut ProxyRun,
        mut resp: Response,
    ) -> Round {
        let cx = self.cx(ctx, req);
        cx.add_headers(&mut resp, routed);
        resp.raw_headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("connection"));
        self.served = self.served.saturating_add(1);
        self.out.drain(..self.out_pos);
        self.out_pos = 0;
        let before = self.out.len();
        resp.write_head_framed(&mut self.out, ctx.date, false, crate::http::Framing::None);
        // The connection is switched, not closed: `Connection: upgrade`, as nginx says.
        upgrade_connection(&mut self.out, before);
        run.head_bytes = (self.out.len() - before) as u64;
        run.close_after = true;
        let rest = std::mem::take(&mut run.input);
        self.out.extend_from_slice(&rest);
        run.body_bytes += rest.len() as u64;
        run.resp = Some(Box::new(resp));
        run.phase = Phase::Tunnel;
        self.set_nodelay();
        Round::Again(true)
    }

    /// Both directions of an upgraded connection, as far as they go without blocking.
    pub(super) fn tunnel_round(&mut self, ctx: &mut Ctx, run: &mut ProxyRun, key: usize) -> Round {
        let mut progress = false;
        let mut upstream_done = false;
        // Upstream → client.
        while self.out.len() - self.out_pos < OUT_HIGH_WATER {
            let Some(stream) = ctx.gateway.backends.stream(key) else {
                return Round::Close;
            };
            let mut buf = [0u8; 16 * 1024];
            match stream.read(&mut buf) {
                Ok(0) => {
                    upstream_done = true;
                    break;
                }
                Ok(n) => {
                    self.out.extend_from_slice(&buf[..n]);
                    run.body_bytes += n as u64;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    upstream_done = true;
                    break;
                }
            }
        }
        match self.relay_flush() {
            Ok(sent) => progress |= sent,
            Err(_) => return Round::Finished,
        }
        if upstream_done && self.out_pos == self.out.len() {
            return Round::Finished;
        }
        // Client → upstream.
        loop {
            if !self.input.is_empty() {
                let Some(stream) = ctx.gateway.backends.stream(key) else {
                    return Round::Close;
                };
                match stream.write(self.input.filled()) {
                    Ok(n) => {
                        self.input.consume(n);
                        progress = true;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Round::Finished,
                }
            }
            if run.tunnel_client_done {
                break;
            }
            match self.fill(crate::server::buffer::INITIAL) {
                Ok(0) => {
                    run.tunnel_client_done = true;
                    if let Some(s) = ctx.gateway.backends.stream(key) {
                        s.shutdown_write();
                    }
                    break;
                }
                Ok(_) => progress = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Round::Finished,
            }
        }
        if progress {
            self.deadline = Some(ctx.now + run.read_timeout);
        }
        Round::Again(progress)
    }
}

/// Turns the `Connection: close` our head writer added into `Connection: upgrade`.
fn upgrade_connection(out: &mut Vec<u8>, from: usize) {
    let needle = b"Connection: close\r\n";
    if let Some(i) = out[from..].windows(needle.len()).rposition(|w| w == needle) {
        let at = from + i;
        out.splice(
            at..at + needle.len(),
            b"Connection: upgrade\r\n".iter().copied(),
        );
    }
}
