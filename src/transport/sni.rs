//! Certificate selection by SNI: on a TLS port, the name the client asked for in
//! its ClientHello picks the virtual server, and so the certificate, with the
//! selector `Host` uses (`config::server_names::select`: exact `server_name`,
//! longest leading wildcard, longest trailing wildcard, first matching regex,
//! default server). A client that sends no SNI gets the default server's.

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
    pub key: Arc<CertifiedKey>,
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
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        let i = self.select(name.as_deref());
        self.servers.get(i).map(|s| Arc::clone(&s.key))
    }
}
