//! `upstream NAME { ... }` blocks: a named group of backend servers with its balancing
//! method and keep-alive pool size, as nginx's upstream module reads them. A
//! `proxy_pass http://HOST:PORT` that names no group gets an implicit one-server
//! group, so the gateway always works on groups.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::parser::Directive;
use super::values::{self, Arg};
use super::{ConfigError, Pos};
use crate::vars::Template;

/// Where a backend listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PeerAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddr::Tcp(a) => write!(f, "{a}"),
            PeerAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// One `server ADDR [weight=N] [max_fails=N] [fail_timeout=T] [backup] [down]
/// [max_conns=N]` line (a name that resolves to several addresses gives several).
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: PeerAddr,
    /// `addr` as `$upstream_addr` and the error log show it (formatted once).
    pub shown: std::sync::Arc<str>,
    /// The name as written (`host:port`), for the consistent hash ring.
    pub name: String,
    pub weight: u32,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub backup: bool,
    pub down: bool,
    /// 0 = unlimited.
    pub max_conns: u32,
}

/// How a group picks a server.
#[derive(Debug, Clone, Default)]
pub enum Balance {
    /// Smooth weighted round-robin (nginx's default).
    #[default]
    RoundRobin,
    LeastConn,
    IpHash,
    Hash {
        key: Template,
        consistent: bool,
    },
    Random {
        two: bool,
    },
}

/// A group of servers.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: String,
    pub peers: Vec<Peer>,
    pub balance: Balance,
    /// `keepalive N`: idle connections each worker keeps to this group; 0 = none.
    pub keepalive: usize,
    /// `keepalive_timeout`: how long an idle upstream connection is kept (60s).
    pub keepalive_timeout: Duration,
    /// `keepalive_time`: how long one upstream connection is reused at most (1h).
    pub keepalive_time: Duration,
    /// `keepalive_requests`: requests per upstream connection (1000).
    pub keepalive_requests: u64,
    /// Made for one `proxy_pass http://ADDR` (not declared with `upstream`).
    pub implicit: bool,
    pub pos: Pos,
}

impl Upstream {
    /// The implicit group of a `proxy_pass` to `addrs` (every address a name has).
    pub fn implicit(name: &str, addrs: Vec<PeerAddr>, pos: &Pos) -> Upstream {
        let peers = addrs
            .into_iter()
            .map(|addr| Peer {
                shown: addr.to_string().into(),
                addr,
                name: name.to_string(),
                weight: 1,
                max_fails: 1,
                fail_timeout: Duration::from_secs(10),
                backup: false,
                down: false,
                max_conns: 0,
            })
            .collect();
        Upstream {
            name: name.to_string(),
            peers,
            balance: Balance::RoundRobin,
            keepalive: 0,
            keepalive_timeout: Duration::from_secs(60),
            keepalive_time: Duration::from_secs(3600),
            keepalive_requests: 1000,
            implicit: true,
            pos: pos.clone(),
        }
    }
}

/// Parses an `upstream NAME { }` block (its directives are checked against the
/// table's upstream rows by the caller).
pub fn block(d: &Directive, body: &[Directive]) -> Result<Upstream, ConfigError> {
    let mut up = Upstream::implicit(&d.args[0].0, Vec::new(), &d.pos);
    up.implicit = false;
    let mut balance_set = false;
    for inner in body {
        let a = &inner.args;
        let name = inner.name.as_str();
        match name {
            "server" => up.peers.extend(server(a)?),
            "keepalive" => up.keepalive = count(&a[0], name)?,
            "keepalive_timeout" => up.keepalive_timeout = values::time(&a[0], name)?,
            "keepalive_requests" => up.keepalive_requests = values::number(&a[0], name)?,
            "keepalive_time" => up.keepalive_time = values::time(&a[0], name)?,
            // Shared memory between workers: each worker keeps its own state here.
            "zone" => {}
            _ => {
                if balance_set {
                    let msg = format!("load balancing method redefined by \"{name}\"");
                    return Err(ConfigError::at(&inner.pos, msg));
                }
                balance_set = true;
                up.balance = balance(inner)?;
            }
        }
    }
    if up.peers.is_empty() {
        let msg = format!("no servers are inside upstream \"{}\"", up.name);
        return Err(ConfigError::at(&d.pos, msg));
    }
    Ok(up)
}

fn balance(d: &Directive) -> Result<Balance, ConfigError> {
    let a = &d.args;
    Ok(match d.name.as_str() {
        "least_conn" => Balance::LeastConn,
        "ip_hash" => Balance::IpHash,
        "random" => match a.first() {
            None => Balance::Random { two: false },
            Some((w, _)) if w == "two" => Balance::Random { two: true },
            Some((w, pos)) => {
                return Err(ConfigError::at(
                    pos,
                    format!("invalid parameter \"{w}\" in \"random\""),
                ));
            }
        },
        _ => {
            let consistent = match a.get(1) {
                None => false,
                Some((w, _)) if w == "consistent" => true,
                Some((w, pos)) => {
                    return Err(ConfigError::at(
                        pos,
                        format!("invalid parameter \"{w}\" in \"hash\""),
                    ));
                }
            };
            Balance::Hash {
                key: Template::compile(&a[0].0, &a[0].1)?,
                consistent,
            }
        }
    })
}

