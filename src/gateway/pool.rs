//! A worker's backend sockets: each has its own slab entry and poll token (apart
//! from the client connections'), so a kept-alive upstream connection can outlive
//! the client request that opened it. An entry is either in use by one client
//! connection (its events wake that connection) or idle in the keep-alive pool of
//! its upstream group (`keepalive N`), where an event means the upstream closed it
//! or sent something unasked, and the socket is dropped.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Interest, Registry, Token};
use slab::Slab;

use rustls::pki_types::ServerName;

use super::tls::TlsClient;
use crate::config::upstream::PeerAddr;

/// Backend tokens start here; client tokens stay far below.
pub const TOKEN_BASE: usize = 1 << 40;

/// A connected (or connecting) backend socket.
pub enum Stream {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
    Tls(Box<TlsClient>),
}

/// What a connection to an `https://` upstream needs.
pub type TlsTo = (Arc<rustls::ClientConfig>, ServerName<'static>);

impl Stream {
    /// Starts a non-blocking connect to `addr` (with TLS over it for `tls`).
    fn connect(addr: &PeerAddr, tls: Option<TlsTo>) -> io::Result<Stream> {
        Ok(match addr {
            PeerAddr::Tcp(a) => {
                let s = mio::net::TcpStream::connect(*a)?;
                let _ = s.set_nodelay(true);
                match tls {
                    Some((config, name)) => Stream::Tls(Box::new(TlsClient::new(s, config, name)?)),
                    None => Stream::Tcp(s),
                }
            }
            PeerAddr::Unix(p) => Stream::Unix(mio::net::UnixStream::connect(p)?),
        })
    }

    /// `Ok(true)` once the connect finished, `Ok(false)` while it is under way.
    pub fn connected(&self) -> io::Result<bool> {
        if let Some(e) = self.take_error()? {
            return Err(e);
        }
        let peer = match self {
            Stream::Tcp(s) => s.peer_addr().map(|_| ()),
            Stream::Unix(s) => s.peer_addr().map(|_| ()),
            Stream::Tls(t) => t.sock.peer_addr().map(|_| ()),
        };
        match peer {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
            Stream::Tls(t) => t.sock.take_error(),
        }
    }

    /// A TLS handshake is still under way.
    pub fn handshaking(&self) -> bool {
        matches!(self, Stream::Tls(t) if t.handshaking())
    }

    /// Shuts the write side (a tunnel's client finished sending).
    pub fn shutdown_write(&mut self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Tls(t) => {
                t.shutdown_write();
                Ok(())
            }
        };
    }

    fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
            Stream::Tls(t) => &mut t.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The keep-alive pool an idle socket belongs to: the configuration's identity
/// and the group's index in it, and the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolKey {
    pub config: usize,
    pub group: usize,
    pub addr: PeerAddr,
    /// Over TLS (`https://`).
    pub tls: bool,
}

enum Owner {
    /// Used by the client connection at this slab key (with that serial).
    Conn { key: usize, serial: u64 },
    Idle {
        pool: PoolKey,
        since: Instant,
        timeout: Duration,
    },
}

struct Entry {
    stream: Stream,
    owner: Owner,
    /// Requests this connection has carried.
    requests: u64,
    /// When it was opened (`keepalive_time`).
    born: Instant,
}

/// A backend connection handed to a client connection.
pub struct Lease {
    pub key: usize,
    /// Taken from the keep-alive pool (a failure before any response byte is then
    /// the upstream having closed it meanwhile: retried without counting).
    pub reused: bool,
    /// Requests carried before this one.
    pub requests: u64,
    /// When the connection was opened.
    pub born: Instant,
}

/// A worker's backend sockets.
#[derive(Default)]
pub struct Backends {
    slab: Slab<Entry>,
    /// Keys of idle entries, oldest first.
    idle: Vec<usize>,
}

