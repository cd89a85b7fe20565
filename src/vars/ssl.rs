//! nginx's `$ssl_*` variables: what a TLS connection settled in its handshake
//! ([`SslInfo`], learnt once per connection, see `transport::Transport::ssl_info`)
//! and which of it each variable shows ([`SslVar`]). On a plain connection they
//! have no value (empty, as nginx's "not found").

pub use super::ssl_cert::ClientCert;

/// One `$ssl_*` variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslVar {
    /// `$ssl_protocol`: `TLSv1.2` or `TLSv1.3`.
    Protocol,
    /// `$ssl_cipher`: OpenSSL's name of the suite.
    Cipher,
    /// `$ssl_server_name`: the SNI name.
    ServerName,
    /// `$ssl_session_reused`: `r` for a resumed session, else `.`.
    SessionReused,
    /// `$ssl_curve`: OpenSSL's name of the key-exchange group.
    Curve,
    /// `$ssl_alpn_protocol`.
    AlpnProtocol,
    /// `$ssl_ciphers`: the suites the client offered, `:`-separated.
    Ciphers,
    /// `$ssl_curves`: the groups the client offered, `:`-separated.
    Curves,
    /// `$ssl_session_id`: rustls does not tell a server its session id, so empty.
    SessionId,
    /// `$ssl_client_verify`: `SUCCESS`, `FAILED:reason` or `NONE`.
    ClientVerify,
    /// `$ssl_client_*` of the client's certificate (empty without one).
    ClientSubject,
    /// `$ssl_client_s_dn_legacy`, `$ssl_client_i_dn_legacy`: OpenSSL's
    /// one-line form (`/C=../CN=..`), nginx's before 1.11.6.
    ClientSubjectLegacy,
    ClientIssuerLegacy,
    ClientIssuer,
    ClientSerial,
    ClientFingerprint,
    ClientStart,
    ClientEnd,
    ClientRemain,
    ClientCert,
    ClientRawCert,
    ClientEscapedCert,
}

/// The names, without `$`.
pub const NAMES: &[(&str, SslVar)] = &[
    ("ssl_protocol", SslVar::Protocol),
    ("ssl_cipher", SslVar::Cipher),
    ("ssl_server_name", SslVar::ServerName),
    ("ssl_session_reused", SslVar::SessionReused),
    ("ssl_curve", SslVar::Curve),
    ("ssl_alpn_protocol", SslVar::AlpnProtocol),
    ("ssl_ciphers", SslVar::Ciphers),
    ("ssl_curves", SslVar::Curves),
    ("ssl_session_id", SslVar::SessionId),
    ("ssl_client_verify", SslVar::ClientVerify),
    ("ssl_client_s_dn", SslVar::ClientSubject),
    ("ssl_client_s_dn_legacy", SslVar::ClientSubjectLegacy),
    ("ssl_client_i_dn_legacy", SslVar::ClientIssuerLegacy),
    ("ssl_client_i_dn", SslVar::ClientIssuer),
    ("ssl_client_serial", SslVar::ClientSerial),
    ("ssl_client_fingerprint", SslVar::ClientFingerprint),
    ("ssl_client_v_start", SslVar::ClientStart),
    ("ssl_client_v_end", SslVar::ClientEnd),
    ("ssl_client_v_remain", SslVar::ClientRemain),
    ("ssl_client_cert", SslVar::ClientCert),
    ("ssl_client_raw_cert", SslVar::ClientRawCert),
    ("ssl_client_escaped_cert", SslVar::ClientEscapedCert),
];

/// What one TLS handshake settled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SslInfo {
    pub protocol: Option<&'static str>,
    pub cipher: Option<&'static str>,
    pub server_name: Option<Box<str>>,
    pub reused: bool,
    pub curve: Option<&'static str>,
    pub alpn: Option<Box<str>>,
    /// What the ClientHello offered (`$ssl_ciphers`, `$ssl_curves`).
    pub offered_ciphers: Option<Box<str>>,
    pub offered_curves: Option<Box<str>>,
    /// The client's certificate, if it sent one to a server that asked.
    pub client: Option<ClientCert>,
}

impl SslInfo {
    /// Appends `var`'s value to `out`; `false` when it has none.
    pub fn value(&self, var: SslVar, out: &mut String) -> bool {
        if let Some(shown) = self.client_value(var) {
            out.push_str(&shown);
            return true;
        }
        let v: Option<&str> = match var {
            SslVar::Protocol => self.protocol,
            SslVar::Cipher => self.cipher,
            SslVar::ServerName => self.server_name.as_deref(),
            SslVar::SessionReused => Some(if self.reused { "r" } else { "." }),
            SslVar::Curve => self.curve,
            SslVar::AlpnProtocol => self.alpn.as_deref(),
            SslVar::Ciphers => self.offered_ciphers.as_deref(),
            SslVar::Curves => self.offered_curves.as_deref(),
            SslVar::SessionId => Some(""),
            _ => None,
        };
        match v {
            Some(v) => {
                out.push_str(v);
                true
            }
            None => false,
        }
    }
}

