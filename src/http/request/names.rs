//! Request field names judged as nginx judges them (`ignore_invalid_headers`,
//! `underscores_in_headers`, `max_headers`): a name of letters, digits and `-`
//! (and `_` when allowed) is valid; another is dropped and logged (`ignore_invalid_headers
//! on`, the default) or kept (`off`). A line that starts with white space, has
//! no name, or has a control byte or space in its name, and a value with a
//! control byte, are always a 400. So is a second copy of a field nginx takes
//! only once ([`UNIQUE`]).

use super::HeadError;

/// Fields a request may carry once (nginx rejects a second with 400). Host is
/// checked with the target. A second Content-Length is refused even when equal, as
/// nginx does.
pub const UNIQUE: &[&str] = &[
    "content-length",
    "if-modified-since",
    "if-unmodified-since",
    "if-match",
    "if-none-match",
    "content-range",
    "if-range",
    "transfer-encoding",
    "expect",
    "authorization",
];

/// The first field in `names` that appears twice, if any.
pub fn repeated<'a>(names: impl Iterator<Item = &'a str>) -> Option<&'static str> {
    let mut seen = [false; UNIQUE.len()];
    for name in names {
        if let Some(i) = UNIQUE.iter().position(|u| u.eq_ignore_ascii_case(name)) {
            if seen[i] {
                return Some(UNIQUE[i]);
            }
            seen[i] = true;
        }
    }
    None
}

/// How a server reads request field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameRules {
    /// Drop fields with invalid names (nginx's default), or keep them.
    pub ignore_invalid: bool,
    /// `_` is valid in a name.
    pub underscores: bool,
    /// More fields than this are a 400; `None`: webserv's own limit (431).
    pub max_headers: Option<usize>,
    /// Lines httparse cannot read as fields (a name that is no token) are
    /// skipped instead of failing the request.
    pub lenient: bool,
}

impl NameRules {
    /// Every field httparse accepts is kept: what `parse_head` alone does.
    pub const KEEP_ALL: NameRules = NameRules {
        ignore_invalid: false,
        underscores: true,
        max_headers: None,
        lenient: false,
    };
}

/// The verdict on one field name.
pub fn valid(name: &str, rules: &NameRules) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || (b == b'_' && rules.underscores))
}

/// Whether a field is dropped; logged at info as nginx does.
pub fn dropped(name: &str, value: &[u8], rules: &NameRules) -> bool {
    if !rules.ignore_invalid || valid(name, rules) {
        return false;
    }
    let value = String::from_utf8_lossy(value);
    if name.contains('_') && !rules.underscores && valid(name, &NameRules::KEEP_ALL) {
        log::info!(
            "client sent header \"{name}\" with an underscore: ignored (underscores_in_headers off)"
        );
    } else {
        log::info!("client sent invalid header line: \"{name}: {value}\"");
    }
    true
}

/// The field lines of `head` (up to its blank line or the end of what has
/// arrived) checked for what nginx always refuses.
pub fn check_lines(head: &[u8]) -> Result<(), HeadError> {
    let mut lines = head.split(|&b| b == b'\n');
    // Blank lines before the request line are allowed; then the request line.
    for line in lines.by_ref() {
        if !matches!(line, b"" | b"\r") {
            break;
        }
    }
    let complete = head.ends_with(b"\n");
    let mut lines = lines.peekable();
    while let Some(line) = lines.next() {
        if lines.peek().is_none() && !complete {
            // The line still arriving is judged once it is whole.
            break;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        check_line(line)?;
    }
    Ok(())
}

fn check_line(line: &[u8]) -> Result<(), HeadError> {
    if matches!(line[0], b' ' | b'\t') {
        return Err(HeadError::Bad("folded or indented header line"));
    }
    let (name, value) = match memchr::memchr(b':', line) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &[][..]),
    };
    if name.is_empty() {
        return Err(HeadError::Bad("header line without a name"));
    }
    if name.iter().any(|&b| b <= 0x20 || b == 0x7f) {
        return Err(HeadError::Bad("invalid character in header name"));
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(HeadError::Bad("control character in header value"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NGINX: NameRules = NameRules {
        ignore_invalid: true,
        underscores: false,
        max_headers: None,
        lenient: true,
    };

    #[test]
    fn name_table() {
        let under = NameRules {
            underscores: true,
            ..NGINX
        };
        let cases: &[(&str, bool, bool)] = &[
            ("Host", true, true),
            ("X-Foo-1", true, true),
            ("x_foo", false, true),
            ("_foo", false, true),
            ("x.foo", false, false),
            (".foo", false, false),
            ("</kie>", false, false),
        ];
        for (name, plain, with_under) in cases {
            assert_eq!(valid(name, &NGINX), *plain, "{name}");
            assert_eq!(valid(name, &under), *with_under, "{name}");
        }
        assert!(dropped("x.foo", b"1", &NGINX));
        let keep = NameRules {
            ignore_invalid: false,
            ..NGINX
        };
        assert!(!dropped("x.foo", b"1", &keep));
    }

    #[test]
    fn lines_always_refused() {
        let ok: &[&[u8]] = &[
            b"GET / HTTP/1.0\r\nx.foo: 1\r\n\r\n",
            b"GET / HTTP/1.0\r\n</kie>: x\r\n\r\n",
            b"\r\nGET / HTTP/1.0\r\nA: \tb\r\n\r\n",
            b"GET / HTTP/1.0\r\nA: b\r\n  partial",
            b"GET / HTTP/1.0\r\nA: b\r\n\r\n garbage after the head",
        ];
        for head in ok {
            assert_eq!(
                check_lines(head),
                Ok(()),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
        let bad: &[&[u8]] = &[
            b"GET / HTTP/1.0\r\n:foo: x\r\n\r\n",
            b"GET / HTTP/1.0\r\n foo: x\r\n\r\n",
            b"GET / HTTP/1.0\r\nA: b\r\n\tfold\r\n\r\n",
            b"GET / HTTP/1.0\r\nfoo\x02: x\r\n\r\n",
            b"GET / HTTP/1.0\r\nfoo : x\r\n\r\n",
            b"GET / HTTP/1.0\r\nfoo: a\x01b\r\n\r\n",
            b"GET / HTTP/1.0\r\nfoo: a\rb\r\n\r\n",
        ];
        for head in bad {
            assert!(
                check_lines(head).is_err(),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn fields_taken_once() {
        let cases: &[(&[&str], Option<&str>)] = &[
            (&["Host", "If-Match", "Accept"], None),
            (&["If-Match", "if-match"], Some("if-match")),
            (&["Expect", "X", "EXPECT"], Some("expect")),
            (&["Authorization", "Authorization"], Some("authorization")),
            (&["Cookie", "Cookie", "Via", "Via"], None),
            (
                &["Transfer-Encoding", "Transfer-Encoding"],
                Some("transfer-encoding"),
            ),
        ];
        for (names, want) in cases {
            assert_eq!(repeated(names.iter().copied()), *want, "{names:?}");
        }
    }
}
