//! The client certificate's `$ssl_client_*` values, formatted as nginx formats
//! them with OpenSSL: distinguished names in RFC 2253 form (`X509_NAME_print_ex`
//! with `XN_FLAG_RFC2253`, nginx ≥ 1.11.6), the serial as `i2a_ASN1_INTEGER`
//! (upper-case hex), the SHA-1 fingerprint in lower-case hex, dates as
//! `ASN1_TIME_print` (`Dec  7 15:07:52 2026 GMT`) and the certificate as PEM.
//! Everything is worked out once, when the handshake is done.

use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// A client certificate, as the variables show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCert {
    /// `$ssl_client_verify`: `SUCCESS` or `FAILED:reason`.
    pub verify: String,
    pub subject: String,
    pub issuer: String,
    /// The same in OpenSSL's one-line form (`X509_NAME_oneline`).
    pub subject_legacy: String,
    pub issuer_legacy: String,
    pub serial: String,
    pub fingerprint: String,
    pub v_start: String,
    pub v_end: String,
    /// notAfter as Unix seconds (for `$ssl_client_v_remain`).
    pub not_after: i64,
    /// PEM, with its final newline (`$ssl_client_raw_cert`).
    pub pem: String,
}

impl ClientCert {
    /// The facts of the certificate `der`, with the verification result given;
    /// `None` when it does not parse.
    pub fn new(der: &[u8], verify: String) -> Option<ClientCert> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let validity = cert.validity();
        Some(ClientCert {
            verify,
            subject: rfc2253(cert.subject()),
            issuer: rfc2253(cert.issuer()),
            subject_legacy: oneline(cert.subject()),
            issuer_legacy: oneline(cert.issuer()),
            serial: serial(cert.raw_serial()),
            fingerprint: hex_lower(
                ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref(),
            ),
            v_start: asn1_time(validity.not_before.timestamp()),
            v_end: asn1_time(validity.not_after.timestamp()),
            not_after: validity.not_after.timestamp(),
            pem: pem(der),
        })
    }

    /// `$ssl_client_v_remain`: whole days left, `0` under one day.
    pub fn remain(&self, now: i64) -> String {
        match self.not_after < now + 86400 {
            true => "0".into(),
            false => ((self.not_after - now) / 86400).to_string(),
        }
    }

    /// `$ssl_client_cert`: the PEM without its last newline, every line after the
    /// first starting with a tab (the old header-folding form).
    pub fn folded(&self) -> String {
        let pem = self.pem.strip_suffix('\n').unwrap_or(&self.pem);
        pem.replace('\n', "\n\t")
    }

    /// `$ssl_client_escaped_cert`: the PEM, URI-component escaped.
    pub fn escaped(&self) -> String {
        let mut out = String::with_capacity(self.pem.len() * 2);
        for &b in self.pem.as_bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
}

/// OpenSSL's short names of the attribute types it knows in names.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.4", "SN"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "street"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.12", "title"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.42", "GN"),
    ("2.5.4.43", "initials"),
    ("2.5.4.46", "dnQualifier"),
    ("2.5.4.65", "pseudonym"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("0.9.2342.19200300.100.1.25", "DC"),
];

/// A name in RFC 2253 form: the last RDN first, RDNs joined by `,`, the values
/// of one RDN by `+`.
pub fn rfc2253(name: &X509Name) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| rdn.iter().map(attribute).collect::<Vec<_>>().join("+"))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// A name as `X509_NAME_oneline` writes it: every attribute, first RDN first,
/// as `/TYPE=value`, bytes outside printable ASCII as `\xHH`.
pub fn oneline(name: &X509Name) -> String {
    let mut out = String::new();
    for attr in name.iter_rdn().flat_map(|rdn| rdn.iter()) {
        let oid = attr.attr_type().to_id_string();
        out.push('/');
        match SHORT_NAMES.iter().find(|(o, _)| *o == oid) {
            Some((_, short)) => out.push_str(short),
            None => out.push_str(&oid),
        }
        out.push('=');
        let value = string_value(attr).unwrap_or_default();
        for &b in value.as_bytes() {
            if (0x20..0x7f).contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("\\x{b:02X}"));
            }
        }
    }
    out
}

