//! The CGI response header block (RFC 3875 §6): `Status`, `Content-Type`,
//! `Location` and any other fields, ended by an empty line (CRLF or bare LF, as
//! scripts write either).

/// The most bytes a header block may take before the output is declared invalid.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;

/// A header field as the script wrote it: the value is bytes, since RFC 9110
/// allows obs-text (e.g. Latin-1) in field values and it is relayed unchanged.
pub type Field = (String, Vec<u8>);

/// What the script's header block asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A document: status (default 200) and the script's reason phrase if it gave
    /// one, the headers to send (Status and Content-Length removed), and the
    /// script's Content-Length if it gave one.
    Document {
        status: u16,
        reason: Option<String>,
        headers: Vec<Field>,
        length: Option<u64>,
    },
    /// `Location: /local/path` alone: the server serves that path instead.
    LocalRedirect(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputError {
    /// No end of the header block within MAX_HEADER_BLOCK.
    TooLarge,
    /// A line that is not `name: value`, a bad Status, or no usable field at all.
    Invalid,
}

/// Whose header block it is: a CGI script's, or a FastCGI application's (which
/// nginx takes as it comes: no Content-Type needed, and `Location: /path` alone is a
/// 302 to the client, not a local redirect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Cgi,
    FastCgi,
}

/// Looks for a complete header block at the start of `buf`. `Ok(None)`: need more.
/// On success, also returns how many bytes the block took (the body follows).
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, OutputError> {
    parse_as(buf, Dialect::Cgi)
}

/// [`parse`] for `dialect`.
pub fn parse_as(buf: &[u8], dialect: Dialect) -> Result<Option<(Reply, usize)>, OutputError> {
    let Some((block_len, used)) = find_end(buf) else {
        return if buf.len() > MAX_HEADER_BLOCK {
            Err(OutputError::TooLarge)
        } else {
            Ok(None)
        };
    };
    if block_len > MAX_HEADER_BLOCK {
        return Err(OutputError::TooLarge);
    }
    let mut fields = Vec::new();
    for line in buf[..block_len]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
    {
        fields.push(field(line.strip_suffix(b"\r").unwrap_or(line))?);
    }
    reply(fields, dialect).map(|r| Some((r, used)))
}

/// `name: value`; the name a token, the value free of control bytes but HTAB.
fn field(line: &[u8]) -> Result<Field, OutputError> {
    let colon = memchr::memchr(b':', line).ok_or(OutputError::Invalid)?;
    let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
    let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if name.is_empty() || !name.iter().all(token) {
        return Err(OutputError::Invalid);
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(OutputError::Invalid);
    }
    let name = String::from_utf8(name.to_vec()).map_err(|_| OutputError::Invalid)?;
    Ok((name, value.to_vec()))
}

/// The end of the block: (length of the field lines, bytes including the blank line).
fn find_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut line_start = 0;
    for i in memchr::memchr_iter(b'\n', buf) {
        let line = &buf[line_start..i];
        if line.is_empty() || line == b"\r" {
            return Some((line_start, i + 1));
        }
        line_start = i + 1;
    }
    None
}

/// Removes field `name` and returns its value as text.
fn take(fields: &mut Vec<Field>, name: &str) -> Result<Option<String>, OutputError> {
    let Some(i) = fields
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(name))
    else {
        return Ok(None);
    };
    String::from_utf8(fields.remove(i).1)
        .map(Some)
        .map_err(|_| OutputError::Invalid)
}

fn reply(mut fields: Vec<Field>, dialect: Dialect) -> Result<Reply, OutputError> {
    let cgi = dialect == Dialect::Cgi;
    let status = take(&mut fields, "status")?
        .map(|s| parse_status(&s))
        .transpose()?;
    let length = match take(&mut fields, "content-length")? {
        Some(v) => Some(v.parse::<u64>().map_err(|_| OutputError::Invalid)?),
        None => None,
    };
    let location = fields
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.clone());
    let has_type = fields
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    let document = |(status, reason), headers| {
        Ok(Reply::Document {
            status,
            reason,
            headers,
            length,
        })
    };
    match (status, location) {
        (None, Some(loc)) if cgi && loc.starts_with(b"/") && fields.len() == 1 => {
            String::from_utf8(loc)
                .map(Reply::LocalRedirect)
                .map_err(|_| OutputError::Invalid)
        }
        (None, Some(_)) => document((302, None), fields),
        (Some(status), _) => document(status, fields),
        (None, None) if has_type || !cgi => document((200, None), fields),
        (None, None) => Err(OutputError::Invalid),
    }
}

