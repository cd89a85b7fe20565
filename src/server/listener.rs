//! Listeners: one listening socket per distinct `listen` address:port, each
//! knowing its listen group (and so its virtual servers).

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::config::{Config, Pos};

/// A bound, non-blocking listening socket.
pub struct Listener {
    pub socket: mio::net::TcpListener,
    /// Index into `Config::listens`.
    pub group: usize,
    pub addr: SocketAddr,
}

/// A startup failure: the address could not be bound.
#[derive(Debug)]
pub struct BindError {
    pub addr: SocketAddr,
    pub pos: Pos,
    pub error: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: bind() to {} failed ({})",
            self.pos,
            self.addr,
            describe(&self.error)
        )
    }
}

impl std::error::Error for BindError {}

/// The OS error text without Rust's "(os error N)" suffix, as nginx prints it.
fn describe(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Binds every listen group of `config`, `copies` sockets per address: with one
/// worker a plain socket; with several, one socket per worker with SO_REUSEPORT, so
/// the kernel spreads new connections over the workers instead of waking them all.
/// Returns, per address, its sockets.
pub fn bind_all(
    config: &Config,
    copies: usize,
) -> Result<Vec<Vec<std::net::TcpListener>>, BindError> {
    config
        .listens
        .iter()
        .map(|g| {
            let err = |error| BindError {
                addr: g.addr,
                pos: g.pos.clone(),
                error,
            };
            (0..copies.max(1))
                .map(|_| bind(g.addr, copies > 1).map_err(err))
                .collect()
        })
        .collect()
}

/// The accept queue length asked of the kernel (it caps it at somaxconn).
const BACKLOG: i32 = 4096;

/// A non-blocking listening socket with SO_REUSEADDR (a restart does not wait for
/// TIME_WAIT) and, for several workers, SO_REUSEPORT.
fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
