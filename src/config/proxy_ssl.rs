//! TLS to upstreams (`proxy_pass https://...`): `proxy_ssl_verify` (off by
//! default, as nginx), `proxy_ssl_trusted_certificate`, `proxy_ssl_verify_depth`,
//! `proxy_ssl_name` (default: the host of `proxy_pass`), `proxy_ssl_server_name`
//! (SNI, off by default), `proxy_ssl_protocols`, `proxy_ssl_certificate` and
//! `proxy_ssl_certificate_key` (a client certificate), `proxy_ssl_session_reuse`,
//! `proxy_ssl_ciphers` (accepted; rustls's suites are used). Files are read when the
//! configuration is, so a bad one is a `file:line:col` error at load time.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::parser::Directive;
use super::tls::{Protocol, load_chain, protocols};
use super::values;
use super::{ConfigError, Pos};
use crate::vars::Template;

/// One level's explicitly set values.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    verify: Option<bool>,
    trusted: Option<Arc<Vec<CertificateDer<'static>>>>,
    name: Option<Template>,
    server_name: Option<bool>,
    protocols: Option<Vec<Protocol>>,
    certificate: Option<(Arc<Vec<CertificateDer<'static>>>, Pos)>,
    key: Option<Arc<PrivateKeyDer<'static>>>,
    session_reuse: Option<bool>,
}

/// A location's TLS client: the rustls configuration (shared by its connections,
/// so sessions resume) and how each connection names the server.
#[derive(Debug, Clone)]
pub struct Client {
    pub config: Arc<rustls::ClientConfig>,
    /// `proxy_ssl_name`; `None`: the host of `proxy_pass`.
    pub name: Option<Template>,
}

impl Client {
    /// The name a connection checks the certificate against (and sends as SNI
    /// with `proxy_ssl_server_name on`): `name` without a port.
    pub fn server_name(name: &str) -> Option<ServerName<'static>> {
        let host = match name.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None if name.matches(':').count() == 1 => name.split(':').next().unwrap_or(name),
            None => name,
        };
        ServerName::try_from(host.to_string()).ok()
    }
}

impl Draft {
    pub fn merge(&self, outer: &Draft) -> Draft {
        Draft {
            verify: self.verify.or(outer.verify),
            trusted: self.trusted.clone().or_else(|| outer.trusted.clone()),
            name: self.name.clone().or_else(|| outer.name.clone()),
            server_name: self.server_name.or(outer.server_name),
            protocols: self.protocols.clone().or_else(|| outer.protocols.clone()),
            certificate: self
                .certificate
                .clone()
                .or_else(|| outer.certificate.clone()),
            key: self.key.clone().or_else(|| outer.key.clone()),
            session_reuse: self.session_reuse.or(outer.session_reuse),
        }
    }

    /// Records a `proxy_ssl_*` directive; `Ok(false)` if `d` is not one.
    pub fn apply(&mut self, d: &Directive, prefix: &Path) -> Result<bool, ConfigError> {
        let name = d.name.as_str();
        let a = &d.args;
        let file = |i: usize| {
            let (p, _) = &a[i];
            let path = Path::new(p);
            if path.is_absolute() {
                path.to_path_buf()
            } else {
                prefix.join(path)
            }
        };
        match name {
            "proxy_ssl_verify" => self.verify = Some(values::on_off(&a[0], name)?),
            "proxy_ssl_server_name" => self.server_name = Some(values::on_off(&a[0], name)?),
            "proxy_ssl_session_reuse" => self.session_reuse = Some(values::on_off(&a[0], name)?),
            "proxy_ssl_verify_depth" => {
                values::number(&a[0], name)?;
            }
            "proxy_ssl_ciphers" => {}
            "proxy_ssl_protocols" => self.protocols = Some(protocols(a, name)?),
            "proxy_ssl_name" => self.name = Some(Template::compile(&a[0].0, &a[0].1)?),
            "proxy_ssl_trusted_certificate" => {
                let certs = load_chain(&file(0)).map_err(|e| {
                    ConfigError::at(&a[0].1, format!("cannot load \"{}\": {e}", a[0].0))
                })?;
                self.trusted = Some(Arc::new(certs));
            }
            "proxy_ssl_certificate" => {
                let certs = load_chain(&file(0)).map_err(|e| {
                    ConfigError::at(&a[0].1, format!("cannot load \"{}\": {e}", a[0].0))
                })?;
                self.certificate = Some((Arc::new(certs), d.pos.clone()));
            }
            "proxy_ssl_certificate_key" => {
                let key = PrivateKeyDer::from_pem_file(file(0)).map_err(|e| {
                    ConfigError::at(&a[0].1, format!("cannot load \"{}\": {e:?}", a[0].0))
                })?;
                self.key = Some(Arc::new(key));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The TLS client of a location that passes to `https://`.
    pub fn finish(&self, pass_pos: &Pos) -> Result<Client, ConfigError> {
        let provider = Arc::new(provider::default_provider());
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = self
            .protocols
            .as_deref()
            .unwrap_or(&[Protocol::Tls12, Protocol::Tls13])
            .iter()
            .map(|p| match p {
                Protocol::Tls12 => &rustls::version::TLS12,
                Protocol::Tls13 => &rustls::version::TLS13,
            })
            .collect();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions)
            .map_err(|e| ConfigError::at(pass_pos, format!("TLS to the upstream: {e}")))?;
        let builder = if self.verify.unwrap_or(false) {
            let mut roots = rustls::RootCertStore::empty();
            for c in self.trusted.iter().flat_map(|t| t.iter()) {
                let _ = roots.add(c.clone());
            }
            if roots.is_empty() {
                let msg = "no \"proxy_ssl_trusted_certificate\" for \"proxy_ssl_verify\"";
                return Err(ConfigError::at(pass_pos, msg));
            }
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(Arc::clone(&provider))))
        };
        let mut config = match (&self.certificate, &self.key) {
            (Some((chain, pos)), Some(key)) => builder
                .with_client_auth_cert(chain.to_vec(), key.clone_key())
                .map_err(|e| ConfigError::at(pos, format!("proxy_ssl_certificate: {e}")))?,
            (Some((_, pos)), None) => {
                let msg = "no \"proxy_ssl_certificate_key\" for \"proxy_ssl_certificate\"";
                return Err(ConfigError::at(pos, msg));
            }
            _ => builder.with_no_client_auth(),
        };
        config.enable_sni = self.server_name.unwrap_or(false);
        if !self.session_reuse.unwrap_or(true) {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Ok(Client {
            config: Arc::new(config),
            name: self.name.clone(),
        })
    }

    /// The template this level holds, for linking its variables.
    pub fn templates(c: &mut Client) -> impl Iterator<Item = &mut Template> {
        c.name.iter_mut()
    }
}

/// `proxy_ssl_verify off` (nginx's default): any certificate is taken.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    // Any certificate passes, so a signature made with its key proves nothing more:
    // the handshake's signatures are not checked either (which also takes the
    // X.509 v1 certificates the certificate parser refuses, as OpenSSL does).
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_port() {
        let cases = [
            ("backend.test:8443", Some("backend.test")),
            ("backend.test", Some("backend.test")),
            ("127.0.0.1:443", Some("127.0.0.1")),
            ("[::1]:443", Some("::1")),
            ("::1", Some("::1")),
        ];
        for (name, want) in cases {
            let got = Client::server_name(name).map(|n| n.to_str().into_owned());
            assert_eq!(got.as_deref(), want, "{name}");
        }
    }
}
