//! `ssl_session_ticket_key FILE;` (may repeat): session tickets sealed with keys
//! read from files, so that every webserv given the same files (other workers,
//! a reloaded configuration, another machine) resumes the others' sessions.
//!
//! A file holds 48 or 80 random bytes, as nginx's: the first 16 name the key,
//! the rest is secret. The first file's key seals new tickets; every file's key
//! opens them, chosen by the name at the ticket's start. The ticket is
//! `name (16) | nonce (12) | AES-256-GCM(state) | tag (16)`, the AEAD key
//! derived from the secret with HKDF-SHA256. nginx's own layout (AES-CBC with
//! HMAC) is not copied: rustls's session state inside differs from OpenSSL's,
//! so a ticket could not pass between the two servers anyway.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};

use crate::config::{ConfigError, Pos};

/// Bytes of a key's name at the start of the file and of a ticket.
const NAME_LEN: usize = 16;
/// The HKDF label the AEAD key is derived with.
const LABEL: &[u8] = b"webserv session ticket key";

/// One key file's key.
struct TicketKey {
    name: [u8; NAME_LEN],
    key: LessSafeKey,
}

/// Tickets sealed with the first key, opened with any.
pub struct FileTicketer {
    keys: Vec<TicketKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for FileTicketer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileTicketer")
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// The ticketer of the files, in the order written.
pub fn from_files(files: &[(PathBuf, Pos)]) -> Result<Arc<FileTicketer>, ConfigError> {
    let mut keys = Vec::new();
    for (path, pos) in files {
        keys.push(read(path, pos)?);
    }
    Ok(Arc::new(FileTicketer {
        keys,
        rng: SystemRandom::new(),
    }))
}

fn read(path: &Path, pos: &Pos) -> Result<TicketKey, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| {
        let msg = format!("cannot read \"{}\": {e}", path.display());
        ConfigError::at(pos, msg)
    })?;
    key(&bytes).ok_or_else(|| {
        let msg = format!("\"{}\" must be 48 or 80 bytes", path.display());
        ConfigError::at(pos, msg)
    })
}

/// The key of a file's contents; `None` unless 48 or 80 bytes.
fn key(bytes: &[u8]) -> Option<TicketKey> {
    if bytes.len() != 48 && bytes.len() != 80 {
        return None;
    }
    let (name, secret) = bytes.split_at(NAME_LEN);
    let mut raw = [0u8; 32];
    Salt::new(HKDF_SHA256, name)
        .extract(secret)
        .expand(&[LABEL], &AES_256_GCM)
        .ok()?
        .fill(&mut raw)
        .ok()?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &raw).ok()?);
    Some(TicketKey {
        name: name.try_into().ok()?,
        key,
    })
}

impl rustls::server::ProducesTickets for FileTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        // The caller's `Lifetime` wrapper says `ssl_session_timeout`.
        300
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let first = self.keys.first()?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut sealed = plain.to_vec();
        let tag = first
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&first.name),
                &mut sealed,
            )
            .ok()?;
        let mut out = Vec::with_capacity(NAME_LEN + NONCE_LEN + sealed.len() + 16);
        out.extend_from_slice(&first.name);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out.extend_from_slice(tag.as_ref());
        Some(out)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let name = ticket.get(..NAME_LEN)?;
        let nonce = ticket.get(NAME_LEN..NAME_LEN + NONCE_LEN)?;
        let k = self.keys.iter().find(|k| k.name == name)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = ticket.get(NAME_LEN + NONCE_LEN..)?.to_vec();
        let plain = k
            .key
            .open_in_place(nonce, Aad::from(&k.name), &mut body)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::server::ProducesTickets;

    fn ticketer(files: &[&[u8]]) -> FileTicketer {
        FileTicketer {
            keys: files.iter().map(|b| key(b).expect("key")).collect(),
            rng: SystemRandom::new(),
        }
    }

    #[test]
    fn sizes() {
        for (len, ok) in [(0, false), (47, false), (48, true), (49, false), (80, true)] {
            assert_eq!(key(&vec![7u8; len]).is_some(), ok, "{len}");
        }
    }

    #[test]
    fn first_seals_all_open() {
        let a = [1u8; 48];
        let b = [2u8; 80];
        let sealer = ticketer(&[&a, &b]);
        let ticket = sealer.encrypt(b"state").expect("sealed");
        assert_eq!(&ticket[..16], &a[..16]);
        // Another server with the same key, listed second: opens it.
        let other = ticketer(&[&b, &a]);
        assert_eq!(other.decrypt(&ticket).as_deref(), Some(&b"state"[..]));
        // Without that key: refused, as is a damaged ticket.
        assert_eq!(ticketer(&[&b]).decrypt(&ticket), None);
        let mut bad = ticket.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(other.decrypt(&bad), None);
        assert_eq!(other.decrypt(&ticket[..20]), None);
    }
}
