//! Process-wide counters for `stub_status`, `metrics` and `$connections_*`.
//!
//! Every thread that counts gets its own [`Cells`] (registered once, on its first
//! count); only that thread writes them, with plain relaxed stores, so the
//! request path takes no lock and shares no cache line. The pages sum the cells
//! of every thread when they are asked for. The server layer calls the hooks
//! below where things happen: accept, connection state changes ([`ConnMeter`]),
//! a parsed head, the end of a request (with the access log line), timeouts and
//! errors; the handler and gateway layers count their own events. It sits above
//! `http` (it names methods) and below everything that counts.

mod cells;
pub mod client;
pub mod expose;
pub mod page;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

pub use cells::{BUCKETS, Counter, Gauge, Histogram, Slots};

/// Server names counted apart per thread (more share one `_other` slot).
const SERVER_SLOTS: usize = 32;
/// `limit_req` / `limit_conn` zones counted apart per thread.
const ZONE_SLOTS: usize = 32;

use crate::http::Method;

/// The methods counted apart; the rest are `other`.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "other"];
/// Status classes, `1xx` to `5xx`.
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// What a client connection is doing, as `stub_status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading a request head or body.
    Reading = 0,
    /// A request is being answered (processed, relayed, written).
    Writing = 1,
    /// Idle: before the first request, between keep-alive requests, closing.
    Waiting = 2,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Reading, Phase::Writing, Phase::Waiting];

    pub fn label(self) -> &'static str {
        ["reading", "writing", "waiting"][self as usize]
    }
}

/// Errors counted by kind.
#[derive(Debug, Clone, Copy)]
pub enum ErrorKind {
    /// A request head that did not parse (400, 414, 431, 505, ...).
    BadRequest = 0,
    /// A request body that broke its framing or its size limit.
    BadBody = 1,
    /// Reading from or writing to the client failed (reset, broken pipe).
    ClientIo = 2,
    /// A bug caught while handling a connection (it was closed).
    Internal = 3,
}

impl ErrorKind {
    pub const LABELS: [&'static str; 4] = ["bad_request", "bad_body", "client_io", "internal"];
}

/// Timeouts counted by kind.
#[derive(Debug, Clone, Copy)]
pub enum TimeoutKind {
    ClientHeader = 0,
    ClientBody = 1,
    Send = 2,
    Keepalive = 3,
    Cgi = 4,
    Upstream = 5,
}

impl TimeoutKind {
    pub const LABELS: [&'static str; 6] = [
        "client_header",
        "client_body",
        "send",
        "keepalive",
        "cgi",
        "upstream",
    ];
}

/// Which relay an upstream attempt went through.
#[derive(Debug, Clone, Copy)]
pub enum Upstream {
    Http = 0,
    FastCgi = 1,
}

impl Upstream {
    pub const LABELS: [&'static str; 2] = ["http", "fastcgi"];
}

/// Why an upstream attempt failed.
#[derive(Debug, Clone, Copy)]
pub enum UpstreamFailure {
    Error = 0,
    Timeout = 1,
    InvalidHeader = 2,
    /// An answer whose status `*_next_upstream` retries on.
    Status = 3,
}

impl UpstreamFailure {
    pub const LABELS: [&'static str; 4] = ["error", "timeout", "invalid_header", "status"];
}

/// Requests of one server name, by status class and method.
#[derive(Default)]
pub struct ServerCounts {
    pub by: [[Counter; METHODS.len()]; CLASSES.len()],
}

/// One thread's counters.
#[derive(Default)]
pub struct Cells {
    /// The worker number (`usize::MAX` until [`set_worker`]; then `worker="N"`).
    worker: AtomicUsize,
    pub accepted: Counter,
    pub handled: Counter,
    /// Requests begun: the first byte of a head arrived (as nginx counts them).
    pub requests: Counter,
    /// Client connections by [`Phase`].
    pub conns: [Gauge; 3],
    pub served: Slots<ServerCounts, SERVER_SLOTS>,
    pub duration: Histogram,
    pub received: Counter,
    pub sent: Counter,
    /// TLS handshakes: finished, failed.
    pub tls: [Counter; 2],
    /// CGI scripts: started, failed to start.
    pub cgi: [Counter; 2],
    pub upstream_attempts: [Counter; 2],
    pub upstream_failures: [[Counter; 4]; 2],
    pub errors: [Counter; ErrorKind::LABELS.len()],
    pub timeouts: [Counter; TimeoutKind::LABELS.len()],
    /// `open_file_cache`: hits, misses.
    pub file_cache: [Counter; 2],
    /// Jobs handed to the aio pool and not yet back.
    pub aio_depth: Gauge,
    pub limits: Slots<Counter, ZONE_SLOTS>,
    /// Slow password checks (bcrypt, SHA-crypt): hashes computed, verdicts
    /// taken from the shared cache.
    pub password_checks: [Counter; 2],
}

impl Cells {
    /// The worker label: its number, or `other` for a thread that is no worker.
    pub fn worker(&self) -> Option<usize> {
        Some(self.worker.load(Relaxed)).filter(|&w| w != usize::MAX)
    }
}

/// Every thread's cells (locked to register a thread and to read, never to count).
static ALL: Mutex<Vec<&'static Cells>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: &'static Cells = register();
}

fn register() -> &'static Cells {
    // Leaked on purpose: a thread's counts stay in the totals after it ends.
    let cells: &'static Cells = Box::leak(Box::default());
    cells.worker.store(usize::MAX, Relaxed);
    all_locked().push(cells);
    cells
}

fn all_locked() -> std::sync::MutexGuard<'static, Vec<&'static Cells>> {
    ALL.lock().unwrap_or_else(|e| e.into_inner())
}

/// This thread's cells.
#[inline]
pub fn local() -> &'static Cells {
    LOCAL.with(|c| *c)
}

