//! Conditional requests (RFC 9110 §13): `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match` and `If-Modified-Since`, evaluated in the order of §13.2.2 against
//! the current file, for GET/HEAD (304 or 412) and for PUT, POST and DELETE (412).

use std::fs::Metadata;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::IfModifiedSince;
use crate::http::date::parse_http_date;
use crate::http::{Method, Request};

/// The validators of the current representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// `"mtime-size"` in hex, as nginx makes it; always a strong tag.
    pub etag: String,
    /// The modification time, whole seconds (what `Last-Modified` says).
    pub mtime: SystemTime,
}

impl Validators {
    pub fn of(meta: &Metadata) -> Validators {
        let secs = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        Validators {
            etag: format!("\"{:x}-{:x}\"", secs, meta.len()),
            mtime: UNIX_EPOCH + Duration::from_secs(secs),
        }
    }
}

/// What the conditions say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Perform the method.
    Proceed,
    /// 304: a GET/HEAD whose cached copy is current.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Evaluates the request's preconditions against `current` (`None`: the target
/// does not exist yet, e.g. a PUT that would create it).
pub fn evaluate(req: &Request, current: Option<&Validators>) -> Verdict {
    evaluate_with(req, current, IfModifiedSince::Before)
}

/// [`evaluate`], with `If-Modified-Since` read as `if_modified_since` says
/// (`off`: ignored; `exact`: only an equal date; `before`: the date or later).
pub fn evaluate_with(req: &Request, current: Option<&Validators>, ims: IfModifiedSince) -> Verdict {
    let safe = matches!(req.method, Method::Get | Method::Head);
    // Step 1 (§13.1.1): If-Match is true if a listed tag matches strongly, or `*`
    // when the target exists.
    if let Some(list) = req.header("if-match") {
        if !list_matches(list, current, strong_eq) {
            return Verdict::Failed;
        }
    } else if let (Some(cur), Some(since)) = (
        current,
        req.header("if-unmodified-since").and_then(parse_http_date),
    ) {
        // Step 2 (§13.1.4), only without If-Match: false if modified after the date.
        if cur.mtime > since {
            return Verdict::Failed;
        }
    }
    // Step 3 (§13.1.2): If-None-Match is false if a tag matches weakly (or `*`).
    if let Some(list) = req.header("if-none-match") {
        return match (list_matches(list, current, weak_eq), safe) {
            (false, _) => Verdict::Proceed,
            (true, true) => Verdict::NotModified,
            (true, false) => Verdict::Failed,
        };
    }
    // Step 4 (§13.1.3): If-Modified-Since, GET and HEAD only, without If-None-Match.
    if let (true, Some(cur), Some(since)) = (
        safe,
        current,
        req.header("if-modified-since").and_then(parse_http_date),
    ) && match ims {
        IfModifiedSince::Off => false,
        IfModifiedSince::Exact => cur.mtime == since,
        IfModifiedSince::Before => cur.mtime <= since,
    } {
        return Verdict::NotModified;
    }
    Verdict::Proceed
}

/// Whether the request asks for exclusive creation (`If-None-Match: *`).
pub fn create_only(req: &Request) -> bool {
    req.header("if-none-match")
        .is_some_and(|l| l.split(',').any(|t| t.trim() == "*"))
}

fn list_matches(list: &str, current: Option<&Validators>, eq: fn(&str, &str) -> bool) -> bool {
    let Some(cur) = current else {
        return false;
    };
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || eq(t, &cur.etag))
}

/// §8.8.3.2: strong comparison: neither tag weak, same opaque tag.
fn strong_eq(tag: &str, etag: &str) -> bool {
    !tag.starts_with("W/") && tag == etag
}

