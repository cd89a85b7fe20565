//! A request that came on an HTTP/2 stream, as the phases see every request:
//! its pseudo-header fields become the method, target and Host, its fields the
//! header list, and its body framing is what `content-length` says (or a body
//! that ends with the stream). The HTTP/2 codec has already validated the
//! fields (RFC 9113 §8.3); what is checked here is what HTTP/1 checks too.

use super::request::{Fields, Framing, HeadError, Method, Request, check_field, normalize_host};

/// What a stream's HEADERS said.
pub struct Head<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub authority: Option<&'a str>,
    /// Regular fields, lowercase names.
    pub fields: &'a [(String, String)],
    /// END_STREAM came with the head: there is no body.
    pub end_stream: bool,
    pub content_length: Option<u64>,
}

/// The request of `head`; an error is answered like a bad HTTP/1 head.
pub fn build(head: &Head) -> Result<Request, HeadError> {
    let method = Method::from_name(head.method).ok_or(HeadError::UnknownMethod)?;
    let target = match head.path {
        p if p.starts_with('/') => p.to_owned(),
        "*" if method == Method::Options => "*".to_owned(),
        _ => return Err(HeadError::Bad("invalid :path")),
    };
    let mut host_field = None;
    for (name, value) in head.fields {
        check_field(name, value.as_bytes())?;
        if name == "host" {
            if host_field.is_some() {
                return Err(HeadError::Bad("more than one Host header"));
            }
            host_field = Some(value.as_str());
        }
    }
    // `:authority` is the Host (RFC 9113 §8.3.1); the codec made sure a Host
    // field beside it says the same.
    let host = match head.authority.or(host_field) {
        Some(h) => Some(normalize_host(h).ok_or(HeadError::Bad("invalid host"))?),
        None => None,
    };
    let framing = match (head.end_stream, head.content_length) {
        (true, _) | (false, Some(0)) => Framing::None,
        (false, Some(n)) => Framing::Length(n),
        // No length: the body ends with the stream.
        (false, None) => Framing::Chunked,
    };
    let with_host = head.authority.filter(|_| host_field.is_none());
    let pairs = with_host
        .map(|a| ("host", a.as_bytes()))
        .into_iter()
        .chain(head.fields.iter().map(|(n, v)| (n.as_str(), v.as_bytes())));
    let head_len = head
        .fields
        .iter()
        .map(|(n, v)| n.len() + v.len() + 4)
        .sum::<usize>()
        + head.method.len()
        + head.path.len();
    Ok(Request {
        method,
        target,
        http11: true,
        http2: true,
        headers: Fields::from_pairs(pairs),
        host,
        framing,
        keep_alive: true,
        expect_continue: false,
        head_len,
        tls: None,
    })
}

/// What the access log shows for a stream whose head was no request.
pub fn unread() -> Request {
    Request {
        method: Method::Get,
        target: "/".to_owned(),
        http11: true,
        http2: true,
        headers: Fields::default(),
        host: None,
        framing: Framing::None,
        keep_alive: true,
        expect_continue: false,
        head_len: 0,
        tls: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head<'a>(fields: &'a [(String, String)], authority: Option<&'a str>) -> Head<'a> {
        Head {
            method: "GET",
            path: "/a?b=1",
            authority,
            fields,
            end_stream: true,
            content_length: None,
        }
    }

    #[test]
    fn authority_is_the_host_and_a_host_field() {
        let req = build(&head(&[], Some("Example.COM:8443"))).unwrap();
        assert_eq!(req.host.as_deref(), Some("example.com"));
        assert_eq!(req.header("host"), Some("Example.COM:8443"));
        assert_eq!(req.target, "/a?b=1");
        assert_eq!(req.version_str(), "HTTP/2.0");
        assert_eq!(req.framing, Framing::None);
    }

    #[test]
    fn a_host_field_alone_is_the_host() {
        let f = vec![("host".to_string(), "h.test".to_string())];
        let req = build(&head(&f, None)).unwrap();
        assert_eq!(req.host.as_deref(), Some("h.test"));
        assert_eq!(req.headers.iter().count(), 1);
    }

    #[test]
    fn bad_heads_are_errors() {
        let f = vec![("x".to_string(), "a\u{1}b".to_string())];
        assert!(build(&head(&f, None)).is_err());
        let mut h = head(&[], Some("a..b"));
        assert!(build(&h).is_err());
        h.authority = None;
        h.method = "BREW";
        assert!(matches!(build(&h), Err(HeadError::UnknownMethod)));
        h.method = "GET";
        h.path = "x";
        assert!(build(&h).is_err());
    }

    #[test]
    fn body_framing_follows_content_length_and_end_stream() {
        let mut h = head(&[], None);
        h.end_stream = false;
        assert_eq!(build(&h).unwrap().framing, Framing::Chunked);
        h.content_length = Some(5);
        assert_eq!(build(&h).unwrap().framing, Framing::Length(5));
        h.content_length = Some(0);
        assert_eq!(build(&h).unwrap().framing, Framing::None);
    }
}
