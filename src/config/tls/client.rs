//! Client certificates: `ssl_verify_client`, `ssl_client_certificate`,
//! `ssl_trusted_certificate`, `ssl_verify_depth` and `ssl_crl`, read into what a server
//! checks a client's certificate against ([`ClientAuth`]).
//!
//! As nginx does, the handshake never fails for want of a good certificate: a
//! server that verifies asks for one, takes whatever comes (the client proves it
//! holds the key), and the chain is checked when the handshake is done; the
//! request is then refused with nginx's 400 pages if the mode wants it. The CA
//! names sent to the client are the subjects of `ssl_client_certificate`, without
//! duplicates; `ssl_trusted_certificate` is trusted without being named.

use std::path::Path;

use rustls::DistinguishedName;
use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::super::values::Arg;
use super::super::{ConfigError, Pos};
use super::{TlsSettings, load_chain};

/// `ssl_verify_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyClient {
    Off,
    /// A valid certificate is required (else 400).
    On,
    /// A certificate is asked for; one that fails verification gets 400.
    Optional,
    /// As `Optional`, but a certificate of an unknown CA is let through
    /// (`$ssl_client_verify` says why it failed).
    OptionalNoCa,
}

impl VerifyClient {
    pub fn parse(arg: &Arg) -> Result<VerifyClient, ConfigError> {
        Ok(match arg.0.as_str() {
            "off" => VerifyClient::Off,
            "on" => VerifyClient::On,
            "optional" => VerifyClient::Optional,
            "optional_no_ca" => VerifyClient::OptionalNoCa,
            other => {
                let msg = format!(
                    "invalid value \"{other}\" in \"ssl_verify_client\", it must be \
                     \"on\", \"off\", \"optional\" or \"optional_no_ca\""
                );
                return Err(ConfigError::at(&arg.1, msg));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            VerifyClient::Off => "off",
            VerifyClient::On => "on",
            VerifyClient::Optional => "optional",
            VerifyClient::OptionalNoCa => "optional_no_ca",
        }
    }
}

/// What one server checks client certificates against.
#[derive(Debug)]
pub struct ClientAuth {
    pub mode: VerifyClient,
    /// The certificates of `ssl_client_certificate` and `ssl_trusted_certificate`.
    pub trusted: Vec<CertificateDer<'static>>,
    /// The subjects of `ssl_client_certificate`, each once, sent to the client.
    pub hints: Vec<DistinguishedName>,
    /// `ssl_verify_depth` (default 1): how many issuers above the client's
    /// certificate its chain may have, beyond the first.
    pub depth: u32,
    /// `ssl_crl`: the revocation lists, DER.
    pub crls: Vec<Vec<u8>>,
}

/// nginx's default `ssl_verify_depth`.
const DEFAULT_DEPTH: u32 = 1;

/// A server's client-certificate checking; `None` when it does not verify.
/// `listen` is where the error goes when no CA is given.
pub fn client_auth(s: &TlsSettings, listen: &Pos) -> Result<Option<ClientAuth>, ConfigError> {
    let mode = s.verify_client.unwrap_or(VerifyClient::Off);
    if mode == VerifyClient::Off {
        return Ok(None);
    }
    if mode != VerifyClient::OptionalNoCa
        && s.client_certificate.is_none()
        && s.trusted_certificate.is_none()
    {
        let msg = "no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client";
        return Err(ConfigError::at(listen, msg));
    }
    let mut trusted = Vec::new();
    let mut hints: Vec<DistinguishedName> = Vec::new();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    if let Some((path, pos)) = &s.client_certificate {
        for cert in read(path, pos)? {
            let subject = subject(&cert).ok_or_else(|| bad(path, pos))?;
            if !seen.contains(&subject) {
                hints.push(DistinguishedName::from(subject.clone()));
                seen.push(subject);
            }
            trusted.push(cert);
        }
    }
    if let Some((path, pos)) = &s.trusted_certificate {
        trusted.extend(read(path, pos)?);
    }
    let crls = match &s.crl {
        Some((path, pos)) => crls(path, pos)?,
        None => Vec::new(),
    };
    Ok(Some(ClientAuth {
        mode,
        trusted,
        hints,
        depth: s.verify_depth.unwrap_or(DEFAULT_DEPTH),
        crls,
    }))
}

fn read(path: &Path, pos: &Pos) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    load_chain(path).map_err(|why| {
        let msg = format!("cannot load certificate \"{}\": {why}", path.display());
        ConfigError::at(pos, msg)
    })
}

/// The "X509 CRL" sections of a PEM file; at least one.
fn crls(path: &Path, pos: &Pos) -> Result<Vec<Vec<u8>>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| {
        let msg = format!("cannot load CRL \"{}\": {e}", path.display());
        ConfigError::at(pos, msg)
    })?;
    let found: Vec<Vec<u8>> = x509_parser::pem::Pem::iter_from_buffer(&bytes)
        .filter_map(Result::ok)
        .filter(|p| p.label == "X509 CRL")
        .map(|p| p.contents)
        .collect();
    let parses = |d: &Vec<u8>| x509_parser::prelude::CertificateRevocationList::from_der(d).is_ok();
    if found.is_empty() || !found.iter().all(parses) {
        let msg = format!(
            "cannot load CRL \"{}\": no valid CRL in the file",
            path.display()
        );
        return Err(ConfigError::at(pos, msg));
    }
    Ok(found)
}

fn bad(path: &Path, pos: &Pos) -> ConfigError {
    let msg = format!("cannot parse certificate \"{}\"", path.display());
    ConfigError::at(pos, msg)
}

/// The DER of a certificate's subject name (with its SEQUENCE header).
fn subject(cert: &CertificateDer) -> Option<Vec<u8>> {
    let (_, c) = X509Certificate::from_der(cert.as_ref()).ok()?;
    Some(c.subject().as_raw().to_vec())
}

/// `ssl_verify_depth N`.
pub fn depth(arg: &Arg) -> Result<u32, ConfigError> {
    arg.0.parse().map_err(|_| {
        let msg = format!("invalid value \"{}\" in \"ssl_verify_depth\"", arg.0);
        ConfigError::at(&arg.1, msg)
    })
}
