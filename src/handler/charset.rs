//! nginx's charset filter (`charset`, `source_charset`, `override_charset`,
//! `charset_types`, `charset_map`), for every response: files, error pages,
//! `return` text and CGI output. A response whose type is listed and that names no
//! charset gets `; charset=NAME`; when its charset (the `source_charset`, or the one
//! its own Content-Type names with `override_charset on`) differs from `charset`
//! and a `charset_map` joins the two, the body is recoded on its way out
//! (`filter::recode`). As in nginx: a response with a Content-Encoding is never
//! recoded, a recoding that changes the length (to or from UTF-8) drops the
//! Content-Length and the ranges (the whole body is sent, chunked), a byte-for-byte
//! one keeps them, and 301/302 redirects name no charset.

use std::borrow::Cow;

use super::{Cx, Routed};
use crate::config::charset::{Charset, Name};
use crate::config::charset_map::{CharsetMaps, Table};
use crate::filter::recode::Recoder;
use crate::http::Response;
use crate::vars::{Env, Template, Var};

/// The `Content-Type` webserv's own pages (listings, error pages, upload summaries)
/// carry, whatever `charset` says: they are always written in UTF-8.
pub const GENERATED_HTML: &str = "text/html; charset=utf-8";

/// What the filter does to one response.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Nothing.
    Keep,
    /// A `charset $var` whose variable has no value: nginx fails the response and
    /// closes the connection.
    Close,
    /// This Content-Type, and the body recoded with the table when there is one.
    Set {
        content_type: String,
        table: Option<Table>,
    },
}

/// A Content-Type as nginx reads a relayed one: the length of the type (up to the
/// `;` before `charset=`, else all of it) and the charset named (empty: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed<'a> {
    type_len: usize,
    charset: &'a str,
}

fn parse(value: &str) -> Parsed<'_> {
    let b = value.as_bytes();
    let none = Parsed {
        type_len: b.len(),
        charset: "",
    };
    let mut i = 0;
    while i < b.len() {
        if b[i] != b';' {
            i += 1;
            continue;
        }
        let semi = i;
        i += 1;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        let Some(rest) = b.get(i..).filter(|r| !r.is_empty()) else {
            return none;
        };
        if rest.len() >= 8 && rest[..8].eq_ignore_ascii_case(b"charset=") {
            let mut start = i + 8;
            let mut end = b.len();
            if b.get(start) == Some(&b'"') {
                start += 1;
            }
            if end > start && b[end - 1] == b'"' {
                end -= 1;
            }
            return Parsed {
                type_len: semi,
                charset: value.get(start..end.max(start)).unwrap_or(""),
            };
        }
        // nginx's scan goes on one byte past the parameter's start.
        i += 1;
    }
    none
}

/// Whether `mime` (the type part, as nginx hashes it) is one of `types`.
fn listed(types: &[String], mime: &str) -> bool {
    types
        .iter()
        .any(|t| t == "*" || t.eq_ignore_ascii_case(mime))
}

/// The filter's decision for a response of Content-Type `value` (nginx's
/// `ngx_http_charset_header_filter`). `resolve` gives a variable's value, `None`
/// when it has none; `encoded`: the response has a Content-Encoding.
pub fn decide(
    cs: &Charset,
    maps: &CharsetMaps,
    value: &str,
    status: u16,
    encoded: bool,
    resolve: &dyn Fn(&Template) -> Option<String>,
) -> Verdict {
    use Verdict::{Close, Keep};
    let Some(dst) = &cs.charset else {
        return Keep;
    };
    if value.is_empty() {
        return Keep;
    }
    let ct = parse(value);
    if !ct.charset.is_empty() {
        if !cs.override_charset {
            return Keep;
        }
    } else if !listed(&cs.types, &value[..ct.type_len]) {
        return Keep;
    }
    let Some(dst) = name(dst, resolve) else {
        return Close;
    };
    let src = match (&cs.source, ct.charset) {
        (_, own) if !own.is_empty() => Cow::Borrowed(own),
        (None, _) => return set(value, ct, &dst, false, status, None),
        (Some(n), _) => match name(n, resolve) {
            Some(s) => s,
            None => return Close,
        },
    };
    let (src_known, dst_known) = (maps.spelling(&src).is_some(), maps.spelling(&dst).is_some());
    if !src_known || !dst_known {
        // Unknown to the configuration: only the same name passes (nginx compares
        // the first len(dst) bytes).
        let same = src
            .as_bytes()
            .get(..dst.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(dst.as_bytes()));
        if src_known != dst_known || !same {
            return no_map(&src, &dst);
        }
        return set(value, ct, &dst, false, status, None);
    }
    if src.eq_ignore_ascii_case(&dst) {
        return set(value, ct, &dst, true, status, None);
    }
    if encoded {
        return Keep;
    }
    match maps.table(&src, &dst) {
        Some(t) => set(value, ct, &dst, true, status, Some(t.clone())),
        None => no_map(&src, &dst),
    }
}

