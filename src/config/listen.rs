//! The parameters after a `listen` address, as nginx's: `default_server`, `ssl`,
//! `proxy_protocol`, `http2`, and
//! the socket options `reuseport`, `backlog=N`, `ipv6only=on|off`, `rcvbuf=SIZE`,
//! `sndbuf=SIZE` (`bind` is accepted: webserv binds every address on its own
//! anyway). One match arm per parameter; nginx parameters webserv lacks get
//! "not supported yet", anything else "invalid parameter".

use std::net::SocketAddr;

use super::ConfigError;
use super::values::{self, Arg};

/// Socket options of one listen address. As in nginx they may be given once per
/// address, in one of the servers that listen there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListenOptions {
    /// `reuseport`: SO_REUSEPORT even with one worker (several workers always
    /// get one SO_REUSEPORT socket each).
    pub reuseport: bool,
    /// `backlog=N`: the accept queue length (default 4096, capped by somaxconn).
    pub backlog: Option<i32>,
    /// `ipv6only=on|off` for an IPv6 address (default on).
    pub ipv6only: Option<bool>,
    /// `rcvbuf=SIZE`: SO_RCVBUF of the listening socket (accepted ones inherit it).
    pub rcvbuf: Option<usize>,
    /// `sndbuf=SIZE`: SO_SNDBUF, likewise.
    pub sndbuf: Option<usize>,
}

/// What the parameters of one `listen` say.
#[derive(Debug, Default)]
pub struct Params {
    pub default_server: bool,
    /// `ssl`: connections to this address speak TLS.
    pub ssl: bool,
    /// `proxy_protocol`: connections to this address start with a PROXY header.
    pub proxy_protocol: bool,
    /// `http2`: HTTP/2 for every server of the address.
    pub http2: bool,
    /// `Some` when any socket option was given.
    pub options: Option<ListenOptions>,
}

/// nginx listen parameters webserv does not have yet, and what they are for.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("quic", "HTTP/3"),
    ("deferred", "deferred accept"),
    ("fastopen", "TCP Fast Open"),
    ("so_keepalive", "TCP keep-alive probes"),
    ("accept_filter", "accept filters"),
    ("setfib", "routing tables"),
];

/// Parses the parameters after the address `addr` of a `listen`.
pub fn params(args: &[Arg], addr: SocketAddr) -> Result<Params, ConfigError> {
    let mut p = Params::default();
    let mut opts = ListenOptions::default();
    let mut any = false;
    let mut seen: Vec<&str> = Vec::new();
    for arg in args {
        let (name, value) = match arg.0.split_once('=') {
            Some((n, v)) => (n, Some((v.to_string(), arg.1.clone()))),
            None => (arg.0.as_str(), None),
        };
        if seen.contains(&name) {
            let msg = format!("duplicate parameter \"{name}\" in \"listen\"");
            return Err(ConfigError::at(&arg.1, msg));
        }
        seen.push(name);
        match (name, &value) {
            ("default_server", None) => p.default_server = true,
            ("ssl", None) => p.ssl = true,
            ("proxy_protocol", None) => p.proxy_protocol = true,
            ("http2", None) => p.http2 = true,
            ("bind", None) => {}
            ("reuseport", None) => opts.reuseport = true,
            ("backlog", Some(v)) => {
                let n = values::number(v, "listen").map_err(|_| invalid(arg, "backlog"))?;
                opts.backlog = Some(i32::try_from(n).map_err(|_| invalid(arg, "backlog"))?);
            }
            ("ipv6only", Some(v)) if addr.is_ipv6() => {
                opts.ipv6only = Some(values::on_off(v, "listen ... ipv6only")?);
            }
            ("ipv6only", Some(_)) => {
                let msg = format!("\"ipv6only\" is only for IPv6 addresses, not {addr}");
                return Err(ConfigError::at(&arg.1, msg));
            }
            ("rcvbuf" | "sndbuf", Some(v)) => {
                let n = values::size(v, "listen").map_err(|_| invalid(arg, name))?;
                let n = usize::try_from(n).map_err(|_| invalid(arg, name))?;
                let slot = if name == "rcvbuf" {
                    &mut opts.rcvbuf
                } else {
                    &mut opts.sndbuf
                };
                *slot = Some(n);
            }
            _ => return Err(unknown(arg, name)),
        }
        any |= !matches!(
            name,
            "default_server" | "bind" | "ssl" | "proxy_protocol" | "http2"
        );
    }
    p.options = any.then_some(opts);
    Ok(p)
}

fn invalid(arg: &Arg, name: &str) -> ConfigError {
    let msg = format!("invalid {name} \"{}\" in \"listen\"", arg.0);
    ConfigError::at(&arg.1, msg)
}

fn unknown(arg: &Arg, name: &str) -> ConfigError {
    let msg = match UNSUPPORTED.iter().find(|(n, _)| *n == name) {
        Some((_, what)) => {
            format!("listen parameter \"{name}\" is not supported yet ({what})")
        }
        None => format!("invalid parameter \"{}\" in \"listen\"", arg.0),
    };
    ConfigError::at(&arg.1, msg)
}

impl ListenOptions {
    /// The parameters as `-T` writes them, each with a leading space.
    pub fn to_conf(&self) -> String {
        let mut s = String::new();
        if self.reuseport {
            s.push_str(" reuseport");
        }
        if let Some(n) = self.backlog {
            s.push_str(&format!(" backlog={n}"));
        }
        if let Some(v6) = self.ipv6only {
            s.push_str(if v6 { " ipv6only=on" } else { " ipv6only=off" });
        }
        if let Some(n) = self.rcvbuf {
            s.push_str(&format!(" rcvbuf={n}"));
        }
        if let Some(n) = self.sndbuf {
            s.push_str(&format!(" sndbuf={n}"));
        }
        s
    }
}
