use super::*;

fn spec(name: &str, weight: u32) -> PeerSpec {
    PeerSpec {
        name: name.to_string(),
        weight,
        max_fails: 1,
        fail_timeout: Duration::from_secs(10),
        backup: false,
        down: false,
        max_conns: 0,
    }
}

/// Peers `127.0.0.1:19001`... with the given weights.
fn local(weights: &[u32]) -> Vec<PeerSpec> {
    let port = |i: usize| format!("127.0.0.1:{}", 19001 + i);
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| spec(&port(i), w))
        .collect()
}

fn at(t0: Instant, secs: u64) -> Instant {
    t0 + Duration::from_secs(secs)
}

/// Picks and releases at once, `n` times, as independent requests.
fn sequence(b: &mut Balancer, now: Instant, key: Option<&[u8]>, n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| {
            let p = b.pick(now, key, &Tried::default()).expect("a peer");
            b.done(p, false, now);
            p
        })
        .collect()
}

/// The peer each key gets, one fresh request per key, as a string of digits.
fn by_key(b: &mut Balancer, keys: &[&str], now: Instant) -> String {
    keys.iter()
        .map(|k| {
            let p = b
                .pick(now, Some(k.as_bytes()), &Tried::default())
                .expect("a peer");
            b.done(p, false, now);
            char::from(b'0' + p as u8)
        })
        .collect()
}

const KEYS: [&str; 20] = [
    "apple",
    "banana",
    "cherry",
    "1",
    "2",
    "3",
    "/index.html",
    "user42",
    "x",
    "y",
    "z",
    "foo",
    "bar",
    "baz",
    "qux",
    "12345",
    "hello",
    "world",
    "alpha",
    "omega",
];

#[test]
fn crc32_is_ieee() {
    assert_eq!(crc32(b""), 0);
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(
        crc32(b"The quick brown fox jumps over the lazy dog"),
        0x414F_A339
    );
    let split = crc32_update(crc32_update(CRC_INIT, b"1234"), b"56789") ^ CRC_INIT;
    assert_eq!(split, 0xCBF4_3926);
}

#[test]
fn tried_is_a_bitset() {
    let mut t = Tried::default();
    assert!(!t.contains(0) && !t.contains(1000));
    t.mark(3);
    t.mark(3);
    t.mark(130);
    assert!(t.contains(3) && t.contains(130) && !t.contains(2) && !t.contains(131));
    assert_eq!(t.count(), 2);
}

#[test]
fn empty_group_has_no_peer() {
    for m in [Method::RoundRobin, Method::LeastConn, Method::IpHash] {
        let mut b = Balancer::new(&[], m);
        assert_eq!(
            b.pick(Instant::now(), Some(b"\x01\x02\x03\x04"), &Tried::default()),
            None
        );
        b.done(0, true, Instant::now());
        assert_eq!((b.len(), b.active(0), b.tries()), (0, 0, 0));
        assert!(b.is_empty());
    }
    let methods = [
        Method::Hash { consistent: false },
        Method::Hash { consistent: true },
    ];
    for m in methods.into_iter().chain([Method::Random { two: true }]) {
        let mut b = Balancer::new(&[], m);
        assert_eq!(b.pick(Instant::now(), Some(b"k"), &Tried::default()), None);
    }
}

#[test]
fn smooth_weighted_round_robin() {
    // As nginx 1.22 answered for weights 5, 1, 1: a a b a c a a, twice.
    let mut b = Balancer::new(&local(&[5, 1, 1]), Method::RoundRobin);
    let seq = sequence(&mut b, Instant::now(), None, 14);
    assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
    let mut b = Balancer::new(&local(&[1, 1, 1]), Method::RoundRobin);
    assert_eq!(
        sequence(&mut b, Instant::now(), None, 6),
        [0, 1, 2, 0, 1, 2]
    );
}

