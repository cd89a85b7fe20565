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
use x509_parser::prelude::{CertificateRevocationList, FromDer, X509Certificate};

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

impl AskClientCert {
    /// The client's handshake signature, checked with its certificate's public
    /// key. The key is read with x509-parser, not webpki, so that X.509 v1
    /// certificates (what `openssl req -x509` makes with a bare config file),
    /// which OpenSSL accepts, work too.
    fn check_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
        tls13: bool,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let bad = || rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature);
        use SignatureScheme as S;
        // TLS 1.3 has no PKCS#1 v1.5 or SHA-1 signatures (RFC 8446, 4.2.3).
        let legacy = matches!(
            dss.scheme,
            S::RSA_PKCS1_SHA1
                | S::RSA_PKCS1_SHA256
                | S::RSA_PKCS1_SHA384
                | S::RSA_PKCS1_SHA512
                | S::ECDSA_SHA1_Legacy
        );
        if tls13 && legacy {
            return Err(bad());
        }
        let parsed = parse(cert.as_ref()).ok_or_else(|| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
        })?;
        let key = &parsed.public_key().subject_public_key.data;
        let (_, algorithms) = self
            .algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .ok_or_else(bad)?;
        // As webpki: TLS 1.3 ties a scheme to one algorithm; TLS 1.2 tries each.
        let tried = if tls13 {
            &algorithms[..1.min(algorithms.len())]
        } else {
            algorithms
        };
        let verified = tried
            .iter()
            .any(|alg| alg.verify_signature(key, message, dss.signature()).is_ok());
        match verified {
            true => Ok(HandshakeSignatureValid::assertion()),
            false => Err(bad()),
        }
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
        self.check_signature(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(message, cert, dss, true)
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
    pub const NO_CRL: &str = "unable to get certificate CRL";
    pub const REVOKED: &str = "certificate revoked";
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
    // What the client sent with its certificate (the leaf itself is `leaf`).
    let sent: Vec<X509Certificate> = chain
        .iter()
        .skip(1)
        .filter_map(|c| parse(c.as_ref()))
        .collect();
    let trusted: Vec<(&[u8], X509Certificate)> = auth
        .trusted
        .iter()
        .filter_map(|c| Some((c.as_ref(), parse(c.as_ref())?)))
        .collect();
    let Some(leaf) = chain.first().and_then(|c| parse(c.as_ref())) else {
        return Err(reason::UNPARSED);
    };
    let is_trusted = |c: &X509Certificate| trusted.iter().any(|(der, _)| *der == c.as_raw());
    // The leaf and its issuers, up to a self-signed one (as OpenSSL, a trusted
    // intermediate does not end the chain when its issuer is at hand).
    let mut path: Vec<&X509Certificate> = vec![&leaf];
    while path.len() < MAX_CHAIN {
        let cur = path[path.len() - 1];
        if self_issued(cur) {
            break;
        }
        let issued = |c: &X509Certificate| {
            c.subject().as_raw() == cur.issuer().as_raw()
                && cur.verify_signature(Some(c.public_key())).is_ok()
                && !path.iter().any(|p| p.as_raw() == c.as_raw())
        };
        let next = trusted
            .iter()
            .map(|(_, t)| t)
            .find(|t| issued(t))
            .or_else(|| sent.iter().find(|c| issued(c)));
        match next {
            Some(c) => path.push(c),
            None => break,
        }
    }
    let top = path[path.len() - 1];
    if !is_trusted(top) {
        return Err(match (self_issued(top), path.len()) {
            (true, 1) => reason::SELF_SIGNED,
            (true, _) => reason::SELF_SIGNED_IN_CHAIN,
            _ => reason::LOCAL_ISSUER,
        });
    }
    // nginx's verify callback lets OpenSSL go on after an error: what
    // `$ssl_client_verify` shows is the last one, in OpenSSL's order.
    let mut last = None;
    // Issuers strictly between the leaf and the top.
    if path.len().saturating_sub(2) > auth.depth as usize {
        last = Some(reason::TOO_LONG);
    }
    if !auth.crls.is_empty() {
        last = revocation(auth, &path).or(last);
    }
    // Signatures and times, from the top down to the leaf.
    for (i, c) in path.iter().enumerate().rev() {
        let issuer = path.get(i + 1).map(|p| p.public_key());
        if c.verify_signature(issuer).is_err() {
            last = Some(reason::SIGNATURE);
        }
        let v = c.validity();
        if now < v.not_before.timestamp() {
            last = Some(reason::NOT_YET_VALID);
        }
        if now > v.not_after.timestamp() {
            last = Some(reason::EXPIRED);
        }
    }
    last.map_or(Ok(()), Err)
}