/// `TYPE=value`: a known type by its short name with its string value escaped;
/// an unknown type by its OID with its DER in hex (`#...`).
fn attribute(attr: &AttributeTypeAndValue) -> String {
    let oid = attr.attr_type().to_id_string();
    let Some((_, short)) = SHORT_NAMES.iter().find(|(o, _)| *o == oid) else {
        return format!("{oid}=#{}", hex_upper(&any_der(attr)));
    };
    match string_value(attr) {
        Some(s) => format!("{short}={}", escape(&s)),
        None => format!("{short}=#{}", hex_upper(&any_der(attr))),
    }
}

/// The attribute's value re-encoded as DER (tag, length, content).
fn any_der(attr: &AttributeTypeAndValue) -> Vec<u8> {
    let v = attr.attr_value();
    let data = v.data;
    let mut out = vec![v.tag().0 as u8];
    match data.len() {
        n @ 0..=0x7f => out.push(n as u8),
        n @ 0x80..=0xff => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(data);
    out
}

/// The value of a string-typed attribute, as Unicode.
fn string_value(attr: &AttributeTypeAndValue) -> Option<String> {
    let v = attr.attr_value();
    let data = v.data;
    match v.tag().0 {
        // UTF8String, NumericString, PrintableString, IA5String, VisibleString
        12 | 18 | 19 | 22 | 26 => std::str::from_utf8(data).ok().map(Into::into),
        // T61String: read as Latin-1, as OpenSSL does.
        20 => Some(data.iter().map(|&b| b as char).collect()),
        // BMPString: UTF-16 big-endian.
        30 => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UCS-4 big-endian.
        28 => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

/// RFC 2253 escaping as OpenSSL's: `,+"\<>;` get a backslash, as do a leading
/// `#` or space and a trailing space; control bytes and every byte of a
/// non-ASCII character become `\XX`.
pub fn escape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        let first = i == 0;
        let last = i + 1 == bytes.len();
        match b {
            b',' | b'+' | b'"' | b'\\' | b'<' | b'>' | b';' => {
                out.push('\\');
                out.push(b as char);
            }
            b'#' if first => out.push_str("\\#"),
            b' ' if first || last => out.push_str("\\ "),
            0..=0x1f | 0x7f..=0xff => out.push_str(&format!("\\{b:02X}")),
            _ => out.push(b as char),
        }
    }
    out
}

/// `i2a_ASN1_INTEGER`: the magnitude's bytes in upper-case hex (at least `00`),
/// `-` before a negative one.
pub fn serial(raw: &[u8]) -> String {
    let negative = raw.first().is_some_and(|b| b & 0x80 != 0);
    if negative {
        // Two's complement: negate to get the magnitude.
        let mut mag: Vec<u8> = raw.iter().map(|b| !b).collect();
        for b in mag.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        return format!("-{}", magnitude(&mag));
    }
    magnitude(raw)
}

/// Unsigned bytes in upper-case hex without leading zero bytes (at least `00`).
fn magnitude(raw: &[u8]) -> String {
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    match &raw[start..] {
        [] => "00".into(),
        mag => hex_upper(mag),
    }
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02X}")).collect()
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ASN1_TIME_print`: `Mon DD HH:MM:SS YYYY GMT`, the day padded with a space.
pub fn asn1_time(secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil(days);
    let month = MONTHS[(m - 1) as usize % 12];
    format!(
        "{month} {d:2} {:02}:{:02}:{:02} {y} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month 1-12, day 1-31), proleptic Gregorian.
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `PEM_write_bio_X509`: base64 in lines of 64 between the markers.
pub fn pem(der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or(""));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
#[path = "ssl_cert_tests.rs"]
mod tests;
