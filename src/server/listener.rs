//! Listeners: one listening socket per distinct `listen` address:port, each
//! knowing its listen group (and so its virtual servers).

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::config::{Config, ListenOptions, Pos};

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
                .map(|_| bind(g.addr, copies > 1, &g.options).map_err(err))
                .collect()
        })
        .collect()
}

/// The accept queue length asked of the kernel (it caps it at somaxconn).
const BACKLOG: i32 = 4096;

/// A non-blocking listening socket with SO_REUSEADDR (a restart does not wait for
/// TIME_WAIT), SO_REUSEPORT for several workers or `reuseport`, and the other
/// `listen` parameters.
fn bind(
    addr: SocketAddr,
    reuse_port: bool,
    opts: &ListenOptions,
) -> io::Result<std::net::TcpListener> {
    let socket = configured(addr, reuse_port, opts)?;
    socket.bind(&addr.into())?;
    socket.listen(opts.backlog.unwrap_or(BACKLOG))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A TCP socket for `addr` with its options set, not yet bound.
fn configured(
    addr: SocketAddr,
    reuse_port: bool,
    opts: &ListenOptions,
) -> io::Result<socket2::Socket> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if reuse_port || opts.reuseport {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        // Linux makes a socket bound to a specific IPv6 address IPv6-only anyway:
        // `ipv6only=off` matters for `[::]`, as in nginx.
        socket.set_only_v6(opts.ipv6only.unwrap_or(true))?;
    }
    if let Some(n) = opts.rcvbuf {
        socket.set_recv_buffer_size(n)?;
    }
    if let Some(n) = opts.sndbuf {
        socket.set_send_buffer_size(n)?;
    }
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::SockRef;

    fn opts(reuseport: bool, rcvbuf: Option<usize>) -> ListenOptions {
        ListenOptions {
            reuseport,
            rcvbuf,
            ..Default::default()
        }
    }

    #[test]
    fn reuseport_lets_a_second_socket_bind_the_same_port() {
        let first = bind("127.0.0.1:0".parse().unwrap(), false, &opts(true, None)).unwrap();
        let addr = first.local_addr().unwrap();
        assert!(SockRef::from(&first).reuse_port().unwrap());
        let second = bind(addr, false, &opts(true, None));
        assert!(second.is_ok(), "{second:?}");
        // Without it, the port is taken.
        let plain = bind("127.0.0.1:0".parse().unwrap(), false, &opts(false, None)).unwrap();
        let taken = bind(plain.local_addr().unwrap(), false, &opts(false, None));
        assert_eq!(taken.unwrap_err().kind(), io::ErrorKind::AddrInUse);
        assert!(!SockRef::from(&plain).reuse_port().unwrap());
    }

    #[test]
    fn buffer_sizes_and_ipv6only_reach_the_socket() {
        let l = bind(
            "127.0.0.1:0".parse().unwrap(),
            false,
            &opts(false, Some(64 << 10)),
        )
        .unwrap();
        // Linux doubles the value asked for (bookkeeping overhead).
        let got = SockRef::from(&l).recv_buffer_size().unwrap();
        assert!(got >= 64 << 10, "{got}");
        let sndbuf = ListenOptions {
            sndbuf: Some(128 << 10),
            ..Default::default()
        };
        let l = bind("127.0.0.1:0".parse().unwrap(), false, &sndbuf).unwrap();
        let got = SockRef::from(&l).send_buffer_size().unwrap();
        assert!(got >= 128 << 10, "{got}");
        // ipv6only is checked before bind: it matters for `[::]`, which a test
        // may not listen on (the kernel forces it on for a bound `[::1]`).
        let dual = ListenOptions {
            ipv6only: Some(false),
            ..Default::default()
        };
        let any6: SocketAddr = "[::]:0".parse().unwrap();
        let Ok(s) = configured(any6, false, &dual) else {
            return; // No IPv6 on this host: nothing to check (IPv4 above ran).
        };
        assert!(!s.only_v6().unwrap());
        let s = configured(any6, false, &ListenOptions::default()).unwrap();
        assert!(s.only_v6().unwrap());
    }
}
