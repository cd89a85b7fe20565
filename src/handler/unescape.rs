//! nginx's unescaping of a rewrite redirect's target (`NGX_UNESCAPE_REDIRECT`):
//! a `%XX` that decodes to a printable character above `%` is decoded, any
//! other (`%0D`, `%20`, `%25`) stays escaped, so no CR or LF can reach the
//! `Location` header; a `?`, sent or decoded, ends the unescaping.
//!
//! webserv applies it where a redirect's target is a URL passed escaped (its
//! scheme or first slash is encoded: `rewrite ^ $arg_r? redirect;` with
//! `?r=http%3A%2F%2Fexample.com%2F`); a target that is already a URL or a path
//! keeps its escapes, which nginx would decode too (its test suite marks that
//! "not yet").

/// Whether `target` is a URL or path given escaped, which [`redirect`] unescapes.
pub fn needs(target: &str) -> bool {
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    !(target.starts_with('/') || lower.starts_with("http://") || lower.starts_with("https://"))
        && target.contains('%')
}

/// `target` with nginx's redirect unescaping applied.
pub fn redirect(target: &str) -> String {
    let b = target.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'?' {
            out.extend_from_slice(&b[i..]);
            break;
        }
        let decoded = (c == b'%')
            .then(|| Some((hex(*b.get(i + 1)?)? << 4) | hex(*b.get(i + 2)?)?))
            .flatten();
        match decoded {
            Some(b'?') => {
                out.push(b'?');
                out.extend_from_slice(&b[i + 3..]);
                break;
            }
            Some(d) if d > b'%' && d < 0x7f => {
                out.push(d);
                i += 3;
            }
            Some(_) => {
                out.extend_from_slice(&b[i..i + 3]);
                i += 3;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    // Only ASCII was decoded, and the rest is the input's own bytes.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            (
                "http%3A%2F%2Fexample.com%2F%3Ffrom",
                "http://example.com/?from",
            ),
            (
                "http%3A%2F%2Fexample.com%0D%0Asplit",
                "http://example.com%0D%0Asplit",
            ),
            ("http%3A%2F%2Fx%2F%3Fa%3Db", "http://x/?a%3Db"),
            ("a%20b%25c", "a%20b%25c"),
            ("a%2", "a%2"),
            ("a%zz%41", "a%zzA"),
            ("x?%41", "x?%41"),
            ("%C3%A9", "%C3%A9"),
        ];
        for (raw, want) in cases {
            assert_eq!(redirect(raw), want, "{raw}");
        }
        assert!(needs("http%3A%2F%2Fx"));
        assert!(!needs("http://x/%41"));
        assert!(!needs("/a%41"));
        assert!(!needs("plain"));
    }
}
