//! The rewrite phases (server level, then the location's): nginx's rewrite module
//! directives run in order. `rewrite` changes the URI (and maybe the arguments) or
//! redirects, `return` answers, `set` assigns a variable, `break` stops.

use super::{Cx, Routed, fixed_return};
use crate::config::{Op, Return, RewriteFlag};
use crate::http::Response;
use std::time::Duration;

use crate::vars::{Captures, Done};

/// `return 444`: nginx's non-standard status for "close without answering".
pub const CLOSE: u16 = 444;

/// What the list of directives decided.
pub enum Flow {
    /// Ran to the end: go on with the next phase.
    Next,
    /// `rewrite ... last`: search the location again for the new URI.
    Last,
    /// `break` or `rewrite ... break`: stay in this location.
    Break,
    /// `return`, or a redirecting `rewrite`.
    Respond(Response),
    /// `return CODE` without a text, CODE 400 or more: an error, with the
    /// location's `error_page` for it (nginx finalizes the request with CODE).
    Error(u16),
}

/// Runs `ops` on the request; the location (if any) is `r.location`.
pub fn run(cx: &Cx, ops: &[Op], r: &mut Routed, in_location: bool) -> Flow {
    for op in ops {
        match op {
            // nginx's 444: close the connection without a response (the
            // connection sees the status and sends nothing).
            Op::Return(ret) if ret.code == CLOSE => return Flow::Respond(Response::new(CLOSE)),
            Op::Return(ret) if ret.target.is_none() && ret.code >= 400 => {
                return Flow::Error(ret.code);
            }
            Op::Return(ret) => return Flow::Respond(answer(cx, r, ret, in_location)),
            Op::Break => return Flow::Break,
            Op::If(b) => {
                if !super::cond::holds(cx, &b.cond, r, in_location) {
                    continue;
                }
                // nginx: the request takes the block's configuration, and the
                // directives after the block still run.
                if let Some(i) = b.location {
                    r.location = i;
                }
                match run(cx, &b.ops, r, in_location) {
                    Flow::Next => {}
                    other => return other,
                }
            }
            Op::Set { var, value } => {
                let v = value.expand(&cx.env(r, in_location));
                match var {
                    crate::vars::Var::User(slot) => r.vars.set(*slot, v),
                    // nginx: a value that is no size sets 0.
                    crate::vars::Var::LimitRate => {
                        r.vars.limit_rate = Some(crate::limit::parse_size(&v).unwrap_or(0))
                    }
                    _ => {}
                }
            }
            Op::Rewrite {
                pattern,
                replacement,
                flag,
                ..
            } => {
                if !pattern.matches(&r.path, &mut r.vars) {
                    continue;
                }
                // nginx: the path and arguments split at the replacement's own `?`;
                // a replacement ending in `?` drops the request's arguments.
                let src = replacement.source();
                let drop_old = src.ends_with('?');
                let external = ["http://", "https://", "$scheme"]
                    .iter()
                    .any(|p| src.starts_with(p));
                let redirect =
                    external || matches!(flag, RewriteFlag::Redirect | RewriteFlag::Permanent);
                let escape = match (cx.req.path().contains(['%', '+']), redirect) {
                    (false, _) => Captures::Raw,
                    (true, false) => Captures::EscapedInArgs,
                    (true, true) => Captures::Escaped,
                };
                let (path, mut new_args) =
                    replacement.expand_split(&cx.env(r, in_location), escape);
                if drop_old
                    && let Some(a) = &mut new_args
                    && a.ends_with('?')
                {
                    a.pop();
                }
                let old = if drop_old { None } else { r.args.as_deref() };
                let args = join_args(new_args, old);
                cx.note(|| {
                    let q = args.as_deref().map_or(String::new(), |a| format!("?{a}"));
                    format!("rewrite {} matched {}: {path}{q}", pattern.as_str(), r.path)
                });
                if redirect {
                    let code = if *flag == RewriteFlag::Permanent {
                        301
                    } else {
                        302
                    };
                    let mut target = match &args {
                        Some(a) => format!("{path}?{a}"),
                        None => path,
                    };
                    if super::unescape::needs(&target) {
                        target = super::unescape::redirect(&target);
                    }
                    return Flow::Respond(cx.redirect(r, code, &target, in_location));
                }
                if !set_uri(r, &path, args) {
                    return Flow::Respond(super::unsafe_uri(cx, r, &path));
                }
                match flag {
                    RewriteFlag::Last => return Flow::Last,
                    RewriteFlag::Break => return Flow::Break,
                    _ => {}
                }
            }
        }
    }
    Flow::Next
}