fn self_issued(c: &X509Certificate) -> bool {
    c.subject().as_raw() == c.issuer().as_raw()
}

/// `ssl_crl`, as OpenSSL's CRL_CHECK_ALL: every certificate of the chain below
/// the top one needs a CRL signed by its issuer, and must not be listed in it.
/// The last error, from the leaf up.
fn revocation(auth: &ClientAuth, path: &[&X509Certificate]) -> Option<&'static str> {
    let crls: Vec<CertificateRevocationList> = auth
        .crls
        .iter()
        .filter_map(|d| CertificateRevocationList::from_der(d).ok().map(|(_, c)| c))
        .collect();
    let mut last = None;
    for pair in path.windows(2) {
        let (cert, issuer) = (pair[0], pair[1]);
        let crl = crls.iter().find(|crl| {
            crl.issuer().as_raw() == issuer.subject().as_raw()
                && crl.verify_signature(issuer.public_key()).is_ok()
        });
        let Some(crl) = crl else {
            last = Some(reason::NO_CRL);
            continue;
        };
        let serial = cert.raw_serial();
        if crl
            .iter_revoked_certificates()
            .any(|r| r.raw_serial() == serial)
        {
            last = Some(reason::REVOKED);
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tls::{ClientAuth, VerifyClient};
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    /// A certificate for `cn`, a CA or not, signed by `issuer` (else self-signed).
    fn make(
        cn: &str,
        ca: bool,
        issuer: Option<(&CertificateParams, &KeyPair)>,
    ) -> (CertificateParams, KeyPair, CertificateDer<'static>) {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        let key = KeyPair::generate().expect("key");
        let cert = match issuer {
            Some((p, k)) => params.signed_by(&key, &Issuer::from_params(p, k)),
            None => params.self_signed(&key),
        }
        .expect("cert");
        (params, key, cert.der().clone())
    }

    fn auth(trusted: Vec<CertificateDer<'static>>, depth: u32) -> ClientAuth {
        ClientAuth {
            mode: VerifyClient::On,
            trusted,
            hints: Vec::new(),
            depth,
            crls: Vec::new(),
        }
    }

    #[test]
    fn chains_depths_and_strangers() {
        let (rp, rk, root) = make("root", true, None);
        let (ip, ik, int) = make("int", true, Some((&rp, &rk)));
        let (_, _, end) = make("end", false, Some((&ip, &ik)));
        let (_, _, stranger) = make("stranger", true, None);
        let now = x509_parser::time::ASN1Time::now().timestamp();
        let only_root = auth(vec![root.clone()], 1);
        let both = |depth| auth(vec![root.clone(), int.clone()], depth);
        let cases: Vec<(&ClientAuth, Vec<CertificateDer>, Result<(), &str>)> = vec![
            (&only_root, vec![root.clone()], Ok(())),
            (&only_root, vec![int.clone()], Ok(())),
            (&only_root, vec![end.clone(), int.clone()], Ok(())),
            (&only_root, vec![end.clone()], Err(reason::LOCAL_ISSUER)),
            (&only_root, vec![stranger.clone()], Err(reason::SELF_SIGNED)),
            (
                &only_root,
                vec![end.clone(), stranger.clone()],
                Err(reason::LOCAL_ISSUER),
            ),
        ];
        for (i, (a, chain, want)) in cases.into_iter().enumerate() {
            assert_eq!(verify(a, &chain, now), want, "case {i}");
        }
        // A trusted intermediate does not end the chain: depth counts it.
        assert_eq!(
            verify(&both(0), std::slice::from_ref(&end), now),
            Err(reason::TOO_LONG)
        );
        assert_eq!(verify(&both(1), std::slice::from_ref(&end), now), Ok(()));
        // Before its validity (rcgen's certificates start in 1975).
        assert_eq!(
            verify(&only_root, std::slice::from_ref(&root), 0),
            Err(reason::NOT_YET_VALID)
        );
        assert_eq!(verify(&only_root, &[], now), Err(reason::UNPARSED));
        assert!(optional_no_ca(reason::SELF_SIGNED) && !optional_no_ca(reason::EXPIRED));
    }
}
