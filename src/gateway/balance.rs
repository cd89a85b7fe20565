//! Upstream load balancing: the per-worker runtime state of one `upstream {}` server
//! group, and the choice of a peer for each attempt of a proxied request.
//!
//! The methods behave as nginx's: smooth weighted round-robin (the default and every
//! method's fallback), `least_conn`, `ip_hash`, `hash KEY [consistent]` and
//! `random [two]`, with passive health checks (`max_fails`, `fail_timeout`), `down`,
//! `max_conns` and a `backup` tier. A group of a single peer is never marked failed.
//! When every peer is unavailable, `pick` answers `None` ("no live upstreams") and
//! peers come back one probe at a time as their `fail_timeout` runs out; failure
//! counts are not reset wholesale.
//!
//! Per attempt of a request: `pick`, `Tried::mark` the peer, connect, then `done`
//! with whether it failed; retry with the same `Tried` while `proxy_next_upstream`
//! allows and `tried.count() < tries()`.
//!
//! Only `std` is used, so the module also compiles and tests on its own.

use std::cell::Cell;
use std::cmp::Ordering;
use std::time::{Duration, Instant};

/// One `server` line of an upstream block, as the config gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// `host:port` or `unix:/path` as written; the consistent hash ring is built from it.
    pub name: String,
    pub weight: u32,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub backup: bool,
    pub down: bool,
    /// 0 = unlimited.
    pub max_conns: u32,
}

/// The balancing method of the group (`least_conn`, `ip_hash`, ... or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    RoundRobin,
    LeastConn,
    IpHash,
    Hash { consistent: bool },
    Random { two: bool },
}

/// Which peers this request already tried (for `proxy_next_upstream`); a small bitset.
///
/// It also keeps the request's position in the hash, `ip_hash` and random walks and
/// whether it has moved on to the backup tier, so that a retry continues where the
/// previous attempt stopped. The caller marks each peer `pick` returned.
#[derive(Debug, Default, Clone)]
pub struct Tried {
    /// One bit per peer index.
    bits: Vec<u64>,
    /// Bits set.
    count: usize,
    /// Updated by `pick`, which only borrows the set.
    walk: Cell<Walk>,
}

/// Per-request balancer state carried between attempts.
#[derive(Debug, Default, Clone, Copy)]
struct Walk {
    /// A first attempt has been made (the walk's start is set).
    started: bool,
    /// Running hash (`ip_hash`, `hash`) or ring position (`hash ... consistent`).
    hash: u64,
    /// `hash`: candidates computed so far.
    rehash: u32,
    /// Rejected candidates so far; past 20 the request falls back to round-robin.
    tries: u32,
    /// The primaries had nothing left: the request stays with the backups.
    backup: bool,
}

impl Tried {
    pub fn mark(&mut self, peer: usize) {
        let (word, bit) = (peer / 64, 1u64 << (peer % 64));
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & bit == 0 {
            self.bits[word] |= bit;
            self.count += 1;
        }
    }

    pub fn contains(&self, peer: usize) -> bool {
        self.bits
            .get(peer / 64)
            .is_some_and(|w| w & (1u64 << (peer % 64)) != 0)
    }

    pub fn count(&self) -> usize {
        self.count
    }
}

/// Runtime state of one peer.
#[derive(Debug)]
struct Peer {
    /// Configured weight (at least 1).
    weight: i64,
    /// Weight used by round-robin: lowered by failures, recovers by one per pass.
    effective_weight: i64,
    /// Smooth round-robin's running credit.
    current_weight: i64,
    /// Active connections (least_conn, random two, max_conns).
    conns: u32,
    max_conns: u32,
    /// Failures since the peer was last seen live.
    fails: u32,
    max_fails: u32,
    fail_timeout: Duration,
    /// Last failure.
    accessed: Option<Instant>,
    /// Start of the current failure window, or of the last probe after one.
    checked: Option<Instant>,
    down: bool,
    /// In the backup tier, used when no primary is left for a request.
    backup: bool,
    /// Index of the first peer with the same name (the ring's notion of a server).
    name_id: usize,
}

impl Peer {
    fn within_window(&self, now: Instant) -> bool {
        self.checked
            .is_some_and(|c| now.saturating_duration_since(c) <= self.fail_timeout)
    }

    /// Not down, not failed within its window, below `max_conns`.
    fn usable(&self, now: Instant) -> bool {
        let failed = self.max_fails > 0 && self.fails >= self.max_fails && self.within_window(now);
        let full = self.max_conns > 0 && self.conns >= self.max_conns;
        !(self.down || failed || full)
    }
}

