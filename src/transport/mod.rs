//! The transport under a connection: plain TCP, or TLS (rustls) over the same
//! mio socket. The HTTP state machine (`server::connection`) reads and writes
//! plaintext through a [`Transport`] and never knows which one it has; only
//! zero-copy sendfile asks, since the kernel cannot encrypt here.
//!
//! Kernel TLS would fit in the same place: a third variant that hands rustls's
//! traffic secrets to the socket (`setsockopt(TCP_ULP, "tls")`) after the
//! handshake and then behaves like `Plain`, sendfile included.
//!
//! Also here: what a TLS port does before any handler runs ([`admit`]) and
//! the SNI certificate resolver ([`sni`]).

pub mod client_verify;
pub mod sni;
mod tls;

use std::io::{self, Read};
use std::os::unix::io::AsRawFd;
use std::sync::Arc;

use mio::net::TcpStream;

use crate::config::Config;
use crate::handler::{self, Origin};
use crate::http::{Request, Response};

/// A client socket, speaking plain HTTP or TLS.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<tls::TlsStream>),
}

impl Transport {
    /// A TLS transport with `config`'s certificates (the handshake happens as the
    /// first reads and writes go through).
    pub fn tls(sock: TcpStream, port: &Arc<crate::config::TlsPort>) -> io::Result<Self> {
        Ok(Transport::Tls(Box::new(tls::TlsStream::new(sock, port)?)))
    }

    pub fn socket(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => t.socket(),
        }
    }

    /// Whether file bodies may go by sendfile (the bytes on the wire are the file's).
    pub fn can_sendfile(&self) -> bool {
        matches!(self, Transport::Plain(_))
    }

    /// Whether a read that returned less than asked emptied the socket. Not under
    /// TLS: one record's plaintext may come out while more ciphertext waits.
    pub fn short_read_drains(&self) -> bool {
        matches!(self, Transport::Plain(_))
    }

    /// Sends plaintext with `send(2)` flags (`MSG_MORE` is a hint TLS ignores).
    pub fn send(&mut self, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => send(s, buf, flags),
            Transport::Tls(t) => t.send(buf, flags),
        }
    }

    /// Pushes out whatever the transport still holds (TLS records); `WouldBlock`
    /// until it is all on the socket. A response is sent only once this is done.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(_) => Ok(()),
            Transport::Tls(t) => t.flush(),
        }
    }

    /// Ends the sending side (TLS: close_notify first).
    pub fn shutdown_write(&mut self) {
        if let Transport::Tls(t) = self {
            t.close_notify();
        }
        let _ = self.socket().shutdown(std::net::Shutdown::Write);
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.socket().set_nodelay(on)
    }

    /// The SNI name of a TLS connection.
    pub fn server_name(&self) -> Option<&str> {
        match self {
            Transport::Plain(_) => None,
            Transport::Tls(t) => t.server_name(),
        }
    }

    /// The TLS handshake's facts (`$ssl_*`); `None` on a plain connection.
    pub fn ssl_info(&mut self) -> Option<Arc<crate::vars::SslInfo>> {
        match self {
            Transport::Plain(_) => None,
            Transport::Tls(t) => t.ssl_info(),
        }
    }

    /// A TLS connection whose handshake chose HTTP/2 by ALPN.
    pub fn alpn_h2(&self) -> bool {
        matches!(self, Transport::Tls(t) if t.alpn_h2())
    }

    /// Plain HTTP arrived on a TLS port.
    pub fn plain_http_on_tls(&self) -> bool {
        matches!(self, Transport::Tls(t) if t.plain_http())
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }
}

/// `send(2)` with flags.
pub(crate) fn send(stream: &TcpStream, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: the descriptor is open and `buf` is a valid slice for the call.
    let n = unsafe { libc::send(stream.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// What a TLS port does with a request head before it is routed: nginx's 400 for
/// plain HTTP sent to it; 421 Misdirected Request when the `Host` names another
/// server than the one the SNI chose (its certificate was presented for another
/// name); and a request without `Host` (HTTP/1.0) is routed by its SNI name, as
/// nginx does. Plain ports are left alone.
pub fn admit(
    config: &Config,
    origin: Origin,
    transport: &Transport,
    req: &mut Request,
) -> Option<Response> {
    if transport.plain_http_on_tls() {
        return Some(plain_http_response());
    }
    let sni = transport.server_name()?.to_ascii_lowercase();
    let Some(host) = req.host.as_deref() else {
        req.host = Some(sni);
        return None;
    };
    let by_sni = handler::server_index(config, origin.group, Some(&sni));
    let by_host = handler::server_index(config, origin.group, Some(host));
    (by_sni != by_host).then(|| handler::error_response(config, by_host, None, 421))
}

/// `ssl_verify_client` of the server the request was routed to (`server`), as
/// nginx's `ngx_http_process_request`: a certificate that failed verification
/// is refused (unless `optional_no_ca` and only its CA is unknown), and `on`
/// wants one. The verdict is the handshake's (`Request::tls`). The answer is
/// nginx's 400 page saying why (the caller adds `add_header ... always`).
pub fn check_client_cert(config: &Config, server: usize, req: &Request) -> Option<Response> {
    use crate::config::tls::VerifyClient;
    let tls = req.tls.as_ref()?;
    let server = config.servers.get(server)?;
    let mode = server.tls.verify_client.unwrap_or(VerifyClient::Off);
    if mode == VerifyClient::Off {
        return None;
    }
    let cert = tls.client.as_ref();
    if let Some(why) = cert.and_then(|c| c.verify.strip_prefix("FAILED:")) {
        let let_through = mode == VerifyClient::OptionalNoCa && client_verify::optional_no_ca(why);
        if !let_through {
            log::info!("client SSL certificate verify error: {why}");
            return Some(bad_request("The SSL certificate error"));
        }
    }
    (mode == VerifyClient::On && cert.is_none())
        .then(|| bad_request("No required SSL certificate was sent"))
}

/// nginx's answer to plain HTTP on a TLS port (its internal status 497).
fn plain_http_response() -> Response {
    bad_request("The plain HTTP request was sent to HTTPS port")
}

/// nginx's 400 page for its TLS statuses 495, 496 and 497, which say why.
fn bad_request(reason: &str) -> Response {
    let body = format!(
        "<html>\r\n<head><title>400 {reason}</title></head>\r\n<body>\r\n\
         <center><h1>400 Bad Request</h1></center>\r\n<center>{reason}</center>\r\n\
         <hr><center>webserv</center>\r\n</body>\r\n</html>\r\n"
    );
    Response::with_body(400, "text/html", body.into_bytes())
}
