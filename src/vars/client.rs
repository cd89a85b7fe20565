//! The client-address variables of a connection behind a load balancer:
//! `$proxy_protocol_addr`, `$proxy_protocol_port`, `$proxy_protocol_server_addr`,
//! `$proxy_protocol_server_port` (what the connection's PROXY header said; empty
//! without one) and `$realip_remote_addr`, `$realip_remote_port` (the
//! connection's own client address, before realip replaced `$remote_addr`).

use std::net::SocketAddr;

use super::value::{push_num, write_ip};
use crate::handler::Origin;

/// Which variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientVar {
    ProxyProtocolAddr,
    ProxyProtocolPort,
    ProxyProtocolServerAddr,
    ProxyProtocolServerPort,
    RealipRemoteAddr,
    RealipRemotePort,
}

pub const NAMES: &[(&str, ClientVar)] = &[
    ("proxy_protocol_addr", ClientVar::ProxyProtocolAddr),
    ("proxy_protocol_port", ClientVar::ProxyProtocolPort),
    (
        "proxy_protocol_server_addr",
        ClientVar::ProxyProtocolServerAddr,
    ),
    (
        "proxy_protocol_server_port",
        ClientVar::ProxyProtocolServerPort,
    ),
    ("realip_remote_addr", ClientVar::RealipRemoteAddr),
    ("realip_remote_port", ClientVar::RealipRemotePort),
];

/// Appends the value of `var` for a request from `origin`; `false` (no value, `-`
/// in a log, as nginx) for a PROXY header's fields when the connection had none.
pub fn value(origin: &Origin, var: ClientVar, out: &mut String) -> bool {
    let src = origin.proxied.as_ref().map(|p| p.src);
    let dst = origin.proxied.as_ref().map(|p| p.dst);
    let own = origin
        .realip_from
        .as_deref()
        .copied()
        .unwrap_or(origin.peer);
    let header = origin.proxied.is_some();
    match var {
        ClientVar::ProxyProtocolAddr | ClientVar::ProxyProtocolServerAddr if !header => false,
        ClientVar::ProxyProtocolPort | ClientVar::ProxyProtocolServerPort if !header => false,
        ClientVar::ProxyProtocolAddr => {
            addr(out, src);
            true
        }
        ClientVar::ProxyProtocolServerAddr => {
            addr(out, dst);
            true
        }
        ClientVar::ProxyProtocolPort => {
            port(out, src);
            true
        }
        ClientVar::ProxyProtocolServerPort => {
            port(out, dst);
            true
        }
        ClientVar::RealipRemoteAddr => {
            addr(out, Some(own));
            true
        }
        ClientVar::RealipRemotePort => port(out, Some(own)),
    }
}

fn addr(out: &mut String, a: Option<SocketAddr>) {
    if let Some(a) = a {
        write_ip(out, a.ip());
    }
}

/// A port as nginx prints one: nothing for 0 (an address with no port).
/// Appends the port of `a`; `false` (no value, `-` in a log) when there is none.
pub fn port(out: &mut String, a: Option<SocketAddr>) -> bool {
    match a.map(|a| a.port()).filter(|&p| p != 0) {
        Some(p) => {
            push_num(out, p);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::Proxied;

    fn all(origin: &Origin) -> Vec<String> {
        NAMES
            .iter()
            .map(|(_, v)| {
                let mut out = String::new();
                value(origin, *v, &mut out);
                out
            })
            .collect()
    }

    #[test]
    fn values() {
        let mut o = Origin::test_loopback();
        assert_eq!(all(&o), ["", "", "", "", "127.0.0.1", "2"]);
        o.proxied = Some(std::sync::Arc::new(Proxied {
            src: "[2001:db8::1]:123".parse().expect("addr"),
            dst: "192.0.2.2:5678".parse().expect("addr"),
        }));
        let moved = o.with_client("192.0.2.9:0".parse().expect("addr"));
        assert_eq!(
            all(&moved),
            ["2001:db8::1", "123", "192.0.2.2", "5678", "127.0.0.1", "2"]
        );
    }
}
