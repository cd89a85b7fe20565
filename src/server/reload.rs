//! SIGHUP reloads, once per process: the worker that takes SIGHUP reads the
//! configuration again and publishes it here; every worker (itself included)
//! adopts the new generation when its Poll is woken. So the file is parsed once
//! per reload, and all workers run the same configuration (and see the same
//! runtime state built from it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::Config;

/// The configuration every worker should run, and the wakers that tell them.
pub struct Hub {
    /// The latest generation (a copy of `current`'s, read without the lock):
    /// a worker compares its own with it once per turn of its loop.
    generation: AtomicU64,
    current: Mutex<(u64, Arc<Config>)>,
    wakers: Mutex<Vec<Arc<mio::Waker>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; the data is fine either way.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Hub {
    pub fn new(config: Arc<Config>) -> Hub {
        Hub {
            generation: AtomicU64::new(0),
            current: Mutex::new((0, config)),
            wakers: Mutex::new(Vec::new()),
        }
    }

    /// A worker's waker, woken when a configuration is published.
    pub fn join(&self, waker: Arc<mio::Waker>) {
        lock(&self.wakers).push(waker);
    }

    /// The configuration a worker starting now runs, with its generation.
    pub fn current(&self) -> (u64, Arc<Config>) {
        lock(&self.current).clone()
    }

    /// Makes `config` the one every worker runs, and wakes them.
    pub fn publish(&self, config: Arc<Config>) {
        {
            let mut current = lock(&self.current);
            *current = (current.0 + 1, config);
            self.generation.store(current.0, Ordering::Release);
        }
        for w in lock(&self.wakers).iter() {
            if let Err(e) = w.wake() {
                log::error!("reload: cannot wake a worker: {e}");
            }
        }
    }

    /// The configuration published after generation `seen`, with its
    /// generation; `None` when `seen` is the latest (one atomic load).
    pub fn newer(&self, seen: u64) -> Option<(u64, Arc<Config>)> {
        if self.generation.load(Ordering::Acquire) == seen {
            return None;
        }
        Some(lock(&self.current).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_configuration_reaches_each_worker_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, "server { listen 127.0.0.1:1; }").unwrap();
        let first = Arc::new(crate::config::load(&file, dir.path()).unwrap());
        let hub = Hub::new(first);
        let (seen, _) = hub.current();
        assert!(hub.newer(seen).is_none());
        std::fs::write(&file, "server { listen 127.0.0.1:1; server_name b; }").unwrap();
        let second = Arc::new(crate::config::load(&file, dir.path()).unwrap());
        hub.publish(Arc::clone(&second));
        let (now, config) = hub.newer(seen).expect("a newer configuration");
        assert!(Arc::ptr_eq(&config, &second));
        assert!(hub.newer(now).is_none());
    }
}
