//! File reads off the event loop (nginx's `aio threads`): a small pool of threads
//! per worker that read file chunks the page cache does not hold, so a slow disk
//! stalls only the response waiting for it, never the other clients.
//!
//! The loop asks first whether a chunk is cached (`preadv2(RWF_NOWAIT)` for copies,
//! `cachestat(2)` before sendfile); only a miss becomes a job. A job reads the chunk
//! (into a buffer the connection then writes, or into scratch memory just to bring
//! it into the page cache for sendfile), puts the result on the done list and wakes
//! the loop through a mio `Waker`. The pool starts on first use: a configuration
//! without `aio threads` has no extra threads until a compressed-body cache miss
//! needs one.
//!
//! The same pool compresses compressed-body cache entries (`Kind::Compress`): a
//! miss of up to 16 MiB would hold the loop for as long as the compressor takes.
//!
//! And it checks slow passwords (`auth_basic` with bcrypt or SHA-crypt, see
//! `handler::auth`): such a check takes as long as its cost factor says.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::filter::cache::{self, Fill};
use crate::handler::auth::Verify;

/// Threads per worker's pool.
const THREADS: usize = 4;

/// Who asked: a connection's slab key and its serial number (keys are reused).
pub type Owner = (usize, u64);

/// What a job does with the chunk.
#[derive(Debug)]
pub enum Kind {
    /// Read it and hand the bytes back.
    Read,
    /// Read it only to bring it into the page cache (sendfile follows).
    Warm,
    /// Compress the span a compressed-body cache entry holds; the bytes go back
    /// with the fill, for the loop to store.
    Compress(Box<Fill>),
}

pub struct Job {
    pub owner: Owner,
    pub file: Arc<File>,
    pub offset: u64,
    pub len: usize,
    pub kind: Kind,
}

/// A finished job: the bytes read (`Read`; empty for `Warm`; compressed for
/// `Compress`) or the error.
pub struct Done {
    pub owner: Owner,
    pub result: io::Result<Vec<u8>>,
    /// A `Compress` job's fill: the cache stores the result, whoever asked.
    pub fill: Option<Box<Fill>>,
    /// A password check and whether the password matched.
    pub verified: Option<(Box<Verify>, bool)>,
}

/// What the pool's threads take: a file job or a password check.
enum Work {
    File(Job),
    Verify(Owner, Box<Verify>),
}

struct Shared {
    jobs: Mutex<VecDeque<Work>>,
    ready: Condvar,
    done: Mutex<Vec<Done>>,
    waker: Arc<mio::Waker>,
    stop: AtomicBool,
}

/// A worker's access to its pool, which starts on the first job.
pub struct Aio {
    waker: Option<Arc<mio::Waker>>,
    pool: Option<Pool>,
}

impl Aio {
    pub fn new(waker: Arc<mio::Waker>) -> Aio {
        Aio {
            waker: Some(waker),
            pool: None,
        }
    }

    /// Queues `job`; gives it back if the pool could not start (the caller then
    /// reads inline, as without aio).
    pub fn submit(&mut self, job: Job) -> Result<(), Job> {
        match self.started() {
            Some(pool) => {
                pool.submit(job);
                crate::metrics::aio_queued(1);
                Ok(())
            }
            None => Err(job),
        }
    }

    /// Queues a password check; gives it back if the pool could not start (the
    /// caller then checks inline).
    pub fn submit_verify(&mut self, owner: Owner, v: Box<Verify>) -> Result<(), Box<Verify>> {
        match self.started() {
            Some(pool) => {
                pool.push(Work::Verify(owner, v));
                crate::metrics::aio_queued(1);
                Ok(())
            }
            None => Err(v),
        }
    }

    /// The pool, started on first use.
    fn started(&mut self) -> Option<&Pool> {
        if self.pool.is_none()
            && let Some(waker) = self.waker.take()
        {
            match Pool::start(waker) {
                Ok(pool) => self.pool = Some(pool),
                Err(e) => log::error!("aio: cannot start the thread pool ({e}); reading inline"),
            }
        }
        self.pool.as_ref()
    }

    /// The jobs finished since the last call.
    pub fn take_done(&self) -> Vec<Done> {
        self.pool.as_ref().map(Pool::take_done).unwrap_or_default()
    }
}

