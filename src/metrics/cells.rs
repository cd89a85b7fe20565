//! The counting cells: one set per thread, written only by that thread (a
//! relaxed load and store, no locked instruction, no lock), read by anyone
//! (the status pages sum every thread's set).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A count only its own thread raises.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning thread writes, so load-then-store loses nothing.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A level only its own thread moves (a thread's share may be negative when
/// what it counts was started elsewhere; the sum over threads is the level).
#[derive(Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    #[inline]
    pub fn add(&self, n: i64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Relaxed)
    }
}

/// Label values met at run time (server names, limit zones): a fixed number of
/// named slots, claimed by the owning thread as names appear. Names beyond the
/// last slot share it, under [`Slots::OVERFLOW`].
pub struct Slots<T, const N: usize> {
    names: [OnceLock<Box<str>>; N],
    values: [T; N],
}

impl<T: Default, const N: usize> Default for Slots<T, N> {
    fn default() -> Self {
        Slots {
            names: std::array::from_fn(|_| OnceLock::new()),
            values: std::array::from_fn(|_| T::default()),
        }
    }
}

impl<T, const N: usize> Slots<T, N> {
    /// The label of the shared last slot.
    pub const OVERFLOW: &'static str = "_other";

    /// The slot for `name`, claimed if new (owning thread only).
    pub fn get(&self, name: &str) -> &T {
        for (i, slot) in self.names.iter().enumerate() {
            let last = i + 1 == N;
            match slot.get() {
                Some(n) if &**n == name || (last && &**n == Self::OVERFLOW) => {
                    return &self.values[i];
                }
                Some(_) => {}
                None => {
                    let label = if last { Self::OVERFLOW } else { name };
                    let _ = slot.set(label.into());
                    return &self.values[i];
                }
            }
        }
        &self.values[N - 1]
    }

    /// The claimed slots, with their names.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.names
            .iter()
            .zip(&self.values)
            .map_while(|(n, v)| n.get().map(|n| (&**n, v)))
    }
}

/// Upper bounds of the request duration buckets, in seconds.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// The same bounds in microseconds (the request path compares integers).
const BUCKETS_US: [u64; 11] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// A duration histogram: a count per bucket (not cumulative; the exposition
/// adds them up), the sum in microseconds, and the count.
#[derive(Default)]
pub struct Histogram {
    pub buckets: [Counter; BUCKETS.len()],
    pub sum_us: Counter,
    pub count: Counter,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let us = d
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(d.subsec_micros()));
        if let Some(i) = BUCKETS_US.iter().position(|&b| us <= b) {
            self.buckets[i].inc();
        }
        self.sum_us.add(us);
        self.count.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_keep_names_apart_and_share_the_last() {
        let s: Slots<Counter, 3> = Slots::default();
        s.get("a").inc();
        s.get("b").add(2);
        s.get("a").inc();
        s.get("c").add(5);
        s.get("d").add(7);
        let seen: Vec<(&str, u64)> = s.iter().map(|(n, c)| (n, c.get())).collect();
        assert_eq!(seen, [("a", 2), ("b", 2), ("_other", 12)]);
    }

    #[test]
    fn the_integer_bounds_are_the_exposed_ones() {
        for (s, us) in BUCKETS.iter().zip(BUCKETS_US) {
            assert_eq!((s * 1e6).round() as u64, us);
        }
    }

    #[test]
    fn a_histogram_puts_each_duration_in_its_first_bucket() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(6));
        h.observe(Duration::from_secs(11));
        assert_eq!(h.buckets[0].get(), 1);
        assert_eq!(h.buckets[1].get(), 1);
        assert_eq!(h.buckets.iter().map(Counter::get).sum::<u64>(), 2);
        assert_eq!(h.count.get(), 3);
        assert_eq!(h.sum_us.get(), 11_011_000);
    }
}
