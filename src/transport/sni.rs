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
    /// Its certificates (e.g. RSA and ECDSA), in the order written; none: it has
    /// none (the default server's are used), or it rejects.
    pub keys: Vec<Arc<CertifiedKey>>,
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

    /// The certificate for `name`: the first of the server's whose key can sign
    /// with one of the client's `schemes` and, for a TLS 1.2-only client, suits
    /// one of its `suites` (as OpenSSL picks among RSA and ECDSA), else its
    /// first; `None` when the handshake is refused.
    fn key_for(
        &self,
        name: Option<&str>,
        schemes: &[rustls::SignatureScheme],
        suites: &[rustls::CipherSuite],
    ) -> Option<Arc<CertifiedKey>> {
        let s = self.servers.get(self.select(name))?;
        if s.reject {
            return None;
        }
        let keys = match s.keys.is_empty() {
            true => &self.servers.get(self.default)?.keys,
            false => &s.keys,
        };
        let usable = keys
            .iter()
            .find(|k| k.key.choose_scheme(schemes).is_some() && suits(k, suites));
        usable.or(keys.first()).map(Arc::clone)
    }
}

/// Whether a key can serve a client offering `suites`: any TLS 1.3 suite takes
/// any key; TLS 1.2 suites name the key's algorithm (`ECDHE-ECDSA-...`,
/// `ECDHE-RSA-...`).
fn suits(key: &CertifiedKey, suites: &[rustls::CipherSuite]) -> bool {
    use rustls::SignatureAlgorithm as A;
    let names = suites
        .iter()
        .filter_map(|s| crate::vars::ssl::cipher_name(*s));
    let wanted = match key.key.algorithm() {
        A::ECDSA => "-ECDSA-",
        A::RSA => "-RSA-",
        _ => return true,
    };
    let mut names = names.peekable();
    if names.peek().is_none() {
        return true;
    }
    names
        .into_iter()
        .any(|n| n.starts_with("TLS_") || n.contains(wanted))
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        self.key_for(
            name.as_deref(),
            hello.signature_schemes(),
            hello.cipher_suites(),
        )
    }
}