/// Picks `n` times, releasing the other peers at once but holding peer 0 (a probe
/// whose outcome the test decides); how often peer 0 came.
fn probes(b: &mut Balancer, now: Instant, n: usize) -> usize {
    let mut zeros = 0;
    for _ in 0..n {
        match b.pick(now, None, &Tried::default()) {
            Some(0) => zeros += 1,
            Some(p) => b.done(p, false, now),
            None => {}
        }
    }
    zeros
}

#[test]
fn failures_disable_a_peer_for_fail_timeout_then_one_probe() {
    let t0 = Instant::now();
    let mut peers = local(&[1, 1]);
    peers[0].max_fails = 2;
    let mut b = Balancer::new(&peers, Method::RoundRobin);
    for s in [0, 1] {
        let p = b.pick(at(t0, s), None, &Tried::default());
        assert_eq!(p, Some(s as usize));
        b.done(s as usize, s == 0, at(t0, s));
    }
    // One failure of two allowed: still in rotation.
    assert_eq!(b.pick(at(t0, 2), None, &Tried::default()), Some(0));
    b.done(0, true, at(t0, 2));
    // Two failures: out until the window (10 s from the last failure) is over.
    for s in [3, 7, 12] {
        assert_eq!(sequence(&mut b, at(t0, s), None, 3), [1, 1, 1]);
    }
    // Past it one request probes, the others still avoid it meanwhile.
    assert_eq!(probes(&mut b, at(t0, 13), 4), 1);
    assert_eq!(probes(&mut b, at(t0, 14), 4), 0);
    // The probe fails: another full window.
    b.done(0, true, at(t0, 15));
    assert_eq!(probes(&mut b, at(t0, 25), 4), 0);
    assert_eq!(probes(&mut b, at(t0, 26), 4), 1);
    // The probe succeeds: live again at once.
    b.done(0, false, at(t0, 26));
    assert_eq!(probes(&mut b, at(t0, 27), 4), 2);
}

#[test]
fn old_failures_are_forgotten_after_a_success_past_the_window() {
    let t0 = Instant::now();
    let mut peers = local(&[1, 1]);
    peers[0].max_fails = 2;
    let mut b = Balancer::new(&peers, Method::RoundRobin);
    let p = b.pick(t0, None, &Tried::default());
    b.done(p.unwrap_or(9), true, t0);
    // Within the window a success does not clear the count...
    assert_eq!(sequence(&mut b, at(t0, 5), None, 2), [1, 0]);
    assert_eq!(b.peers[0].fails, 1);
    // ...past it, the next success does.
    assert_eq!(sequence(&mut b, at(t0, 11), None, 2), [1, 0]);
    assert_eq!(b.peers[0].fails, 0);
}

#[test]
fn max_fails_zero_never_disables() {
    let t0 = Instant::now();
    let mut peers = local(&[1, 1]);
    peers[0].max_fails = 0;
    let mut b = Balancer::new(&peers, Method::RoundRobin);
    for _ in 0..5 {
        b.done(0, true, t0);
    }
    assert_eq!(sequence(&mut b, t0, None, 4), [0, 1, 0, 1]);
}

#[test]
fn failures_lower_effective_weight_which_recovers_per_pick() {
    let t0 = Instant::now();
    let mut peers = local(&[4, 1]);
    peers[0].max_fails = 4;
    let mut b = Balancer::new(&peers, Method::RoundRobin);
    b.done(0, true, t0);
    b.done(0, true, t0);
    assert_eq!(b.peers[0].effective_weight, 2);
    sequence(&mut b, t0, None, 1);
    assert_eq!(b.peers[0].effective_weight, 3);
    sequence(&mut b, t0, None, 5);
    assert_eq!(b.peers[0].effective_weight, 4);
    // Never below zero.
    peers[0].max_fails = 1;
    let mut b = Balancer::new(&peers, Method::RoundRobin);
    b.done(0, true, t0);
    b.done(0, true, t0);
    assert_eq!(b.peers[0].effective_weight, 0);
}

