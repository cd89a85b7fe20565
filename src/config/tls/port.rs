//! What one TLS listen address serves with: one rustls `ServerConfig` per server
//! of the address, the transport choosing among them by the ClientHello's SNI
//! name (rustls's `Acceptor`), as nginx switches to the SNI server's SSL context.
//!
//! As in nginx, the protocol versions, ciphers and curves are the default
//! server's (OpenSSL has settled them before the SNI callback); certificates,
//! client verification, session cache and tickets are each server's own, so a
//! session made with one server does not resume on another.

use std::sync::Arc;

use rustls::crypto::ring as provider;

use super::client::{self, ClientAuth};
use super::{
    DEFAULT_SESSION_TIMEOUT, MAX_TICKET_LIFETIME, Protocol, SessionCache, TlsSettings,
    certified_keys, tickets,
};
use crate::config::{ConfigError, Pos};
use crate::transport::client_verify::AskClientCert;
use crate::transport::sni::{SniResolver, SniServer};

/// One server on a TLS address: its names and settings.
pub struct TlsServer<'a> {
    pub names: &'a [String],
    pub regexes: &'a [crate::config::NameRegex],
    pub settings: &'a TlsSettings,
    /// Its `listen` for the address (named when it lacks a certificate).
    pub listen: &'a Pos,
    /// That `listen` says `ssl`.
    pub ssl: bool,
    /// HTTP/2 is on: ALPN offers `h2` before `http/1.1`.
    pub h2: bool,
}

/// One server's TLS: its rustls configuration and its client checking.
#[derive(Debug, Clone)]
pub struct PortServer {
    pub config: Arc<rustls::ServerConfig>,
    /// `None`: `ssl_verify_client off`.
    pub client: Option<Arc<ClientAuth>>,
}

/// What one TLS listen address serves with: a configuration per server (in
/// declaration order, as the SNI resolver indexes them).
#[derive(Debug)]
pub struct TlsPort {
    pub servers: Vec<PortServer>,
    pub sni: Arc<SniResolver>,
}

impl TlsPort {
    /// The server a ClientHello naming `name` (any case; `None`: no SNI) reaches.
    pub fn server(&self, name: Option<&str>) -> Option<&PortServer> {
        let name = name.map(str::to_ascii_lowercase);
        self.servers.get(self.sni.select(name.as_deref()))
    }
}

/// The rustls configurations of one TLS listen address. `servers` are the
/// address's servers in declaration order, `default` indexes them. `listen` is
/// where the address was declared.
pub fn server_config(
    servers: &[TlsServer],
    default: usize,
    listen: &Pos,
) -> Result<Arc<TlsPort>, ConfigError> {
    let mut keys = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        let reject = s.settings.reject_handshake.unwrap_or(false);
        // As nginx: only the default server must have a certificate; a server
        // without one is served with the default server's, a refusing one
        // needs none.
        let needs_key = i == default || s.settings.certificate.is_some();
        let certified = match reject || !needs_key {
            true => Vec::new(),
            false => certified_keys(s.settings, s.listen)?,
        };
        keys.push(SniServer {
            names: s.names.to_vec(),
            regexes: s.regexes.to_vec(),
            keys: certified,
            reject,
        });
    }
    let none = TlsSettings::default();
    let settings = servers.get(default).map_or(&none, |s| s.settings);
    let mut provider = provider::default_provider();
    if let Some(tls12) = &settings.ciphers {
        provider
            .cipher_suites
            .retain(|s| s.version() == &rustls::version::TLS13);
        // The named TLS 1.2 suites, in the order written.
        provider.cipher_suites.extend(tls12.iter().copied());
    }
    if let Some(groups) = &settings.ecdh_curves {
        provider.kx_groups = groups.clone();
    }
    let provider = Arc::new(provider);
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = settings
        .protocols
        .as_deref()
        .unwrap_or(&[Protocol::Tls12, Protocol::Tls13])
        .iter()
        .map(|p| match p {
            Protocol::Tls12 => &rustls::version::TLS12,
            Protocol::Tls13 => &rustls::version::TLS13,
        })
        .collect();
    let resolver = Arc::new(SniResolver::new(keys, default));
    let mut out: Vec<Option<PortServer>> = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        if i != default && s.settings.certificate.is_none() {
            // No certificate of its own: the handshake stays the default
            // server's (nginx keeps its SSL_CTX), filled in below.
            out.push(None);
            continue;
        }
        let client = client::client_auth(s.settings, s.listen)?.map(Arc::new);
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| ConfigError::at(listen, format!("TLS settings rejected: {e}")))?;
        let builder = match &client {
            Some(auth) => builder.with_client_cert_verifier(AskClientCert::new(
                auth,
                provider.signature_verification_algorithms,
            )),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(resolver.clone());
        config.alpn_protocols = match s.h2 {
            true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            false => vec![b"http/1.1".to_vec()],
        };
        config.ignore_client_order = settings.prefer_server_ciphers.unwrap_or(false);
        sessions(&mut config, s.settings, listen)?;
        out.push(Some(PortServer {
            config: Arc::new(config),
            client,
        }));
    }
    let fallback = out.get(default).cloned().flatten();
    let servers = out
        .into_iter()
        .map(|s| s.or_else(|| fallback.clone()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ConfigError::at(listen, "no default server for the TLS address"))?;
    Ok(Arc::new(TlsPort {
        servers,
        sni: resolver,
    }))
}

/// A server's session cache and tickets.
fn sessions(
    config: &mut rustls::ServerConfig,
    settings: &TlsSettings,
    listen: &Pos,
) -> Result<(), ConfigError> {
    // Without the directive, rustls's own cache (256 sessions) is kept.
    match settings.session_cache {
        Some(SessionCache::Off) => {
            config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        }
        Some(SessionCache::Entries(n)) => {
            config.session_storage = rustls::server::ServerSessionMemoryCache::new(n);
        }
        None => {}
    }
    let timeout = settings.session_timeout.unwrap_or(DEFAULT_SESSION_TIMEOUT);
    if settings.session_tickets.unwrap_or(true) && !timeout.is_zero() {
        let lifetime = u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX);
        let inner: Arc<dyn rustls::server::ProducesTickets> = match &settings.ticket_keys {
            Some(files) => tickets::from_files(files)?,
            None => provider::Ticketer::new().map_err(|e| {
                ConfigError::at(listen, format!("cannot make session tickets: {e}"))
            })?,
        };
        config.ticketer = Arc::new(Lifetime {
            inner,
            secs: lifetime.clamp(1, MAX_TICKET_LIFETIME),
        });
        config.send_tls13_tickets = 1;
    } else {
        // Without tickets, a TLS 1.3 session resumes from the cache (a stateful
        // ticket names the cached session), as OpenSSL's does under nginx.
        let cached = matches!(settings.session_cache, Some(SessionCache::Entries(_)));
        config.send_tls13_tickets = usize::from(cached && !timeout.is_zero());
    }
    Ok(())
}

/// A ticketer that tells clients `ssl_session_timeout` as the ticket lifetime.
#[derive(Debug)]
struct Lifetime {
    inner: Arc<dyn rustls::server::ProducesTickets>,
    secs: u32,
}

impl rustls::server::ProducesTickets for Lifetime {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }
    fn lifetime(&self) -> u32 {
        self.secs
    }
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.inner.encrypt(plain)
    }
    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.inner.decrypt(cipher)
    }
}
