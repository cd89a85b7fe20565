//! FastCGI (`fastcgi_pass`): the protocol's records (`record`), and what the relay
//! needs of them: the request as records ([`request`]: BEGIN_REQUEST, the
//! `fastcgi_param`s and the client's headers as PARAMS, the body as STDIN), the
//! application's records turned back into a byte stream ([`Demux`]: STDOUT kept,
//! STDERR to the error log, END_REQUEST the end of the response) and the CGI-style
//! header block at the stream's start as a response head ([`parse_head`]).

pub mod record;

use crate::cgi::output::{self, Dialect, Reply};
use crate::config::proxy::Settings;
use crate::gateway::http::Head;
use crate::handler::{Cx, Routed};

/// The request id of every request (one request per connection at a time).
pub const ID: u16 = 1;

/// The records that start a request: BEGIN_REQUEST and the PARAMS stream; then
/// `body` as STDIN and the end of STDIN, when the body is in memory (`None`: the
/// caller sends a spooled body with [`stdin`] and ends it with an empty one).
pub fn request(cx: &Cx, r: &Routed, s: &Settings, body: Option<&[u8]>) -> Vec<u8> {
    let env = cx.env(r, true);
    let mut params: Vec<(String, Vec<u8>)> = Vec::new();
    for p in &s.fastcgi.params {
        let value = match p.value.literal() {
            Some(v) => v.to_string(),
            None => p.value.expand(&env),
        };
        if p.if_not_empty && value.is_empty() {
            continue;
        }
        params.push((p.name.clone(), value.into_bytes()));
    }
    if s.pass_request_headers {
        let set = params.len();
        for (name, value) in cx.req.headers.iter() {
            let Some(key) = http_param(name) else {
                continue;
            };
            // A `fastcgi_param HTTP_X` replaces the client's X.
            if params[..set].iter().any(|(n, _)| *n == key) {
                continue;
            }
            match params[set..].iter_mut().find(|(n, _)| *n == key) {
                Some((_, v)) => {
                    let sep: &[u8] = if key == "HTTP_COOKIE" { b"; " } else { b", " };
                    v.extend_from_slice(sep);
                    v.extend_from_slice(value);
                }
                None => params.push((key, value.to_vec())),
            }
        }
    }
    let mut out = Vec::with_capacity(1024);
    record::begin_request(&mut out, ID, s.fastcgi.keep_conn);
    record::params(
        &mut out,
        ID,
        params.iter().map(|(n, v)| (n.as_bytes(), v.as_slice())),
    );
    if let Some(body) = body {
        if !body.is_empty() {
            stdin(&mut out, body);
        }
        stdin(&mut out, b"");
    }
    out
}

/// Appends `data` as STDIN records (empty: the end of STDIN).
pub fn stdin(out: &mut Vec<u8>, data: &[u8]) {
    record::stdin(out, ID, data);
}

/// `HTTP_NAME` for a request header, or `None` for a name with bytes nginx does
/// not pass (anything but letters, digits, `-` and `_`).
fn http_param(name: &str) -> Option<String> {
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok || name.is_empty() {
        return None;
    }
    let mut key = String::with_capacity(name.len() + 5);
    key.push_str("HTTP_");
    key.extend(name.chars().map(|c| match c {
        '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    Some(key)
}

/// What came of the application's records so far.
pub struct Demux {
    decoder: record::Decoder,
    /// END_REQUEST arrived: the response is whole.
    pub ended: bool,
    /// The stderr stream held one of the `fastcgi_catch_stderr` strings.
    pub caught: bool,
    /// Bytes came after END_REQUEST: the response stands (as in nginx), but the
    /// connection is not reused.
    pub trailing: bool,
}

impl Default for Demux {
    fn default() -> Demux {
        Demux {
            decoder: record::Decoder::new(ID),
            ended: false,
            caught: false,
            trailing: false,
        }
    }
}

impl Demux {
    /// Decodes `raw` from the application: STDOUT bytes appended to `stdout`,
    /// STDERR lines logged as nginx logs them (and looked for `catch`), END_REQUEST
    /// noted.
    pub fn feed(
        &mut self,
        raw: &[u8],
        stdout: &mut Vec<u8>,
        addr: &str,
        catch: &[String],
    ) -> Result<(), record::DecodeError> {
        if self.ended {
            self.trailing |= !raw.is_empty();
            return Ok(());
        }
        let mut rest = raw;
        loop {
            let (used, event) = self.decoder.decode(rest)?;
            rest = rest.get(used..).unwrap_or_default();
            match event {
                None => return Ok(()),
                Some(record::Event::Stdout(data)) => stdout.extend_from_slice(data),
                Some(record::Event::Stderr(data)) => {
                    let text = String::from_utf8_lossy(data);
                    let text = text.trim_end_matches(['\r', '\n']);
                    if !text.is_empty() {
                        log::error!("FastCGI sent in stderr: \"{text}\" (upstream {addr})");
                    }
                    self.caught |= catch.iter().any(|c| text.contains(c.as_str()));
                }
                Some(record::Event::End { .. }) => {
                    self.ended = true;
                    self.trailing = !rest.is_empty();
                    return Ok(());
                }
            }
        }
    }
}

/// The response head at the start of the application's stdout, once it is whole:
/// `Status:` (default 200, 302 with a `Location`), the other fields as sent.
pub fn parse_head(stdout: &[u8]) -> Result<Option<(Head, usize)>, output::OutputError> {
    let Some((reply, used)) = output::parse_as(stdout, Dialect::FastCgi)? else {
        return Ok(None);
    };
    let Reply::Document {
        status,
        reason,
        headers,
        length,
    } = reply
    else {
        return Err(output::OutputError::Invalid);
    };
    let head = Head {
        status,
        reason: reason.unwrap_or_default(),
        http11: true,
        fields: headers,
        length,
        chunked: false,
        close: false,
        skipped: 0,
    };
    Ok(Some((head, used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_as_params() {
        let cases = [
            ("User-Agent", Some("HTTP_USER_AGENT")),
            ("x_under", Some("HTTP_X_UNDER")),
            ("Host", Some("HTTP_HOST")),
            ("bad.name", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(http_param(name).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn demux_splits_streams_and_sees_the_end() {
        let mut raw = Vec::new();
        push(&mut raw, record::FCGI_STDERR, b"warning\n");
        push(&mut raw, record::FCGI_STDOUT, b"Status: 201\r\n\r\nhi");
        push(&mut raw, record::FCGI_STDOUT, b"");
        push(
            &mut raw,
            record::FCGI_END_REQUEST,
            &[0, 0, 0, 0, record::FCGI_REQUEST_COMPLETE, 0, 0, 0],
        );
        // Fed one byte at a time, as the socket may hand it over.
        let mut d = Demux::default();
        let mut stdout = Vec::new();
        for b in &raw {
            assert!(!d.ended);
            d.feed(std::slice::from_ref(b), &mut stdout, "t", &[])
                .unwrap();
        }
        assert!(d.ended && !d.trailing);
        assert_eq!(stdout, b"Status: 201\r\n\r\nhi");
        d.feed(b"junk", &mut stdout, "t", &[]).unwrap();
        assert!(d.trailing);
        let (head, used) = parse_head(&stdout).unwrap().unwrap();
        assert_eq!((head.status, used), (201, 15));
    }

    fn push(out: &mut Vec<u8>, kind: u8, data: &[u8]) {
        let len = data.len() as u16;
        out.extend_from_slice(&[1, kind, 0, 1]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(data);
    }
}