#[test]
fn single_peer_is_never_disabled() {
    let t0 = Instant::now();
    let mut b = Balancer::new(&local(&[1]), Method::RoundRobin);
    for s in 0..5 {
        assert_eq!(b.pick(at(t0, s), None, &Tried::default()), Some(0));
        b.done(0, true, at(t0, s));
    }
    assert_eq!(b.peers[0].fails, 0);
    assert_eq!(b.tries(), 1);
    let mut tried = Tried::default();
    tried.mark(0);
    assert_eq!(b.pick(t0, None, &tried), None);
}

#[test]
fn down_and_max_conns() {
    let t0 = Instant::now();
    let mut peers = local(&[1, 1, 1]);
    peers[1].down = true;
    peers[2].max_conns = 1;
    let mut b = Balancer::new(&peers, Method::RoundRobin);
    assert_eq!(b.tries(), 2);
    let held = b.pick(t0, None, &Tried::default());
    let held2 = b.pick(t0, None, &Tried::default());
    assert_eq!((held, held2), (Some(0), Some(2)));
    assert_eq!(b.active(2), 1);
    // Peer 2 is full, peer 1 down: only 0, however often.
    assert_eq!(sequence(&mut b, t0, None, 3), [0, 0, 0]);
    b.done(2, false, t0);
    assert_eq!(b.active(2), 0);
    assert!(sequence(&mut b, t0, None, 2).contains(&2));
    let mut all_down = local(&[1, 1]);
    all_down.iter_mut().for_each(|p| p.down = true);
    let mut b = Balancer::new(&all_down, Method::LeastConn);
    assert_eq!(b.pick(t0, None, &Tried::default()), None);
}

#[test]
fn tried_peers_are_skipped() {
    let t0 = Instant::now();
    let mut b = Balancer::new(&local(&[1, 1, 1]), Method::RoundRobin);
    let mut tried = Tried::default();
    let mut got = Vec::new();
    while let Some(p) = b.pick(t0, None, &tried) {
        b.done(p, true, t0);
        tried.mark(p);
        got.push(p);
    }
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(tried.count(), b.tries());
}

#[test]
fn backups_only_when_every_primary_is_unavailable() {
    let t0 = Instant::now();
    let mut peers = local(&[1, 1, 1, 1]);
    peers[2].backup = true;
    peers[3].backup = true;
    let mut b = Balancer::new(&peers, Method::RoundRobin);
    assert_eq!(b.tries(), 4);
    assert_eq!(sequence(&mut b, t0, None, 4), [0, 1, 0, 1]);
    // One primary failed: the other takes everything.
    b.done(0, true, t0);
    assert_eq!(sequence(&mut b, t0, None, 3), [1, 1, 1]);
    // Both failed: the backups, round-robin.
    b.done(1, true, t0);
    assert_eq!(sequence(&mut b, at(t0, 1), None, 4), [2, 3, 2, 3]);
    // Within one request: primaries tried, then the backup tier for the rest of it,
    // even though primary 0 is back by then.
    let mut b = Balancer::new(&peers, Method::LeastConn);
    let mut tried = Tried::default();
    for want in [0, 1, 2] {
        let p = b.pick(t0, None, &tried);
        assert_eq!(p, Some(want));
        b.done(want, true, t0);
        tried.mark(want);
    }
    b.peers[0].fails = 0;
    assert_eq!(b.pick(t0, None, &tried), Some(3));
}

#[test]
fn all_unavailable_is_no_live_upstreams_until_a_window_ends() {
    let t0 = Instant::now();
    let mut peers = local(&[1, 1, 1]);
    peers[2].backup = true;
    let mut b = Balancer::new(&peers, Method::RoundRobin);
    for (i, s) in [(0, 0), (1, 2), (2, 4)] {
        b.done(i, true, at(t0, s));
    }
    // Failure counts stay (no wholesale reset): every pick fails until a window ends.
    assert_eq!(b.pick(at(t0, 5), None, &Tried::default()), None);
    assert_eq!(b.pick(at(t0, 10), None, &Tried::default()), None);
    assert_eq!(
        b.peers.iter().map(|p| p.fails).collect::<Vec<_>>(),
        [1, 1, 1]
    );
    // Peer 0's window (from t0) is over at 11 s: it takes one probe.
    assert_eq!(b.pick(at(t0, 11), None, &Tried::default()), Some(0));
    assert_eq!(b.pick(at(t0, 11), None, &Tried::default()), None);
    b.done(0, false, at(t0, 11));
    assert_eq!(sequence(&mut b, at(t0, 11), None, 2), [0, 0]);
}

