//! TLS to an upstream (`proxy_pass https://...`): rustls's sans-IO
//! `ClientConnection` over a non-blocking backend socket, with the `Read`/`Write`
//! the relay uses for plain sockets. Plaintext written before the handshake is done
//! is held by rustls and goes out when it is; each read first sends what rustls has
//! queued (handshake messages included), so the handshake moves on whichever way
//! the relay is waiting.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::ClientConnection;
use rustls::pki_types::ServerName;

/// Plaintext rustls holds for a socket that cannot take more: past it, writes
/// say `WouldBlock` (back-pressure on the request body).
const SEND_LIMIT: usize = 256 * 1024;

pub struct TlsClient {
    pub sock: TcpStream,
    conn: ClientConnection,
    /// The peer's close_notify or EOF was seen.
    eof: bool,
}

impl TlsClient {
    pub fn new(
        sock: TcpStream,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<TlsClient> {
        let mut conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        conn.set_buffer_limit(Some(SEND_LIMIT));
        Ok(TlsClient {
            sock,
            conn,
            eof: false,
        })
    }

    /// Sends what rustls has queued, as far as the socket takes it.
    fn send_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub fn handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Our close_notify, then the socket's write side.
    pub fn shutdown_write(&mut self) {
        self.conn.send_close_notify();
        let _ = self.send_tls();
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
    }
}

impl Read for TlsClient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.send_tls()?;
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // EOF without close_notify: the body's framing decides whether
                // anything was lost.
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
            if let Err(e) = self.conn.process_new_packets() {
                // Tell the server why, as far as the socket takes it.
                let _ = self.send_tls();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}

impl TlsClient {
    /// While the handshake is under way, takes in what the server sent, so a
    /// writer waiting on it (the buffer full) sees the handshake move on.
    fn handshake_in(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() && !self.eof {
            match self.conn.read_tls(&mut self.sock) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.conn.process_new_packets() {
                let _ = self.send_tls();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            self.send_tls()?;
        }
        Ok(())
    }
}

impl Write for TlsClient {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.handshake_in()?;
        let n = self.conn.writer().write(buf)?;
        self.send_tls()?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_tls()
    }
}