fn count(arg: &Arg, name: &str) -> Result<usize, ConfigError> {
    let n = values::number(arg, name)?;
    usize::try_from(n).map_err(|_| ConfigError::at(&arg.1, format!("invalid value in \"{name}\"")))
}

/// `server ADDR [PARAMETER...]` inside an upstream.
fn server(a: &[Arg]) -> Result<Vec<Peer>, ConfigError> {
    let mut weight = 1;
    let mut max_fails = 1;
    let mut fail_timeout = Duration::from_secs(10);
    let mut backup = false;
    let mut down = false;
    let mut max_conns = 0;
    for (word, pos) in &a[1..] {
        let bad = || ConfigError::at(pos, format!("invalid parameter \"{word}\""));
        let num = |v: &str| v.parse::<u32>().map_err(|_| bad());
        match word.split_once('=') {
            Some(("weight", v)) => {
                weight = num(v).and_then(|n| (n > 0).then_some(n).ok_or_else(bad))?
            }
            Some(("max_fails", v)) => max_fails = num(v)?,
            Some(("max_conns", v)) => max_conns = num(v)?,
            Some(("fail_timeout", v)) => {
                fail_timeout = values::time(&(v.to_string(), pos.clone()), "server")?
            }
            None if word == "backup" => backup = true,
            None if word == "down" => down = true,
            _ => return Err(bad()),
        }
    }
    let addrs = addresses(&a[0])?;
    Ok(addrs
        .into_iter()
        .map(|addr| Peer {
            shown: addr.to_string().into(),
            addr,
            name: a[0].0.clone(),
            weight,
            max_fails,
            fail_timeout,
            backup,
            down,
            max_conns,
        })
        .collect())
}

/// `unix:/path`, `HOST[:PORT]` (port 80 by default), resolved now as nginx does
/// when it reads the configuration.
pub fn addresses(arg: &Arg) -> Result<Vec<PeerAddr>, ConfigError> {
    let (text, pos) = arg;
    if let Some(path) = text.strip_prefix("unix:") {
        if path.is_empty() {
            return Err(ConfigError::at(pos, "no path in the unix domain socket"));
        }
        return Ok(vec![PeerAddr::Unix(PathBuf::from(path))]);
    }
    let with_port = if has_port(text) {
        text.clone()
    } else if text.contains(':') && !text.starts_with('[') {
        format!("[{text}]:80")
    } else {
        format!("{text}:80")
    };
    if let Ok(a) = with_port.parse::<SocketAddr>() {
        return Ok(vec![PeerAddr::Tcp(a)]);
    }
    match with_port.to_socket_addrs() {
        Ok(list) => {
            let mut out: Vec<PeerAddr> = Vec::new();
            for a in list.map(PeerAddr::Tcp) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            if out.is_empty() {
                return Err(ConfigError::at(
                    pos,
                    format!("host not found in \"{text}\""),
                ));
            }
            Ok(out)
        }
        Err(_) => Err(ConfigError::at(
            pos,
            format!("host not found in upstream \"{text}\""),
        )),
    }
}

/// `host:port`, `1.2.3.4:80`, `[::1]:80` carry a port; `host`, `::1`, `[::1]` do not.
fn has_port(text: &str) -> bool {
    match text.rfind(':') {
        None => false,
        Some(i) if text.starts_with('[') => text[..i].ends_with(']'),
        Some(i) => !text[..i].contains(':'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(s: &str) -> Arg {
        let pos = Pos {
            file: "t.conf".into(),
            line: 1,
            col: 1,
        };
        (s.to_string(), pos)
    }

    #[test]
    fn addresses_with_and_without_ports() {
        let cases = [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("127.0.0.1", "127.0.0.1:80"),
            ("[::1]:81", "[::1]:81"),
            ("[::1]", "[::1]:80"),
            ("::1", "[::1]:80"),
            ("unix:/tmp/s.sock", "unix:/tmp/s.sock"),
        ];
        for (text, want) in cases {
            let got = addresses(&arg(text)).unwrap();
            assert_eq!(got[0].to_string(), want, "{text}");
        }
        assert!(addresses(&arg("unix:")).is_err());
        assert!(addresses(&arg("no-such-host.invalid:80")).is_err());
    }

    #[test]
    fn server_parameters() {
        let a: Vec<Arg> = [
            "127.0.0.1:1",
            "weight=3",
            "max_fails=2",
            "fail_timeout=5s",
            "backup",
        ]
        .iter()
        .map(|s| arg(s))
        .collect();
        let p = &server(&a).unwrap()[0];
        assert_eq!(
            (p.weight, p.max_fails, p.backup, p.down),
            (3, 2, true, false)
        );
        assert_eq!(p.fail_timeout, Duration::from_secs(5));
        for bad in ["weight=0", "weight=x", "slow_start=1s", "bogus"] {
            let a = vec![arg("127.0.0.1:1"), arg(bad)];
            assert!(server(&a).is_err(), "{bad}");
        }
    }
}