#[test]
fn least_conn_prefers_fewest_per_weight_and_round_robins_ties() {
    let t0 = Instant::now();
    let mut b = Balancer::new(&local(&[1, 1, 1]), Method::LeastConn);
    // All idle: a tie, broken by round-robin.
    assert_eq!(sequence(&mut b, t0, None, 3), [0, 1, 2]);
    let t = Tried::default();
    let held: Vec<_> = (0..3).filter_map(|_| b.pick(t0, None, &t)).collect();
    assert_eq!(held, [0, 1, 2]);
    b.done(1, false, t0);
    assert_eq!(b.pick(t0, None, &t), Some(1));
    assert_eq!(b.pick(t0, None, &t), Some(2));
    assert_eq!((b.active(0), b.active(1), b.active(2)), (1, 1, 2));
    // Weight scales the load: 2 connections on weight 4 beat 1 on weight 1.
    let mut b = Balancer::new(&local(&[4, 1]), Method::LeastConn);
    b.peers[0].conns = 2;
    b.peers[1].conns = 1;
    assert_eq!(b.pick(t0, None, &t), Some(0));
    // 4 on weight 4 ties 1 on weight 1: weighted round-robin among the two.
    b.peers[0].conns = 4;
    b.peers[1].conns = 1;
    let picks: Vec<_> = (0..5)
        .filter_map(|_| {
            let p = b.pick(t0, None, &t)?;
            b.done(p, false, t0);
            Some(p)
        })
        .collect();
    assert_eq!(picks, [0, 0, 1, 0, 0]);
}

/// What nginx 1.22 answered for 127.0.0.1:19001..19004 with weights 1, 2, 1, 1
/// (`hd`, `chd`: the second marked `down`), one request per key of [`KEYS`].
#[test]
fn hash_matches_nginx() {
    let t0 = Instant::now();
    let mut peers = local(&[1, 2, 1, 1]);
    let mut b = Balancer::new(&peers, Method::Hash { consistent: false });
    assert_eq!(by_key(&mut b, &KEYS, t0), "11023301112121100133");
    peers[1].down = true;
    let mut b = Balancer::new(&peers, Method::Hash { consistent: false });
    assert_eq!(by_key(&mut b, &KEYS, t0), "23023303322222300233");
}