/// Weak comparison: the opaque tags match, weak or not.
fn weak_eq(tag: &str, etag: &str) -> bool {
    tag.trim_start_matches("W/") == etag.trim_start_matches("W/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parse_head;

    fn verdict(method: &str, headers: &str, current: Option<&Validators>) -> Verdict {
        let raw = format!("{method} / HTTP/1.1\r\nHost: a\r\n{headers}\r\n");
        let (req, _) = parse_head(raw.as_bytes(), 8192).unwrap().unwrap();
        evaluate(&req, current)
    }

    #[test]
    fn table() {
        use Verdict::*;
        let cur = Validators {
            etag: "\"5-3\"".into(),
            mtime: UNIX_EPOCH + Duration::from_secs(784_111_777),
        };
        let at = "Sun, 06 Nov 1994 08:49:37 GMT";
        let before = "Sun, 06 Nov 1994 08:49:36 GMT";
        let before_850 = "Sunday, 06-Nov-94 08:49:36 GMT";
        let before_asc = "Sun Nov  6 08:49:36 1994";
        let c = Some(&cur);
        let cases: Vec<(&str, String, Option<&Validators>, Verdict)> = vec![
            ("GET", String::new(), c, Proceed),
            ("GET", "If-Match: \"5-3\"\r\n".into(), c, Proceed),
            ("GET", "If-Match: \"x\", \"5-3\"\r\n".into(), c, Proceed),
            ("GET", "If-Match: \"x\"\r\n".into(), c, Failed),
            ("GET", "If-Match: W/\"5-3\"\r\n".into(), c, Failed),
            ("HEAD", "If-Match: \"x\"\r\n".into(), c, Failed),
            ("PUT", "If-Match: *\r\n".into(), c, Proceed),
            ("PUT", "If-Match: *\r\n".into(), None, Failed),
            ("DELETE", "If-Match: \"x\"\r\n".into(), c, Failed),
            ("GET", format!("If-Unmodified-Since: {at}\r\n"), c, Proceed),
            (
                "GET",
                format!("If-Unmodified-Since: {before}\r\n"),
                c,
                Failed,
            ),
            (
                "GET",
                format!("If-Unmodified-Since: {before_850}\r\n"),
                c,
                Failed,
            ),
            (
                "GET",
                format!("If-Unmodified-Since: {before_asc}\r\n"),
                c,
                Failed,
            ),
            (
                "DELETE",
                format!("If-Unmodified-Since: {before}\r\n"),
                c,
                Failed,
            ),
            (
                "PUT",
                format!("If-Unmodified-Since: {before}\r\n"),
                None,
                Proceed,
            ),
            ("GET", "If-Unmodified-Since: garbage\r\n".into(), c, Proceed),
            // If-Match present: If-Unmodified-Since is not looked at (§13.2.2).
            (
                "GET",
                format!("If-Match: \"5-3\"\r\nIf-Unmodified-Since: {before}\r\n"),
                c,
                Proceed,
            ),
            ("GET", "If-None-Match: \"5-3\"\r\n".into(), c, NotModified),
            ("GET", "If-None-Match: W/\"5-3\"\r\n".into(), c, NotModified),
            ("GET", "If-None-Match: *\r\n".into(), c, NotModified),
            ("GET", "If-None-Match: \"x\"\r\n".into(), c, Proceed),
            ("PUT", "If-None-Match: *\r\n".into(), c, Failed),
            ("PUT", "If-None-Match: *\r\n".into(), None, Proceed),
            ("DELETE", "If-None-Match: \"5-3\"\r\n".into(), c, Failed),
            (
                "GET",
                format!("If-Modified-Since: {at}\r\n"),
                c,
                NotModified,
            ),
            (
                "GET",
                format!("If-Modified-Since: {before}\r\n"),
                c,
                Proceed,
            ),
            (
                "GET",
                format!("If-Modified-Since: {before_850}\r\n"),
                c,
                Proceed,
            ),
            (
                "GET",
                "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n".into(),
                c,
                NotModified,
            ),
            (
                "GET",
                "If-Modified-Since: Sun Nov  6 08:49:37 1994\r\n".into(),
                c,
                NotModified,
            ),
            ("PUT", format!("If-Modified-Since: {at}\r\n"), c, Proceed),
            // If-None-Match present: If-Modified-Since is not looked at.
            (
                "GET",
                format!("If-None-Match: \"x\"\r\nIf-Modified-Since: {at}\r\n"),
                c,
                Proceed,
            ),
            // A failed If-Match wins over a matching If-None-Match.
            (
                "GET",
                "If-Match: \"x\"\r\nIf-None-Match: \"5-3\"\r\n".into(),
                c,
                Failed,
            ),
        ];
        for (method, headers, current, want) in cases {
            assert_eq!(
                verdict(method, &headers, current),
                want,
                "{method} {headers:?}"
            );
        }
    }

    #[test]
    fn exclusive_creation() {
        let raw = b"PUT / HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"a\", *\r\n\r\n";
        let (req, _) = parse_head(raw, 8192).unwrap().unwrap();
        assert!(create_only(&req));
    }
}
