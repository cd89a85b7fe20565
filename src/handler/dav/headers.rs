//! The WebDAV request headers, read as nginx reads them: `Depth` (`0`, `1` or
//! `infinity`, exactly), `Overwrite` (`T` or `F`, either case) and `Destination`
//! (a path, or an absolute URL naming this request's host).

use crate::handler::path;

/// A `Depth` header's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Zero,
    One,
    Infinity,
    /// Anything else (nginx answers 400 wherever a depth matters).
    Invalid,
}

/// `Depth`; `default` when the header is absent.
pub fn depth(value: Option<&str>, default: Depth) -> Depth {
    match value {
        None => default,
        Some("0") => Depth::Zero,
        Some("1") => Depth::One,
        Some("infinity") => Depth::Infinity,
        Some(_) => Depth::Invalid,
    }
}

/// `Overwrite`: `Some(true)` for `T` (and when absent), `Some(false)` for `F`,
/// `None` (400) for anything else.
pub fn overwrite(value: Option<&str>) -> Option<bool> {
    match value {
        None | Some("T" | "t") => Some(true),
        Some("F" | "f") => Some(false),
        Some(_) => None,
    }
}

/// The path a `Destination` names, decoded and with slashes merged, or `None` (400).
/// An absolute URL must use the request's scheme (`https://` over TLS) and name the
/// request's host, optionally with a port; webserv is stricter than nginx here,
/// which only compares the host as a prefix. The query is dropped; a `.` or `..`
/// segment is refused, as nginx's `ngx_http_parse_unsafe_uri` does.
pub fn destination(value: &str, host: Option<&str>, tls: bool) -> Option<String> {
    let raw = if value.starts_with('/') {
        value
    } else {
        let host = host.filter(|h| !h.is_empty())?;
        let scheme = if tls { "https://" } else { "http://" };
        let rest = value.strip_prefix(scheme)?;
        let at = rest.find('/')?;
        let (authority, path) = rest.split_at(at);
        let split = match authority.starts_with('[') {
            true => authority.find(']').map(|i| i + 1),
            false => authority.find(':'),
        };
        let (name, tail) = authority.split_at(split.unwrap_or(authority.len()));
        let port_ok = tail.is_empty()
            || tail
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !name.eq_ignore_ascii_case(host) || !port_ok {
            return None;
        }
        path
    };
    let raw = raw.split(['?', '#']).next().unwrap_or("");
    let decoded = path::percent_decode(raw)?;
    if decoded.split('/').any(|seg| seg == "." || seg == "..") {
        return None;
    }
    path::normalize(&decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_table() {
        let cases = [
            (None, Depth::Infinity, Depth::Infinity),
            (None, Depth::Zero, Depth::Zero),
            (Some("0"), Depth::Infinity, Depth::Zero),
            (Some("1"), Depth::Infinity, Depth::One),
            (Some("infinity"), Depth::Zero, Depth::Infinity),
            (Some("Infinity"), Depth::Zero, Depth::Invalid),
            (Some("2"), Depth::Zero, Depth::Invalid),
            (Some("bogus"), Depth::Zero, Depth::Invalid),
            (Some(""), Depth::Zero, Depth::Invalid),
            (Some("00"), Depth::Zero, Depth::Invalid),
        ];
        for (raw, default, want) in cases {
            assert_eq!(depth(raw, default), want, "{raw:?}");
        }
    }

    #[test]
    fn overwrite_table() {
        let cases = [
            (None, Some(true)),
            (Some("T"), Some(true)),
            (Some("t"), Some(true)),
            (Some("F"), Some(false)),
            (Some("f"), Some(false)),
            (Some("X"), None),
            (Some("TRUE"), None),
            (Some(""), None),
        ];
        for (raw, want) in cases {
            assert_eq!(overwrite(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn destination_table() {
        let ok = |s: &str| Some(s.to_string());
        let cases: &[(&str, Option<&str>, bool, Option<String>)] = &[
            ("/file", Some("localhost"), false, ok("/file")),
            ("/file", None, false, ok("/file")),
            (
                "/file-moved%20escape",
                None,
                false,
                ok("/file-moved escape"),
            ),
            ("/a//b/", None, false, ok("/a/b/")),
            ("/a?x=1", None, false, ok("/a")),
            ("/a/../b", None, false, None),
            ("/a/./b", None, false, None),
            ("/a%2F..%2Fb", None, false, None),
            ("/%00", None, false, None),
            ("/%zz", None, false, None),
            ("http://localhost/x", Some("localhost"), false, ok("/x")),
            ("http://LocalHost/x", Some("localhost"), false, ok("/x")),
            (
                "http://localhost:8080/p",
                Some("localhost"),
                false,
                ok("/p"),
            ),
            ("http://localhost:/p", Some("localhost"), false, None),
            ("http://localhost:80x/p", Some("localhost"), false, None),
            ("http://localhost", Some("localhost"), false, None),
            ("http://otherhost/file", Some("localhost"), false, None),
            ("http://localhostevil/f", Some("localhost"), false, None),
            ("http://localhost/x", None, false, None),
            ("ftp://localhost/x", Some("localhost"), false, None),
            ("https://localhost/x", Some("localhost"), false, None),
            ("https://localhost/x", Some("localhost"), true, ok("/x")),
            ("http://localhost/x", Some("localhost"), true, None),
            ("http://[::1]:8080/x", Some("[::1]"), false, ok("/x")),
            ("http://[::1]/x", Some("[::1]"), false, ok("/x")),
            ("http://[::1]x/x", Some("[::1]"), false, None),
            ("file", Some("localhost"), false, None),
            ("", Some("localhost"), false, None),
        ];
        for (raw, host, tls, want) in cases {
            assert_eq!(&destination(raw, *host, *tls), want, "{raw:?}");
        }
    }
}
