//! The range filter, as nginx's: a 200 whose body is a whole static file
//! (`Response::allow_ranges`) and a `Range` header become a 206 with one part
//! (`Content-Range`) or a `multipart/byteranges` body (part headers in memory,
//! the ranges cut from the file and sent with sendfile), or a 416. It runs after
//! `add_header` and `expires`, so `If-Range` is compared with the `ETag` and
//! `Last-Modified` the response finally carries. `max_ranges N` limits the
//! ranges (more: the whole file); `max_ranges 0` turns ranges off.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::http::date::parse_http_date;
use crate::http::range::{self, ByteRange, Ranges};
use crate::http::{Body, Request, Response};

/// What the filter made of a response.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The response goes as it is now (whole, or cut to a 206).
    Done,
    /// 416: the caller sends its error page with `Content-Range: bytes */LEN`.
    Unsatisfiable(u64),
}

/// Applies the range filter to `resp`; `max_ranges` is the location's limit
/// (`None`: no limit).
pub fn apply(req: &Request, max_ranges: Option<u32>, resp: &mut Response) -> Verdict {
    if !resp.allow_ranges || resp.status != 200 || !knows_length(&resp.body) {
        return Verdict::Done;
    }
    if max_ranges == Some(0) {
        return Verdict::Done;
    }
    let length = resp.body.len();
    let wanted = match req.headers.get("range") {
        Some(value) if if_range_holds(req, resp) => {
            let max = max_ranges.map_or(usize::MAX, |n| n as usize);
            range::parse(trim(value), length, max)
        }
        _ => Ranges::Whole,
    };
    match wanted {
        Ranges::Whole => {
            resp.header("Accept-Ranges", "bytes");
            Verdict::Done
        }
        Ranges::Unsatisfiable => Verdict::Unsatisfiable(length),
        Ranges::Parts(parts) => {
            resp.status = 206;
            match parts.as_slice() {
                [one] => single(resp, *one, length),
                _ => multipart(resp, &parts, length),
            }
            Verdict::Done
        }
    }
}

/// A body whose length is known before it is sent.
fn knows_length(body: &Body) -> bool {
    matches!(
        body,
        Body::Bytes(_) | Body::Shared { .. } | Body::File { .. }
    )
}

/// The value without surrounding spaces and tabs (as nginx stores it).
fn trim(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &value[start..end.max(start)]
}

/// `If-Range` (RFC 9110 §13.1.5) as nginx reads it: a value ending in `"` is an
/// entity tag, equal byte for byte to the response's `ETag`; anything else is a
/// date, equal to its `Last-Modified`. No `If-Range`: the ranges apply.
fn if_range_holds(req: &Request, resp: &Response) -> bool {
    let Some(cond) = req.headers.get("if-range") else {
        return true;
    };
    let cond = trim(cond);
    if cond.len() >= 2 && cond.ends_with(b"\"") {
        return resp
            .get_header("etag")
            .is_some_and(|etag| etag.as_bytes() == cond);
    }
    let Some(modified) = resp.get_header("last-modified").and_then(parse_http_date) else {
        return false;
    };
    std::str::from_utf8(cond)
        .ok()
        .and_then(parse_http_date)
        .is_some_and(|t| t == modified)
}

/// One range: `Content-Range` and the cut body.
fn single(resp: &mut Response, r: ByteRange, length: u64) {
    drop_header(resp, "content-range");
    resp.header(
        "Content-Range",
        format!("bytes {}-{}/{length}", r.start, r.end - 1),
    );
    let body = std::mem::take(&mut resp.body);
    resp.body = cut(&body, r);
}

/// Several ranges: nginx's `multipart/byteranges` layout. Each part is
/// `CRLF --B CRLF Content-Type: T CRLF Content-Range: bytes S-E/LEN CRLF CRLF DATA`,
/// and the body ends with `CRLF --B-- CRLF`.
fn multipart(resp: &mut Response, parts: &[ByteRange], length: u64) {
    let boundary = boundary();
    let head = match resp.get_header("content-type") {
        Some(t) if !t.is_empty() => {
            format!("\r\n--{boundary}\r\nContent-Type: {t}\r\nContent-Range: bytes ")
        }
        _ => format!("\r\n--{boundary}\r\nContent-Range: bytes "),
    };
    let whole = std::mem::take(&mut resp.body);
    let mut pieces = Vec::with_capacity(parts.len() * 2 + 1);
    for r in parts {
        let range = format!("{}-{}/{length}\r\n\r\n", r.start, r.end - 1);
        pieces.push(Body::Bytes([head.as_bytes(), range.as_bytes()].concat()));
        pieces.push(cut(&whole, *r));
    }
    pieces.push(Body::Bytes(format!("\r\n--{boundary}--\r\n").into_bytes()));
    drop_header(resp, "content-range");
    let content_type = format!("multipart/byteranges; boundary={boundary}");
    match resp
        .headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        Some((_, v)) => *v = content_type,
        None => {
            resp.header("Content-Type", content_type);
        }
    }
    resp.body = Body::Parts {
        pieces,
        whole: Box::new(whole),
    };
}

