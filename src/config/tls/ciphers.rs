//! `ssl_ciphers`: an OpenSSL cipher list mapped onto the suites rustls has.
//!
//! As with OpenSSL, the list chooses TLS 1.2 suites (TLS 1.3 suites are always
//! on). Suite names rustls has are taken in the order written; keywords (`HIGH`,
//! `ECDHE`, `AESGCM`, ...) add every suite they describe; `!X`, `-X` remove. Names
//! of real OpenSSL suites that rustls does not implement (CBC, DHE, RSA key
//! exchange, ...) are skipped, since rustls offers nothing weaker in their place;
//! a word that is no cipher name at all is skipped with a warning (OpenSSL skips
//! it silently); a list that leaves no suite is an error.

use rustls::SupportedCipherSuite;
use rustls::crypto::ring::cipher_suite as cs;

use super::super::values::Arg;
use super::ConfigError;

/// OpenSSL's names for the TLS 1.2 suites rustls implements, best first.
const SUITES: &[(&str, SupportedCipherSuite)] = &[
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Keywords and what they select among `SUITES` (by a part of the name).
const KEYWORDS: &[(&str, &str)] = &[
    ("ALL", ""),
    ("DEFAULT", ""),
    ("HIGH", ""),
    ("SECURE", ""),
    ("ECDHE", ""),
    ("EECDH", ""),
    ("kEECDH", ""),
    ("kECDHE", ""),
    ("AEAD", ""),
    ("AESGCM", "GCM"),
    ("AES", "AES"),
    ("AES128", "AES128"),
    ("AES256", "AES256"),
    ("CHACHA20", "CHACHA20"),
    ("ECDSA", "ECDSA"),
    ("aECDSA", "ECDSA"),
    ("RSA", "-RSA-"),
    ("aRSA", "-RSA-"),
    ("SHA256", "SHA256"),
    ("SHA384", "SHA384"),
];

/// Parts of OpenSSL cipher names and keywords that describe suites rustls does not
/// have: a word made only of these (and of the parts above) is a real name.
const OTHER_PARTS: &[&str] = &[
    "DHE",
    "EDH",
    "kDHE",
    "kEDH",
    "DH",
    "ADH",
    "AECDH",
    "aNULL",
    "eNULL",
    "NULL",
    "MD5",
    "RC4",
    "DES",
    "3DES",
    "CBC3",
    "EXP",
    "EXPORT",
    "LOW",
    "MEDIUM",
    "PSK",
    "SRP",
    "DSS",
    "aDSS",
    "kRSA",
    "CAMELLIA",
    "CAMELLIA128",
    "CAMELLIA256",
    "SEED",
    "IDEA",
    "SHA",
    "SHA1",
    "CCM",
    "CCM8",
    "ARIA",
    "ARIA128",
    "ARIA256",
    "GCM",
    "POLY1305",
    "COMPLEMENTOFDEFAULT",
    "COMPLEMENTOFALL",
    "@STRENGTH",
    "@SECLEVEL=0",
    "@SECLEVEL=1",
    "@SECLEVEL=2",
    "@SECLEVEL=3",
    "TLSv1.2",
    "SSLv3",
    "TLSv1",
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// The TLS 1.2 suites an `ssl_ciphers` list selects, in preference order.
pub fn parse(arg: &Arg) -> Result<Vec<SupportedCipherSuite>, ConfigError> {
    let mut chosen: Vec<&str> = Vec::new();
    let mut removed: Vec<&str> = Vec::new();
    for word in arg.0.split([':', ',', ' ']).filter(|w| !w.is_empty()) {
        let (remove, name) = match word.as_bytes()[0] {
            b'!' | b'-' => (true, &word[1..]),
            b'+' => (false, &word[1..]),
            _ => (false, word),
        };
        let Some(selected) = select(name) else {
            // OpenSSL skips a word it does not know (nginx says nothing); only a
            // list that selects nothing fails.
            let msg = format!("unknown cipher \"{word}\" in \"ssl_ciphers\" ignored");
            super::warn(&arg.1, &msg);
            continue;
        };
        for s in selected {
            if remove {
                chosen.retain(|c| *c != s);
                removed.push(s);
            } else if !chosen.contains(&s) && !removed.contains(&s) {
                chosen.push(s);
            }
        }
    }
    let suites: Vec<SupportedCipherSuite> = chosen
        .iter()
        .filter_map(|n| SUITES.iter().find(|(name, _)| name == n).map(|(_, s)| *s))
        .collect();
    if suites.is_empty() {
        let known: Vec<&str> = SUITES.iter().map(|(n, _)| *n).collect();
        let msg = format!(
            "\"ssl_ciphers\" selects no supported cipher (supported: {})",
            known.join(":")
        );
        return Err(ConfigError::at(&arg.1, msg));
    }
    Ok(suites)
}

/// OpenSSL's name for a suite of `SUITES`.
pub fn name(suite: SupportedCipherSuite) -> Option<&'static str> {
    SUITES
        .iter()
        .find(|(_, s)| s.suite() == suite.suite())
        .map(|(n, _)| *n)
}

/// The suite names a word selects (possibly none), or `None` if it is no cipher
/// name or keyword.
fn select(word: &str) -> Option<Vec<&'static str>> {
    if let Some((name, _)) = SUITES.iter().find(|(n, _)| *n == word) {
        return Some(vec![name]);
    }
    if let Some((_, part)) = KEYWORDS.iter().find(|(k, _)| *k == word) {
        let names = SUITES.iter().map(|(n, _)| *n).filter(|n| n.contains(part));
        return Some(names.collect());
    }
    let known_part =
        |p: &str| OTHER_PARTS.contains(&p) || KEYWORDS.iter().any(|(k, _)| *k == p) || p == "ECDH";
    (word.split('-').all(known_part) || OTHER_PARTS.contains(&word)).then(Vec::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;
    use std::sync::Arc;

    fn arg(s: &str) -> Arg {
        let pos = Pos {
            file: Arc::from("t.conf"),
            line: 1,
            col: 13,
        };
        (s.to_string(), pos)
    }

    fn names(list: &str) -> Result<Vec<String>, String> {
        parse(&arg(list))
            .map(|v| v.iter().map(|s| format!("{:?}", s.suite())).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn lists_map_to_rustls_suites() {
        let all = names("HIGH").unwrap();
        assert_eq!(all.len(), 6);
        assert_eq!(names("HIGH:!aNULL:!MD5").unwrap(), all);
        assert_eq!(
            names("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256").unwrap(),
            [
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        // Mozilla's intermediate list: the DHE suites are skipped.
        let mozilla = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
                       ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
                       ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
                       DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
        assert_eq!(names(mozilla).unwrap().len(), 6);
        assert_eq!(
            names("AESGCM:!AES256").unwrap(),
            [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert!(
            names("CHACHA20+ECDSA")
                .unwrap_err()
                .contains("selects no supported cipher")
        );
    }

    #[test]
    fn skips_unknown_words_and_rejects_empty_selections() {
        // As OpenSSL: an unknown word is skipped while others select suites.
        assert_eq!(
            names("ECCdraft:ECDHE-RSA-AES128-GCM-SHA256").unwrap(),
            ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]
        );
        assert_eq!(names("HIGH:FAST").unwrap().len(), 6);
        assert!(
            names("FAST")
                .unwrap_err()
                .contains("selects no supported cipher")
        );
        let err = names("AES128-SHA:DHE-RSA-AES128-GCM-SHA256").unwrap_err();
        assert!(err.starts_with("t.conf:1:13: \"ssl_ciphers\" selects no supported cipher"));
        assert!(names("HIGH:!ECDHE").is_err());
    }
}
