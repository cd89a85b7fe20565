//! A request head from a decoded header block (RFC 9113 §8.1-§8.3): pseudo-headers,
//! field name and value rules, connection-specific fields, cookies, content-length.
//! Anything wrong makes the request malformed: a stream error, never a connection one.

/// A validated request head, as the server's request phases want it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// Empty for CONNECT (§8.5), which carries neither `:scheme` nor `:path`.
    pub scheme: String,
    pub authority: Option<String>,
    /// Empty for CONNECT.
    pub path: String,
    /// Regular fields in order, names lowercase, `cookie` crumbs joined with "; " (§8.2.3)
    /// in the place of the first one. `host` stays here when sent.
    pub fields: Vec<(String, String)>,
    pub content_length: Option<u64>,
}

/// Why a request (or trailer section) is malformed, for the error log.
pub type Malformed = &'static str;

/// §8.2.2: fields that only mean something to HTTP/1.1 connections.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// §8.2.1: a name is lowercase token characters; a value has no NUL, CR or LF and no
/// whitespace at either end.
fn check_field(name: &[u8], value: &[u8]) -> Result<(), Malformed> {
    let token = |c: &u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.iter().all(|c| token(c) && !c.is_ascii_uppercase()) {
        return Err("bad field name");
    }
    if value.iter().any(|&c| c == 0 || c == b'\r' || c == b'\n') {
        return Err("bad field value");
    }
    let ws = |c: Option<&u8>| matches!(c, Some(b' ' | b'\t'));
    if ws(value.first()) || ws(value.last()) {
        return Err("whitespace around field value");
    }
    Ok(())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The pseudo-header fields seen so far.
#[derive(Default)]
struct Pseudo {
    method: Option<String>,
    scheme: Option<String>,
    authority: Option<String>,
    path: Option<String>,
}

impl Pseudo {
    fn set(&mut self, name: &[u8], value: &[u8]) -> Result<(), Malformed> {
        let slot = match name {
            b":method" => &mut self.method,
            b":scheme" => &mut self.scheme,
            b":authority" => &mut self.authority,
            b":path" => &mut self.path,
            _ => return Err("unknown pseudo-header"),
        };
        if slot.replace(text(value)).is_some() {
            return Err("repeated pseudo-header");
        }
        Ok(())
    }
}

/// Builds a request head from the fields of a HEADERS block.
pub fn request_head(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Result<RequestHead, Malformed> {
    let mut pseudo = Pseudo::default();
    let mut head = RequestHead::default();
    let mut regular = false;
    let mut cookie: Option<usize> = None;
    for (name, value) in fields {
        if name.first() == Some(&b':') {
            // §8.3: pseudo-headers come before every regular field.
            if regular {
                return Err("pseudo-header after a regular field");
            }
            pseudo.set(&name, &value)?;
            continue;
        }
        regular = true;
        check_field(&name, &value)?;
        regular_field(&mut head, &mut cookie, text(&name), text(&value))?;
    }
    finish(head, pseudo)
}

fn regular_field(
    head: &mut RequestHead,
    cookie: &mut Option<usize>,
    name: String,
    value: String,
) -> Result<(), Malformed> {
    if CONNECTION_SPECIFIC.contains(&name.as_str()) {
        return Err("connection-specific field");
    }
    if name == "te" && value != "trailers" {
        return Err("te other than trailers");
    }
    if name == "content-length" {
        let n = parse_length(&value)?;
        if head.content_length.is_some_and(|m| m != n) {
            return Err("conflicting content-length");
        }
        head.content_length = Some(n);
    }
    if name == "cookie" {
        if let Some(i) = *cookie {
            let joined = &mut head.fields[i].1;
            joined.push_str("; ");
            joined.push_str(&value);
            return Ok(());
        }
        *cookie = Some(head.fields.len());
    }
    head.fields.push((name, value));
    Ok(())
}

/// A content-length value: digits only (a list of equal values is tolerated).
fn parse_length(value: &str) -> Result<u64, Malformed> {
    let mut found: Option<u64> = None;
    for part in value.split(',') {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err("bad content-length");
        }
        let n = part.parse::<u64>().map_err(|_| "bad content-length")?;
        if found.is_some_and(|m| m != n) {
            return Err("conflicting content-length");
        }
        found = Some(n);
    }
    found.ok_or("bad content-length")
}

fn finish(mut head: RequestHead, p: Pseudo) -> Result<RequestHead, Malformed> {
    head.method = p.method.ok_or("missing :method")?;
    if head.method.is_empty() {
        return Err("empty :method");
    }
    let host = head
        .fields
        .iter()
        .find(|(n, _)| n == "host")
        .map(|(_, v)| v);
    // Both present and different → malformed (§8.3.1: they must agree).
    if let (Some(a), Some(h)) = (&p.authority, host)
        && !a.eq_ignore_ascii_case(h)
    {
        return Err(":authority and host differ");
    }
    head.authority = p.authority;
    if head.method == "CONNECT" {
        // §8.5: CONNECT carries :authority only.
        if p.scheme.is_some() || p.path.is_some() || head.authority.is_none() {
            return Err("bad CONNECT pseudo-headers");
        }
        return Ok(head);
    }
    head.scheme = p.scheme.ok_or("missing :scheme")?;
    head.path = p.path.ok_or("missing :path")?;
    let path_ok = head.path.starts_with('/') || (head.path == "*" && head.method == "OPTIONS");
    if head.scheme.is_empty() || !path_ok {
        return Err("bad :scheme or :path");
    }
    Ok(head)
}

/// The fields of a trailer section: no pseudo-headers (§8.1), the same field rules.
pub fn trailers(fields: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<(String, String)>, Malformed> {
    let mut out = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        if name.first() == Some(&b':') {
            return Err("pseudo-header in trailers");
        }
        check_field(&name, &value)?;
        let name = text(&name);
        if CONNECTION_SPECIFIC.contains(&name.as_str()) {
            return Err("connection-specific field");
        }
        out.push((name, text(&value)));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