impl SslInfo {
    /// The `$ssl_client_*` variables (empty without a certificate, as nginx's);
    /// `None` for the others.
    fn client_value(&self, var: SslVar) -> Option<String> {
        let c = self.client.as_ref();
        let field = |f: fn(&ClientCert) -> &String| c.map(f).cloned().unwrap_or_default();
        Some(match var {
            SslVar::ClientVerify => c.map_or_else(|| "NONE".into(), |c| c.verify.clone()),
            SslVar::ClientSubject => field(|c| &c.subject),
            SslVar::ClientIssuer => field(|c| &c.issuer),
            SslVar::ClientSubjectLegacy => field(|c| &c.subject_legacy),
            SslVar::ClientIssuerLegacy => field(|c| &c.issuer_legacy),
            SslVar::ClientSerial => field(|c| &c.serial),
            SslVar::ClientFingerprint => field(|c| &c.fingerprint),
            SslVar::ClientStart => field(|c| &c.v_start),
            SslVar::ClientEnd => field(|c| &c.v_end),
            SslVar::ClientRawCert => field(|c| &c.pem),
            SslVar::ClientRemain => c.map(|c| c.remain(unix_now())).unwrap_or_default(),
            SslVar::ClientCert => c.map(ClientCert::folded).unwrap_or_default(),
            SslVar::ClientEscapedCert => c.map(ClientCert::escaped).unwrap_or_default(),
            _ => return None,
        })
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `$ssl_ciphers`: OpenSSL's names of the offered suites, an unknown one as
/// `0xXXXX`.
pub fn cipher_list(suites: &[rustls::CipherSuite]) -> String {
    let names: Vec<String> = suites
        .iter()
        .filter(|s| !is_grease(u16::from(**s)))
        .map(|s| match cipher_name(*s) {
            Some(n) => n.to_string(),
            None => format!("0x{:04x}", u16::from(*s)),
        })
        .collect();
    names.join(":")
}

/// `$ssl_curves`: OpenSSL's names of the offered groups, an unknown one as
/// `0xXXXX`.
pub fn curve_list(groups: &[rustls::NamedGroup]) -> String {
    let names: Vec<String> = groups
        .iter()
        .filter(|g| !is_grease(u16::from(**g)))
        .map(|g| match group_name(*g) {
            Some(n) => n.to_string(),
            None => format!("0x{:04x}", u16::from(*g)),
        })
        .collect();
    names.join(":")
}

/// The values RFC 8701 reserves for clients to exercise extensibility.
fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// OpenSSL's name of a cipher suite (`SSL_CIPHER_get_name`).
pub fn cipher_name(suite: rustls::CipherSuite) -> Option<&'static str> {
    use rustls::CipherSuite as C;
    Some(match suite {
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => return None,
    })
}

/// OpenSSL's short name of a key-exchange group (what nginx's `$ssl_curve` shows).
pub fn group_name(group: rustls::NamedGroup) -> Option<&'static str> {
    use rustls::NamedGroup as G;
    Some(match group {
        G::X25519 => "X25519",
        G::secp256r1 => "prime256v1",
        G::secp384r1 => "secp384r1",
        G::secp521r1 => "secp521r1",
        G::X448 => "X448",
        G::FFDHE2048 => "ffdhe2048",
        G::FFDHE3072 => "ffdhe3072",
        G::FFDHE4096 => "ffdhe4096",
        _ => return None,
    })
}

/// `TLSv1.2` / `TLSv1.3`, as OpenSSL's `SSL_get_version`.
pub fn protocol_name(v: rustls::ProtocolVersion) -> Option<&'static str> {
    use rustls::ProtocolVersion as P;
    Some(match v {
        P::TLSv1_2 => "TLSv1.2",
        P::TLSv1_3 => "TLSv1.3",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_variable() {
        let info = SslInfo {
            protocol: Some("TLSv1.3"),
            cipher: Some("TLS_AES_128_GCM_SHA256"),
            server_name: Some("example.com".into()),
            reused: false,
            curve: Some("X25519"),
            alpn: None,
            ..SslInfo::default()
        };
        let cases = [
            (SslVar::Protocol, Some("TLSv1.3")),
            (SslVar::Cipher, Some("TLS_AES_128_GCM_SHA256")),
            (SslVar::ServerName, Some("example.com")),
            (SslVar::SessionReused, Some(".")),
            (SslVar::Curve, Some("X25519")),
            (SslVar::AlpnProtocol, None),
        ];
        for (var, want) in cases {
            let mut out = String::new();
            assert_eq!(info.value(var, &mut out), want.is_some(), "{var:?}");
            assert_eq!(out, want.unwrap_or(""), "{var:?}");
        }
        let resumed = SslInfo {
            reused: true,
            ..SslInfo::default()
        };
        let mut out = String::new();
        assert!(resumed.value(SslVar::SessionReused, &mut out));
        assert_eq!(out, "r");
    }

    #[test]
    fn openssl_names() {
        use rustls::{CipherSuite as C, NamedGroup as G, ProtocolVersion as P};
        assert_eq!(
            cipher_name(C::TLS13_AES_256_GCM_SHA384),
            Some("TLS_AES_256_GCM_SHA384")
        );
        assert_eq!(
            cipher_name(C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            Some("ECDHE-RSA-AES128-GCM-SHA256")
        );
        assert_eq!(cipher_name(C::TLS_RSA_WITH_AES_128_CBC_SHA), None);
        assert_eq!(group_name(G::secp256r1), Some("prime256v1"));
        assert_eq!(group_name(G::FFDHE2048), Some("ffdhe2048"));
        assert_eq!(group_name(G::Unknown(0x1234)), None);
        assert_eq!(protocol_name(P::TLSv1_2), Some("TLSv1.2"));
        assert_eq!(protocol_name(P::TLSv1_1), None);
    }
}
