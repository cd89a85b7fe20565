//! The `ssl_*` directives (nginx's names and meanings) and what they become: one
//! rustls `ServerConfig` per TLS listen address, its certificates chosen by SNI.
//!
//! They may be written at the top level, in `http { }` and in `server { }`; a
//! server inherits what it does not set. Certificates and keys are read here, at
//! load time (so `-t` and a SIGHUP reload check them): a certificate that does not
//! parse or does not match its key is an error at its directive's position, an
//! expired one a warning.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::SupportedCipherSuite;
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::values::{self, Arg};
use super::{ConfigError, Pos};
use crate::transport::sni::{SniResolver, SniServer};

mod ciphers;
mod curves;
mod expiry;
mod session;

pub use session::SessionCache;

/// nginx's default `ssl_session_timeout`.
const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest ticket lifetime a client is told (RFC 8446 caps it at 7 days;
/// rustls's ticket keys rotate every 6 hours and are kept for two rotations).
const MAX_TICKET_LIFETIME: u32 = 12 * 60 * 60;

/// The directives this module reads.
pub const DIRECTIVES: &[&str] = &[
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_protocols",
    "ssl_ciphers",
    "ssl_prefer_server_ciphers",
    "ssl_session_tickets",
    "ssl_session_timeout",
    "ssl_session_cache",
    "ssl_ecdh_curve",
    "ssl_reject_handshake",
];

/// A TLS protocol version of `ssl_protocols`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tls12,
    Tls13,
}

/// One level's `ssl_*` values (`None`: not set here), and, merged, a server's.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// `ssl_certificate FILE`: the full chain, PEM, leaf first.
    pub certificate: Option<(PathBuf, Pos)>,
    /// `ssl_certificate_key FILE`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), PEM.
    pub certificate_key: Option<(PathBuf, Pos)>,
    pub protocols: Option<Vec<Protocol>>,
    /// `ssl_ciphers`: the TLS 1.2 suites in preference order (TLS 1.3 suites are
    /// not chosen by it, as with OpenSSL).
    pub ciphers: Option<Vec<SupportedCipherSuite>>,
    pub prefer_server_ciphers: Option<bool>,
    pub session_tickets: Option<bool>,
    pub session_timeout: Option<Duration>,
    pub session_cache: Option<SessionCache>,
    /// `ssl_ecdh_curve`: the key-exchange groups, best first; `None` = rustls's.
    pub ecdh_curves: Option<Vec<&'static dyn rustls::crypto::SupportedKxGroup>>,
    /// `ssl_reject_handshake on`: a handshake that selects this server is refused.
    pub reject_handshake: Option<bool>,
}

impl TlsSettings {
    /// This level's values, anything unset taken from `outer`.
    pub fn merge(&self, outer: &TlsSettings) -> TlsSettings {
        TlsSettings {
            certificate: self.certificate.clone().or(outer.certificate.clone()),
            certificate_key: self
                .certificate_key
                .clone()
                .or(outer.certificate_key.clone()),
            protocols: self.protocols.clone().or(outer.protocols.clone()),
            ciphers: self.ciphers.clone().or(outer.ciphers.clone()),
            prefer_server_ciphers: self.prefer_server_ciphers.or(outer.prefer_server_ciphers),
            session_tickets: self.session_tickets.or(outer.session_tickets),
            session_timeout: self.session_timeout.or(outer.session_timeout),
            session_cache: self.session_cache.or(outer.session_cache),
            ecdh_curves: self.ecdh_curves.clone().or(outer.ecdh_curves.clone()),
            reject_handshake: self.reject_handshake.or(outer.reject_handshake),
        }
    }

