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

/// Binds every listen group of `config` (std sets SO_REUSEADDR, so a restart does
/// not wait for TIME_WAIT).
pub fn bind_all(config: &Config) -> Result<Vec<std::net::TcpListener>, BindError> {
    config
        .listens
        .iter()
        .map(|g| {
            let err = |error| BindError {
                addr: g.addr,
                pos: g.pos.clone(),
                error,
            };
            let l = std::net::TcpListener::bind(g.addr).map_err(err)?;
            l.set_nonblocking(true).map_err(err)?;
            deepen_backlog(&l);
            Ok(l)
        })
        .collect()
}

/// The accept queue length asked of the kernel (it caps it at somaxconn).
const BACKLOG: i32 = 4096;

/// std listens with a backlog of 128, which overflows under a burst of new
/// connections; calling listen(2) again on a listening socket only changes it.
fn deepen_backlog(l: &std::net::TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: listen(2) on a socket we own; no memory is passed.
    unsafe {
        libc::listen(l.as_raw_fd(), BACKLOG);
    }
}
