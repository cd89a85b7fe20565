//! Tables of cases for the `$ssl_client_*` formatting, checked against what
//! OpenSSL prints for nginx.

use super::*;

#[test]
fn rfc2253_escaping() {
    let cases = [
        ("plain", "plain"),
        ("Acme, Inc.", "Acme\\, Inc."),
        ("a+b", "a\\+b"),
        ("q\"uote", "q\\\"uote"),
        ("back\\slash", "back\\\\slash"),
        ("<>;", "\\<\\>\\;"),
        ("#first", "\\#first"),
        ("mid#dle", "mid#dle"),
        (" lead", "\\ lead"),
        ("trail ", "trail\\ "),
        ("in side", "in side"),
        ("tab\tx", "tab\\09x"),
        ("é", "\\C3\\A9"),
        ("=", "="),
        ("", ""),
    ];
    for (raw, want) in cases {
        assert_eq!(escape(raw), want, "{raw:?}");
    }
}

#[test]
fn serials_as_i2a_asn1_integer() {
    let cases: &[(&[u8], &str)] = &[
        (&[0x01, 0x02, 0xab], "0102AB"),
        (&[0x00, 0xff], "FF"),
        (&[0x00], "00"),
        (&[], "00"),
        (&[0x7f, 0x00], "7F00"),
        (&[0xff], "-01"),
        (&[0x80], "-80"),
    ];
    for (raw, want) in cases {
        assert_eq!(serial(raw), *want, "{raw:?}");
    }
}

#[test]
fn times_as_asn1_time_print() {
    let cases = [
        (0, "Jan  1 00:00:00 1970 GMT"),
        (1_796_656_072, "Dec  7 15:07:52 2026 GMT"),
        (951_782_400, "Feb 29 00:00:00 2000 GMT"),
        (2_147_483_647, "Jan 19 03:14:07 2038 GMT"),
    ];
    for (secs, want) in cases {
        assert_eq!(asn1_time(secs), want, "{secs}");
    }
}

#[test]
fn pem_lines_of_64() {
    assert_eq!(
        pem(b"\x01"),
        "-----BEGIN CERTIFICATE-----\nAQ==\n-----END CERTIFICATE-----\n"
    );
    let der = vec![0xffu8; 60];
    let out = pem(&der);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1].len(), 64);
    assert_eq!(lines[2], "////////////////");
}

fn cert_with(dn: &[(rcgen::DnType, &str)]) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (kind, value) in dn {
        params.distinguished_name.push(kind.clone(), *value);
    }
    params.serial_number = Some(vec![0x00, 0x9a, 0x01].into());
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("cert").der().to_vec()
}

#[test]
fn names_last_rdn_first() {
    use rcgen::DnType;
    let der = cert_with(&[
        (DnType::CountryName, "US"),
        (DnType::OrganizationName, "Acme, Inc."),
        (DnType::CommonName, "end user"),
        (DnType::CustomDnType(vec![1, 2, 3, 4]), "x"),
    ]);
    let c = ClientCert::new(&der, "SUCCESS".into()).expect("parses");
    // An attribute type OpenSSL has no name for: its OID, the value as DER.
    assert_eq!(c.subject, "1.2.3.4=#0C0178,CN=end user,O=Acme\\, Inc.,C=US");
    assert_eq!(c.issuer, c.subject);
    // The legacy one-line form: first RDN first, nothing escaped but bytes.
    assert_eq!(c.subject_legacy, "/C=US/O=Acme, Inc./CN=end user/1.2.3.4=x");
    assert_eq!(c.issuer_legacy, c.subject_legacy);
    assert_eq!(c.serial, "9A01");
    assert_eq!(c.fingerprint.len(), 40);
    assert!(
        c.fingerprint
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert!(c.pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(c.folded().contains("\n\t"));
    assert!(!c.folded().ends_with('\n'));
    assert!(c.escaped().starts_with("-----BEGIN%20CERTIFICATE-----%0A"));
    assert_eq!(c.remain(c.not_after - 86399), "0");
    assert_eq!(c.remain(c.not_after - 3 * 86400 - 5), "3");
}

#[test]
fn garbage_is_no_certificate() {
    assert_eq!(ClientCert::new(b"\x30\x00", String::new()), None);
}
