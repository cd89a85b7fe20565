//! Deadlines for connections, kept sorted so the loop finds the next one in
//! O(log n) and never scans every connection.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// One deadline per key (a slab key); setting a new one replaces the old.
#[derive(Debug, Default)]
pub struct Timers {
    queue: BTreeSet<(Instant, usize)>,
}

impl Timers {
    /// Moves `key`'s deadline from `old` to `new` (either may be absent).
    pub fn update(&mut self, key: usize, old: Option<Instant>, new: Option<Instant>) {
        if old == new {
            return;
        }
        if let Some(t) = old {
            self.queue.remove(&(t, key));
        }
        if let Some(t) = new {
            self.queue.insert((t, key));
        }
    }

    /// How long the poll may sleep before the next deadline (capped at `max`).
    pub fn timeout(&self, now: Instant, max: Duration) -> Duration {
        match self.queue.first() {
            Some((t, _)) => t.saturating_duration_since(now).min(max),
            None => max,
        }
    }

    /// Removes and returns the next key whose deadline has passed.
    pub fn pop_expired(&mut self, now: Instant) -> Option<usize> {
        match self.queue.first() {
            Some(&(t, key)) if t <= now => {
                self.queue.remove(&(t, key));
                Some(key)
            }
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_and_replaces_deadlines() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.update(1, None, Some(now + Duration::from_secs(5)));
        t.update(2, None, Some(now + Duration::from_secs(1)));
        assert_eq!(
            t.timeout(now, Duration::from_secs(60)),
            Duration::from_secs(1)
        );
        t.update(
            2,
            Some(now + Duration::from_secs(1)),
            Some(now + Duration::from_secs(9)),
        );
        assert_eq!(t.len(), 2);
        assert_eq!(t.pop_expired(now + Duration::from_secs(6)), Some(1));
        assert_eq!(t.pop_expired(now + Duration::from_secs(6)), None);
        t.update(2, Some(now + Duration::from_secs(9)), None);
        assert!(t.is_empty());
    }
}