/// One worker's pool.
pub struct Pool {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A job never panics while holding a lock; if one did, the data is still fine.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pool {
    /// Starts the threads; `waker` wakes the worker's Poll when a job is done.
    pub fn start(waker: Arc<mio::Waker>) -> io::Result<Pool> {
        let shared = Arc::new(Shared {
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
            done: Mutex::new(Vec::new()),
            waker,
            stop: AtomicBool::new(false),
        });
        // The threads are detached (see Drop); a failed start stops those begun.
        let pool = Pool { shared };
        for i in 0..THREADS {
            let s = Arc::clone(&pool.shared);
            std::thread::Builder::new()
                .name(format!("aio-{i}"))
                .spawn(move || run(&s))?;
        }
        Ok(pool)
    }

    pub fn submit(&self, job: Job) {
        self.push(Work::File(job));
    }

    fn push(&self, work: Work) {
        lock(&self.shared.jobs).push_back(work);
        self.shared.ready.notify_one();
    }

    /// The jobs finished since the last call.
    pub fn take_done(&self) -> Vec<Done> {
        std::mem::take(&mut *lock(&self.shared.done))
    }
}

impl Drop for Pool {
    /// Idle threads end now; a thread inside a read ends when the read does. They
    /// are not joined: a read from a stuck disk must not hold up a shutdown (the
    /// process exit ends them).
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.ready.notify_all();
    }
}

fn run(s: &Shared) {
    let mut scratch = Vec::new();
    loop {
        let job = {
            let mut jobs = lock(&s.jobs);
            loop {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Some(job) = jobs.pop_front() {
                    break job;
                }
                jobs = s.ready.wait(jobs).unwrap_or_else(|e| e.into_inner());
            }
        };
        let job = match job {
            Work::File(job) => job,
            Work::Verify(owner, v) => {
                let ok = v.run();
                lock(&s.done).push(Done {
                    owner,
                    result: Ok(Vec::new()),
                    fill: None,
                    verified: Some((v, ok)),
                });
                let _ = s.waker.wake();
                continue;
            }
        };
        let (result, fill) = match job.kind {
            Kind::Read => (read_chunk(&job.file, job.offset, job.len), None),
            Kind::Warm => (warm(&job.file, job.offset, job.len, &mut scratch), None),
            Kind::Compress(fill) => (compress(&fill, &job.file), Some(fill)),
        };
        lock(&s.done).push(Done {
            owner: job.owner,
            result,
            fill,
            verified: None,
        });
        let _ = s.waker.wake();
    }
}

/// A cache entry compressed; a panic inside a compressor is this job's error, so
/// the claim on the entry ends and the thread lives on.
fn compress(fill: &Fill, file: &File) -> io::Result<Vec<u8>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache::compress(fill, file)))
        .unwrap_or_else(|_| Err(io::Error::other("the compressor panicked")))
}

/// Piece size for warming: the scratch memory a pool thread keeps.
const WARM_PIECE: usize = 128 * 1024;

