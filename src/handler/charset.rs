//! nginx's charset filter (`charset`, `charset_types`): a response whose type is in
//! the location's `charset_types` and that names no charset itself gets
//! `; charset=NAME` added to its `Content-Type`: files, error pages and CGI output
//! alike. No recoding is done: the directive tells browsers how the content is
//! already encoded.

use crate::config::Location;
use crate::http::Response;

/// The `Content-Type` webserv's own pages (listings, error pages, upload summaries)
/// carry, whatever `charset` says: they are always written in UTF-8.
pub const GENERATED_HTML: &str = "text/html; charset=utf-8";

/// Adds the location's charset to `resp`'s `Content-Type` where it applies.
pub fn apply(resp: &mut Response, loc: &Location) {
    let Some(charset) = &loc.charset else {
        return;
    };
    let Some((_, value)) = resp
        .headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    else {
        return;
    };
    if let Some(new) = with_charset(value, charset, &loc.charset_types) {
        *value = new;
    }
}

/// The same for a CGI script's relayed header fields (kept as bytes).
pub fn apply_raw(headers: &mut [(String, Vec<u8>)], loc: &Location) {
    let Some(charset) = &loc.charset else {
        return;
    };
    let Some((_, value)) = headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(value)
        && let Some(new) = with_charset(text, charset, &loc.charset_types)
    {
        *value = new.into_bytes();
    }
}

/// `value` with `; charset=NAME` appended, when its type is one of `types` (`*`
/// matches any) and it has no charset parameter yet.
fn with_charset(value: &str, charset: &str, types: &[String]) -> Option<String> {
    let (mime, params) = value.split_once(';').unwrap_or((value, ""));
    let mime = mime.trim();
    let listed = types
        .iter()
        .any(|t| t == "*" || t.eq_ignore_ascii_case(mime));
    let has_charset = params
        .split(';')
        .any(|p| p.trim_start().to_ascii_lowercase().starts_with("charset="));
    (listed && !has_charset).then(|| format!("{value}; charset={charset}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn charset_is_added_to_listed_types_only() {
        let t = types(&["text/html", "text/plain", "application/javascript"]);
        let cases: &[(&str, Option<&str>)] = &[
            ("text/html", Some("text/html; charset=utf-8")),
            ("TEXT/HTML", Some("TEXT/HTML; charset=utf-8")),
            (
                "application/javascript",
                Some("application/javascript; charset=utf-8"),
            ),
            ("text/css", None),
            ("image/png", None),
            ("text/html; charset=iso-8859-1", None),
            ("text/html;CHARSET=latin1", None),
            (
                "text/plain; format=flowed",
                Some("text/plain; format=flowed; charset=utf-8"),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(
                with_charset(value, "utf-8", &t).as_deref(),
                *want,
                "{value}"
            );
        }
        let any = types(&["*"]);
        assert_eq!(
            with_charset("image/png", "utf-8", &any).as_deref(),
            Some("image/png; charset=utf-8")
        );
    }
}
