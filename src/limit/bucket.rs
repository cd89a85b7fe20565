//! nginx's leaky bucket, in milli-requests: a key's first request starts it
//! empty, each later one adds 1000 to its `excess`, which drains at the zone's rate (milli-requests per second) while
//! no request comes. A request whose excess would pass the burst is refused and
//! leaves the bucket as it was. Time is milliseconds on a clock the caller gives
//! (the zones pass the time since the process started), so tests inject it.

/// One request is this many milli-requests.
pub const REQUEST: u64 = 1000;

/// A clock that went back more than this (ms) counts as one millisecond passed,
/// as nginx does; a smaller step back counts as none.
const CLOCK_JUMP: u64 = 60_000;

/// One key's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Requests above the rate, in milli-requests.
    pub excess: u64,
    /// When the excess was last updated (ms).
    pub last: u64,
    /// A request has been counted (a new key's first request brings no excess).
    pub used: bool,
}

impl Bucket {
    /// The excess a request arriving at `now` would bring: what has drained
    /// since `last` at `rate` milli-requests per second is gone, one request is
    /// added.
    pub fn excess_at(&self, rate: u64, now: u64) -> u64 {
        if !self.used {
            return 0;
        }
        let ms = elapsed(self.last, now);
        let drained = rate.saturating_mul(ms) / 1000;
        // nginx: `excess - drained + 1000`, never below 0.
        self.excess.saturating_add(REQUEST).saturating_sub(drained)
    }

    /// Counts a request at `now`: the excess becomes [`Bucket::excess_at`].
    pub fn add(&mut self, rate: u64, now: u64) -> u64 {
        let excess = self.excess_at(rate, now);
        self.excess = excess;
        if !self.used || elapsed(self.last, now) > 0 {
            self.used = true;
            self.last = now;
        }
        excess
    }

    /// Whether the bucket has drained by `now` (its entry may be forgotten).
    pub fn is_empty_at(&self, rate: u64, now: u64) -> bool {
        rate.saturating_mul(elapsed(self.last, now)) / 1000 >= self.excess
    }
}

/// Milliseconds from `last` to `now`, with nginx's handling of a clock step back.
fn elapsed(last: u64, now: u64) -> u64 {
    match now.checked_sub(last) {
        Some(ms) => ms,
        None if last - now > CLOCK_JUMP => 1,
        None => 0,
    }
}

/// The delay (ms) of a request with `excess` when `delay` milli-requests pass
/// without waiting (`nodelay`: the burst; default 0): the time the surplus takes
/// to drain at `rate`.
pub fn delay_ms(excess: u64, delay: u64, rate: u64) -> u64 {
    match excess.checked_sub(delay) {
        Some(over) if over > 0 && rate > 0 => over.saturating_mul(1000) / rate,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excess_grows_per_request_and_drains_at_the_rate() {
        // 2r/s = 2000 milli-requests per second.
        let rate = 2000;
        let mut b = Bucket::default();
        // now (ms), excess after the request
        let steps = [
            (10_000, 0),
            (10_000, 1000),
            (10_000, 2000),
            (10_250, 2500),
            (10_750, 2500),
            // More drained than the request adds: empty, not one request.
            (13_000, 0),
            (13_000, 1000),
        ];
        for (now, want) in steps {
            assert_eq!(b.add(rate, now), want, "at {now}");
        }
    }

    #[test]
    fn clock_steps_back() {
        let b = Bucket {
            excess: 5000,
            last: 100_000,
            used: true,
        };
        // A small step back drains nothing; a big one counts as 1 ms.
        assert_eq!(b.excess_at(1_000_000, 99_000), 6000);
        assert_eq!(b.excess_at(1_000_000, 1_000), 6000 - 1000);
    }

    #[test]
    fn delays() {
        // excess, delay, rate → ms
        let cases = [
            (1000, 0, 1000, 1000),
            (2000, 0, 2000, 1000),
            (3000, 1000, 1000, 2000),
            (1000, 1000, 1000, 0),
            (500, 0, 1000, 500),
            (0, 0, 1000, 0),
            (5000, 0, 0, 0),
        ];
        for (excess, delay, rate, want) in cases {
            assert_eq!(
                delay_ms(excess, delay, rate),
                want,
                "{excess} {delay} {rate}"
            );
        }
    }

    #[test]
    fn empties() {
        let b = Bucket {
            excess: 2000,
            last: 0,
            used: true,
        };
        assert!(!b.is_empty_at(1000, 1999));
        assert!(b.is_empty_at(1000, 2000));
    }
}