    /// The directives that are set, as config lines without the `;` (for `-T`).
    pub fn lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        let on_off = |b: bool| if b { "on" } else { "off" };
        if let Some((p, _)) = &self.certificate {
            v.push(format!("ssl_certificate {}", p.display()));
        }
        if let Some((p, _)) = &self.certificate_key {
            v.push(format!("ssl_certificate_key {}", p.display()));
        }
        if let Some(ps) = &self.protocols {
            let names: Vec<&str> = ps
                .iter()
                .map(|p| match p {
                    Protocol::Tls12 => "TLSv1.2",
                    Protocol::Tls13 => "TLSv1.3",
                })
                .collect();
            v.push(format!("ssl_protocols {}", names.join(" ")));
        }
        if let Some(suites) = &self.ciphers {
            let names: Vec<&str> = suites.iter().filter_map(|s| ciphers::name(*s)).collect();
            v.push(format!("ssl_ciphers {}", names.join(":")));
        }
        if let Some(b) = self.prefer_server_ciphers {
            v.push(format!("ssl_prefer_server_ciphers {}", on_off(b)));
        }
        if let Some(b) = self.session_tickets {
            v.push(format!("ssl_session_tickets {}", on_off(b)));
        }
        if let Some(t) = self.session_timeout {
            v.push(format!("ssl_session_timeout {}ms", t.as_millis()));
        }
        if let Some(g) = &self.ecdh_curves {
            v.push(format!("ssl_ecdh_curve {}", curves::names(g)));
        }
        if let Some(c) = self.session_cache {
            v.push(format!("ssl_session_cache {}", c.to_conf()));
        }
        if let Some(b) = self.reject_handshake {
            v.push(format!("ssl_reject_handshake {}", on_off(b)));
        }
        v
    }

    /// Records one `ssl_*` directive (context and arity already checked).
    pub fn apply(&mut self, name: &str, args: &[Arg], prefix: &Path) -> Result<(), ConfigError> {
        let file = |a: &Arg| (values::resolve(prefix, &a.0), a.1.clone());
        match name {
            "ssl_certificate" => self.certificate = Some(file(&args[0])),
            "ssl_certificate_key" => self.certificate_key = Some(file(&args[0])),
            "ssl_protocols" => self.protocols = Some(protocols(args, name)?),
            "ssl_ciphers" => self.ciphers = Some(ciphers::parse(&args[0])?),
            "ssl_prefer_server_ciphers" => {
                self.prefer_server_ciphers = Some(values::on_off(&args[0], name)?);
            }
            "ssl_session_tickets" => self.session_tickets = Some(values::on_off(&args[0], name)?),
            "ssl_session_timeout" => self.session_timeout = Some(values::time(&args[0], name)?),
            "ssl_session_cache" => self.session_cache = Some(SessionCache::parse(args)?),
            "ssl_ecdh_curve" => self.ecdh_curves = curves::parse(&args[0])?,
            "ssl_reject_handshake" => {
                self.reject_handshake = Some(values::on_off(&args[0], name)?);
            }
            _ => {}
        }
        Ok(())
    }
}

/// `ssl_protocols`: TLSv1.2 and TLSv1.3. Older versions (which rustls does not
/// implement) are skipped with a warning, as long as one version remains.
pub(super) fn protocols(args: &[Arg], name: &str) -> Result<Vec<Protocol>, ConfigError> {
    let mut out = Vec::new();
    for (word, pos) in args {
        match word.as_str() {
            "TLSv1.2" => out.push(Protocol::Tls12),
            "TLSv1.3" => out.push(Protocol::Tls13),
            "SSLv2" | "SSLv3" | "TLSv1" | "TLSv1.1" => {
                warn(pos, &format!("\"{word}\" is not supported and ignored"));
            }
            _ => {
                let msg = format!("invalid value \"{word}\" in \"{name}\"");
                return Err(ConfigError::at(pos, msg));
            }
        }
    }
    if out.is_empty() {
        let msg = format!("\"{name}\" names no supported protocol (TLSv1.2, TLSv1.3)");
        return Err(ConfigError::at(&args[0].1, msg));
    }
    out.dedup();
    Ok(out)
}

/// A configuration warning: printed on stderr while no logger runs (`-t`, start),
/// logged otherwise (a reload).
pub fn warn(pos: &Pos, msg: &str) {
    if log::max_level() == log::LevelFilter::Off {
        eprintln!("webserv: [warn] {pos}: {msg}");
    } else {
        log::warn!("{pos}: {msg}");
    }
}

/// One server on a TLS address: its names and settings.
pub struct TlsServer<'a> {
    pub names: &'a [String],
    pub regexes: &'a [super::NameRegex],
    pub settings: &'a TlsSettings,
    /// Its `listen` for the address (named when it lacks a certificate).
    pub listen: &'a Pos,
    /// That `listen` says `ssl` (then it needs a certificate of its own).
    pub ssl: bool,
}

/// What one TLS listen address serves with: the rustls configuration and its
/// SNI resolver (which the transport asks whether a handshake is refused).
#[derive(Debug)]
pub struct TlsPort {
    pub config: Arc<rustls::ServerConfig>,
    pub sni: Arc<SniResolver>,
}

