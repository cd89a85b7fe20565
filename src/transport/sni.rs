//! Certificate selection by SNI: on a TLS port, the name the client asked for in
//! its ClientHello picks the virtual server, and so the certificate, by the same
//! rules as `Host` does (exact `server_name`, then the longest wildcard, then the
//! default server). A client that sends no SNI gets the default server's.

use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::name_matches;

/// The certificates of one listen address, one per server.
#[derive(Debug)]
pub struct SniResolver {
    /// Per server on the address, in declaration order: its names and its key.
    servers: Vec<(Vec<String>, Arc<CertifiedKey>)>,
    /// Index into `servers` of the default server.
    default: usize,
}

impl SniResolver {
    /// `servers` in declaration order; `default` indexes it.
    pub fn new(servers: Vec<(Vec<String>, Arc<CertifiedKey>)>, default: usize) -> Self {
        SniResolver { servers, default }
    }

    /// The index (into the list given to `new`) of the server for `name`.
    pub fn select(&self, name: Option<&str>) -> usize {
        select(self.servers.iter().map(|(n, _)| n.as_slice()), name).unwrap_or(self.default)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        let i = self.select(name.as_deref());
        self.servers.get(i).map(|(_, key)| Arc::clone(key))
    }
}

/// Which of `servers` (each a list of lower-case `server_name`s) answers `name`:
/// an exact name first, then the longest matching wildcard; `None` if none does.
pub fn select<'a>(
    servers: impl Iterator<Item = &'a [String]> + Clone,
    name: Option<&str>,
) -> Option<usize> {
    let name = name?;
    if let Some(i) = servers
        .clone()
        .position(|names| names.iter().any(|n| n == name))
    {
        return Some(i);
    }
    servers
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (i, n)))
        .filter(|(_, n)| (n.starts_with('.') || n.starts_with("*.")) && name_matches(n, name))
        .max_by_key(|(_, n)| n.len())
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_longest_wildcard() {
        let servers: Vec<Vec<String>> = vec![
            vec!["*.example.com".into()],
            vec!["a.example.com".into()],
            vec!["*.b.example.com".into(), "other".into()],
        ];
        let it = || servers.iter().map(Vec::as_slice);
        let cases = [
            (Some("a.example.com"), Some(1)),
            (Some("x.example.com"), Some(0)),
            (Some("x.b.example.com"), Some(2)),
            (Some("other"), Some(2)),
            (Some("nothing.test"), None),
            (None, None),
        ];
        for (name, want) in cases {
            assert_eq!(select(it(), name), want, "{name:?}");
        }
    }
}
