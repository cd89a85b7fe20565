//! The connection's first step on a `listen ... proxy_protocol` address: the
//! PROXY protocol header (v1 or v2) a load balancer sends before the client's
//! bytes, read incrementally and without blocking, before any TLS handshake or
//! request. The socket is only peeked until the header is complete; then exactly
//! its bytes are taken, so what follows (the request, or the TLS ClientHello)
//! is read as if the connection had started there. A broken header closes the
//! connection, as nginx does ("broken header").

use std::io;
use std::os::unix::io::AsRawFd;

use super::{Connection, State, Step};
use crate::handler::Proxied;
use crate::http::proxy_protocol::{self, MAX_HEADER, Parse};

impl Connection {
    pub(super) fn step_proxy_header(&mut self) -> Step {
        let mut buf = [0u8; MAX_HEADER];
        let n = match recv(self.stream.socket(), &mut buf, libc::MSG_PEEK) {
            Ok(0) => {
                log::info!(
                    "client {} closed connection while reading PROXY protocol",
                    self.origin.peer
                );
                return Step::Close;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Blocked,
            Err(_) => return Step::Close,
        };
        let seen = buf.get(..n).unwrap_or_default();
        match proxy_protocol::parse(seen) {
            // More is coming (a new edge will say so), unless the peer is done.
            Ok(Parse::NeedMore) if self.hangup => Step::Close,
            Ok(Parse::NeedMore) => Step::Blocked,
            Ok(Parse::Done { header, consumed }) => {
                // The bytes were peeked, so they are there to take.
                let mut sink = [0u8; MAX_HEADER];
                let want = consumed.min(sink.len());
                match recv(self.stream.socket(), &mut sink[..want], 0) {
                    Ok(got) if got == want => {}
                    _ => return Step::Close,
                }
                self.origin.proxied = header
                    .src
                    .zip(header.dst)
                    .map(|(src, dst)| std::sync::Arc::new(Proxied { src, dst }));
                self.state = State::Head { started: false };
                Step::Progress
            }
            Err(e) => {
                log::error!(
                    "broken header: \"{}\" while reading PROXY protocol ({e}), client: {}",
                    proxy_protocol::broken_header_text(seen),
                    self.origin.peer
                );
                Step::Close
            }
        }
    }
}

/// One `recv(2)` into `buf` with `flags`, retrying EINTR.
fn recv(sock: &mio::net::TcpStream, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    loop {
        // SAFETY: the descriptor is open and `buf` is valid for its length.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
