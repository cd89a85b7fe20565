//! The client address behind trusted proxies, from an X-Forwarded-For-style
//! header (or a one-address header such as X-Real-IP): the walk nginx's realip
//! module does. Pure: the caller passes the header occurrences and the trusted
//! blocks, and sets the connection's client address to the answer.

use std::net::{IpAddr, SocketAddr};

use super::cidr::{Cidr, decimal, parse_ip};

/// The client address given the connection's `peer`, every occurrence of the
/// header in request order, and the `trusted` proxies; `None` when the header
/// gives none (the peer stands). The port is the entry's, 0 when it has none
/// (nginx's `$remote_port` is then empty).
///
/// Nothing changes unless `peer` is trusted. Then the rightmost entry of the
/// last occurrence replaces it; with `recursive`, the walk goes on leftwards
/// (into earlier occurrences too) while the address found so far is trusted,
/// so the answer is the last untrusted address, or the leftmost one when all
/// are trusted. An entry that is not an address ends the walk: the address
/// found before it stands (none if it was the first entry looked at).
/// Without `recursive` only the last occurrence is read.
///
/// Entries are separated by commas and spaces and may carry a port, as nginx
/// allows: "192.0.2.1", "192.0.2.1:5678", "2001:db8::1", "[2001:db8::1]:80".
/// For a one-address header nginx reads the first occurrence only: pass that.
pub fn resolve(
    peer: IpAddr,
    header_values: &[&str],
    trusted: &[Cidr],
    recursive: bool,
) -> Option<SocketAddr> {
    let mut addr = SocketAddr::new(peer, 0);
    let mut found = false;
    for value in header_values.iter().rev() {
        if !walk(&mut addr, &mut found, value, trusted, recursive) || !recursive {
            break;
        }
    }
    found.then_some(addr)
}

/// Whether `ip` is one of the `trusted` blocks.
pub fn is_trusted(ip: IpAddr, trusted: &[Cidr]) -> bool {
    trusted.iter().any(|block| block.contains(ip))
}

/// Walks one header value from the right, updating `addr` (and `found` once it
/// does). True when it took the value's leftmost entry, so the walk may go on
/// into the previous occurrence; false when it stopped on an untrusted address
/// or a bad entry.
fn walk(
    addr: &mut SocketAddr,
    found: &mut bool,
    value: &str,
    trusted: &[Cidr],
    recursive: bool,
) -> bool {
    let mut rest = value;
    loop {
        if !is_trusted(addr.ip(), trusted) {
            return false;
        }
        let list = rest.trim_end_matches(SEPARATORS);
        let (before, entry) = match list.rsplit_once(SEPARATORS) {
            Some((before, entry)) => (Some(before), entry),
            None => (None, list),
        };
        let Some(ip) = parse_addr_port(entry) else {
            return false;
        };
        *addr = ip;
        *found = true;
        match before {
            Some(before) if recursive => rest = before,
            _ => return true,
        }
    }
}

const SEPARATORS: [char; 2] = [' ', ','];