#[test]
fn consistent_hash_matches_nginx() {
    let t0 = Instant::now();
    let mut peers = local(&[1, 2, 1, 1]);
    let mut b = Balancer::new(&peers, Method::Hash { consistent: true });
    assert_eq!(b.ring.len(), 5 * 160);
    assert!(b.ring.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(by_key(&mut b, &KEYS, t0), "30203320030222032131");
    // Only the keys of the downed peer move.
    peers[1].down = true;
    let mut b = Balancer::new(&peers, Method::Hash { consistent: true });
    assert_eq!(by_key(&mut b, &KEYS, t0), "30203320030222032230");
}

#[test]
fn ip_hash_matches_nginx() {
    let t0 = Instant::now();
    let clients = [
        [127, 0, 0, 1],
        [127, 1, 2, 3],
        [127, 1, 2, 99],
        [127, 9, 8, 7],
        [127, 200, 1, 1],
        [127, 3, 3, 3],
        [127, 44, 55, 66],
        [127, 100, 0, 5],
        [127, 7, 7, 7],
        [127, 250, 250, 250],
    ];
    let mut peers = local(&[1, 2, 1, 1]);
    for (down, want) in [(false, "0000111220"), (true, "0000300220")] {
        peers[1].down = down;
        let mut b = Balancer::new(&peers, Method::IpHash);
        let got: String = clients
            .iter()
            .map(|c| {
                let p = b.pick(t0, Some(c), &Tried::default()).unwrap_or(9);
                b.done(p, false, t0);
                char::from(b'0' + p as u8)
            })
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn ip_hash_v6_and_other_keys() {
    let t0 = Instant::now();
    let mut b = Balancer::new(&local(&[1, 1, 1, 1, 1]), Method::IpHash);
    let fold = |bytes: &[u8]| {
        bytes
            .iter()
            .fold(89u64, |h, &x| (h * 113 + u64::from(x)) % 6271)
    };
    let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
    assert_eq!(
        b.pick(t0, Some(&v6), &Tried::default()),
        Some((fold(&v6) % 5) as usize)
    );
    // No address (a unix socket client): three zero bytes.
    let none = (fold(&[0, 0, 0]) % 5) as usize;
    assert_eq!(b.pick(t0, None, &Tried::default()), Some(none));
    assert_eq!(b.pick(t0, Some(b"xy"), &Tried::default()), Some(none));
}

#[test]
fn hash_retry_rehashes_and_then_falls_back_to_round_robin() {
    let t0 = Instant::now();
    let mut b = Balancer::new(&local(&[1, 1, 1, 1]), Method::Hash { consistent: false });
    let part = |bytes: &[u8]| u64::from((crc32(bytes) >> 16) & 0x7fff);
    let first = part(b"apple");
    let second = first + part(b"1apple");
    let mut tried = Tried::default();
    assert_eq!(
        b.pick(t0, Some(b"apple"), &tried),
        Some((first % 4) as usize)
    );
    tried.mark((first % 4) as usize);
    // The retry continues the request's walk: the next candidate is the rehash.
    let p = b.pick(t0, Some(b"apple"), &tried);
    if second % 4 != first % 4 {
        assert_eq!(p, Some((second % 4) as usize));
    }
    // A heavy peer no candidate may take: after 20 rejections round-robin finds 1.
    let mut peers = local(&[100, 1]);
    peers[0].down = true;
    let mut b = Balancer::new(&peers, Method::Hash { consistent: false });
    let tried = Tried::default();
    assert_eq!(b.pick(t0, Some(b"apple"), &tried), Some(1));
    let mut ip = Balancer::new(&peers, Method::IpHash);
    assert_eq!(
        ip.pick(t0, Some(&[10, 0, 0, 1]), &Tried::default()),
        Some(1)
    );
    // Empty or missing key: round-robin.
    let mut b = Balancer::new(&local(&[1, 1]), Method::Hash { consistent: true });
    assert_eq!(sequence(&mut b, t0, Some(b""), 4), [0, 1, 0, 1]);
    assert_eq!(sequence(&mut b, t0, None, 2), [0, 1]);
}

#[test]
fn consistent_ring_splits_names_as_nginx() {
    assert_eq!(
        split_host_port(b"10.0.0.1:8080"),
        (&b"10.0.0.1"[..], &b"8080"[..])
    );
    assert_eq!(split_host_port(b"[::1]:80"), (&b"[::1]"[..], &b"80"[..]));
    assert_eq!(
        split_host_port(b"UNIX:/run/app.sock"),
        (&b"/run/app.sock"[..], &b""[..])
    );
    assert_eq!(
        split_host_port(b"example.com"),
        (&b"example.com"[..], &b""[..])
    );
    assert_eq!(split_host_port(b"a:b1"), (&b"a:b1"[..], &b""[..]));
    let ring = build_ring(&local(&[1]));
    let first = crc32(b"127.0.0.1\x0019001\0\0\0\0");
    assert!(ring.contains(&(first, 0)));
    let second = crc32(&[&b"127.0.0.1\x0019001"[..], &first.to_le_bytes()].concat());
    assert!(ring.contains(&(second, 0)));
    assert_eq!(ring_point(&ring, 0), 0);
    assert_eq!(ring_point(&ring, ring[5].0), 5);
    assert_eq!(ring_point(&ring, ring[5].0 + 1), 6);
    assert_eq!(ring_point(&ring, ring[ring.len() - 1].0 + 1), ring.len());
}

#[test]
fn random_follows_weights_and_two_prefers_the_less_loaded() {
    let t0 = Instant::now();
    let mut b = Balancer::new(&local(&[3, 1]), Method::Random { two: false });
    b.rng = 0x1234_5678_9abc_def1;
    let seq = sequence(&mut b, t0, None, 4000);
    let zeros = seq.iter().filter(|&&p| p == 0).count();
    assert!((2800..3200).contains(&zeros), "{zeros}");
    // Seeds differ between balancers.
    let seed = |_| Balancer::new(&[], Method::RoundRobin).rng;
    assert_ne!(seed(0), seed(1));
    // Two distinct candidates out of two: always the one with fewer connections.
    let mut b = Balancer::new(&local(&[1, 1]), Method::Random { two: true });
    b.peers[0].conns = 5;
    assert_eq!(sequence(&mut b, t0, None, 20), [1; 20]);
    // Out of three, the loaded peer always meets a lighter one.
    let mut b = Balancer::new(&local(&[1, 1, 1]), Method::Random { two: true });
    b.peers[2].conns = 3;
    assert!(!sequence(&mut b, t0, None, 200).contains(&2));
    // Unavailable peers are skipped; none left: None.
    let mut peers = local(&[1, 1]);
    peers[0].down = true;
    let mut b = Balancer::new(&peers, Method::Random { two: false });
    assert_eq!(sequence(&mut b, t0, None, 5), [1; 5]);
    let mut tried = Tried::default();
    tried.mark(1);
    assert_eq!(b.pick(t0, None, &tried), None);
}

/// One request with `proxy_next_upstream error`: peer 1 refuses connections, the
/// others answer; the peer that finally answered.
fn serve(b: &mut Balancer, key: Option<&[u8]>, now: Instant) -> Option<usize> {
    let mut tried = Tried::default();
    while tried.count() < b.tries() {
        let p = b.pick(now, key, &tried)?;
        tried.mark(p);
        b.done(p, p == 1, now);
        if p != 1 {
            return Some(p);
        }
    }
    None
}

fn digits(picks: impl Iterator<Item = Option<usize>>) -> String {
    picks
        .map(|p| p.map_or('-', |p| char::from(b'0' + p as u8)))
        .collect()
}

/// What nginx 1.22 answered with peer 1 (127.0.0.1:19009) refusing connections.
#[test]
fn retries_past_a_dead_peer_match_nginx() {
    let t0 = Instant::now();
    let mut peers = local(&[5, 2, 1]);
    peers[1].name = "127.0.0.1:19009".into();
    peers[1].max_fails = 2;
    let mut b = Balancer::new(&peers, Method::RoundRobin);
    let got = digits((0..20).map(|_| serve(&mut b, None, t0)));
    assert_eq!(got, "00020000002000002000");
    let mut peers = local(&[1, 1, 2]);
    peers[1].name = "127.0.0.1:19009".into();
    let mut b = Balancer::new(&peers, Method::LeastConn);
    assert_eq!(
        digits((0..12).map(|_| serve(&mut b, None, t0))),
        "202202202202"
    );
    let mut peers = local(&[1, 2, 1, 1]);
    peers[1].name = "127.0.0.1:19009".into();
    for (consistent, want) in [
        (false, "23023303322222300233"),
        (true, "30203320030222032230"),
    ] {
        let mut b = Balancer::new(&peers, Method::Hash { consistent });
        let got = digits(KEYS.iter().map(|k| serve(&mut b, Some(k.as_bytes()), t0)));
        assert_eq!(got, want);
    }
    let mut b = Balancer::new(&peers, Method::IpHash);
    let clients: [[u8; 4]; 10] = [
        [127, 0, 0, 1],
        [127, 1, 2, 3],
        [127, 1, 2, 99],
        [127, 9, 8, 7],
        [127, 200, 1, 1],
        [127, 3, 3, 3],
        [127, 44, 55, 66],
        [127, 100, 0, 5],
        [127, 7, 7, 7],
        [127, 250, 250, 250],
    ];
    let got = digits(clients.iter().map(|c| serve(&mut b, Some(c), t0)));
    assert_eq!(got, "0000300220");
}
