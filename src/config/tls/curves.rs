//! `ssl_ecdh_curve auto | NAME[:NAME...]`: the key-exchange groups offered, in
//! preference order, under OpenSSL's names. rustls has X25519, P-256 and P-384;
//! names of real curves it lacks (P-521, X448, the brainpool curves) are skipped
//! with a warning, as a client that only has those could not have been served
//! better; a word that is no curve name is an error, and so is a list with none
//! rustls has.

use rustls::crypto::SupportedKxGroup;
use rustls::crypto::ring::kx_group;

use super::ConfigError;
use crate::config::values::Arg;

/// OpenSSL's names (and aliases) for the groups rustls implements.
const GROUPS: &[(&str, &dyn SupportedKxGroup)] = &[
    ("x25519", kx_group::X25519),
    ("prime256v1", kx_group::SECP256R1),
    ("secp256r1", kx_group::SECP256R1),
    ("p-256", kx_group::SECP256R1),
    ("secp384r1", kx_group::SECP384R1),
    ("p-384", kx_group::SECP384R1),
];

/// Curves OpenSSL knows that rustls does not implement.
const UNAVAILABLE: &[&str] = &[
    "secp521r1",
    "p-521",
    "x448",
    "brainpoolp256r1",
    "brainpoolp384r1",
    "brainpoolp512r1",
    "secp224r1",
    "p-224",
    "secp256k1",
    "ffdhe2048",
    "ffdhe3072",
    "ffdhe4096",
];

/// The groups `arg` names, or `None` for `auto` (rustls's defaults).
pub fn parse(arg: &Arg) -> Result<Option<Vec<&'static dyn SupportedKxGroup>>, ConfigError> {
    let (text, pos) = arg;
    if text == "auto" {
        return Ok(None);
    }
    let mut out: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    for name in text.split(':').filter(|n| !n.is_empty()) {
        let lower = name.to_ascii_lowercase();
        match GROUPS.iter().find(|(n, _)| *n == lower) {
            Some((_, g)) if !out.iter().any(|o| o.name() == g.name()) => out.push(*g),
            Some(_) => {}
            None if UNAVAILABLE.contains(&lower.as_str()) => {
                let msg =
                    format!("curve \"{name}\" in \"ssl_ecdh_curve\" is not available, skipped");
                super::warn(pos, &msg);
            }
            None => {
                let msg = format!("unknown curve \"{name}\" in \"ssl_ecdh_curve\"");
                return Err(ConfigError::at(pos, msg));
            }
        }
    }
    if out.is_empty() {
        let msg = format!(
            "\"ssl_ecdh_curve {text}\" leaves no curve webserv has (X25519, prime256v1, secp384r1)"
        );
        return Err(ConfigError::at(pos, msg));
    }
    Ok(Some(out))
}

/// `-T`: OpenSSL's names, colon-separated.
pub fn names(groups: &[&'static dyn SupportedKxGroup]) -> String {
    let name = |g: &&dyn SupportedKxGroup| match g.name() {
        rustls::NamedGroup::X25519 => "X25519",
        rustls::NamedGroup::secp256r1 => "prime256v1",
        _ => "secp384r1",
    };
    groups.iter().map(name).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;

    fn parse_str(s: &str) -> Result<Option<String>, String> {
        let pos = Pos {
            file: "t.conf".into(),
            line: 1,
            col: 16,
        };
        parse(&(s.to_string(), pos))
            .map(|g| g.map(|g| names(&g)))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn openssl_names() {
        let cases: &[(&str, Result<Option<&str>, &str>)] = &[
            ("auto", Ok(None)),
            ("X25519", Ok(Some("X25519"))),
            ("prime256v1:secp384r1", Ok(Some("prime256v1:secp384r1"))),
            (
                "secp384r1:X25519:P-256",
                Ok(Some("secp384r1:X25519:prime256v1")),
            ),
            ("secp521r1:prime256v1", Ok(Some("prime256v1"))),
            ("prime256v1:prime256v1", Ok(Some("prime256v1"))),
            ("secp521r1", Err("leaves no curve")),
            ("nope", Err("t.conf:1:16: unknown curve \"nope\"")),
        ];
        for (input, want) in cases {
            match (parse_str(input), want) {
                (Ok(got), Ok(w)) => assert_eq!(got.as_deref(), *w, "{input}"),
                (Err(got), Err(w)) => assert!(got.contains(w), "{input}: {got}"),
                (got, _) => panic!("{input}: {got:?}"),
            }
        }
    }
}
