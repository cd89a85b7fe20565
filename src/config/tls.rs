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
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::sign::CertifiedKey;

use super::values::{self, Arg};
use super::{ConfigError, Pos};

mod ciphers;
pub mod client;
mod curves;
mod expiry;
mod keys;
mod port;
mod session;
mod tickets;

pub use client::{ClientAuth, VerifyClient};
pub use port::{PortServer, TlsPort, TlsServer, server_config};
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
    "ssl_verify_client",
    "ssl_verify_depth",
    "ssl_client_certificate",
    "ssl_trusted_certificate",
    "ssl_password_file",
    "ssl_session_ticket_key",
    "ssl_crl",
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
    /// `ssl_certificate FILE` (may repeat, e.g. RSA and ECDSA): the full
    /// chain, PEM, leaf first.
    pub certificate: Option<Vec<(PathBuf, Pos)>>,
    /// `ssl_certificate_key FILE`, one per certificate, in the same order:
    /// PKCS#8 (maybe encrypted), PKCS#1 (RSA) or SEC1 (EC), PEM.
    pub certificate_key: Option<Vec<(PathBuf, Pos)>>,
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
    pub verify_client: Option<VerifyClient>,
    pub verify_depth: Option<u32>,
    /// `ssl_client_certificate FILE`: CAs trusted and named to clients.
    pub client_certificate: Option<(PathBuf, Pos)>,
    /// `ssl_trusted_certificate FILE`: CAs trusted, not named.
    pub trusted_certificate: Option<(PathBuf, Pos)>,
    /// `ssl_password_file FILE`: its passphrases and the file.
    pub password_file: Option<(Vec<Vec<u8>>, PathBuf)>,
    /// `ssl_session_ticket_key FILE`, each written (the first seals).
    pub ticket_keys: Option<Vec<(PathBuf, Pos)>>,
    /// `ssl_crl FILE`: revocation lists for client certificates.
    pub crl: Option<(PathBuf, Pos)>,
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
            verify_client: self.verify_client.or(outer.verify_client),
            verify_depth: self.verify_depth.or(outer.verify_depth),
            client_certificate: self
                .client_certificate
                .clone()
                .or(outer.client_certificate.clone()),
            trusted_certificate: self
                .trusted_certificate
                .clone()
                .or(outer.trusted_certificate.clone()),
            password_file: self.password_file.clone().or(outer.password_file.clone()),
            ticket_keys: self.ticket_keys.clone().or(outer.ticket_keys.clone()),
            crl: self.crl.clone().or(outer.crl.clone()),
        }
    }

    /// The directives that are set, as config lines without the `;` (for `-T`).
    pub fn lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        let on_off = |b: bool| if b { "on" } else { "off" };
        for (p, _) in self.certificate.iter().flatten() {
            v.push(format!("ssl_certificate {}", p.display()));
        }
        for (p, _) in self.certificate_key.iter().flatten() {
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
        if let Some(m) = self.verify_client {
            v.push(format!("ssl_verify_client {}", m.name()));
        }
        if let Some(d) = self.verify_depth {
            v.push(format!("ssl_verify_depth {d}"));
        }
        let files = [
            ("ssl_client_certificate", &self.client_certificate),
            ("ssl_trusted_certificate", &self.trusted_certificate),
            ("ssl_crl", &self.crl),
        ];
        for (name, file) in files {
            if let Some((p, _)) = file {
                v.push(format!("{name} {}", p.display()));
            }
        }
        if let Some((_, p)) = &self.password_file {
            v.push(format!("ssl_password_file {}", p.display()));
        }
        for (p, _) in self.ticket_keys.iter().flatten() {
            v.push(format!("ssl_session_ticket_key {}", p.display()));
        }
        v
    }

    /// Records one `ssl_*` directive (context and arity already checked).
    pub fn apply(&mut self, name: &str, args: &[Arg], prefix: &Path) -> Result<(), ConfigError> {
        let file = |a: &Arg| (values::resolve(prefix, &a.0), a.1.clone());
        match name {
            "ssl_certificate" => {
                self.certificate
                    .get_or_insert_with(Vec::new)
                    .push(file(&args[0]));
            }
            "ssl_certificate_key" => {
                let keys = self.certificate_key.get_or_insert_with(Vec::new);
                keys.push(file(&args[0]));
            }
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
            "ssl_verify_client" => self.verify_client = Some(VerifyClient::parse(&args[0])?),
            "ssl_verify_depth" => self.verify_depth = Some(client::depth(&args[0])?),
            "ssl_client_certificate" => self.client_certificate = Some(file(&args[0])),
            "ssl_trusted_certificate" => self.trusted_certificate = Some(file(&args[0])),
            "ssl_crl" => self.crl = Some(file(&args[0])),
            "ssl_password_file" => {
                let (path, pos) = file(&args[0]);
                self.password_file = Some((keys::passwords(&path, &pos)?, path));
            }
            "ssl_session_ticket_key" => {
                self.ticket_keys
                    .get_or_insert_with(Vec::new)
                    .push(file(&args[0]));
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

/// A server's certificates with their keys, in the order written.
fn certified_keys(s: &TlsSettings, listen: &Pos) -> Result<Vec<Arc<CertifiedKey>>, ConfigError> {
    let certs = s.certificate.as_deref().unwrap_or_default();
    let keys = s.certificate_key.as_deref().unwrap_or_default();
    if certs.is_empty() {
        let msg = "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive";
        return Err(ConfigError::at(listen, msg));
    }
    if keys.is_empty() {
        let msg = "no \"ssl_certificate_key\" is defined for the \"listen ... ssl\" directive";
        return Err(ConfigError::at(listen, msg));
    }
    let mut out = Vec::new();
    for (i, cert) in certs.iter().enumerate() {
        let Some(key) = keys.get(i) else {
            let msg = format!(
                "no \"ssl_certificate_key\" is defined for certificate \"{}\"",
                cert.0.display()
            );
            return Err(ConfigError::at(&cert.1, msg));
        };
        out.push(certified_key(cert, key, s)?);
    }
    Ok(out)
}

/// Reads one certificate chain and its key and checks that they belong together.
fn certified_key(
    (cert_path, cert_pos): &(PathBuf, Pos),
    (key_path, key_pos): &(PathBuf, Pos),
    s: &TlsSettings,
) -> Result<Arc<CertifiedKey>, ConfigError> {
    let chain = load_chain(cert_path).map_err(|why| {
        let msg = format!("cannot load certificate \"{}\": {why}", cert_path.display());
        ConfigError::at(cert_pos, msg)
    })?;
    let key = keys::load(key_path, s.password_file.as_ref()).map_err(|why| {
        let msg = format!(
            "cannot load certificate key \"{}\": {why}",
            key_path.display()
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
