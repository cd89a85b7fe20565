//! nginx's `geo`: a variable whose value depends on an address (the client's, or
//! another variable's value read as an address): networks with their values,
//! IPv4 and IPv6, the longest matching prefix winning. An address that cannot be
//! read (no value, not an address) is looked up as 255.255.255.255, as nginx does.

use std::net::{IpAddr, Ipv4Addr};

use super::{Env, Template};
use crate::http::cidr::{Cidr, parse_ip};

/// One `geo [$src] $var { ... }`.
#[derive(Debug, Clone, Default)]
pub struct Geo {
    /// `$src`: the value read as the address; `None` = the client's address.
    pub source: Option<Template>,
    /// `volatile`: evaluated at every read.
    pub volatile: bool,
    /// Networks and their values (`default` is 0.0.0.0/0 and ::/0).
    pub nets: Vec<(Cidr, String)>,
    /// `ranges`: IPv4 ranges instead of networks.
    pub ranges: Option<super::geo_ranges::Ranges>,
    /// `proxy ADDR`: peers whose `X-Forwarded-For` names the address looked up.
    pub proxies: Vec<Cidr>,
    /// `proxy_recursive`: the walk through `X-Forwarded-For` goes on past trusted
    /// addresses, as `real_ip_recursive`.
    pub recursive: bool,
}

impl Geo {
    /// Sets `net`'s value; the old value when the network was already there.
    pub fn insert(&mut self, net: Cidr, value: String) -> Option<String> {
        match self.nets.iter_mut().find(|(n, _)| *n == net) {
            Some((_, old)) => Some(std::mem::replace(old, value)),
            None => {
                self.nets.push((net, value));
                None
            }
        }
    }

    /// Removes `net`; whether it was there.
    pub fn delete(&mut self, net: Cidr) -> bool {
        let before = self.nets.len();
        self.nets.retain(|(n, _)| *n != net);
        self.nets.len() != before
    }

    /// The value for `ip`: the longest network holding it, else empty.
    pub fn lookup(&self, ip: IpAddr) -> &str {
        if let Some(r) = &self.ranges {
            let v4 = match ip {
                IpAddr::V4(v4) => v4,
                IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::BROADCAST),
            };
            return r.lookup(v4);
        }
        self.nets
            .iter()
            .filter(|(n, _)| n.contains(ip))
            .max_by_key(|(n, _)| n.prefix_len())
            .map_or("", |(_, v)| v.as_str())
    }

    /// The variable's value for one request.
    pub fn value(&self, env: &Env) -> String {
        let none = IpAddr::V4(Ipv4Addr::BROADCAST);
        let ip = match &self.source {
            None => env.origin.peer.ip(),
            Some(t) => {
                let mut v = String::new();
                let found = t.single_var().is_some_and(|var| env.value(var, &mut v));
                match found {
                    true => parse_ip(v.trim()).unwrap_or(none),
                    false => none,
                }
            }
        };
        if ip == none || self.proxies.is_empty() {
            return self.lookup(ip).to_string();
        }
        let forwarded: Vec<&str> = env
            .req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .collect();
        let found = crate::http::realip::resolve(ip, &forwarded, &self.proxies, self.recursive);
        self.lookup(found.map_or(ip, |a| a.ip())).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Cidr {
        Cidr::parse(s).unwrap().0
    }

    #[test]
    fn longest_prefix_wins() {
        let mut g = Geo::default();
        g.insert(net("0.0.0.0/0"), "default".into());
        g.insert(net("::/0"), "default6".into());
        g.insert(net("10.0.0.0/8"), "ten".into());
        g.insert(net("10.1.0.0/16"), "ten-one".into());
        g.insert(net("2001:db8::/32"), "doc".into());
        assert_eq!(
            g.insert(net("10.0.0.0/8"), "TEN".into()),
            Some("ten".into())
        );
        let cases = [
            ("10.2.3.4", "TEN"),
            ("10.1.3.4", "ten-one"),
            ("192.0.2.1", "default"),
            ("::ffff:10.1.0.1", "ten-one"),
            ("2001:db8::1", "doc"),
            ("2001:db9::1", "default6"),
            ("255.255.255.255", "default"),
        ];
        for (ip, want) in cases {
            assert_eq!(g.lookup(parse_ip(ip).unwrap()), want, "{ip}");
        }
        assert!(g.delete(net("10.1.0.0/16")));
        assert!(!g.delete(net("10.1.0.0/16")));
        assert_eq!(g.lookup(parse_ip("10.1.3.4").unwrap()), "TEN");
        assert_eq!(Geo::default().lookup(parse_ip("1.2.3.4").unwrap()), "");
    }
}