/// The rustls configuration of one TLS listen address. `servers` are the
/// address's servers in declaration order, `default` indexes them; protocol,
/// cipher and session settings come from the default server, certificates from
/// each server (chosen by SNI). `listen` is where the address was declared.
pub fn server_config(
    servers: &[TlsServer],
    default: usize,
    listen: &Pos,
) -> Result<Arc<TlsPort>, ConfigError> {
    let mut keys = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        let reject = s.settings.reject_handshake.unwrap_or(false);
        // As nginx: a server without `ssl` on its listen and without certificate
        // is served with the default server's; a refusing server needs none.
        let needs_key = s.ssl || i == default || s.settings.certificate.is_some();
        let key = match reject || !needs_key {
            true => None,
            false => Some(certified_key(s.settings, s.listen)?),
        };
        keys.push(SniServer {
            names: s.names.to_vec(),
            regexes: s.regexes.to_vec(),
            key,
            reject,
        });
    }
    let settings = servers.get(default).map(|s| s.settings).unwrap_or_else(|| {
        static NONE: std::sync::OnceLock<TlsSettings> = std::sync::OnceLock::new();
        NONE.get_or_init(TlsSettings::default)
    });
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
    let builder = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)
        .map_err(|e| ConfigError::at(listen, format!("TLS settings rejected: {e}")))?;
    let resolver = Arc::new(SniResolver::new(keys, default));
    let mut config = builder
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = settings.prefer_server_ciphers.unwrap_or(false);
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
        let ticketer = provider::Ticketer::new()
            .map_err(|e| ConfigError::at(listen, format!("cannot make session tickets: {e}")))?;
        config.ticketer = Arc::new(Lifetime {
            inner: ticketer,
            secs: lifetime.clamp(1, MAX_TICKET_LIFETIME),
        });
        config.send_tls13_tickets = 1;
    } else {
        // Without tickets, a TLS 1.3 session resumes from the cache (a stateful
        // ticket names the cached session), as OpenSSL's does under nginx.
        let cached = matches!(settings.session_cache, Some(SessionCache::Entries(_)));
        config.send_tls13_tickets = usize::from(cached && !timeout.is_zero());
    }
    Ok(Arc::new(TlsPort {
        config: Arc::new(config),
        sni: resolver,
    }))
}

/// Reads a server's certificate chain and key and checks that they belong together.
fn certified_key(s: &TlsSettings, listen: &Pos) -> Result<Arc<CertifiedKey>, ConfigError> {
    let Some((cert_path, cert_pos)) = &s.certificate else {
        let msg = "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive";
        return Err(ConfigError::at(listen, msg));
    };
    let Some((key_path, key_pos)) = &s.certificate_key else {
        let msg = "no \"ssl_certificate_key\" is defined for the \"listen ... ssl\" directive";
        return Err(ConfigError::at(listen, msg));
    };
    let chain = load_chain(cert_path).map_err(|why| {
        let msg = format!("cannot load certificate \"{}\": {why}", cert_path.display());
        ConfigError::at(cert_pos, msg)
    })?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        let msg = format!(
            "cannot load certificate key \"{}\": {}",
            key_path.display(),
            pem_error(&e)
        );
        ConfigError::at(key_pos, msg)
    })?;
    let signer = provider::sign::any_supported_type(&key).map_err(|e| {
        let msg = format!("unsupported key \"{}\": {e}", key_path.display());
        ConfigError::at(key_pos, msg)
    })?;
    if let Some(not_after) = expiry::not_after(&chain[0])
        && not_after < expiry::now()
    {
        let msg = format!(
            "certificate \"{}\" expired on {}",
            cert_path.display(),
            expiry::show(&not_after)
        );
        warn(cert_pos, &msg);
    }
    let certified = CertifiedKey::new(chain, signer);
    let matched = match certified.keys_match() {
        // rustls parses the certificate with webpki, which takes X.509 v3 only; a v1
        // certificate (no extensions) is served all the same, so its key is
        // compared here from the DER.
        Err(rustls::Error::InvalidCertificate(_)) => {
            let ours = certified.key.public_key();
            let theirs = expiry::public_key(&certified.cert[0]);
            match (ours, theirs) {
                (Some(k), Some(c)) if k.as_ref() == c => Ok(()),
                (Some(_), Some(_)) => Err(rustls::Error::InconsistentKeys(
                    rustls::InconsistentKeys::KeyMismatch,
                )),
                _ => certified.keys_match(),
            }
        }
        other => other,
    };
    match matched {
        Ok(()) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(_)) => {
            let msg = format!(
                "certificate \"{}\" does not match key \"{}\"",
                cert_path.display(),
                key_path.display()
            );
            Err(ConfigError::at(key_pos, msg))
        }
        Err(e) => {
            let msg = format!("cannot parse certificate \"{}\": {e}", cert_path.display());
            Err(ConfigError::at(cert_pos, msg))
        }
    }
}

/// Every certificate of a PEM file; at least one.
pub(super) fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| pem_error(&e))?;
    let chain = iter
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&e))?;
    if chain.is_empty() {
        return Err("no certificate in the file".into());
    }
    Ok(chain)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => "no PEM section of the right kind in the file".into(),
        other => format!("bad PEM ({other:?})"),
    }
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