/// Every thread's cells, for reading.
pub fn all() -> Vec<&'static Cells> {
    all_locked().clone()
}

/// Names this thread worker `n` (the `worker` label).
pub fn set_worker(n: usize) {
    local().worker.store(n, Relaxed);
}

/// A connection was accepted (before any limit refused it).
pub fn accepted() {
    local().accepted.inc();
}

/// A request began (its first byte arrived, or its head was already buffered).
pub fn request_started() {
    local().requests.inc();
}

/// Bytes read from a client.
#[inline]
pub fn received(n: usize) {
    local().received.add(n as u64);
}

/// What the end of a request (its access log line) counts.
pub struct Finished<'a> {
    /// The answering server's first `server_name` (`""` if none).
    pub server: &'a str,
    /// `None`: no request line could be read.
    pub method: Option<Method>,
    pub status: u16,
    /// Head and body bytes.
    pub bytes: u64,
    pub duration: Duration,
}

/// A request ended (counted where its access log line is written).
pub fn request_done(f: &Finished) {
    let c = local();
    let class = usize::from(f.status / 100).clamp(1, CLASSES.len()) - 1;
    let method = match f.method {
        Some(Method::Get) => 0,
        Some(Method::Head) => 1,
        Some(Method::Post) => 2,
        Some(Method::Put) => 3,
        Some(Method::Delete) => 4,
        Some(Method::Options) => 5,
        _ => METHODS.len() - 1,
    };
    c.served.get(f.server).by[class][method].inc();
    c.sent.add(f.bytes);
    c.duration.observe(f.duration);
}

pub fn tls_handshake(ok: bool) {
    local().tls[usize::from(!ok)].inc();
}

pub fn cgi_spawn(ok: bool) {
    local().cgi[usize::from(!ok)].inc();
}

pub fn upstream_attempt(kind: Upstream) {
    local().upstream_attempts[kind as usize].inc();
}

pub fn upstream_failure(kind: Upstream, why: UpstreamFailure) {
    local().upstream_failures[kind as usize][why as usize].inc();
}

pub fn error(kind: ErrorKind) {
    local().errors[kind as usize].inc();
}

pub fn timeout(kind: TimeoutKind) {
    local().timeouts[kind as usize].inc();
}

pub fn file_cache(hit: bool) {
    local().file_cache[usize::from(!hit)].inc();
}

