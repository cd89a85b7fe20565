//! Client certificates, checked as nginx (with OpenSSL) checks them, in two steps:
//!
//! - in the handshake, [`AskClientCert`] asks for a certificate (naming the
//!   `ssl_client_certificate` subjects) and accepts any, or none, once the
//!   client has proved it holds the key (its CertificateVerify signature is
//!   checked for real);
//! - when the handshake is done, [`verify`] builds the chain from the client's
//!   certificate up to a trusted one and gives OpenSSL's verdict: `Ok` or the
//!   text of `X509_verify_cert_error_string` that `$ssl_client_verify` shows
//!   after `FAILED:`. The request is then let through or refused by the mode.
//!
//! The chain is built by names and signatures with x509-parser rather than by
//! webpki: webpki refuses a self-signed CA certificate presented as the
//! client's own, which OpenSSL accepts when it is trusted (nginx-tests use
//! exactly that), and it has no `ssl_verify_depth`.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::config::tls::ClientAuth;

/// The longest chain looked for (OpenSSL's depth limit is far below it anyway).
const MAX_CHAIN: usize = 16;

/// The handshake half: asks for a certificate, takes any (or none), checks the
/// client's signature with it.
#[derive(Debug)]
pub struct AskClientCert {
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl AskClientCert {
    pub fn new(auth: &ClientAuth, algorithms: WebPkiSupportedAlgorithms) -> Arc<Self> {
        Arc::new(AskClientCert {
            hints: auth.hints.clone(),
            algorithms,
        })
    }
}

impl ClientCertVerifier for AskClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Checked after the handshake ([`verify`]): a bad certificate is answered
        // with an HTTP 400, not a failed handshake.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// OpenSSL's texts for the verification errors met here.
pub mod reason {
    pub const LOCAL_ISSUER: &str = "unable to get local issuer certificate";
    pub const SELF_SIGNED: &str = "self-signed certificate";
    pub const SELF_SIGNED_IN_CHAIN: &str = "self-signed certificate in certificate chain";
    pub const TOO_LONG: &str = "certificate chain too long";
    pub const EXPIRED: &str = "certificate has expired";
    pub const NOT_YET_VALID: &str = "certificate is not yet valid";
    pub const SIGNATURE: &str = "certificate signature failure";
    pub const UNPARSED: &str = "unable to decode issuer public key";
}

/// Whether `reason` is one `ssl_verify_client optional_no_ca` lets through
/// (nginx's `ngx_ssl_verify_error_optional`: the CA is unknown).
pub fn optional_no_ca(reason: &str) -> bool {
    [
        reason::LOCAL_ISSUER,
        reason::SELF_SIGNED,
        reason::SELF_SIGNED_IN_CHAIN,
    ]
    .contains(&reason)
}

fn parse(der: &[u8]) -> Option<X509Certificate<'_>> {
    X509Certificate::from_der(der).ok().map(|(_, c)| c)
}

/// The chain's verdict: `chain` is the client's certificate, then what it sent
/// with it; `now` in Unix seconds.
pub fn verify(auth: &ClientAuth, chain: &[CertificateDer], now: i64) -> Result<(), &'static str> {
    let sent: Vec<X509Certificate> = chain.iter().filter_map(|c| parse(c.as_ref())).collect();
    let trusted: Vec<(&[u8], X509Certificate)> = auth
        .trusted
        .iter()
        .filter_map(|c| Some((c.as_ref(), parse(c.as_ref())?)))
        .collect();
    let Some(leaf) = sent.first() else {
        return Err(reason::UNPARSED);
    };
    // Issuers above the leaf, the last one trusted.
    let mut path: Vec<&X509Certificate> = vec![leaf];
    let mut anchored = trusted.iter().any(|(der, _)| *der == chain[0].as_ref());
    while !anchored && path.len() < MAX_CHAIN {
        let cur = path[path.len() - 1];
        let issued = |c: &X509Certificate| {
            c.subject().as_raw() == cur.issuer().as_raw()
                && cur.verify_signature(Some(c.public_key())).is_ok()
        };
        if let Some((_, t)) = trusted.iter().find(|(_, t)| issued(t)) {
            path.push(t);
            anchored = true;
        } else if let Some(c) = sent[1..]
            .iter()
            .find(|c| issued(c) && !path.iter().any(|p| p.as_raw() == c.as_raw()))
        {
            path.push(c);
        } else {
            break;
        }
    }
    if !anchored {
        let top = path[path.len() - 1];
        let self_signed = top.subject().as_raw() == top.issuer().as_raw();
        return Err(match (self_signed, path.len()) {
            (true, 1) => reason::SELF_SIGNED,
            (true, _) => reason::SELF_SIGNED_IN_CHAIN,
            _ => reason::LOCAL_ISSUER,
        });
    }
    // Issuers strictly between the leaf and the trusted one.
    let between = path.len().saturating_sub(2);
    if between > auth.depth as usize {
        return Err(reason::TOO_LONG);
    }
    if path.len() == 1 && leaf.verify_signature(None).is_err() {
        // A trusted certificate presented as the client's own: self-signed.
        let self_signed = leaf.subject().as_raw() == leaf.issuer().as_raw();
        if self_signed {
            return Err(reason::SIGNATURE);
        }
    }
    for c in &path {
        let v = c.validity();
        if now < v.not_before.timestamp() {
            return Err(reason::NOT_YET_VALID);
        }
        if now > v.not_after.timestamp() {
            return Err(reason::EXPIRED);
        }
    }
    Ok(())
}
