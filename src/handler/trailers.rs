//! `add_trailer NAME VALUE [always]`, as nginx's headers filter has it: on a
//! success or redirect status (any status with `always`), an HTTP/1.1 response
//! to a request other than HEAD is sent chunked, even with a known length, and
//! the fields whose value is not empty follow the last chunk. [`note`] reads the
//! values when the headers are decided; [`frame`] cuts the body into its one
//! chunk and the trailer part just before the head is written. A body that is
//! compressed or recoded as it goes (already chunked) gets no trailers.

use crate::config::Location;
use crate::http::{Body, Request, Response};
use crate::vars::{Done, Env, Var};

/// Statuses the trailers go on without `always` (nginx's "safe" statuses).
fn safe(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}

/// Records the location's trailers for `resp`: `None` when none applies (or
/// `chunked_transfer_encoding off`, which leaves no place for them).
pub fn note(resp: &mut Response, loc: &Location, env: &Env) {
    let ok = safe(resp.status);
    let applying: Vec<_> = loc.add_trailers.iter().filter(|t| ok || t.always).collect();
    if applying.is_empty() || !loc.bodies.chunked {
        resp.trailers = None;
        return;
    }
    let mut fields: Vec<(String, String)> = Vec::new();
    for t in applying {
        let sent = t
            .value
            .vars()
            .any(|v| matches!(v, Var::SentHttp(_) | Var::SentTrailer(_)));
        let value = match sent {
            true => sent_so_far(resp, &fields, env, &t.value),
            false => t.value.expand(env),
        };
        if !value.is_empty() {
            fields.push((t.name.clone(), value));
        }
    }
    resp.trailers = Some(Box::new(fields));
}

/// `template`'s value where `$sent_http_*` reads `resp`'s fields and
/// `$sent_trailer_*` the trailers before this one, as in nginx.
fn sent_so_far(
    resp: &Response,
    trailers: &[(String, String)],
    env: &Env,
    template: &crate::vars::Template,
) -> String {
    let mut snapshot = Response::new(resp.status);
    snapshot.headers = resp.headers.clone();
    snapshot.raw_headers = resp.raw_headers.clone();
    snapshot.trailers = Some(Box::new(trailers.to_vec()));
    let done = Done {
        status: resp.status,
        body_bytes: 0,
        bytes_sent: 0,
        request_time: std::time::Duration::ZERO,
        response: Some(&snapshot),
        upstream: env.done.and_then(|d| d.upstream),
    };
    template.expand(&Env {
        done: Some(&done),
        ..*env
    })
}

/// Frames `resp`'s body in chunks with its trailers last, when the response has
/// trailers and goes chunked: HTTP/1.1, a body to send (`head_only` false) of
/// a known length. Otherwise the trailers are dropped.
pub fn frame(resp: &mut Response, req: Option<&Request>, head_only: bool) {
    let Some(fields) = resp.trailers.take() else {
        return;
    };
    let http11 = req.is_some_and(|r| r.http11);
    let known = matches!(
        resp.body,
        Body::Empty | Body::Bytes(_) | Body::Shared { .. } | Body::File { .. } | Body::Parts { .. }
    );
    if !http11 || head_only || !known {
        return;
    }
    let mut last = Vec::new();
    let len = resp.body.len();
    if len > 0 {
        last.extend_from_slice(b"\r\n");
    }
    last.extend_from_slice(b"0\r\n");
    for (name, value) in fields.iter() {
        let clean: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        last.extend_from_slice(format!("{name}: {clean}\r\n").as_bytes());
    }
    last.extend_from_slice(b"\r\n");
    let body = std::mem::take(&mut resp.body);
    let mut pieces = Vec::with_capacity(3);
    if len > 0 {
        pieces.push(Body::Bytes(format!("{len:x}\r\n").into_bytes()));
        match body {
            Body::Parts { pieces: inner, .. } => pieces.extend(inner),
            other => pieces.push(other),
        }
    }
    pieces.push(Body::Bytes(last));
    resp.body = Body::Parts {
        pieces,
        whole: Box::new(Body::Empty),
    };
    resp.trailers = Some(fields);
    // The length is the chunk's, not the representation's.
    resp.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parse_head;

    fn req(version: &str) -> Request {
        let raw = format!("GET / {version}\r\nHost: a\r\n\r\n");
        parse_head(raw.as_bytes(), 8192).unwrap().unwrap().0
    }

    fn flat(body: &Body) -> Vec<u8> {
        match body {
            Body::Bytes(b) => b.clone(),
            Body::Parts { pieces, .. } => pieces.iter().flat_map(flat).collect(),
            _ => Vec::new(),
        }
    }

    fn with_trailers(body: &[u8]) -> Response {
        let mut r = Response::with_body(200, "text/plain", body.to_vec());
        r.trailers = Some(Box::new(vec![("X-A".into(), "1".into())]));
        r
    }

    #[test]
    fn framed_with_trailers() {
        let mut r = with_trailers(b"SEE-THIS");
        frame(&mut r, Some(&req("HTTP/1.1")), false);
        assert_eq!(flat(&r.body), b"8\r\nSEE-THIS\r\n0\r\nX-A: 1\r\n\r\n");
        let mut head = Vec::new();
        r.write_head(&mut head, "d", true);
        let head = String::from_utf8(head).unwrap();
        assert!(head.contains("Transfer-Encoding: chunked\r\n"), "{head}");
        assert!(!head.contains("Content-Length"), "{head}");
    }

    #[test]
    fn empty_body_is_the_last_chunk() {
        let mut r = with_trailers(b"");
        frame(&mut r, Some(&req("HTTP/1.1")), false);
        assert_eq!(flat(&r.body), b"0\r\nX-A: 1\r\n\r\n");
    }

    #[test]
    fn not_for_http10_or_head() {
        for (version, head_only) in [("HTTP/1.0", false), ("HTTP/1.1", true)] {
            let mut r = with_trailers(b"SEE-THIS");
            frame(&mut r, Some(&req(version)), head_only);
            assert!(r.trailers.is_none());
            assert_eq!(flat(&r.body), b"SEE-THIS");
        }
    }
}
