//! Certificate selection by SNI: on a TLS port, the name the client asked for in
//! its ClientHello picks the virtual server, and so the certificate, with the
//! selector `Host` uses (`config::server_names::select`: exact `server_name`,
//! longest leading wildcard, longest trailing wildcard, first matching regex,
//! default server). A client that sends no SNI gets the default server's.
//!
//! As in nginx, a server of the address that has no certificate of its own (its
//! `listen` lacks `ssl`) is served with the default server's, and a server with
//! `ssl_reject_handshake on` gets none: the handshake is refused
//! ([`SniResolver::rejects`] tells the transport to answer unrecognized_name).

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::NameRegex;
use crate::config::server_names::{self, Candidate};

/// One server of a TLS address: its names and its certificate.
#[derive(Debug)]
pub struct SniServer {
    /// Lower-case exact names and wildcards, as in `Server::server_names`.
    pub names: Vec<String>,
    /// Its `~` names, compiled, as in `Server::name_regexes`.
    pub regexes: Vec<NameRegex>,
    /// `None`: it has none (the default server's is used), or it rejects.
    pub key: Option<Arc<CertifiedKey>>,
    /// `ssl_reject_handshake on`.
    pub reject: bool,
}

/// The certificates of one listen address, one per server.
#[derive(Debug)]
pub struct SniResolver {
    /// The address's servers in declaration order.
    servers: Vec<SniServer>,
    /// Index into `servers` of the default server.
    default: usize,
}

impl SniResolver {
    /// `servers` in declaration order; `default` indexes it.
    pub fn new(servers: Vec<SniServer>, default: usize) -> Self {
        SniResolver { servers, default }
    }

    /// The index (into the list given to `new`) of the server for `name`
    /// (lower-case).
    pub fn select(&self, name: Option<&str>) -> usize {
        let candidates = self.servers.iter().enumerate().map(|(key, s)| Candidate {
            key,
            names: &s.names,
            regexes: &s.regexes,
        });
        server_names::select(candidates, self.default, name).server
    }

    /// Whether a handshake for `name` (lower-case; `None`: no SNI) is refused.
    pub fn rejects(&self, name: Option<&str>) -> bool {
        self.servers
            .get(self.select(name))
            .is_some_and(|s| s.reject)
    }

    /// The certificate for `name`; `None` when the handshake is refused.
    fn key_for(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let s = self.servers.get(self.select(name))?;
        if s.reject {
            return None;
        }
        let key = s
            .key
            .as_ref()
            .or_else(|| self.servers.get(self.default)?.key.as_ref())?;
        Some(Arc::clone(key))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        self.key_for(name.as_deref())
    }
}
