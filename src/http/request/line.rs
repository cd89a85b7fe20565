//! The request line when httparse refuses its version: RFC 9112 §3 says a request
//! line is exactly `method SP request-target SP HTTP-version`, and RFC 9110 §2.5
//! that a minor version we do not know is served by the highest one we do.
//!
//! httparse knows only HTTP/1.0 and HTTP/1.1, so `HTTP/1.2`..`HTTP/1.9` come here
//! and are re-parsed as HTTP/1.1; another major version (`HTTP/2.0`) is 505 (but the
//! HTTP/2 preface's line is 400, as nginx answers it); any line
//! of another shape (a space inside the target, two spaces, `HTTP/1`) is 400.

use super::HeadError;

/// What to do with a head whose request line httparse could not read.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The line has not ended yet.
    Incomplete,
    /// `HTTP/1.x` with x > 1: the minor digit is at this offset of the buffer.
    Minor(usize),
    Reject(HeadError),
}

/// Looks at the first request line of `buf` (leading empty lines skipped, as
/// httparse does).
pub fn judge(buf: &[u8]) -> Verdict {
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let Some(lf) = buf[start..].iter().position(|&b| b == b'\n') else {
        return Verdict::Incomplete;
    };
    let line = &buf[start..start + lf];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let bad = Verdict::Reject(HeadError::Bad("malformed request line"));
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad;
    };
    if method.is_empty() || target.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return bad;
    }
    if line == b"PRI * HTTP/2.0" {
        // The HTTP/2 preface where HTTP/2 is off: a bad request, as nginx says.
        return Verdict::Reject(HeadError::Bad("HTTP/2 preface on an HTTP/1 address"));
    }
    match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            if *major == b'1' {
                Verdict::Minor(start + line.len() - 1)
            } else {
                Verdict::Reject(HeadError::Version)
            }
        }
        _ => bad,
    }
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let v505 = Verdict::Reject(HeadError::Version);
        let bad = || Verdict::Reject(HeadError::Bad("malformed request line"));
        let cases: Vec<(&[u8], Verdict)> = vec![
            (b"GET / HTTP/1.2\r\n", Verdict::Minor(13)),
            (b"\r\nGET / HTTP/1.9\r\n", Verdict::Minor(15)),
            (b"GET / HTTP/1.2\n", Verdict::Minor(13)),
            (b"GET / HTTP/2.0\r\n", v505),
            (b"GET / HTTP/3.0\r\n", Verdict::Reject(HeadError::Version)),
            (
                b"PRI * HTTP/2.0\r\n",
                Verdict::Reject(HeadError::Bad("HTTP/2 preface on an HTTP/1 address")),
            ),
            (b"GET / HTTP/0.9\r\n", Verdict::Reject(HeadError::Version)),
            (b"GET /a b HTTP/1.1\r\n", bad()),
            (b"GET /  HTTP/1.1\r\n", bad()),
            (b"GET  / HTTP/1.1\r\n", bad()),
            (b"GET / HTTP/1\r\n", bad()),
            (b"GET / HTTP/1.10\r\n", bad()),
            (b"GET / HTTP/12.0\r\n", bad()),
            (b"GET / http/1.1\r\n", bad()),
            (b"GET /\r\n", bad()),
            (b"G(T / HTTP/1.2\r\n", bad()),
            (b"GET / HTTP/1.2", Verdict::Incomplete),
            (b"GET / HTTP/2", Verdict::Incomplete),
            (b"", Verdict::Incomplete),
        ];
        for (raw, want) in cases {
            assert_eq!(judge(raw), want, "{:?}", String::from_utf8_lossy(raw));
        }
    }
}
