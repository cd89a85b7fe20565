//! A certificate's `notAfter`, read from its DER, for the "expired certificate"
//! warning, and its public key, to match the key of a certificate rustls cannot
//! parse itself (X.509 v1, without extensions, as `openssl req -x509` makes it
//! without a config file; rustls serves it, but its key check refuses it).
//!
//! Times are compared as `YYYYMMDDHHMMSS` strings, which sort as the times do.

use std::time::{SystemTime, UNIX_EPOCH};

/// One DER element: `(tag, contents, rest)`.
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version` at the start of a TBSCertificate.
const VERSION_TAG: u8 = 0xa0;

/// The TBSCertificate's fields from `serialNumber` on (a v1 certificate has no
/// version field).
fn after_version(der: &[u8]) -> Option<&[u8]> {
    let (SEQUENCE, cert, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let (tag, _, after) = element(tbs)?;
    Some(if tag == VERSION_TAG { after } else { tbs })
}

/// The certificate's `subjectPublicKeyInfo`, whole (tag and length included).
pub fn public_key(der: &[u8]) -> Option<&[u8]> {
    let mut rest = after_version(der)?;
    // serialNumber, signature, issuer, validity, subject.
    for _ in 0..5 {
        rest = element(rest)?.2;
    }
    let (SEQUENCE, _, after) = element(rest)? else {
        return None;
    };
    Some(&rest[..rest.len() - after.len()])
}

/// The certificate's `notAfter` as `YYYYMMDDHHMMSS` (UTC), if it can be read.
pub fn not_after(der: &[u8]) -> Option<String> {
    let mut rest = after_version(der)?;
    // serialNumber, signature, issuer, then validity.
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (SEQUENCE, validity, _) = element(rest)? else {
        return None;
    };
    let (_, _, after_not_before) = element(validity)?;
    let (tag, time, _) = element(after_not_before)?;
    let time = std::str::from_utf8(time).ok()?.strip_suffix('Z')?;
    match (tag, time.len()) {
        (UTC_TIME, 12) => {
            // RFC 5280 4.1.2.5.1: YY >= 50 is 19YY, else 20YY.
            let century = if time < "50" { "20" } else { "19" };
            Some(format!("{century}{time}"))
        }
        (GENERALIZED_TIME, 14) => Some(time.to_string()),
        _ => None,
    }
    .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
}

/// Now, as `YYYYMMDDHHMMSS` (UTC).
pub fn now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let c = crate::http::date::civil(secs);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

/// `YYYYMMDDHHMMSS` → `YYYY-MM-DD HH:MM:SS UTC`.
pub fn show(t: &str) -> String {
    match (
        t.get(0..4),
        t.get(4..6),
        t.get(6..8),
        t.get(8..10),
        t.get(10..12),
        t.get(12..14),
    ) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) => {
            format!("{y}-{mo}-{d} {h}:{mi}:{s} UTC")
        }
        _ => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_not_after_of_generated_certificates() {
        // UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280).
        let cases = [
            ((2049, 12, 31), "20491231000000"),
            ((2051, 1, 2), "20510102000000"),
            ((1999, 1, 1), "19990101000000"),
        ];
        for ((y, m, d), want) in cases {
            let mut params = rcgen::CertificateParams::new(vec!["x.test".into()]).unwrap();
            params.not_before = rcgen::date_time_ymd(1990, 1, 1);
            params.not_after = rcgen::date_time_ymd(y, m, d);
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            assert_eq!(not_after(cert.der()).as_deref(), Some(want), "{y}");
        }
    }

    #[test]
    fn garbage_is_none() {
        for der in [
            &b""[..],
            b"\x30",
            b"\x30\x85\x00\x00\x00\x00\x01",
            b"\x02\x01\x00",
        ] {
            assert_eq!(not_after(der), None);
        }
    }

    #[test]
    fn now_and_show() {
        assert_eq!(now().len(), 14);
        assert_eq!(show("20260102030405"), "2026-01-02 03:04:05 UTC");
    }
}