/// An address with an optional port, nginx's ngx_parse_addr_port: a bare
/// IPv4 or IPv6 address, "a.b.c.d:port", or "[address]" with an optional
/// ":port"; the port must be 1..=65535 (0 stands for "none given").
fn parse_addr_port(entry: &str) -> Option<SocketAddr> {
    if let Some(ip) = parse_ip(entry) {
        return Some(SocketAddr::new(ip, 0));
    }
    let (host, port) = match entry.strip_prefix('[') {
        Some(inner) => {
            let (host, after) = inner.split_once(']')?;
            if after.is_empty() {
                return parse_ip(host).map(|ip| SocketAddr::new(ip, 0));
            }
            (host, after.strip_prefix(':')?)
        }
        None => entry.split_once(':')?,
    };
    let port = decimal(port).filter(|p| (1..=65535).contains(p))?;
    Some(SocketAddr::new(parse_ip(host)?, u16::try_from(port).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    /// The trusted list of the nginx realip documentation's example.
    fn trusted() -> Vec<Cidr> {
        ["192.168.1.0/24", "192.168.2.1", "2001:0db8::/32"]
            .iter()
            .map(|s| Cidr::parse(s).expect("valid block").0)
            .collect()
    }

    const LB: &str = "192.168.1.1";
    const LB6: &str = "2001:db8::1";

    #[test]
    fn walks() {
        // (peer, header occurrences, recursive, expected client)
        let cases: &[(&str, &[&str], bool, &str)] = &[
            // An untrusted peer is never replaced.
            ("203.0.113.9", &["198.51.100.1"], false, "203.0.113.9"),
            ("203.0.113.9", &["198.51.100.1"], true, "203.0.113.9"),
            ("192.168.2.2", &["198.51.100.1"], true, "192.168.2.2"),
            // No header: the peer.
            (LB, &[], true, LB),
            // The rightmost entry; with recursion, the last untrusted one.
            (LB, &["198.51.100.1"], false, "198.51.100.1"),
            (LB, &["198.51.100.1, 192.168.1.5"], false, "192.168.1.5"),
            (LB, &["198.51.100.1, 192.168.1.5"], true, "198.51.100.1"),
            (
                LB,
                &["10.9.9.9, 198.51.100.1, 192.168.2.1"],
                true,
                "198.51.100.1",
            ),
            (LB, &["198.51.100.1,192.168.1.5"], true, "198.51.100.1"),
            (LB, &["198.51.100.1 192.168.1.5"], true, "198.51.100.1"),
            (LB, &["198.51.100.1, 192.168.1.5 , ,"], true, "198.51.100.1"),
            // All trusted: the leftmost.
            (LB, &["192.168.1.7, 192.168.1.5"], true, "192.168.1.7"),
            // Without recursion a trusted rightmost entry is still taken.
            (LB, &["198.51.100.1, 192.168.2.1"], false, "192.168.2.1"),
            // A bad entry ends the walk; what was found before it stands.
            (LB, &["198.51.100.1, garbage"], false, LB),
            (LB, &["198.51.100.1, garbage"], true, LB),
            (
                LB,
                &["198.51.100.1, garbage, 192.168.1.5"],
                true,
                "192.168.1.5",
            ),
            (
                LB,
                &["198.51.100.1, 300.1.1.1, 192.168.1.5"],
                true,
                "192.168.1.5",
            ),
            (LB, &["198.51.100.1, unknown"], true, LB),
            (LB, &[""], true, LB),
            (LB, &[" , "], true, LB),
            (LB, &["1.2.3.4\t"], true, LB),
            // Several occurrences: as one list, rightmost last; only the last
            // one without recursion.
            (LB, &["198.51.100.1", "192.168.1.5"], true, "198.51.100.1"),
            (LB, &["198.51.100.1", "192.168.1.5"], false, "192.168.1.5"),
            (LB, &["198.51.100.1", "198.51.100.2"], false, "198.51.100.2"),
            (LB, &["198.51.100.1", "198.51.100.2"], true, "198.51.100.2"),
            (
                LB,
                &["198.51.100.1, 192.168.1.6", "192.168.1.5"],
                true,
                "198.51.100.1",
            ),
            (LB, &["garbage", "192.168.1.5"], true, "192.168.1.5"),
            (LB, &["198.51.100.1", "garbage"], true, LB),
            // An empty last occurrence stops the walk, as in nginx.
            (LB, &["198.51.100.1", ""], true, LB),
            // IPv6 peers, entries and blocks.
            (LB6, &["2001:db9::5"], false, "2001:db9::5"),
            (LB6, &["198.51.100.1, 2001:db8::7"], true, "198.51.100.1"),
            (LB6, &["2001:db9::5, 2001:db8::7"], true, "2001:db9::5"),
            (LB, &["2001:db9::5"], true, "2001:db9::5"),
            ("2001:db9::1", &["198.51.100.1"], true, "2001:db9::1"),
            // A mapped peer matches the IPv4 blocks; mapped entries too.
            (
                "::ffff:192.168.1.1",
                &["198.51.100.1"],
                true,
                "198.51.100.1",
            ),
            (
                LB,
                &["198.51.100.1, ::ffff:192.168.1.9"],
                true,
                "198.51.100.1",
            ),
            // Ports, and nginx's IPv4 reading (heading zeroes are decimal).
            (LB, &["198.51.100.1:5678"], true, "198.51.100.1"),
            (LB, &["[2001:db9::5]:80"], true, "2001:db9::5"),
            (LB, &["[2001:db9::5]"], true, "2001:db9::5"),
            (LB, &["[198.51.100.1]:443"], true, "198.51.100.1"),
            (
                LB,
                &["198.51.100.1, 192.168.1.5:8080"],
                true,
                "198.51.100.1",
            ),
            (LB, &["010.001.002.003"], true, "10.1.2.3"),
            (LB, &["198.51.100.1:0"], true, LB),
            (LB, &["198.51.100.1:65536"], true, LB),
            (LB, &["198.51.100.1:"], true, LB),
            (LB, &["198.51.100.1:80:80"], true, LB),
            (LB, &["[2001:db9::5]80"], true, LB),
            (LB, &["[2001:db9::5"], true, LB),
            (LB, &["2001:db9::5:80"], true, "2001:db9::5:80"),
            (LB, &["[2001:db9::5]:http"], true, LB),
            (LB, &["::1%lo"], true, LB),
        ];
        let trusted = trusted();
        for &(peer, values, recursive, want) in cases {
            let got = resolve(ip(peer), values, &trusted, recursive);
            assert_eq!(
                got.map_or(ip(peer), |a| a.ip()),
                ip(want),
                "peer {peer}, {values:?}, recursive {recursive}"
            );
        }
    }

    #[test]
    fn nothing_trusted() {
        assert_eq!(resolve(ip(LB), &["198.51.100.1"], &[], true), None);
        let all = [Cidr::parse("0.0.0.0/0").expect("valid").0];
        assert_eq!(
            resolve(ip(LB), &["198.51.100.1, 10.0.0.1"], &all, true),
            Some(SocketAddr::new(ip("198.51.100.1"), 0))
        );
        // ::/0 alone does not cover IPv4 (nor mapped) peers.
        let v6 = [Cidr::parse("::/0").expect("valid").0];
        assert_eq!(
            resolve(ip("::ffff:10.0.0.1"), &["198.51.100.1"], &v6, true),
            None
        );
    }

    #[test]
    fn ports_and_whether_anything_was_found() {
        let trusted = trusted();
        let sa = |s: &str| Some(s.parse::<SocketAddr>().expect("test address"));
        // (header occurrences, recursive, expected)
        let cases: &[(&[&str], bool, Option<SocketAddr>)] = &[
            (&["198.51.100.1:5678"], false, sa("198.51.100.1:5678")),
            (&["[2001:db9::5]:80"], true, sa("[2001:db9::5]:80")),
            // No port: 0, which `$remote_port` shows as nothing.
            (&["198.51.100.1"], true, sa("198.51.100.1:0")),
            // The peer itself, named again, is still a replacement (its port goes).
            (&[LB], false, sa("192.168.1.1:0")),
            (&["garbage"], true, None),
            (&[], true, None),
            // A bad entry after a good one: what was found stands.
            (
                &["198.51.100.1, garbage, 192.168.1.5:99"],
                true,
                sa("192.168.1.5:99"),
            ),
        ];
        for &(values, recursive, want) in cases {
            assert_eq!(
                resolve(ip(LB), values, &trusted, recursive),
                want,
                "{values:?}"
            );
        }
    }
}
