//! The CGI response header block (RFC 3875 §6): `Status`, `Content-Type`,
//! `Location` and any other fields, ended by an empty line (CRLF or bare LF, as
//! scripts write either).

/// The most bytes a header block may take before the output is declared invalid.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;

/// What the script's header block asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A document: status (default 200), headers to send (Status removed), and the
    /// script's Content-Length if it gave one.
    Document {
        status: u16,
        headers: Vec<(String, String)>,
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

/// Looks for a complete header block at the start of `buf`. `Ok(None)`: need more.
/// On success, also returns how many bytes the block took (the body follows).
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, OutputError> {
    let Some((block_len, used)) = find_end(buf) else {
        return if buf.len() > MAX_HEADER_BLOCK {
            Err(OutputError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let text = std::str::from_utf8(&buf[..block_len]).map_err(|_| OutputError::Invalid)?;
    let mut fields = Vec::new();
    for line in text.lines() {
        let (name, value) = line.split_once(':').ok_or(OutputError::Invalid)?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(OutputError::Invalid);
        }
        fields.push((name.to_owned(), value.trim().to_owned()));
    }
    reply(fields).map(|r| Some((r, used)))
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

fn reply(mut fields: Vec<(String, String)>) -> Result<Reply, OutputError> {
    let take = |fields: &mut Vec<(String, String)>, name: &str| {
        let i = fields
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        Some(fields.remove(i).1)
    };
    let status = take(&mut fields, "status")
        .map(|s| parse_status(&s))
        .transpose()?;
    let length = match take(&mut fields, "content-length") {
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
    match (status, location) {
        (None, Some(loc)) if loc.starts_with('/') && fields.len() == 1 => {
            Ok(Reply::LocalRedirect(loc))
        }
        (None, Some(_)) => Ok(Reply::Document {
            status: 302,
            headers: fields,
            length,
        }),
        (Some(status), _) => Ok(Reply::Document {
            status,
            headers: fields,
            length,
        }),
        (None, None) if has_type => Ok(Reply::Document {
            status: 200,
            headers: fields,
            length,
        }),
        (None, None) => Err(OutputError::Invalid),
    }
}

/// `Status: 404 Not Found` → 404 (the reason phrase is ours).
fn parse_status(value: &str) -> Result<u16, OutputError> {
    let code = value.split_whitespace().next().unwrap_or("");
    match code.parse::<u16>() {
        Ok(c) if (200..=599).contains(&c) && code.len() == 3 => Ok(c),
        _ => Err(OutputError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(status: u16, headers: &[(&str, &str)], length: Option<u64>) -> Reply {
        let headers = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        Reply::Document {
            status,
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
    fn oversized_block_is_an_error() {
        let big = vec![b'a'; MAX_HEADER_BLOCK + 1];
        assert_eq!(parse(&big), Err(OutputError::TooLarge));
    }
}
