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
//! The ClientHello is read by rustls's `Acceptor`, which gives its SNI name
//! before any reply: that picks the server, and so its rustls configuration
//! (certificate, client verification, sessions), or refuses the handshake
//! (`ssl_reject_handshake`). A client certificate is checked once the handshake
//! is done (`client_verify`), for the `$ssl_client_*` variables and `admit`.
//!
//! The handshake needs no state of its own in the connection: until it is done no
//! plaintext comes out, so the connection waits for its request head as usual and
//! its `client_header_timeout` bounds a slow or silent handshake.

use std::io::{self, Read, Write};
use std::os::unix::io::AsRawFd;
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::server::Acceptor;
use rustls::{HandshakeKind, ServerConnection};

use super::client_verify;
use crate::config::TlsPort;
use crate::config::tls::ClientAuth;

use crate::vars::SslInfo;
use crate::vars::ssl::protocol_name;
use crate::vars::ssl::{ClientCert, cipher_list, cipher_name, curve_list, group_name};

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
    /// Reads the ClientHello; `None` once the connection is made.
    acceptor: Option<Box<Acceptor>>,
    /// The connection, once the ClientHello chose its server.
    conn: Option<Box<ServerConnection>>,
    port: Arc<TlsPort>,
    /// The chosen server's client checking (`None`: it does not verify).
    client_auth: Option<Arc<ClientAuth>>,
    /// What the ClientHello offered, for `$ssl_ciphers` and `$ssl_curves`.
    offered: (Box<str>, Box<str>),
    mode: Mode,
    /// The socket reached EOF: no more ciphertext will come.
    eof: bool,
    /// Our close_notify is queued (sent once, on shutdown or drop).
    closing: bool,
    /// The handshake's facts for `$ssl_*`, learnt on first asking.
    info: Option<Arc<SslInfo>>,
}

impl TlsStream {
    pub fn new(sock: TcpStream, port: &Arc<TlsPort>) -> io::Result<Self> {
        Ok(TlsStream {
            sock,
            acceptor: Some(Box::default()),
            conn: None,
            port: Arc::clone(port),
            client_auth: None,
            offered: Default::default(),
            mode: Mode::Detect,
            eof: false,
            closing: false,
            info: None,
        })
    }

    pub fn socket(&self) -> &TcpStream {
        &self.sock
    }

    /// The handshake is done and ALPN chose `h2`.
    pub fn alpn_h2(&self) -> bool {
        self.conn.as_deref().is_some_and(|c| {
            self.mode == Mode::Tls && !c.is_handshaking() && c.alpn_protocol() == Some(b"h2")
        })
    }

    pub fn plain_http(&self) -> bool {
        self.mode == Mode::PlainHttp
    }

    /// The name the client sent in SNI, once the handshake has read it.
    pub fn server_name(&self) -> Option<&str> {
        self.conn.as_ref()?.server_name()
    }

    /// What the handshake settled (`None` before it is done, or on plain HTTP).
    /// Learnt once and shared by the connection's requests.
    pub fn ssl_info(&mut self) -> Option<Arc<SslInfo>> {
        let conn = self.conn.as_deref()?;
        if self.mode != Mode::Tls || conn.is_handshaking() {
            return None;
        }
        let auth = self.client_auth.as_deref();
        let offered = &self.offered;
        let info = self.info.get_or_insert_with(|| {
            Arc::new(SslInfo {
                client: auth.and_then(|a| client_cert(a, conn)),
                offered_ciphers: Some(offered.0.clone()),
                offered_curves: Some(offered.1.clone()),
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
        let Some(conn) = self.conn.as_deref_mut() else {
            return Ok(());
        };
        while conn.wants_write() {
            match conn.write_tls(&mut self.sock) {
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
        let Some(conn) = self.conn.as_deref_mut() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = conn.writer().write(buf)?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.flush_some()?;
        Ok(n)
    }

    /// Queues close_notify (once) and writes what can be written now.
    pub fn close_notify(&mut self) {
        let Some(conn) = self.conn.as_deref_mut() else {
            return;
        };
        if self.mode == Mode::Tls && !self.closing && !conn.is_handshaking() {
            self.closing = true;
            conn.send_close_notify();
            let _ = self.flush();
        }
    }

    /// Answers a refused handshake as nginx does: a fatal unrecognized_name alert
    /// (in place of rustls's access_denied, which is dropped unsent).
    fn reject(&mut self) {
        const ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 112];
        self.mode = Mode::Rejected;
        let _ = (&self.sock).write(&ALERT);
    }

    /// Reads the ClientHello; once it is whole, makes the connection with the
    /// configuration of the server its SNI name selects. `Ok(false)`: more is
    /// needed (or the peer is done, `eof`).
    fn accept(&mut self) -> io::Result<bool> {
        let Some(acceptor) = self.acceptor.as_deref_mut() else {
            return Ok(true);
        };
        loop {
            match acceptor.read_tls(&mut self.sock) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let accepted = match acceptor.accept() {
                Ok(None) => continue,
                Ok(Some(a)) => a,
                Err((e, mut alert)) => {
                    crate::metrics::tls_handshake(false);
                    let _ = alert.write_all(&mut self.sock);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            };
            let hello = accepted.client_hello();
            let name = hello.server_name().map(str::to_ascii_lowercase);
            self.offered = (
                cipher_list(hello.cipher_suites()).into(),
                curve_list(hello.named_groups().unwrap_or_default()).into(),
            );
            if self.port.sni.rejects(name.as_deref()) {
                crate::metrics::tls_handshake(false);
                self.reject();
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "handshake rejected",
                ));
            }
            let Some(server) = self.port.server(name.as_deref()) else {
                return Err(io::Error::other("no server for the handshake"));
            };
            self.client_auth = server.client.clone();
            let config = Arc::clone(&server.config);
            self.acceptor = None;
            return match accepted.into_connection(config) {
                Ok(conn) => {
                    self.conn = Some(Box::new(conn));
                    Ok(true)
                }
                Err((e, mut alert)) => {
                    crate::metrics::tls_handshake(false);
                    let _ = alert.write_all(&mut self.sock);
                    Err(io::Error::new(io::ErrorKind::InvalidData, e))
                }
            };
        }
    }

    /// Reads ciphertext and processes it until plaintext comes out, the socket
    /// would block or the peer is done.
    fn read_tls(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.accept()? {
            return Ok(0);
        }
        loop {
            // Handshake replies and alerts go out as soon as they are made.
            self.flush_some()?;
            let Some(conn) = self.conn.as_deref_mut() else {
                return Ok(0);
            };
            match conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed the socket without close_notify: an EOF all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            match conn.read_tls(&mut self.sock) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let handshaking = conn.is_handshaking();
            if let Err(e) = conn.process_new_packets() {
                if handshaking {
                    crate::metrics::tls_handshake(false);
                }
                // rustls has queued the alert that says why: send it, then fail.
                let _ = self.flush();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            if handshaking && !conn.is_handshaking() {
                crate::metrics::tls_handshake(true);
                self.ack_now();
            }
        }
    }
}

/// The client's certificate as the variables show it, checked against `auth`;
/// `None` when it sent none.
fn client_cert(auth: &ClientAuth, conn: &ServerConnection) -> Option<ClientCert> {
    let chain = conn.peer_certificates()?;
    let leaf = chain.first()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let verify = match client_verify::verify(auth, chain, now) {
        Ok(()) => "SUCCESS".to_string(),
        Err(why) => format!("FAILED:{why}"),
    };
    ClientCert::new(leaf.as_ref(), verify)
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