/// Reads `len` bytes at `offset` into the page cache, through a small scratch
/// buffer (the bytes themselves are not kept). Returns an empty buffer.
fn warm(file: &File, offset: u64, len: usize, scratch: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    scratch.resize(WARM_PIECE, 0);
    let mut done = 0;
    while done < len {
        let want = (len - done).min(WARM_PIECE);
        match file.read_at(&mut scratch[..want], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Vec::new())
}

/// Reads `len` bytes at `offset`; fewer at end of file.
fn read_chunk(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// What a read that must not wait found.
enum Nowait {
    Read(usize),
    /// The data needs the disk.
    Miss,
    /// This filesystem cannot read without waiting (FUSE, network ones).
    Unsupported,
    Failed(io::Error),
}

fn read_nowait(file: &File, buf: &mut [u8], offset: u64) -> Nowait {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    loop {
        // SAFETY: `iov` describes `buf`, which is valid for writes of its length
        // for the duration of the call; the descriptor is open.
        let n = unsafe {
            libc::preadv2(
                file.as_raw_fd(),
                &iov,
                1,
                offset as libc::off_t,
                libc::RWF_NOWAIT,
            )
        };
        if n >= 0 {
            return Nowait::Read(n as usize);
        }
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => Nowait::Miss,
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => Nowait::Unsupported,
            _ => Nowait::Failed(e),
        };
    }
}

/// Reads from the page cache only: `Ok(n)` bytes were cached (n may be short),
/// `Err(WouldBlock)` if the first byte needs the disk, or if the filesystem
/// cannot tell (then the pool reads; cachestat is no help there, since it counts
/// pages that readahead is still filling).
pub fn read_cached(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    match read_nowait(file, buf, offset) {
        Nowait::Read(n) => Ok(n),
        Nowait::Miss | Nowait::Unsupported => Err(io::ErrorKind::WouldBlock.into()),
        Nowait::Failed(e) => Err(e),
    }
}

/// `struct cachestat_range` and `struct cachestat` of cachestat(2) (Linux 6.5).
#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// cachestat's number in the generic syscall table (the same on x86_64 and arm64).
const SYS_CACHESTAT: libc::c_long = 451;

static NO_CACHESTAT: AtomicBool = AtomicBool::new(false);

/// Whether sendfile can send `len` bytes at `offset` without waiting for the disk:
/// every page is in the page cache (cachestat) and the last one is filled, not
/// still being read ahead (a one-byte RWF_NOWAIT read). Kernels without
/// cachestat answer yes (sendfile then reads inline).
pub fn is_cached(file: &File, offset: u64, len: u64) -> bool {
    if !pages_present(file, offset, len) {
        return false;
    }
    let mut last = [0u8; 1];
    // Unsupported: cachestat's word is all there is. Failed: sendfile will meet
    // the same error and report it.
    !matches!(
        read_nowait(file, &mut last, offset + len.saturating_sub(1)),
        Nowait::Miss
    )
}

/// Whether every page of the range is in the page cache (cachestat(2), Linux 6.5).
fn pages_present(file: &File, offset: u64, len: u64) -> bool {
    if len == 0 || NO_CACHESTAT.load(Ordering::Relaxed) {
        return true;
    }
    let range = CachestatRange { off: offset, len };
    let mut stat = Cachestat::default();
    // SAFETY: cachestat reads `range` and writes `stat`, both valid locals of the
    // layout the kernel expects; the descriptor is open.
    let r = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const CachestatRange,
            &mut stat as *mut Cachestat,
            0u32,
        )
    };
    if r < 0 {
        if io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
            NO_CACHESTAT.store(true, Ordering::Relaxed);
        }
        return true;
    }
    let page = 4096u64;
    let pages = (offset + len).div_ceil(page) - offset / page;
    stat.nr_cache >= pages
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::time::Duration;

    #[test]
    fn jobs_run_on_the_pool_and_wake_the_poll() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let file = Arc::new(File::open(&path).unwrap());
        let mut poll = Poll::new().unwrap();
        let pool = Pool::start(Arc::new(
            mio::Waker::new(poll.registry(), Token(7)).unwrap(),
        ))
        .unwrap();
        pool.submit(Job {
            owner: (3, 9),
            file: Arc::clone(&file),
            offset: 1000,
            len: 5000,
            kind: Kind::Read,
        });
        pool.submit(Job {
            owner: (4, 1),
            file: Arc::clone(&file),
            offset: 99_000,
            len: 5000,
            kind: Kind::Warm,
        });
        let mut done = Vec::new();
        let mut events = Events::with_capacity(8);
        while done.len() < 2 {
            poll.poll(&mut events, Some(Duration::from_secs(5)))
                .unwrap();
            assert!(!events.is_empty(), "no wake-up within 5 s");
            done.extend(pool.take_done());
        }
        done.sort_by_key(|d| d.owner);
        assert_eq!(done[0].owner, (3, 9));
        assert_eq!(done[0].result.as_ref().unwrap(), &data[1000..6000]);
        assert_eq!(done[1].owner, (4, 1));
        assert!(done[1].result.as_ref().unwrap().is_empty());
    }

    #[test]
    fn a_just_written_file_is_cached_and_readable_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![5u8; 50_000]).unwrap();
        let file = File::open(&path).unwrap();
        assert!(is_cached(&file, 0, 50_000));
        let mut buf = vec![0u8; 8192];
        assert_eq!(read_cached(&file, &mut buf, 45_000).unwrap(), 5000);
        assert!(buf[..5000].iter().all(|&b| b == 5));
    }
}