/// The runtime state of one upstream group in one worker.
#[derive(Debug)]
pub struct Balancer {
    /// In config order, so that indices are those of the `PeerSpec`s.
    peers: Vec<Peer>,
    /// How many peers are not backups.
    primaries: usize,
    /// Sum of the primary weights.
    total_weight: u64,
    /// One primary and no backup: never marked failed.
    single: bool,
    method: Method,
    /// `hash ... consistent`: (point, peer index) sorted by point.
    ring: Vec<(u32, usize)>,
    /// xorshift64* state for `random`.
    rng: u64,
}

/// One call of `pick`.
struct Req<'a> {
    now: Instant,
    tried: &'a Tried,
    walk: Walk,
}

/// Rejected candidates a hash or random walk may see before falling back to round-robin.
const MAX_HASH_TRIES: u32 = 20;

impl Balancer {
    pub fn new(peers: &[PeerSpec], method: Method) -> Balancer {
        let state: Vec<Peer> = (peers.iter().enumerate())
            .map(|(i, s)| Peer {
                weight: i64::from(s.weight.max(1)),
                effective_weight: i64::from(s.weight.max(1)),
                current_weight: 0,
                conns: 0,
                max_conns: s.max_conns,
                fails: 0,
                max_fails: s.max_fails,
                fail_timeout: s.fail_timeout,
                accessed: None,
                checked: None,
                down: s.down,
                backup: s.backup,
                name_id: peers.iter().position(|o| o.name == s.name).unwrap_or(i),
            })
            .collect();
        let (primaries, total_weight) = (state.iter().filter(|p| !p.backup))
            .fold((0, 0), |(n, w), p| (n + 1, w + p.weight as u64));
        let ring = match method {
            Method::Hash { consistent: true } => build_ring(peers),
            _ => Vec::new(),
        };
        Balancer {
            single: primaries == 1 && state.len() == 1,
            peers: state,
            primaries,
            total_weight,
            method,
            ring,
            rng: seed(),
        }
    }

    /// The next peer for a request (index into `peers`), or None ("no live upstreams").
    /// `key`: the client address bytes for IpHash (4 bytes IPv4 / 16 IPv6), the
    /// evaluated key for Hash; ignored otherwise.
    /// Counts the connection as active on that peer (least_conn, max_conns).
    pub fn pick(&mut self, now: Instant, key: Option<&[u8]>, tried: &Tried) -> Option<usize> {
        let mut r = Req {
            now,
            tried,
            walk: tried.walk.get(),
        };
        let first = !r.walk.started;
        r.walk.started = true;
        let key = key.unwrap_or_default();
        let budget = r.walk.tries <= MAX_HASH_TRIES;
        let hashing = budget && self.primaries >= 2;
        let chosen = match self.method {
            Method::LeastConn => self.tiers(&mut r, true),
            Method::IpHash if hashing => self.ip_hash(&mut r, key, first),
            Method::Hash { consistent: false } if hashing && !key.is_empty() => {
                self.hash(&mut r, key)
            }
            Method::Hash { consistent: true }
                if budget && !self.single && !self.ring.is_empty() && !key.is_empty() =>
            {
                self.chash(&mut r, key, first)
            }
            Method::Random { two } if hashing => self.random(&mut r, two),
            _ => self.tiers(&mut r, false),
        };
        tried.walk.set(r.walk);
        let i = chosen?;
        let peer = &mut self.peers[i];
        if !self.single && !peer.within_window(now) {
            peer.checked = Some(now);
        }
        peer.conns += 1;
        Some(i)
    }

    /// The request on `peer` finished (connection released); `failed` = connect
    /// error/timeout/bad response as nginx counts a failure.
    pub fn done(&mut self, peer: usize, failed: bool, now: Instant) {
        let single = self.single;
        let Some(p) = self.peers.get_mut(peer) else {
            return;
        };
        p.conns = p.conns.saturating_sub(1);
        if single {
            p.fails = 0;
        } else if failed {
            p.fails = p.fails.saturating_add(1);
            p.accessed = Some(now);
            p.checked = Some(now);
            if p.max_fails > 0 {
                p.effective_weight -= p.weight / i64::from(p.max_fails);
            }
            p.effective_weight = p.effective_weight.max(0);
        } else if p.accessed < p.checked {
            // A probe (or the first request after a window) succeeded: live again.
            p.fails = 0;
        }
    }

    /// Active connections on `peer`.
    pub fn active(&self, peer: usize) -> u32 {
        self.peers.get(peer).map_or(0, |p| p.conns)
    }

    /// Number of peers, backups included.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// How many attempts a request gets at most (nginx's `tries`): the peers not
    /// marked `down`, backups included. `proxy_next_upstream_tries` may lower it.
    pub fn tries(&self) -> usize {
        self.peers.iter().filter(|p| !p.down).count()
    }

