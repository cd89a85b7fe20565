//! Address blocks as configuration writes them ("192.168.1.0/24", "10.0.0.1",
//! "2001:db8::/32") for trusting load balancers: parsing with nginx's rules and
//! messages, and matching peers, where an IPv4-mapped IPv6 peer counts as IPv4.
//! Also the address syntax nginx accepts in forwarding headers ([`parse_ip`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IPv4 or IPv6 network: address with its host bits clear, and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The block of `prefix` leading bits of `addr` (host bits are cleared);
    /// `None` when `prefix` is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        (prefix <= max_prefix(addr)).then(|| Cidr {
            addr: masked(addr, prefix),
            prefix,
        })
    }

    /// nginx's syntax: an address, optionally "/" and a decimal prefix length
    /// (a bare address is a single host). Host bits set are accepted and
    /// cleared, with nginx's warning. `all` and `unix:` are the caller's job.
    pub fn parse(s: &str) -> Result<(Cidr, Option<String>), String> {
        let invalid = || format!("invalid parameter \"{s}\"");
        let (text, mask) = match s.split_once('/') {
            Some((text, mask)) => (text, Some(mask)),
            None => (s, None),
        };
        let addr = parse_ip(text).ok_or_else(invalid)?;
        let prefix = match mask {
            None => max_prefix(addr),
            Some(mask) => decimal(mask)
                .and_then(|p| u8::try_from(p).ok())
                .ok_or_else(invalid)?,
        };
        let cidr = Cidr::new(addr, prefix).ok_or_else(invalid)?;
        let warning =
            (cidr.addr != addr).then(|| format!("low address bits of {s} are meaningless"));
        Ok((cidr, warning))
    }

    /// Whether `ip` is in the block. An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
    /// is compared as the IPv4 address it carries, and only with IPv4 blocks,
    /// as nginx does: `::/0` does not trust IPv4 clients of a dual-stack socket.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            IpAddr::V4(_) => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                masked(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }

    /// The network address (host bits clear).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `addr` with all but its first `prefix` bits cleared.
fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let keep = u32::MAX.checked_shl(32u32.saturating_sub(prefix.into()));
            Ipv4Addr::from(u32::from(a) & keep.unwrap_or(0)).into()
        }
        IpAddr::V6(a) => {
            let keep = u128::MAX.checked_shl(128u32.saturating_sub(prefix.into()));
            Ipv6Addr::from(u128::from(a) & keep.unwrap_or(0)).into()
        }
    }
}

/// An address as nginx reads one from configuration or a forwarding header:
/// IPv4 in dotted decimal, each part 0..=255 (heading zeroes are decimal,
/// "010.0.0.1" is 10.0.0.1, as nginx reads them), or IPv6 text. No port,
/// brackets, zone or surrounding space.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    parse_ipv4(s)
        .map(IpAddr::V4)
        .or_else(|| s.parse::<Ipv6Addr>().ok().map(IpAddr::V6))
}

fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut parts = s.split('.');
    let mut octets = [0u8; 4];
    for octet in &mut octets {
        *octet = u8::try_from(decimal(parts.next()?)?).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// Non-empty ASCII digits as a number (no sign, no overflow): nginx's ngx_atoi.
pub(crate) fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    s.chars().try_fold(0u32, |value, c| {
        value.checked_mul(10)?.checked_add(c.to_digit(10)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn parse_cases() {
        // (input, network, prefix, warns)
        let ok = [
            ("192.168.1.0/24", "192.168.1.0", 24, false),
            ("10.0.0.1", "10.0.0.1", 32, false),
            ("10.0.0.1/32", "10.0.0.1", 32, false),
            ("0.0.0.0/0", "0.0.0.0", 0, false),
            ("1.2.3.4/0", "0.0.0.0", 0, true),
            ("192.168.1.1/24", "192.168.1.0", 24, true),
            ("10.0.0.0/08", "10.0.0.0", 8, false),
            ("010.000.000.001", "10.0.0.1", 32, false),
            ("::1", "::1", 128, false),
            ("::", "::", 128, false),
            ("::/0", "::", 0, false),
            ("2001:db8::/32", "2001:db8::", 32, false),
            ("2001:DB8::1/32", "2001:db8::", 32, true),
            ("2001:db8::1/128", "2001:db8::1", 128, false),
            ("2001:db8:ffff::/33", "2001:db8:8000::", 33, true),
            ("::ffff:10.0.0.0/104", "::ffff:10.0.0.0", 104, false),
        ];
        for (input, net, prefix, warns) in ok {
            let (cidr, warning) = Cidr::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (cidr.addr(), cidr.prefix_len()),
                (ip(net), prefix),
                "{input}"
            );
            let want = warns.then(|| format!("low address bits of {input} are meaningless"));
            assert_eq!(warning, want, "{input}");
        }
        let bad = [
            "",
            "/24",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "10.0.0.0/99999999999999999999",
            "256.0.0.0",
            "1.2.3",
            "1.2.3.",
            "1..2.3",
            "1.2.3.4.5",
            "+1.2.3.4",
            " 10.0.0.1",
            "10.0.0.0 /8",
            "all",
            "localhost",
            "unix:",
            "[::1]",
            "::1%lo",
            "1::2::3",
            "10.0.0.1:80",
        ];
        for input in bad {
            assert_eq!(
                Cidr::parse(input),
                Err(format!("invalid parameter \"{input}\""))
            );
        }
    }

    #[test]
    fn match_cases() {
        let cases = [
            ("192.168.1.0/24", "192.168.1.77", true),
            ("192.168.1.0/24", "192.168.2.1", false),
            ("192.168.1.0/24", "::ffff:192.168.1.77", true),
            ("192.168.1.0/24", "::192.168.1.77", false),
            ("192.168.1.0/24", "2001:db8::1", false),
            ("10.0.0.0/31", "10.0.0.1", true),
            ("10.0.0.0/31", "10.0.0.2", false),
            ("10.0.0.1", "10.0.0.1", true),
            ("10.0.0.1", "10.0.0.2", false),
            ("10.0.0.1/32", "::ffff:10.0.0.1", true),
            ("0.0.0.0/0", "255.255.255.255", true),
            ("0.0.0.0/0", "::ffff:1.2.3.4", true),
            ("0.0.0.0/0", "::1", false),
            ("::/0", "::1", true),
            ("::/0", "ffff::1", true),
            ("::/0", "1.2.3.4", false),
            // Mapped peers compare as IPv4 only, as in nginx.
            ("::/0", "::ffff:1.2.3.4", false),
            ("::ffff:10.0.0.0/104", "::ffff:10.1.2.3", false),
            ("::ffff:10.0.0.0/104", "10.1.2.3", false),
            ("2001:db8::/32", "2001:db8:ffff::1", true),
            ("2001:db8::/32", "2001:db9::", false),
            ("2001:db8::/33", "2001:db8:7fff:ffff::", true),
            ("2001:db8::/33", "2001:db8:8000::", false),
            ("::1", "::1", true),
            ("::1", "::2", false),
            ("::1/128", "0.0.0.1", false),
        ];
        for (block, addr, want) in cases {
            let (cidr, _) = Cidr::parse(block).expect(block);
            assert_eq!(cidr.contains(ip(addr)), want, "{block} contains {addr}");
        }
    }

    #[test]
    fn constructed_and_shown() {
        assert_eq!(
            Cidr::new(ip("10.1.2.3"), 8)
                .map(|c| c.to_string())
                .as_deref(),
            Some("10.0.0.0/8")
        );
        assert_eq!(Cidr::new(ip("10.1.2.3"), 33), None);
        assert_eq!(Cidr::new(ip("::1"), 129), None);
        let (cidr, _) = Cidr::parse("2001:db8::/32").expect("valid");
        assert_eq!(cidr.to_string(), "2001:db8::/32");
        assert_eq!(parse_ip("1.2.3.4"), Some(ip("1.2.3.4")));
        assert_eq!(parse_ip("::ffff:1.2.3.4"), Some(ip("::ffff:1.2.3.4")));
        assert_eq!(parse_ip("1.2.3.4 "), None);
    }
}