/// `return CODE [TEXT|URL]`. While an error page is served, a text or a bodiless
/// success is sent with the error page's status (nginx's `err_status`); a
/// redirect keeps its own.
fn answer(cx: &Cx, r: &Routed, ret: &Return, in_location: bool) -> Response {
    let redirect = matches!(ret.code, 301 | 302 | 303 | 307 | 308) && ret.target.is_some();
    let status = match r.vars.err_status {
        Some(forced) if !redirect => forced,
        _ => ret.code,
    };
    let target = ret.target.as_ref().map(|t| match t.literal() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => {
            let done = Done {
                status,
                body_bytes: 0,
                bytes_sent: 0,
                request_time: Duration::ZERO,
                response: None,
                upstream: None,
            };
            let mut env = cx.env(r, in_location);
            env.done = Some(&done);
            std::borrow::Cow::Owned(t.expand(&env))
        }
    });
    match (status, target.as_deref()) {
        (code, Some(url)) if redirect => cx.redirect(r, code, url, in_location),
        (code, Some(text)) => {
            // nginx sends the text as the location's default_type.
            let server = r.server(cx.config);
            let loc = match in_location {
                true => r.location(cx.config),
                false => super::route::match_location(server, "/"),
            };
            Response::with_body(code, &loc.default_type, text.as_bytes().to_vec())
        }
        (code, None) => {
            let mut resp = fixed_return(ret.code, None);
            resp.status = code;
            resp
        }
    }
}

/// A rewritten URI and its arguments (from [`join_args`]). `false` (nothing
/// changed) when the path is not a clean absolute path once its dot segments are
/// removed (it climbs above `/`).
fn set_uri(r: &mut Routed, path: &str, args: Option<String>) -> bool {
    let Some(clean) = super::path::normalize(path) else {
        return false;
    };
    r.path = clean;
    r.args = args;
    true
}

/// The arguments after a rewrite: the replacement's own (`new`, when it has a `?`),
/// then the request's (`old`, unless dropped), joined by `&` as nginx does.
fn join_args(new: Option<String>, old: Option<&str>) -> Option<String> {
    match (new, old.filter(|o| !o.is_empty())) {
        (Some(n), Some(o)) => Some(format!("{n}&{o}")),
        (Some(n), None) => (!n.is_empty()).then_some(n),
        (None, o) => o.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_follow_nginx() {
        // the replacement's arguments, the request's, the result
        let cases: &[(Option<&str>, Option<&str>, Option<&str>)] = &[
            (None, Some("a=1"), Some("a=1")),
            (None, None, None),
            (None, Some(""), None),
            (Some("b=2"), Some("a=1"), Some("b=2&a=1")),
            (Some("b=2"), None, Some("b=2")),
            (Some(""), None, None),
            (Some(""), Some("a=1"), Some("&a=1")),
        ];
        for (new, old, want) in cases {
            let got = join_args(new.map(str::to_string), *old);
            assert_eq!(got.as_deref(), *want, "{new:?} {old:?}");
        }
        let mut r = Routed::new(0, "/old".into(), Some("c=3"));
        assert!(set_uri(&mut r, "//z/../w", Some("c=3".into())));
        assert_eq!((r.path.as_str(), r.args.as_deref()), ("/w", Some("c=3")));
        // Above the root, or not a path: refused, the request keeps its URI.
        for bad in ["/../secret.txt", "/a/../../x", "relative", ""] {
            assert!(!set_uri(&mut r, bad, Some("y=1".into())), "{bad}");
            assert_eq!(
                (r.path.as_str(), r.args.as_deref()),
                ("/w", Some("c=3")),
                "{bad}"
            );
        }
    }
}