    /// `ip_hash`: the first three octets of IPv4, all of IPv6 (three zeros for other
    /// clients), folded into the hash once more for each rejected candidate.
    fn ip_hash(&mut self, r: &mut Req, key: &[u8], first: bool) -> Option<usize> {
        let (now, tried) = (r.now, r.tried);
        let addr: &[u8] = match key.len() {
            4 => &key[..3],
            16 => key,
            _ => &[0, 0, 0],
        };
        if first {
            r.walk.hash = 89;
        }
        self.walk(r, |b, w| {
            for &x in addr {
                w.hash = (w.hash * 113 + u64::from(x)) % 6271;
            }
            Some(b.by_weight(w.hash % b.total_weight)).filter(|&i| b.ok(i, now, tried))
        })
    }

    /// `hash KEY`: `(crc32([REHASH] KEY) >> 16) & 0x7fff` summed over the candidates,
    /// REHASH being the candidate's number in decimal, omitted for the first.
    fn hash(&mut self, r: &mut Req, key: &[u8]) -> Option<usize> {
        let (now, tried) = (r.now, r.tried);
        self.walk(r, |b, w| {
            let mut crc = CRC_INIT;
            if w.rehash > 0 {
                crc = crc32_update(crc, w.rehash.to_string().as_bytes());
            }
            let h = ((crc32_update(crc, key) ^ CRC_INIT) >> 16) & 0x7fff;
            w.hash = u64::from((w.hash as u32).wrapping_add(h));
            w.rehash += 1;
            Some(b.by_weight(w.hash % b.total_weight)).filter(|&i| b.ok(i, now, tried))
        })
    }

    /// `hash KEY consistent`: the server of the first ring point at or after the key's
    /// crc32, then of the following points; round-robin among the peers of that name.
    fn chash(&mut self, r: &mut Req, key: &[u8], first: bool) -> Option<usize> {
        let (now, tried) = (r.now, r.tried);
        if first {
            r.walk.hash = ring_point(&self.ring, crc32(key)) as u64;
        }
        self.walk(r, |b, w| {
            let (_, owner) = b.ring[(w.hash % b.ring.len() as u64) as usize];
            let name = b.peers[owner].name_id;
            let found = b.smooth(0, |b, i| {
                let p = &b.peers[i];
                !p.backup && p.name_id == name && b.ok(i, now, tried)
            });
            w.hash += u64::from(found.is_none());
            found
        })
    }

    /// `random [two]`: a weighted random primary; with `two`, a second distinct one
    /// too, and the less loaded of the two.
    fn random(&mut self, r: &mut Req, two: bool) -> Option<usize> {
        let (now, tried) = (r.now, r.tried);
        let mut prev = None;
        self.walk(r, |b, _| {
            let x = b.next_random() % b.total_weight;
            let i = b.by_weight(x);
            if prev == Some(i) || !b.ok(i, now, tried) {
                return None;
            }
            match prev {
                Some(p) if b.load_cmp(i, p) == Ordering::Greater => Some(p),
                None if two => {
                    prev = Some(i);
                    None
                }
                _ => Some(i),
            }
        })
    }

    fn ok(&self, i: usize, now: Instant, tried: &Tried) -> bool {
        !tried.contains(i) && self.peers[i].usable(now)
    }

    /// Candidates from `next` (a usable one, or None for a rejection) until one comes;
    /// past 20 rejections in the request, round-robin.
    fn walk(
        &mut self,
        r: &mut Req,
        mut next: impl FnMut(&mut Self, &mut Walk) -> Option<usize>,
    ) -> Option<usize> {
        loop {
            if let Some(i) = next(self, &mut r.walk) {
                return Some(i);
            }
            r.walk.tries += 1;
            if r.walk.tries > MAX_HASH_TRIES {
                return self.tiers(r, false);
            }
        }
    }

    /// Round-robin (or least_conn) over the primaries, then once they have nothing
    /// left for this request, over the backups for the rest of it.
    fn tiers(&mut self, r: &mut Req, lc: bool) -> Option<usize> {
        if !r.walk.backup {
            let chosen = if self.single {
                // One peer: only `down` and `max_conns` keep it out.
                Some(0).filter(|&i| self.ok(i, r.now, r.tried))
            } else {
                self.tier(r, false, lc)
            };
            if chosen.is_some() || self.primaries == self.peers.len() {
                return chosen;
            }
            r.walk.backup = true;
        }
        self.tier(r, true, lc)
    }