impl Backends {
    /// A socket to `pool.addr` for the connection `(key, serial)`: an idle one
    /// from the pool if there is one, else a new non-blocking connect.
    pub fn lease(
        &mut self,
        registry: &Registry,
        pool: &PoolKey,
        owner: (usize, u64),
        tls: Option<TlsTo>,
    ) -> io::Result<Lease> {
        let conn = Owner::Conn {
            key: owner.0,
            serial: owner.1,
        };
        if let Some(i) = self
            .idle
            .iter()
            .rposition(|&k| matches!(&self.slab[k].owner, Owner::Idle { pool: p, .. } if p == pool))
        {
            // Not probed here (a syscall per request): an idle socket the
            // upstream closed was dropped on its readable event, and one closed
            // just now fails before any response byte, which is retried at once
            // without counting (`Lease::reused`).
            let key = self.idle.remove(i);
            let e = &mut self.slab[key];
            e.owner = conn;
            return Ok(Lease {
                key,
                reused: true,
                requests: e.requests,
                born: e.born,
            });
        }
        let mut stream = Stream::connect(&pool.addr, tls)?;
        let entry = self.slab.vacant_entry();
        let key = entry.key();
        registry.register(
            stream.source(),
            Token(TOKEN_BASE + key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let born = Instant::now();
        entry.insert(Entry {
            stream,
            owner: conn,
            requests: 0,
            born,
        });
        Ok(Lease {
            key,
            reused: false,
            requests: 0,
            born,
        })
    }

    /// An idle socket is usable if reading finds nothing (no EOF, no stray bytes).
    fn still_open(&mut self, key: usize) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.slab[key].stream.read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    pub fn stream(&mut self, key: usize) -> Option<&mut Stream> {
        self.slab.get_mut(key).map(|e| &mut e.stream)
    }

    /// Ends a lease: the socket goes back to its pool when `reuse` and the pool
    /// has room (`keepalive` idle sockets per group), else it is closed.
    pub fn release(&mut self, key: usize, reuse: Option<(PoolKey, usize, Duration)>) {
        let Some(entry) = self.slab.get_mut(key) else {
            return;
        };
        let Some((pool, keepalive, timeout)) = reuse.filter(|(_, n, _)| *n > 0) else {
            self.slab.remove(key);
            return;
        };
        entry.requests += 1;
        entry.owner = Owner::Idle {
            pool: pool.clone(),
            since: Instant::now(),
            timeout,
        };
        self.idle.push(key);
        let same: Vec<usize> = self
            .idle
            .iter()
            .copied()
            .filter(|&k| matches!(&self.slab[k].owner, Owner::Idle { pool: p, .. } if *p == pool))
            .collect();
        if same.len() > keepalive {
            // The least recently used of the group goes.
            let oldest = same[0];
            self.idle.retain(|&k| k != oldest);
            self.slab.remove(oldest);
        }
    }

    /// An event on a backend token: the client connection to wake, if the socket
    /// is in use; an idle socket that became `readable` (EOF, stray bytes, an
    /// error) is closed. A writable event on an idle socket (the upstream acked
    /// the last request) needs nothing.
    pub fn on_event(&mut self, token: usize, readable: bool) -> Option<(usize, u64)> {
        let key = token.checked_sub(TOKEN_BASE)?;
        match &self.slab.get(key)?.owner {
            Owner::Conn { key, serial } => Some((*key, *serial)),
            Owner::Idle { .. } => {
                if readable && !self.still_open(key) {
                    self.idle.retain(|&k| k != key);
                    self.slab.remove(key);
                }
                None
            }
        }
    }

    /// Closes idle sockets past their `keepalive_timeout`.
    pub fn expire(&mut self, now: Instant) {
        if self.idle.is_empty() {
            return;
        }
        let slab = &mut self.slab;
        self.idle.retain(|&k| {
            let Owner::Idle { since, timeout, .. } = slab[k].owner else {
                return false;
            };
            let keep = now.saturating_duration_since(since) < timeout;
            if !keep {
                slab.remove(k);
            }
            keep
        });
    }

    /// The soonest instant an idle socket expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.idle
            .iter()
            .filter_map(|&k| match self.slab[k].owner {
                Owner::Idle { since, timeout, .. } => Some(since + timeout),
                Owner::Conn { .. } => None,
            })
            .min()
    }

    pub fn idle_count(&self) -> usize {
        self.idle.len()
    }
}