/// Jobs queued on (positive) or back from (negative) this thread's aio pool.
pub fn aio_queued(n: i64) {
    local().aio_depth.add(n);
}

/// A request or connection refused by `limit_req` / `limit_conn` in `zone`.
pub fn count_limit_rejection(zone: &str) {
    local().limits.get(zone).inc();
}

/// A slow password check: a hash computed (`true`), or a verdict the shared
/// cache gave.
pub fn password_check(computed: bool) {
    local().password_checks[usize::from(!computed)].inc();
}

/// A client connection's place in the `Reading` / `Writing` / `Waiting`
/// counts: it joins as waiting, moves with [`ConnMeter::set`] and leaves when
/// dropped. Creating one counts the connection as handled.
#[derive(Debug)]
pub struct ConnMeter(Phase);

impl ConnMeter {
    pub fn new() -> ConnMeter {
        let c = local();
        c.handled.inc();
        c.conns[Phase::Waiting as usize].add(1);
        ConnMeter(Phase::Waiting)
    }

    /// The connection is now in `phase`.
    #[inline]
    pub fn set(&mut self, phase: Phase) {
        if phase != self.0 {
            let c = local();
            c.conns[self.0 as usize].add(-1);
            c.conns[phase as usize].add(1);
            self.0 = phase;
        }
    }

    pub fn phase(&self) -> Phase {
        self.0
    }
}

impl Default for ConnMeter {
    fn default() -> Self {
        ConnMeter::new()
    }
}

impl Drop for ConnMeter {
    fn drop(&mut self) {
        local().conns[self.0 as usize].add(-1);
    }
}

/// The `stub_status` numbers, summed over every thread.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub active: u64,
    pub accepted: u64,
    pub handled: u64,
    pub requests: u64,
    pub reading: u64,
    pub writing: u64,
    pub waiting: u64,
}

/// The current [`Totals`].
pub fn totals() -> Totals {
    let mut conns = [0i64; 3];
    let mut t = Totals::default();
    for c in all() {
        t.accepted += c.accepted.get();
        t.handled += c.handled.get();
        t.requests += c.requests.get();
        for (sum, g) in conns.iter_mut().zip(&c.conns) {
            *sum += g.get();
        }
    }
    let level = |n: i64| u64::try_from(n).unwrap_or(0);
    t.reading = level(conns[0]);
    t.writing = level(conns[1]);
    t.waiting = level(conns[2]);
    t.active = t.reading + t.writing + t.waiting;
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_moves_one_connection_between_phases() {
        let c = local();
        let levels = || c.conns.each_ref().map(Gauge::get);
        let (before, handled) = (levels(), c.handled.get());
        let delta = |now: [i64; 3]| [0, 1, 2].map(|i| now[i] - before[i]);
        let mut m = ConnMeter::new();
        assert_eq!(delta(levels()), [0, 0, 1]);
        m.set(Phase::Reading);
        m.set(Phase::Writing);
        assert_eq!(delta(levels()), [0, 1, 0]);
        drop(m);
        assert_eq!(delta(levels()), [0, 0, 0]);
        assert_eq!(c.handled.get() - handled, 1);
    }

    #[test]
    fn a_finished_request_lands_in_its_server_class_and_method() {
        let c = local();
        let done = |status, method| Finished {
            server: "unit-test.example",
            method,
            status,
            bytes: 10,
            duration: Duration::from_millis(1),
        };
        let (sent, count) = (c.sent.get(), c.duration.count.get());
        request_done(&done(200, Some(Method::Get)));
        request_done(&done(404, Some(Method::Mkcol)));
        request_done(&done(999, Some(Method::Post)));
        let (_, s) = c
            .served
            .iter()
            .find(|(n, _)| *n == "unit-test.example")
            .expect("a slot");
        assert_eq!(s.by[1][0].get(), 1);
        assert_eq!(s.by[3][6].get(), 1);
        assert_eq!(s.by[4][2].get(), 1);
        assert_eq!(c.sent.get() - sent, 30);
        assert_eq!(c.duration.count.get() - count, 3);
    }
}
