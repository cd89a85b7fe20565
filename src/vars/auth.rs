//! `$remote_user`: the user name of a `Authorization: Basic` header, read as nginx
//! reads it (`ngx_http_auth_basic_user`) whether or not anything checks it: the
//! scheme case-insensitively, spaces skipped, base64 decoded up to its first `=`,
//! the name before the first `:` (none when the name is empty or there is no `:`).

use crate::http::Request;

/// The user name the request's `Authorization` header carries.
pub fn basic_user(req: &Request) -> Option<String> {
    let (user, _) = basic_credentials(req)?;
    Some(String::from_utf8_lossy(&user).into_owned())
}

/// The user name and password of the request's `Authorization: Basic` header
/// (the password is everything after the first `:`).
pub fn basic_credentials(req: &Request) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = req
        .headers
        .iter()
        .find_map(|(n, v)| n.eq_ignore_ascii_case("authorization").then_some(v))?;
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"Basic ") {
        return None;
    }
    let encoded = value[6..].trim_ascii_start();
    let decoded = decode_base64(encoded)?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    if colon == 0 {
        return None;
    }
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// Standard base64, stopping at the first `=`; `None` for a character outside
/// the alphabet or a length that cannot be base64 (empty input included).
pub(crate) fn decode_base64(src: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = src
        .iter()
        .take_while(|&&b| b != b'=')
        .map(|&b| sextet(b))
        .collect::<Option<_>>()?;
    if digits.is_empty() || digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for quad in digits.chunks(4) {
        let d = |i: usize| quad.get(i).copied().unwrap_or(0);
        out.push(d(0) << 2 | d(1) >> 4);
        if quad.len() > 2 {
            out.push(d(1) << 4 | d(2) >> 2);
        }
        if quad.len() > 3 {
            out.push(d(2) << 6 | d(3));
        }
    }
    Some(out)
}

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Framing;
    use crate::http::request::Fields;

    fn user(auth: Option<&[u8]>) -> Option<String> {
        let headers = auth.map(|a| ("Authorization", a));
        let req = Request {
            method: crate::http::Method::Get,
            target: "/".into(),
            http11: true,
            http2: false,
            headers: Fields::from_pairs(headers),
            host: None,
            framing: Framing::None,
            keep_alive: true,
            expect_continue: false,
            head_len: 0,
            tls: None,
        };
        basic_user(&req)
    }

    #[test]
    fn basic_credentials_table() {
        // header value, user
        let cases: &[(Option<&[u8]>, Option<&str>)] = &[
            (None, None),
            (Some(b"Basic dXNlcjpwYXNz"), Some("user")),
            (Some(b"basic    dXNlcjpwYXNz"), Some("user")),
            (Some(b"Basic YTpi"), Some("a")),
            (Some(b"Basic YWJjOg=="), Some("abc")),
            (Some(b"Basic YWJjOg"), Some("abc")),
            (Some(b"Basic Ong="), None),
            (Some(b"Basic dXNlcg=="), None),
            (Some(b"Basic "), None),
            (Some(b"Basic dXNl*jpwYXNz"), None),
            (Some(b"Basic dXNlc"), None),
            (Some(b"Bearer dXNlcjpwYXNz"), None),
            (Some(b"Basi"), None),
        ];
        for (value, want) in cases {
            assert_eq!(user(*value).as_deref(), *want, "{value:?}");
        }
    }
}