/// The charset a name stands for in this request.
fn name<'a>(n: &'a Name, resolve: &dyn Fn(&Template) -> Option<String>) -> Option<Cow<'a, str>> {
    match n {
        Name::Fixed(s, _) => Some(Cow::Borrowed(s)),
        Name::Var(t) => resolve(t).map(Cow::Owned),
    }
}

fn no_map(src: &str, dst: &str) -> Verdict {
    log::error!("no \"charset_map\" between the charsets \"{src}\" and \"{dst}\"");
    Verdict::Keep
}

/// The Content-Type nginx writes once the charset is `dst`: the type alone when
/// `reset` (its own charset parameter dropped), then `; charset=dst` if what is
/// left is the bare type, except on 301 and 302.
fn set(
    value: &str,
    ct: Parsed,
    dst: &str,
    reset: bool,
    status: u16,
    table: Option<Table>,
) -> Verdict {
    let shown = if reset { &value[..ct.type_len] } else { value };
    let charset = if matches!(status, 301 | 302) { "" } else { dst };
    let content_type = if shown.len() == ct.type_len && !charset.is_empty() {
        format!("{shown}; charset={charset}")
    } else {
        shown.to_string()
    };
    Verdict::Set {
        content_type,
        table,
    }
}

/// A variable's value for `charset $var`; `None` when it has none. A `set`
/// variable not set yet is empty, as nginx's uninitialized ones.
fn value_of(t: &Template, env: &Env) -> Option<String> {
    let var = t.single_var()?;
    let mut out = String::new();
    let found = env.value(var, &mut out);
    (found || matches!(var, Var::User(_))).then_some(out)
}

/// The filter for a finished response: Content-Type, and the body recoded.
pub fn apply(cx: &Cx, r: &Routed, resp: &mut Response) {
    if let Some(t) = apply_header(cx, r, resp) {
        crate::filter::recode_stream::recode_response(resp, &t, cx.req.http11);
    }
}

/// The header half of [`apply`]: sets the `Content-Type` charset and returns
/// the table the body is still to be recoded with (after the range filter has
/// cut it, as in nginx, where ranges are cut before the body is recoded).
pub fn apply_header(cx: &Cx, r: &Routed, resp: &mut Response) -> Option<Table> {
    let loc = r.location(cx.config);
    loc.charset.charset.as_ref()?;
    let i = resp
        .headers
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case("content-type"))?;
    let encoded = resp
        .get_header("content-encoding")
        .is_some_and(|v| !v.is_empty());
    let env = cx.env(r, true);
    let resolve = |t: &Template| value_of(t, &env);
    let value = &resp.headers[i].1;
    match decide(
        &loc.charset,
        &cx.config.charset_maps,
        value,
        resp.status,
        encoded,
        &resolve,
    ) {
        Verdict::Keep => None,
        Verdict::Close => {
            resp.status = super::rewrite::CLOSE;
            None
        }
        Verdict::Set {
            content_type,
            table,
        } => {
            resp.headers[i].1 = content_type;
            table
        }
    }
}

/// What becomes of a relayed body (CGI output).
#[derive(Debug)]
pub enum Relayed {
    Plain,
    /// Recoded as it goes.
    Recoded(Recoder),
    /// No response: the connection closes (see [`Verdict::Close`]).
    Close,
}

/// The filter for a CGI script's relayed fields (kept as bytes).
pub fn apply_raw(
    cx: &Cx,
    r: &Routed,
    status: u16,
    headers: &mut Vec<(String, Vec<u8>)>,
) -> Relayed {
    let loc = r.location(cx.config);
    if loc.charset.charset.is_none() {
        return Relayed::Plain;
    }
    let field = |name: &str| {
        headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let Some(i) = field("content-type") else {
        return Relayed::Plain;
    };
    let Ok(value) = std::str::from_utf8(&headers[i].1) else {
        return Relayed::Plain;
    };
    let encoded = field("content-encoding").is_some_and(|j| !headers[j].1.is_empty());
    let env = cx.env(r, true);
    let resolve = |t: &Template| value_of(t, &env);
    let maps = &cx.config.charset_maps;
    match decide(&loc.charset, maps, value, status, encoded, &resolve) {
        Verdict::Keep => Relayed::Plain,
        Verdict::Close => Relayed::Close,
        Verdict::Set {
            content_type,
            table,
        } => {
            headers[i].1 = content_type.into_bytes();
            let Some(t) = table else {
                return Relayed::Plain;
            };
            let recoder = Recoder::new(&t);
            if recoder.changes_length() {
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case("accept-ranges"));
            }
            Relayed::Recoded(recoder)
        }
    }
}

#[cfg(test)]
#[path = "charset_tests.rs"]
mod tests;
