//! A TLS connection over a non-blocking socket: rustls's sans-IO `ServerConnection`
//! driven the way its mio example does it. Ciphertext moves between the socket and
//! rustls (`read_tls` → `process_new_packets`, `write_tls`); plaintext moves between
//! rustls and the HTTP code (`reader()`, `writer()`).
//!
//! ```text
//!   Detect ──first byte 0x16──▶ Tls (handshake, then application data)
//!     └──anything else───────▶ PlainHttp (answered with nginx's 400, then closed)
//! ```
//!
//! The handshake needs no state of its own in the connection: until it is done no
//! plaintext comes out, so the connection waits for its request head as usual and
//! its `client_header_timeout` bounds a slow or silent handshake.

use std::io::{self, Read, Write};
use std::os::unix::io::AsRawFd;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::{HandshakeKind, ServerConnection};

use super::sni::SniResolver;
use crate::config::TlsPort;

use crate::vars::SslInfo;
use crate::vars::ssl::{cipher_name, group_name, protocol_name};

/// The first byte of a TLS handshake record (a ClientHello).
const HANDSHAKE_RECORD: u8 = 0x16;

/// What the peer turned out to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing received yet.
    Detect,
    Tls,
    /// The handshake was refused (`ssl_reject_handshake`): our alert is sent,
    /// nothing else goes out.
    Rejected,
    /// The first bytes were not a TLS record: plain HTTP sent to a TLS port.
    PlainHttp,
}

pub struct TlsStream {
    sock: TcpStream,
    conn: ServerConnection,
    mode: Mode,
    /// The socket reached EOF: no more ciphertext will come.
    eof: bool,
    /// Our close_notify is queued (sent once, on shutdown or drop).
    closing: bool,
    /// The handshake's facts for `$ssl_*`, learnt on first asking.
    info: Option<Arc<SslInfo>>,
    /// The address's resolver, when some server of it refuses handshakes.
    rejects: Option<Arc<SniResolver>>,
}

impl TlsStream {
    pub fn new(sock: TcpStream, port: &TlsPort) -> io::Result<Self> {
        let conn = ServerConnection::new(Arc::clone(&port.config)).map_err(io::Error::other)?;
        Ok(TlsStream {
            sock,
            conn,
            mode: Mode::Detect,
            eof: false,
            closing: false,
            info: None,
            rejects: port.sni.any_rejects().then(|| Arc::clone(&port.sni)),
        })
    }

    pub fn socket(&self) -> &TcpStream {
        &self.sock
    }

    pub fn plain_http(&self) -> bool {
        self.mode == Mode::PlainHttp
    }

    /// The name the client sent in SNI, once the handshake has read it.
    pub fn server_name(&self) -> Option<&str> {
        self.conn.server_name()
    }

