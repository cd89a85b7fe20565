//! Reading `ssl_certificate_key`, encrypted ones included, with the passphrases
//! of `ssl_password_file` (one a line, tried in order, as nginx does).
//!
//! An encrypted key is PKCS#8's "ENCRYPTED PRIVATE KEY" (PBES2: PBKDF2 or scrypt
//! with AES-CBC), what `openssl genrsa -aes128` and `openssl pkcs8 -topk8` write
//! since OpenSSL 3; the `pkcs8` crate of RustCrypto decrypts it (rustls's PEM
//! reader cannot). The older OpenSSL form with a `Proc-Type: 4,ENCRYPTED` header
//! (`-traditional`) is refused with a message saying how to convert it.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::pem::Pem;

use crate::config::{ConfigError, Pos};

/// The PEM label of an encrypted PKCS#8 key.
const ENCRYPTED: &str = "ENCRYPTED PRIVATE KEY";

/// `ssl_password_file`'s passphrases; an empty file gives none.
pub fn passwords(path: &Path, pos: &Pos) -> Result<Vec<Vec<u8>>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| {
        let msg = format!("cannot open \"{}\": {e}", path.display());
        ConfigError::at(pos, msg)
    })?;
    Ok(lines(&bytes))
}

/// One passphrase a line (CR LF or LF), empty lines skipped.
fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The key of a PEM file; `passwords` open an encrypted one.
pub fn load(
    path: &Path,
    passwords: Option<&(Vec<Vec<u8>>, PathBuf)>,
) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if bytes.windows(22).any(|w| w == b"Proc-Type: 4,ENCRYPTED") {
        return Err(
            "a key encrypted in OpenSSL's traditional form is not supported; \
                    convert it with \"openssl pkcs8 -topk8\""
                .into(),
        );
    }
    let encrypted = Pem::iter_from_buffer(&bytes)
        .filter_map(Result::ok)
        .find(|p| p.label == ENCRYPTED);
    let Some(pem) = encrypted else {
        return PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| super::pem_error(&e));
    };
    let Some((passwords, _)) = passwords else {
        return Err("PEM_read_bio_PrivateKey() failed (the key is encrypted: \
                    no \"ssl_password_file\")"
            .into());
    };
    decrypt(&pem.contents, passwords)
        .ok_or_else(|| "PEM_read_bio_PrivateKey() failed (bad password read)".into())
}

/// The first passphrase that opens the key, its PKCS#8 DER.
fn decrypt(der: &[u8], passwords: &[Vec<u8>]) -> Option<PrivateKeyDer<'static>> {
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).ok()?;
    passwords.iter().find_map(|pw| {
        let doc = info.decrypt(pw).ok()?;
        let key = PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec());
        Some(PrivateKeyDer::Pkcs8(key))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_lines() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"", &[]),
            (b"one", &[b"one"]),
            (b"one\n", &[b"one"]),
            (b"one\r\ntwo\n\nthree", &[b"one", b"two", b"three"]),
            (b" sp ace \n", &[b" sp ace "]),
        ];
        for (input, want) in cases {
            let got = lines(input);
            let want: Vec<Vec<u8>> = want.iter().map(|w| w.to_vec()).collect();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn garbage_is_no_key() {
        assert!(decrypt(b"\x30\x03\x02\x01\x00", &[b"pw".to_vec()]).is_none());
    }
}
