//! The ConnectionManager: one mio `Poll` per worker, a slab of entries keyed by
//! token (listeners and connections), the deadline queue, and the loop that ties
//! them together. Nothing here blocks: every socket is non-blocking and every
//! readiness event is drained by the entry it belongs to.

use std::io;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use super::access_log::AccessLogs;
use super::aio::Aio;
use super::connection::{Connection, Ctx, Status};
use super::listener::Listener;
use super::reload::Hub;
use super::timer::Timers;
use crate::config::Config;
use crate::handler::Origin;
use crate::http::date::http_date;
use crate::transport::Transport;

/// Tokens are `key * 4 + part`: part 0 is the entry's socket, 1–3 a connection's
/// CGI stdin/stdout/stderr pipes; every part wakes the same connection.
const TOKENS_PER_ENTRY: usize = 4;
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// The worker's waker: aio jobs finished, or a reload was published.
const AIO_TOKEN: Token = Token(usize::MAX - 2);
/// How often the loop wakes while CGI children wait to be reaped.
const REAP_INTERVAL: Duration = Duration::from_millis(50);
/// Connections accepted per turn of the loop before the listener waits its turn.
const ACCEPT_BATCH: usize = 16;
/// How long a listener rests after an accept error such as EMFILE.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// How long in-flight responses may take once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The longest the loop sleeps without a deadline (keeps the Date header fresh).
const MAX_SLEEP: Duration = Duration::from_secs(1);

enum Entry {
    Listener(usize),
    Conn(Box<Connection>),
}

/// The `Date` header value, formatted once per second.
struct DateCache {
    secs: u64,
    text: String,
}

impl DateCache {
    fn refresh(&mut self) {
        let now = SystemTime::now();
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if secs != self.secs {
            self.secs = secs;
            self.text = http_date(now);
        }
    }
}

/// The signals a worker handles: SIGINT/SIGTERM and SIGQUIT (nginx's graceful
/// stop) stop gracefully, SIGUSR1 reopens the logs; the one worker that
/// `reloads` takes SIGHUP for all (see [`super::reload`]).
pub fn signals(reloads: bool) -> io::Result<Signals> {
    if reloads {
        Signals::new([SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1])
    } else {
        Signals::new([SIGINT, SIGTERM, SIGQUIT, SIGUSR1])
    }
}

/// One worker's event loop.
pub struct Worker {
    poll: Poll,
    config: Arc<Config>,
    /// What relative paths resolve against, for reloads.
    prefix: PathBuf,
    /// Where reloaded configurations are published, and the generation this
    /// worker runs.
    hub: Arc<Hub>,
    generation: u64,
    entries: Slab<Entry>,
    listeners: Vec<Listener>,
    /// Per listener: paused (deregistered) until this instant after an accept error.
    paused: Vec<Option<Instant>>,
    /// Per listener: its slab key.
    listener_keys: Vec<usize>,
    timers: Timers,
    logs: AccessLogs,
    date: DateCache,
    signals: Signals,
    connections: usize,
    /// Connections that yielded (sent a full share of a large body while their
    /// socket could take more): run again after the next poll, which does not
    /// wait while any are here (nginx's posted events).
    posted: Vec<usize>,
    /// File reads off the event loop (`aio threads`).
    aio: Aio,
    /// Backend sockets (upstreams) and balancing state.
    gateway: crate::gateway::Gateway,
    /// CGI children wait to be reaped: wake up regularly.
    children_waiting: bool,
    /// Set once SIGINT/SIGTERM arrived: the loop ends when empty or at this time.
    shutdown_by: Option<Instant>,
}