/// `Status: 418 I'm a teapot` → (418, Some("I'm a teapot")).
fn parse_status(value: &str) -> Result<(u16, Option<String>), OutputError> {
    let (code, reason) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    match code.parse::<u16>() {
        Ok(c) if (200..=599).contains(&c) && code.len() == 3 => {
            let reason = reason.trim();
            Ok((c, (!reason.is_empty()).then(|| reason.to_owned())))
        }
        _ => Err(OutputError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(status: u16, headers: &[(&str, &str)], length: Option<u64>) -> Reply {
        let headers = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        let reason = (status == 404).then(|| "Nope".to_owned());
        Reply::Document {
            status,
            reason,
            headers,
            length,
        }
    }

    #[test]
    fn table() {
        type Case = (&'static [u8], Result<Option<(Reply, usize)>, OutputError>);
        let cases: Vec<Case> = vec![
            (
                b"Content-Type: text/plain\r\n\r\nhi",
                Ok(Some((
                    doc(200, &[("Content-Type", "text/plain")], None),
                    28,
                ))),
            ),
            (
                b"Content-Type: text/plain\n\nhi",
                Ok(Some((
                    doc(200, &[("Content-Type", "text/plain")], None),
                    26,
                ))),
            ),
            (
                b"Status: 404 Nope\nContent-Type: text/html\n\n",
                Ok(Some((doc(404, &[("Content-Type", "text/html")], None), 42))),
            ),
            (
                b"Location: /other\n\n",
                Ok(Some((Reply::LocalRedirect("/other".into()), 18))),
            ),
            (
                b"Location: http://x/\n\n",
                Ok(Some((doc(302, &[("Location", "http://x/")], None), 21))),
            ),
            (
                b"Status: 301\nLocation: /a\n\n",
                Ok(Some((doc(301, &[("Location", "/a")], None), 26))),
            ),
            (
                b"Content-Type: a\nContent-Length: 5\n\n",
                Ok(Some((doc(200, &[("Content-Type", "a")], Some(5)), 35))),
            ),
            (
                b"Set-Cookie: a=1\nSet-Cookie: b=2\nContent-Type: t\n\n",
                Ok(Some((
                    doc(
                        200,
                        &[
                            ("Set-Cookie", "a=1"),
                            ("Set-Cookie", "b=2"),
                            ("Content-Type", "t"),
                        ],
                        None,
                    ),
                    49,
                ))),
            ),
            (b"Content-Type: text/plain\r\n", Ok(None)),
            (b"", Ok(None)),
            (b"hello world\n\n", Err(OutputError::Invalid)),
            (b"X-Only: 1\n\n", Err(OutputError::Invalid)),
            (b"Status: abc\n\n", Err(OutputError::Invalid)),
            (b"Status: 99\n\n", Err(OutputError::Invalid)),
            (
                b"Content-Type: t\nContent-Length: x\n\n",
                Err(OutputError::Invalid),
            ),
            (b"\n\nbody", Err(OutputError::Invalid)),
        ];
        for (raw, want) in cases {
            assert_eq!(parse(raw), want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn fastcgi_dialect() {
        let f = |raw: &[u8]| parse_as(raw, Dialect::FastCgi);
        let located = doc(302, &[("Location", "/other")], None);
        assert_eq!(f(b"Location: /other\n\n"), Ok(Some((located, 18))));
        assert_eq!(
            f(b"X-Only: 1\r\n\r\n"),
            Ok(Some((doc(200, &[("X-Only", "1")], None), 13)))
        );
        assert_eq!(f(b"\r\n"), Ok(Some((doc(200, &[], None), 2))));
        assert_eq!(f(b"Status: 99\n\n"), Err(OutputError::Invalid));
        assert_eq!(f(b"no colon\n\n"), Err(OutputError::Invalid));
    }

    #[test]
    fn oversized_block_is_an_error() {
        let big = vec![b'a'; MAX_HEADER_BLOCK + 1];
        assert_eq!(parse(&big), Err(OutputError::TooLarge));
    }
}