    /// What the handshake settled (`None` before it is done, or on plain HTTP).
    /// Learnt once and shared by the connection's requests.
    pub fn ssl_info(&mut self) -> Option<Arc<SslInfo>> {
        if self.mode != Mode::Tls || self.conn.is_handshaking() {
            return None;
        }
        let conn = &self.conn;
        let info = self.info.get_or_insert_with(|| {
            Arc::new(SslInfo {
                protocol: conn.protocol_version().and_then(protocol_name),
                cipher: conn
                    .negotiated_cipher_suite()
                    .and_then(|s| cipher_name(s.suite())),
                server_name: conn.server_name().map(Into::into),
                reused: conn.handshake_kind() == Some(HandshakeKind::Resumed),
                curve: conn
                    .negotiated_key_exchange_group()
                    .and_then(|g| group_name(g.name())),
                alpn: conn
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into()),
            })
        });
        Some(Arc::clone(info))
    }

    /// Looks at the first byte without taking it (as nginx does): a handshake
    /// record means TLS, anything else plain HTTP. `Ok(false)`: EOF.
    fn detect(&mut self) -> io::Result<bool> {
        let mut first = 0u8;
        loop {
            // SAFETY: the descriptor is open; `first` is a valid one-byte buffer.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    (&raw mut first).cast(),
                    1,
                    libc::MSG_PEEK,
                )
            };
            match n {
                0 => return Ok(false),
                n if n > 0 => break,
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
        self.mode = if first == HANDSHAKE_RECORD {
            Mode::Tls
        } else {
            Mode::PlainHttp
        };
        Ok(true)
    }

    /// Acknowledges what was received at once instead of after the delayed-ACK
    /// timer. Once the client's Finished is in and we have nothing to send (no
    /// session ticket), a client with Nagle on holds its request back until that
    /// ACK comes: 40 ms per new connection without this.
    fn ack_now(&self) {
        let on: libc::c_int = 1;
        // SAFETY: setsockopt on an open descriptor with a pointer to a local int.
        unsafe {
            libc::setsockopt(
                self.sock.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_QUICKACK,
                (&raw const on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }

    /// Writes queued TLS records (handshake messages, alerts, application data)
    /// until none are left or the socket would block.
    pub fn flush(&mut self) -> io::Result<()> {
        if matches!(self.mode, Mode::PlainHttp | Mode::Rejected) {
            return Ok(());
        }
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `flush`, where a full socket is not an error: the rest goes on the next
    /// writable event.
    fn flush_some(&mut self) -> io::Result<()> {
        match self.flush() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// Takes plaintext into rustls, to be sent as records. Returns how much was
    /// taken; `WouldBlock` when rustls's buffer is full and the socket is too.
    pub fn send(&mut self, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
        match self.mode {
            Mode::Tls => {}
            Mode::Rejected => return Err(io::ErrorKind::BrokenPipe.into()),
            _ => return super::send(&self.sock, buf, flags),
        }
        self.flush_some()?;
        let n = self.conn.writer().write(buf)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.flush_some()?;
        Ok(n)
    }

    /// Queues close_notify (once) and writes what can be written now.
    pub fn close_notify(&mut self) {
        if self.mode == Mode::Tls && !self.closing && !self.conn.is_handshaking() {
            self.closing = true;
            self.conn.send_close_notify();
            let _ = self.flush();
        }
    }

    /// Whether a failed handshake is one `ssl_reject_handshake` refused: its SNI
    /// name (which rustls keeps even then) selects a refusing server, and so no
    /// certificate was found.
    fn refused(&self, e: &rustls::Error) -> bool {
        let Some(sni) = &self.rejects else {
            return false;
        };
        matches!(e, rustls::Error::General(_)) && sni.rejects(self.conn.server_name())
    }

    /// Answers a refused handshake as nginx does: a fatal unrecognized_name alert
    /// (in place of rustls's access_denied, which is dropped unsent).
    fn reject(&mut self) {
        const ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 112];
        self.mode = Mode::Rejected;
        let _ = (&self.sock).write(&ALERT);
    }

    /// Reads ciphertext and processes it until plaintext comes out, the socket
    /// would block or the peer is done.
    fn read_tls(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // Handshake replies and alerts go out as soon as they are made.
            self.flush_some()?;
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed the socket without close_notify: an EOF all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            match self.conn.read_tls(&mut self.sock) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let handshaking = self.conn.is_handshaking();
            if let Err(e) = self.conn.process_new_packets() {
                if handshaking {
                    crate::metrics::tls_handshake(false);
                }
                if handshaking && self.refused(&e) {
                    self.reject();
                } else {
                    // rustls has queued the alert that says why: send it, then fail.
                    let _ = self.flush();
                }
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            if handshaking && !self.conn.is_handshaking() {
                crate::metrics::tls_handshake(true);
                self.ack_now();
            }
        }
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.mode == Mode::Detect && !self.detect()? {
            return Ok(0);
        }
        match self.mode {
            Mode::PlainHttp => (&self.sock).read(buf),
            Mode::Rejected => Ok(0),
            _ => self.read_tls(buf),
        }
    }
}

impl Drop for TlsStream {
    /// A closing TLS connection says so (close_notify), as far as the socket
    /// takes it without blocking.
    fn drop(&mut self) {
        self.close_notify();
    }
}