impl Worker {
    /// A worker serving `listeners` with `config`; `prefix` is kept to reload the
    /// configuration file on SIGHUP.
    pub fn new(
        hub: Arc<Hub>,
        prefix: PathBuf,
        listeners: Vec<Listener>,
        mut signals: Signals,
    ) -> io::Result<Self> {
        let (generation, config) = hub.current();
        let poll = Poll::new()?;
        let mut entries = Slab::new();
        let mut listener_keys = Vec::new();
        let mut listeners = listeners;
        for (i, l) in listeners.iter_mut().enumerate() {
            let key = entries.insert(Entry::Listener(i));
            poll.registry()
                .register(&mut l.socket, socket_token(key), Interest::READABLE)?;
            listener_keys.push(key);
        }
        poll.registry()
            .register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), AIO_TOKEN)?);
        hub.join(Arc::clone(&waker));
        let aio = Aio::new(waker);
        Ok(Worker {
            poll,
            config,
            prefix,
            hub,
            generation,
            entries,
            paused: vec![None; listeners.len()],
            listeners,
            listener_keys,
            timers: Timers::default(),
            logs: AccessLogs::default(),
            date: DateCache {
                secs: 0,
                text: String::new(),
            },
            signals,
            connections: 0,
            posted: Vec::new(),
            aio,
            gateway: crate::gateway::Gateway::default(),
            children_waiting: false,
            shutdown_by: None,
        })
    }

    /// Runs until a shutdown signal has been handled.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut posted = Vec::new();
        loop {
            let timeout = if self.posted.is_empty() {
                self.next_timeout(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.date.refresh();
            let now = Instant::now();
            for event in events.iter() {
                self.dispatch(event, now);
            }
            // Connections driven by an event above were already resumed; the
            // rest of the posted ones run now.
            std::mem::swap(&mut posted, &mut self.posted);
            for key in posted.drain(..) {
                if !self.posted.contains(&key) {
                    self.resume(key, now);
                }
            }
            self.expire(now);
            self.logs.flush_due(now);
            self.gateway.backends.expire(now);
            self.resume_listeners(now);
            self.children_waiting = crate::cgi::process::reap(now);
            if let Some(by) = self.shutdown_by
                && (self.connections == 0 || now >= by)
            {
                log::info!("shut down ({} connections left)", self.connections);
                return Ok(());
            }
        }
    }

    fn next_timeout(&self, now: Instant) -> Duration {
        let mut t = self.timers.timeout(now, MAX_SLEEP);
        for until in self.paused.iter().flatten() {
            t = t.min(until.saturating_duration_since(now));
        }
        if self.children_waiting {
            t = t.min(REAP_INTERVAL);
        }
        if let Some(at) = self.gateway.backends.next_expiry() {
            t = t.min(at.saturating_duration_since(now));
        }
        if let Some(at) = self.logs.next_flush() {
            t = t.min(at.saturating_duration_since(now));
        }
        t
    }

    fn dispatch(&mut self, event: &mio::event::Event, now: Instant) {
        let token = event.token();
        if token == SIGNAL_TOKEN {
            return self.on_signal(now);
        }
        if token == AIO_TOKEN {
            self.adopt_reload();
            return self.on_aio_done(now);
        }
        if token.0 >= crate::gateway::pool::TOKEN_BASE {
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            if let Some((key, serial)) = self.gateway.backends.on_event(token.0, readable)
                && matches!(self.entries.get(key), Some(Entry::Conn(c)) if c.serial() == serial)
            {
                self.drive(key, now, false);
            }
            return;
        }
        let key = token.0 / TOKENS_PER_ENTRY;
        match self.entries.get_mut(key) {
            Some(Entry::Listener(i)) => {
                let i = *i;
                self.accept(i, now);
            }
            Some(Entry::Conn(conn)) => {
                let socket = token.0.is_multiple_of(TOKENS_PER_ENTRY);
                if socket && (event.is_read_closed() || event.is_error()) {
                    conn.peer_closed();
                }
                self.drive(key, now, false)
            }
            // A stale event for an entry closed earlier in this batch.
            None => {}
        }
    }

    /// Hands finished file reads to their connections (if still open) and runs them.
    fn on_aio_done(&mut self, now: Instant) {
        let done = self.aio.take_done();
        crate::metrics::aio_queued(-(done.len() as i64));
        for done in done {
            if let Some(fill) = &done.fill {
                // A compressed-body cache entry: stored whether or not the
                // connection that missed is still open.
                crate::filter::cache::complete(fill, done.result);
                continue;
            }
            if let Some((v, ok)) = &done.verified {
                // Recorded whether or not the connection is still open: its
                // client will send the same credentials again.
                v.finish(*ok);
            }
            let (key, serial) = done.owner;
            if let Some(Entry::Conn(conn)) = self.entries.get_mut(key)
                && conn.serial() == serial
            {
                if done.verified.is_some() {
                    conn.auth_done();
                    self.drive(key, now, false);
                    continue;
                }
                conn.aio_done(done.result);
                self.drive(key, now, false);
            }
        }
    }

    /// Runs a posted entry again: a connection that yielded, or a listener that
    /// accepted a full batch.
    fn resume(&mut self, key: usize, now: Instant) {
        match self.entries.get(key) {
            Some(Entry::Listener(i)) => {
                let i = *i;
                if self.paused[i].is_none() {
                    self.accept(i, now);
                }
            }
            Some(Entry::Conn(_)) => self.drive(key, now, false),
            None => {}
        }
    }

    fn post(&mut self, key: usize) {
        if !self.posted.contains(&key) {
            self.posted.push(key);
        }
    }

    /// Accepts until WouldBlock, or `ACCEPT_BATCH` connections: then the listener
    /// is posted, so connections already open are served before more are taken
    /// (with clients reconnecting as fast as they are served, an unbounded accept
    /// loop starves the ones waiting for their request bytes). Over
    /// `worker_connections`, new connections are closed at once; on EMFILE and
    /// friends the listener pauses briefly.
    fn accept(&mut self, i: usize, now: Instant) {
        if self.shutdown_by.is_some() {
            return;
        }
        for _ in 0..ACCEPT_BATCH {
            match self.listeners[i].socket.accept() {
                Ok((stream, peer)) => {
                    crate::metrics::accepted();
                    self.add_connection(i, stream, peer, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_transient_accept_error(&e) => continue,
                Err(e) => return self.pause_listener(i, now, &e),
            }
        }
        let key = self.listener_keys[i];
        self.post(key);
    }

    fn add_connection(
        &mut self,
        i: usize,
        mut stream: mio::net::TcpStream,
        peer: std::net::SocketAddr,
        now: Instant,
    ) {
        if self.connections >= self.config.worker_connections {
            log::warn!(
                "worker_connections ({}) reached, closing {peer}",
                self.config.worker_connections
            );
            return;
        }
        // A listener on a wildcard address needs getsockname to know which local
        // address the client reached; otherwise it is the listener's own.
        let bound = self.listeners[i].addr;
        let local = if bound.ip().is_unspecified() {
            stream.local_addr().unwrap_or(bound)
        } else {
            bound
        };
        let group = self.listeners[i].group;
        let tls = self.config.listens.get(group).and_then(|g| g.tls.clone());
        let origin = Origin::accepted(group, local, peer, tls.is_some());
        let entry = self.entries.vacant_entry();
        let key = entry.key();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            socket_token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log::error!("register {peer}: {e}");
            return;
        }
        let transport = match tls {
            None => Transport::Plain(stream),
            Some(tls) => match Transport::tls(stream, &tls) {
                Ok(t) => t,
                Err(e) => return log::error!("TLS for {peer}: {e}"),
            },
        };
        let conn = Connection::new(transport, origin, Arc::clone(&self.config), now);
        let deadline = conn.deadline;
        entry.insert(Entry::Conn(Box::new(conn)));
        self.timers.update(key, None, deadline);
        self.connections += 1;
        // Data may already be waiting (edge-triggered: no event would tell us).
        self.drive(key, now, false);
    }

    fn pause_listener(&mut self, i: usize, now: Instant, e: &io::Error) {
        log::error!(
            "accept() on {} failed ({e}); pausing for {:?}",
            self.listeners[i].addr,
            ACCEPT_PAUSE
        );
        let _ = self
            .poll
            .registry()
            .deregister(&mut self.listeners[i].socket);
        self.paused[i] = Some(now + ACCEPT_PAUSE);
    }

    fn resume_listeners(&mut self, now: Instant) {
        for i in 0..self.listeners.len() {
            if self.paused[i].is_some_and(|t| t <= now) && self.shutdown_by.is_none() {
                self.paused[i] = None;
                let token = socket_token(self.listener_keys[i]);
                if self
                    .poll
                    .registry()
                    .register(&mut self.listeners[i].socket, token, Interest::READABLE)
                    .is_ok()
                {
                    self.accept(i, now);
                }
            }
        }
    }

    /// Runs a connection's state machine (or its timeout) and updates its deadline.
    fn drive(&mut self, key: usize, now: Instant, timed_out: bool) {
        let Some(Entry::Conn(conn)) = self.entries.get_mut(key) else {
            return;
        };
        let before = conn.deadline;
        let config = Arc::clone(conn.config());
        let mut ctx = Ctx {
            config: &config,
            now,
            date: &self.date.text,
            logs: &mut self.logs,
            shutting_down: self.shutdown_by.is_some(),
            config_stale: !Arc::ptr_eq(&config, &self.config),
            registry: self.poll.registry(),
            aio: &mut self.aio,
            key,
            gateway: &mut self.gateway,
        };
        // A bug in handling one connection must not take the worker down: the
        // connection is closed and everyone else goes on being served.
        let status = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if timed_out {
                conn.on_timeout(&mut ctx)
            } else {
                conn.on_ready(&mut ctx)
            }
        }))
        .unwrap_or_else(|_| {
            log::error!("internal error while handling a connection; closing it");
            crate::metrics::error(crate::metrics::ErrorKind::Internal);
            Status::Close
        });
        let registered = if timed_out { None } else { before };
        match status {
            Status::Open => self.timers.update(key, registered, conn.deadline),
            Status::Yield => {
                self.timers.update(key, registered, conn.deadline);
                self.post(key);
            }
            Status::Close => self.close(key, registered),
        }
    }

    fn close(&mut self, key: usize, registered: Option<Instant>) {
        self.timers.update(key, registered, None);
        // Dropping the connection closes its socket and pipes, which removes them
        // from the epoll set (nothing else holds those descriptors): no
        // EPOLL_CTL_DEL per connection.
        if let Entry::Conn(conn) = self.entries.remove(key) {
            for backend in conn.backend_keys() {
                self.gateway.backends.release(backend, None);
            }
            drop(conn);
            self.connections -= 1;
        }
    }

    fn expire(&mut self, now: Instant) {
        if self.date.text.is_empty() {
            self.date.refresh();
        }
        while let Some(key) = self.timers.pop_expired(now) {
            self.drive(key, now, true);
        }
    }

    fn on_signal(&mut self, now: Instant) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            match signal {
                SIGHUP => self.reload(),
                SIGUSR1 => {
                    log::info!("SIGUSR1: reopening the log files");
                    self.logs.reopen();
                    crate::logging::reopen();
                }
                _ => self.start_shutdown(signal, now),
            }
        }
    }

    /// SIGHUP: read the configuration again and publish it to every worker. New
    /// connections get the new one; connections already open finish with the one
    /// they started with. A bad file is reported and the running configuration
    /// stays.
    fn reload(&mut self) {
        match crate::config::load(&self.config.file, &self.prefix) {
            Ok(new) if same_listens(&new, &self.config) => {
                log::info!("SIGHUP: configuration {} reloaded", new.file.display());
                self.hub.publish(Arc::new(new));
                self.adopt_reload();
            }
            Ok(_) => log::error!(
                "SIGHUP: reload refused: the listen addresses or their parameters changed; restart webserv to apply that"
            ),
            Err(e) => log::error!("SIGHUP: reload failed, keeping the running configuration: {e}"),
        }
    }

    /// Runs the configuration last published, if this worker does not yet.
    fn adopt_reload(&mut self) {
        if let Some((generation, config)) = self.hub.newer(self.generation) {
            self.generation = generation;
            self.config = config;
            // The new configuration may log elsewhere or buffer differently.
            self.logs.reopen();
            // HTTP/2 connections on the old one are run now so they send
            // GOAWAY (an idle one would otherwise wait for its keep-alive
            // timeout); their streams in flight finish first.
            let h2: Vec<usize> = self
                .entries
                .iter()
                .filter_map(|(k, e)| matches!(e, Entry::Conn(c) if c.is_h2()).then_some(k))
                .collect();
            for key in h2 {
                self.post(key);
            }
        }
    }

    /// SIGINT/SIGTERM: stop accepting, close idle connections, let the rest finish.
    fn start_shutdown(&mut self, signal: i32, now: Instant) {
        if self.shutdown_by.is_some() {
            return;
        }
        log::info!("signal {signal} received, shutting down gracefully");
        self.shutdown_by = Some(now + SHUTDOWN_GRACE);
        for l in &mut self.listeners {
            let _ = self.poll.registry().deregister(&mut l.socket);
        }
        let idle: Vec<usize> = self
            .entries
            .iter()
            .filter_map(|(k, e)| matches!(e, Entry::Conn(c) if c.is_idle()).then_some(k))
            .collect();
        for key in idle {
            let deadline = match &self.entries[key] {
                Entry::Conn(c) => c.deadline,
                Entry::Listener(_) => None,
            };
            self.close(key, deadline);
        }
    }
}

fn same_listens(a: &Config, b: &Config) -> bool {
    a.listens.len() == b.listens.len()
        && a.listens
            .iter()
            .zip(&b.listens)
            .all(|(x, y)| x.addr == y.addr && x.options == y.options)
}

fn socket_token(key: usize) -> Token {
    Token(key * TOKENS_PER_ENTRY)
}

/// Errors that concern only the connection being accepted (it was reset before we
/// took it): try the next one.
fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED) | Some(libc::EPROTO) | Some(libc::EPERM)
    )
}
