//! Password hashes of an htpasswd file, checked as nginx's `ngx_crypt` checks
//! them: `{PLAIN}`, `{SHA}` and `{SSHA}` (base64 SHA-1), `$apr1$` and `$1$`
//! (MD5-crypt, written here: one algorithm with two prefixes), and what nginx
//! leaves to the C library's `crypt(3)`: bcrypt `$2a$`/`$2b$`/`$2y$` (crate
//! `bcrypt`), SHA-256/512-crypt `$5$`/`$6$` (crate `sha-crypt`) and traditional
//! DES (crate `pwhash`). A broken hash never matches. Every comparison of secret
//! bytes is constant-time (`subtle`).
//!
//! bcrypt and SHA-crypt cost what their parameters say (up to seconds): they are
//! [`Cost::Slow`] and run on the worker's thread pool, the rest inline.

use md5::{Digest, Md5};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Where a check may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// Microseconds: on the event loop.
    Cheap,
    /// Tunable work factor: on the thread pool.
    Slow,
}

/// The cost of checking a password against `hash`.
pub fn cost(hash: &str) -> Cost {
    let slow = ["$2a$", "$2b$", "$2y$", "$2x$", "$5$", "$6$"];
    if slow.iter().any(|p| hash.starts_with(p)) {
        Cost::Slow
    } else {
        Cost::Cheap
    }
}

/// Whether `password` matches `hash` (the second field of an htpasswd line).
pub fn verify(password: &[u8], hash: &str) -> bool {
    if let Some(rest) = hash.strip_prefix("{PLAIN}") {
        return password.ct_eq(rest.as_bytes()).into();
    }
    if let Some(rest) = hash.strip_prefix("{SSHA}") {
        return ssha(password, rest);
    }
    if let Some(rest) = hash.strip_prefix("{SHA}") {
        let digest = Sha1::digest(password);
        return crate::vars::auth::decode_base64(rest.as_bytes())
            .is_some_and(|want| want.ct_eq(digest.as_slice()).into());
    }
    if hash.starts_with("$apr1$") {
        return md5_crypt(password, hash, "$apr1$");
    }
    if hash.starts_with("$1$") {
        return md5_crypt(password, hash, "$1$");
    }
    if hash.starts_with("$2") {
        // bcrypt compares in constant time itself.
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    if hash.starts_with("$5$") || hash.starts_with("$6$") {
        use sha_crypt::{PasswordVerifier, ShaCrypt};
        // SHA-crypt compares in constant time itself.
        return ShaCrypt::default().verify_password(password, hash).is_ok();
    }
    if is_des(hash) {
        // Old, weak, and still what `crypt(3)` and `htpasswd -d` write.
        #[allow(deprecated)]
        let ours = pwhash::unix_crypt::hash_with(&hash[..2], password).unwrap_or_default();
        return ours.as_bytes().ct_eq(hash.as_bytes()).into();
    }
    log::debug!("auth_basic: unknown password hash scheme");
    false
}

/// `{SSHA}` base64(SHA1(password salt) salt): a broken encoding, or one too
/// short to hold a digest, matches nothing.
fn ssha(password: &[u8], encoded: &str) -> bool {
    let Some(decoded) = crate::vars::auth::decode_base64(encoded.as_bytes()) else {
        return false;
    };
    if decoded.len() < 20 {
        return false;
    }
    let (want, salt) = decoded.split_at(20);
    let mut h = Sha1::new();
    h.update(password);
    h.update(salt);
    want.ct_eq(h.finalize().as_slice()).into()
}

/// Traditional DES crypt: 13 characters of the crypt alphabet.
fn is_des(hash: &str) -> bool {
    hash.len() == 13
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
}

/// The crypt alphabet.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// MD5-crypt (`$1$`, and Apache's `$apr1$`, which differs only in the prefix).
fn md5_crypt(password: &[u8], hash: &str, magic: &str) -> bool {
    let rest = &hash[magic.len()..];
    let salt_end = rest.find('$').unwrap_or(rest.len()).min(8);
    let salt = &rest.as_bytes()[..salt_end];
    let ours = md5_crypt_hash(password, salt, magic);
    ours.as_bytes().ct_eq(hash.as_bytes()).into()
}

/// The MD5-crypt string for `password` with `salt` (at most 8 bytes).
pub fn md5_crypt_hash(password: &[u8], salt: &[u8], magic: &str) -> String {
    let alt = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(magic.as_bytes());
    ctx.update(salt);
    for piece in password.chunks(16) {
        ctx.update(&alt[..piece.len()]);
    }
    let mut i = password.len();
    while i != 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin: [u8; 16] = ctx.finalize().into();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize().into();
    }
    let mut out = format!("{magic}{}$", String::from_utf8_lossy(salt));
    let groups = [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)];
    for (a, b, c) in groups {
        let v = (u32::from(fin[a]) << 16) | (u32::from(fin[b]) << 8) | u32::from(fin[c]);
        to64(&mut out, v, 4);
    }
    to64(&mut out, u32::from(fin[11]), 2);
    out
}

