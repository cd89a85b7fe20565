//! TLS helpers for the integration tests: a certificate authority made at test
//! time (rcgen), server certificates it signs, and a rustls client connection
//! with the raw HTTP/1.1 response parser of `common` on top.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::common::{IO_TIMEOUT, ParseError, Response, parse_response};

/// A test certificate authority.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Default for Ca {
    fn default() -> Self {
        Self::new()
    }
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "webserv test CA");
        let key = KeyPair::generate().expect("CA key"); // ECDSA P-256
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA cert");
        Ca { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by this CA:
    /// `(certificate PEM, PKCS#8 key PEM)`.
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params.distinguished_name.push(DnType::CommonName, "server");
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    }

    /// Issues a certificate for `names` into `dir/NAME.pem` and `dir/NAME.key`.
    pub fn issue_files(&self, dir: &Path, name: &str, names: &[&str]) {
        let (cert, key) = self.issue(names);
        std::fs::write(dir.join(format!("{name}.pem")), cert).expect("write cert");
        std::fs::write(dir.join(format!("{name}.key")), key).expect("write key");
    }

    /// A client configuration that trusts only this CA and offers ALPN http/1.1.
    pub fn client(&self) -> Arc<ClientConfig> {
        client_trusting(&self.pem())
    }
}

/// A client configuration trusting the CA certificate(s) in `pem`.
pub fn client_trusting(pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A TCP connection to 127.0.0.1:`port` with the usual timeouts.
pub fn tcp(port: u16) -> TcpStream {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// A socket that moves at most `chunk` bytes per read or write, pausing `pause`
/// after each write: TLS records arrive split across many reads.
pub struct Trickle {
    pub sock: TcpStream,
    pub chunk: usize,
    pub pause: Duration,
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.sock.read(&mut buf[..n])
    }
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.sock.write(&buf[..buf.len().min(self.chunk)])?;
        std::thread::sleep(self.pause);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// An HTTP/1.1 client over TLS with a buffer of received, unparsed plaintext.
pub struct TlsConn<S: Read + Write> {
    pub tls: StreamOwned<ClientConnection, S>,
    buf: Vec<u8>,
}

/// Opens a TLS connection to `port`, asking for `name` (SNI unless it is an IP
/// address); the handshake runs with the first read or write.
pub fn connect(port: u16, name: &str, config: &Arc<ClientConfig>) -> TlsConn<TcpStream> {
    over(tcp(port), name, config)
}

/// A TLS client over `sock`.
pub fn over<S: Read + Write>(sock: S, name: &str, config: &Arc<ClientConfig>) -> TlsConn<S> {
    let name = ServerName::try_from(name.to_string()).expect("server name");
    let conn = ClientConnection::new(Arc::clone(config), name).expect("client connection");
    TlsConn {
        tls: StreamOwned::new(conn, sock),
        buf: Vec::new(),
    }
}

impl<S: Read + Write> TlsConn<S> {
    /// Completes the handshake; the error says why it failed.
    pub fn handshake(&mut self) -> io::Result<()> {
        while self.tls.conn.is_handshaking() {
            self.tls.conn.complete_io(&mut self.tls.sock)?;
        }
        Ok(())
    }

    pub fn send(&mut self, data: impl AsRef<[u8]>) {
        self.tls.write_all(data.as_ref()).expect("send over TLS");
        self.tls.flush().expect("flush");
    }

    /// Reads once; false at EOF (close_notify or TCP close).
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.tls.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
            Err(e) => panic!(
                "TLS read failed ({e}) with {} bytes buffered",
                self.buf.len()
            ),
        }
    }

    /// Reads one whole response (`head_only`: it answers a HEAD).
    pub fn response_to(&mut self, head_only: bool) -> Response {
        loop {
            match parse_response(&self.buf, head_only) {
                Ok((resp, n)) => {
                    self.buf.drain(..n);
                    return resp;
                }
                Err(ParseError::Invalid(why)) => panic!("bad response: {why}"),
                Err(ParseError::Incomplete) => assert!(
                    self.fill(),
                    "closed with a partial response {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    pub fn response(&mut self) -> Response {
        self.response_to(false)
    }

    pub fn request(&mut self, request: impl AsRef<[u8]>) -> Response {
        self.send(request);
        self.response()
    }

    /// Reads until the server closes; returns what was not parsed yet.
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }
}

/// `GET path` with `Host: host`.
pub fn get_req(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
}