/// Bytes `r` of a whole body (the file itself is shared, not copied).
fn cut(body: &Body, r: ByteRange) -> Body {
    match body {
        Body::Bytes(b) => Body::Bytes(b[r.start as usize..r.end as usize].to_vec()),
        Body::Shared { data, offset, .. } => Body::Shared {
            data: data.clone(),
            offset: offset + r.start as usize,
            len: r.len() as usize,
        },
        Body::File {
            file,
            offset,
            sendfile,
            aio,
            ..
        } => Body::File {
            file: file.clone(),
            offset: offset + r.start,
            len: r.len(),
            sendfile: *sendfile,
            aio: *aio,
        },
        _ => Body::Empty,
    }
}

/// A boundary as nginx writes one: a number of 20 digits, zero-padded, that
/// grows by one per response, starting from the clock.
fn boundary() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut n = NEXT.fetch_add(1, Ordering::Relaxed);
    if n == 0 {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() ^ u64::from(std::process::id()) << 32);
        let _ = NEXT.compare_exchange(
            1,
            seed.wrapping_add(1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        n = seed;
    }
    format!("{n:020}")
}

fn drop_header(resp: &mut Response, name: &str) {
    resp.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parse_head;

    fn request(headers: &str) -> Request {
        let raw = format!("GET /f HTTP/1.1\r\nHost: a\r\n{headers}\r\n");
        parse_head(raw.as_bytes(), 8192).unwrap().unwrap().0
    }

    fn file_response(body: &[u8]) -> Response {
        let mut r = Response::with_body(200, "text/plain", body.to_vec());
        r.header("ETag", "\"abc\"");
        r.header("Last-Modified", "Mon, 28 Sep 1970 06:00:00 GMT");
        r.allow_ranges = true;
        r
    }

    fn bytes(body: &Body) -> Vec<u8> {
        match body {
            Body::Bytes(b) => b.clone(),
            Body::Parts { pieces, .. } => pieces.iter().flat_map(bytes).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn single_part() {
        let mut resp = file_response(b"0123456789");
        let v = apply(&request("Range: bytes=2-4\r\n"), None, &mut resp);
        assert_eq!(v, Verdict::Done);
        assert_eq!(resp.status, 206);
        assert_eq!(resp.get_header("content-range"), Some("bytes 2-4/10"));
        assert_eq!(resp.get_header("accept-ranges"), None);
        assert_eq!(bytes(&resp.body), b"234");
    }

    #[test]
    fn multipart_layout_and_length() {
        let mut resp = file_response(b"0123456789");
        apply(&request("Range: bytes=0-1,5-9\r\n"), None, &mut resp);
        assert_eq!(resp.status, 206);
        let ct = resp.get_header("content-type").unwrap().to_string();
        let b = ct
            .strip_prefix("multipart/byteranges; boundary=")
            .unwrap()
            .to_string();
        assert_eq!(b.len(), 20, "{b}");
        let want = format!(
            "\r\n--{b}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/10\r\n\r\n01\
             \r\n--{b}\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-9/10\r\n\r\n56789\
             \r\n--{b}--\r\n"
        );
        assert_eq!(String::from_utf8(bytes(&resp.body)).unwrap(), want);
        assert_eq!(resp.body.len(), want.len() as u64);
    }

    #[test]
    fn if_range_and_limits() {
        let cases: &[(&str, Option<u32>, u16, Option<&str>)] = &[
            ("Range: bytes=0-1\r\nIf-Range: \"abc\"\r\n", None, 206, None),
            (
                "Range: bytes=0-1\r\nIf-Range: \"abd\"\r\n",
                None,
                200,
                Some("bytes"),
            ),
            (
                "Range: bytes=0-1\r\nIf-Range: W/\"abc\"\r\n",
                None,
                200,
                Some("bytes"),
            ),
            (
                "Range: bytes=0-1\r\nIf-Range: Mon, 28 Sep 1970 06:00:00 GMT\r\n",
                None,
                206,
                None,
            ),
            (
                "Range: bytes=0-1\r\nIf-Range: wrong\r\n",
                None,
                200,
                Some("bytes"),
            ),
            ("Range: bytes=0-1\r\n", Some(0), 200, None),
            ("", Some(0), 200, None),
            ("", None, 200, Some("bytes")),
            ("Range: bytes=0-1,3-4\r\n", Some(1), 200, Some("bytes")),
            ("Range: bytes=0-1,3-4\r\n", Some(2), 206, None),
        ];
        for (headers, max, status, accept) in cases {
            let mut resp = file_response(b"0123456789");
            assert_eq!(apply(&request(headers), *max, &mut resp), Verdict::Done);
            assert_eq!(resp.status, *status, "{headers:?} {max:?}");
            assert_eq!(resp.get_header("accept-ranges"), *accept, "{headers:?}");
        }
    }

    #[test]
    fn unsatisfiable_and_not_rangeable() {
        let mut resp = file_response(b"0123456789");
        let v = apply(&request("Range: bytes=10-\r\n"), None, &mut resp);
        assert_eq!(v, Verdict::Unsatisfiable(10));
        let mut resp = file_response(b"0123456789");
        resp.allow_ranges = false;
        apply(&request("Range: bytes=1-2\r\n"), None, &mut resp);
        assert_eq!((resp.status, resp.get_header("accept-ranges")), (200, None));
        let mut resp = file_response(b"0123456789");
        resp.status = 404;
        apply(&request("Range: bytes=1-2\r\n"), None, &mut resp);
        assert_eq!(resp.status, 404);
    }

    #[test]
    fn boundaries_differ() {
        assert_ne!(boundary(), boundary());
    }
}
