//! The event loop: Listeners accept Connections, a ConnectionManager (`Worker`)
//! per thread polls them with mio, and each Connection runs its own state machine.

pub mod access_log;
pub mod aio;
pub mod buffer;
pub mod connection;
pub mod listener;
mod log_files;
pub mod manager;
mod reload;
pub mod timer;

use std::sync::Arc;

use crate::config::Config;
pub use listener::BindError;
use listener::Listener;
use manager::Worker;

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    Bind(BindError),
    Io(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Bind(e) => e.fmt(f),
            StartError::Io(e) => write!(f, "cannot start the event loop: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Binds every listen address, starts `worker_processes` workers (threads, each
/// with its own Poll on shared listening sockets) and returns after a graceful
/// shutdown (SIGINT/SIGTERM). SIGHUP reloads the configuration (read again from
/// `config.file` against `prefix`), SIGUSR1 reopens the access logs.
pub fn run(config: Config, prefix: std::path::PathBuf) -> Result<(), StartError> {
    raise_fd_limit(config.worker_rlimit_nofile);
    let workers = config.worker_processes.max(1);
    // Signal handlers first: once the sockets are bound, clients can connect, and a
    // SIGTERM from then on must already mean a graceful stop.
    // Handed out from the end (`pop`): the last worker, on this thread, takes
    // SIGHUP for all of them.
    let mut signals = (0..workers)
        .map(|n| manager::signals(n == 0))
        .collect::<Result<Vec<_>, _>>()
        .map_err(StartError::Io)?;
    let mut sockets = listener::bind_all(&config, workers).map_err(StartError::Bind)?;
    for g in &config.listens {
        log::info!("listening on {}", g.addr);
    }
    let _pid_file = match &config.pid {
        Some(path) => Some(PidFile::create(path).map_err(StartError::Io)?),
        None => None,
    };
    let config = Arc::new(config);
    let hub = Arc::new(reload::Hub::new(Arc::clone(&config)));
    let mut handles = Vec::new();
    for n in 0..workers {
        let listeners = take_listeners(&mut sockets, &config);
        let sig = signals
            .pop()
            .ok_or_else(|| StartError::Io(std::io::ErrorKind::Other.into()))?;
        let worker = Worker::new(Arc::clone(&hub), prefix.clone(), listeners, sig)
            .map_err(StartError::Io)?;
        if n + 1 == workers {
            worker.run().map_err(StartError::Io)?;
        } else {
            handles.push(std::thread::spawn(move || worker.run()));
        }
    }
    for h in handles {
        match h.join() {
            Ok(r) => r.map_err(StartError::Io)?,
            Err(_) => log::error!("a worker thread panicked"),
        }
    }
    Ok(())
}

/// The `pid` file: written once the sockets are bound, removed at exit.
struct PidFile(std::path::PathBuf);

impl PidFile {
    fn create(path: &std::path::Path) -> std::io::Result<PidFile> {
        std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot write pid file {}: {e}", path.display()),
            )
        })?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit: every connection and CGI pipe
/// is a descriptor, and the default soft limit (often 1024) is far below what
/// `worker_connections` asks for.
fn raise_fd_limit(wanted: Option<u64>) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    if let Some(n) = wanted {
        // `worker_rlimit_nofile N`: both limits (raising the hard one needs root).
        lim.rlim_cur = n as libc::rlim_t;
        lim.rlim_max = n as libc::rlim_t;
        // SAFETY: setrlimit reads the struct we pass, nothing else.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            let e = std::io::Error::last_os_error();
            log::warn!("worker_rlimit_nofile {n}: setrlimit failed: {e}");
        }
        return;
    }
    // SAFETY: getrlimit/setrlimit read and write the struct we pass, nothing else.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let old = lim.rlim_cur;
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                log::debug!("raised the open file limit from {old} to {}", lim.rlim_max);
            }
        }
    }
}

/// One socket per address for the next worker.
fn take_listeners(sockets: &mut [Vec<std::net::TcpListener>], config: &Config) -> Vec<Listener> {
    sockets
        .iter_mut()
        .zip(&config.listens)
        .enumerate()
        .filter_map(|(group, (copies, g))| {
            let s = copies.pop()?;
            Some(Listener {
                socket: mio::net::TcpListener::from_std(s),
                group,
                addr: g.addr,
            })
        })
        .collect()
}
