//! The gateway: requests relayed to backends (CGI scripts now in
//! `server::connection::cgi`, HTTP upstreams here), as nginx's upstream module is one
//! relay with small per-protocol parts. `request` and `http` are the HTTP/1
//! protocol towards an upstream, `relay` what every backend's answer goes through
//! on its way to the client, `pool` the worker's backend sockets and keep-alive
//! pools, `balance` the choice of a server in a group.

pub mod balance;
pub mod fastcgi;
pub mod http;
pub mod pool;
pub mod relay;
pub mod request;
pub mod tls;

use std::collections::HashMap;

use crate::config::Config;
use crate::config::upstream::{Balance, Upstream};
use balance::{Balancer, Method, PeerSpec};

/// A worker's gateway state: its backend sockets and, per upstream group of each
/// configuration in use, the balancer's state (failures, weights, connections).
#[derive(Default)]
pub struct Gateway {
    pub backends: pool::Backends,
    balancers: HashMap<(usize, usize), Balancer>,
}

impl Gateway {
    /// The balancer of `config`'s group `group`.
    pub fn balancer(&mut self, config: &Config, group: usize) -> Option<&mut Balancer> {
        let up = config.upstreams.get(group)?;
        let id = config_id(config);
        if self.balancers.len() > 256 {
            // Groups of configurations replaced by reloads; in-flight requests of
            // an old one start over with fresh state.
            self.balancers.retain(|(c, _), _| *c == id);
        }
        Some(
            self.balancers
                .entry((id, group))
                .or_insert_with(|| new_balancer(up)),
        )
    }
}

/// A configuration's identity while it is alive (its address).
pub fn config_id(config: &Config) -> usize {
    config as *const Config as usize
}

fn new_balancer(up: &Upstream) -> Balancer {
    let peers: Vec<PeerSpec> = up
        .peers
        .iter()
        .map(|p| PeerSpec {
            name: p.name.clone(),
            weight: p.weight,
            max_fails: p.max_fails,
            fail_timeout: p.fail_timeout,
            backup: p.backup,
            down: p.down,
            max_conns: p.max_conns,
        })
        .collect();
    let method = match &up.balance {
        Balance::RoundRobin => Method::RoundRobin,
        Balance::LeastConn => Method::LeastConn,
        Balance::IpHash => Method::IpHash,
        Balance::Hash { consistent, .. } => Method::Hash {
            consistent: *consistent,
        },
        Balance::Random { two } => Method::Random { two: *two },
    };
    Balancer::new(&peers, method)
}