    fn tier(&mut self, r: &Req, backup: bool, lc: bool) -> Option<usize> {
        let (now, tried) = (r.now, r.tried);
        let ok = |b: &Self, i: usize| b.peers[i].backup == backup && b.ok(i, now, tried);
        if !lc {
            return self.smooth(0, ok);
        }
        // Fewest connections per weight; the first such peer unless others tie.
        let (mut best, mut many) = (None, false);
        for i in (0..self.peers.len()).filter(|&i| ok(self, i)) {
            match best.map(|b| self.load_cmp(i, b)) {
                Some(Ordering::Equal) => many = true,
                Some(Ordering::Greater) => {}
                _ => (best, many) = (Some(i), false),
            }
        }
        let b = best?;
        if !many {
            return Some(b);
        }
        // Ties: smooth weighted round-robin among the tied peers.
        self.smooth(b, |s, i| s.load_cmp(i, b) == Ordering::Equal && ok(s, i))
    }

    /// Compares the loads (connections / weight) of peers `a` and `b`.
    fn load_cmp(&self, a: usize, b: usize) -> Ordering {
        let (a, b) = (&self.peers[a], &self.peers[b]);
        (i64::from(a.conns) * b.weight).cmp(&(i64::from(b.conns) * a.weight))
    }

    /// Smooth weighted round-robin over the peers from index `from` that `eligible`
    /// accepts: each gains its effective weight (which recovers by one), the heaviest
    /// wins and loses the sum.
    fn smooth(&mut self, from: usize, eligible: impl Fn(&Self, usize) -> bool) -> Option<usize> {
        let (mut best, mut total) = (None::<usize>, 0);
        for i in from..self.peers.len() {
            if !eligible(self, i) {
                continue;
            }
            let p = &mut self.peers[i];
            p.current_weight += p.effective_weight;
            total += p.effective_weight;
            if p.effective_weight < p.weight {
                p.effective_weight += 1;
            }
            if best.is_none_or(|b| self.peers[i].current_weight > self.peers[b].current_weight) {
                best = Some(i);
            }
        }
        let b = best?;
        self.peers[b].current_weight -= total;
        Some(b)
    }

    /// The primary owning slot `w` of the weight line (`w` < total weight).
    fn by_weight(&self, mut w: u64) -> usize {
        let mut last = 0;
        for (i, p) in self.peers.iter().enumerate().filter(|(_, p)| !p.backup) {
            if w < p.weight as u64 {
                return i;
            }
            (w, last) = (w - p.weight as u64, i);
        }
        last
    }

    /// xorshift64*.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A nonzero seed that differs between balancers (std's per-map hash keys).
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9E37_79B9_7F4A_7C15);
    h.finish() | 1
}

/// The ketama ring: 160 points per unit of weight for each primary, point `j` being
/// `crc32(HOST "\0" PORT PREV)` with PREV the previous point's 4 little-endian bytes
/// (zero for the first); sorted, one server kept per point value.
fn build_ring(specs: &[PeerSpec]) -> Vec<(u32, usize)> {
    let mut ring = Vec::new();
    for (i, spec) in specs.iter().enumerate().filter(|(_, s)| !s.backup) {
        let name = spec.name.as_bytes();
        let (host, port) = split_host_port(name);
        let base = crc32_update(crc32_update(crc32_update(CRC_INIT, host), b"\0"), port);
        let mut prev = 0u32;
        for _ in 0..u64::from(spec.weight.max(1)) * 160 {
            prev = crc32_update(base, &prev.to_le_bytes()) ^ CRC_INIT;
            ring.push((prev, i));
        }
    }
    ring.sort_by_key(|&(h, _)| h);
    ring.dedup_by_key(|&mut (h, _)| h);
    ring
}

/// Index of the first ring point >= `hash` (may be `ring.len()`, which wraps to 0).
fn ring_point(ring: &[(u32, usize)], hash: u32) -> usize {
    ring.partition_point(|&(h, _)| h < hash)
}

/// `unix:/path` → (`/path`, ""); `host:123` → (`host`, `123`); otherwise the whole name.
fn split_host_port(name: &[u8]) -> (&[u8], &[u8]) {
    if name.len() >= 5 && name[..5].eq_ignore_ascii_case(b"unix:") {
        return (&name[5..], b"");
    }
    for (j, &c) in name.iter().enumerate().rev() {
        if c == b':' {
            return (&name[..j], &name[j + 1..]);
        }
        if !c.is_ascii_digit() {
            break;
        }
    }
    (name, b"")
}

const CRC_INIT: u32 = 0xFFFF_FFFF;

/// The IEEE (reflected, 0xEDB88320) CRC-32 table.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// Continues a CRC-32 whose running (not yet inverted) value is `crc`.
fn crc32_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

/// CRC-32 (IEEE) of `bytes`.
fn crc32(bytes: &[u8]) -> u32 {
    crc32_update(CRC_INIT, bytes) ^ CRC_INIT
}

#[cfg(test)]
#[path = "balance/tests.rs"]
mod tests;