fn to64(out: &mut String, mut v: u32, n: usize) {
    for _ in 0..n {
        out.push(ITOA64[(v & 0x3f) as usize] as char);
        v >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash made by a tool, when it is installed (`openssl passwd`).
    fn openssl(args: &[&str]) -> Option<String> {
        let out = std::process::Command::new("openssl")
            .arg("passwd")
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    #[test]
    fn every_scheme_matches_its_password_only() {
        let bc = bcrypt::hash_with_salt("password", 4, [7u8; 16]).expect("bcrypt");
        let mut hashes = vec![
            // nginx's own test vectors (auth_basic.t).
            "$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.".to_string(),
            "{PLAIN}password".into(),
            "{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0".into(),
            "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=".into(),
            // crypt("password", "salt") and crypt("password", "$1$salt$").
            "sa3tHJ3/KuYvI".into(),
            "$1$salt$qJH7.N4xYta3aEG/dfqo/0".into(),
            bc.format_for_version(bcrypt::Version::TwoY),
            bc.format_for_version(bcrypt::Version::TwoA),
            bc.format_for_version(bcrypt::Version::TwoB),
            // SHA-crypt's reference vectors (Drepper's specification).
            "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5".into(),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1".into(),
        ];
        let tool = [
            &["-apr1", "-salt", "x7Gh", "password"][..],
            &["-1", "-salt", "abcdefgh", "password"],
            &["-5", "-salt", "sodium", "password"],
            &["-6", "-salt", "sodium", "password"],
        ];
        hashes.extend(tool.iter().filter_map(|a| openssl(a)));
        for h in &hashes {
            let pass: &[u8] = if h.starts_with("$5$saltstring") || h.starts_with("$6$saltstring") {
                b"Hello world!"
            } else {
                b"password"
            };
            assert!(verify(pass, h), "{h}");
            assert!(!verify(b"123", h), "{h}");
            assert!(!verify(b"", h), "{h}");
        }
    }

    #[test]
    fn broken_hashes_never_match() {
        for h in [
            "$1$",
            "$apr1$",
            "{SSHA}_____wQadOA1e+/f+T+H3eCQQhRzYWx0",
            "{SSHA}Zm9vCg==",
            "{SHA}_____Mm5Pz8GgiULbPgzG37mj9g=",
            "{SHA}Zm9vCg==",
            "$2y$04$short",
            "$6$",
            "$6$rounds=x$salt$",
            "plain-text",
            "",
            "$y$j9T$yescrypt",
        ] {
            for pass in [&b"1"[..], b"", b"password"] {
                assert!(!verify(pass, h), "{h}");
            }
        }
    }

    #[test]
    fn costs() {
        for (h, c) in [
            ("$2y$10$x", Cost::Slow),
            ("$6$s$x", Cost::Slow),
            ("$5$s$x", Cost::Slow),
            ("$apr1$s$x", Cost::Cheap),
            ("{SHA}x", Cost::Cheap),
            ("{PLAIN}x", Cost::Cheap),
        ] {
            assert_eq!(cost(h), c, "{h}");
        }
    }
}
