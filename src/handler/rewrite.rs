//! The rewrite phases (server level, then the location's): nginx's rewrite module
//! directives run in order. `rewrite` changes the URI (and maybe the arguments) or
//! redirects, `return` answers, `set` assigns a variable, `break` stops.

use super::{Cx, Routed, fixed_return};
use crate::config::{Op, Return, RewriteFlag};
use crate::http::Response;

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
}

/// Runs `ops` on the request; the location (if any) is `r.location`.
pub fn run(cx: &Cx, ops: &[Op], r: &mut Routed, in_location: bool) -> Flow {
    for op in ops {
        match op {
            Op::Return(ret) => return Flow::Respond(answer(cx, r, ret, in_location)),
            Op::Break => return Flow::Break,
            Op::Set { var, value } => {
                let v = value.expand(&cx.env(r, in_location));
                if let crate::vars::Var::User(slot) = var {
                    r.vars.set(*slot, v);
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
                let new = replacement.expand(&cx.env(r, in_location));
                cx.note(|| format!("rewrite {} matched {}: {new}", pattern.as_str(), r.path));
                let external = ["http://", "https://"].iter().any(|p| new.starts_with(p))
                    || replacement.source().starts_with("$scheme");
                if external || matches!(flag, RewriteFlag::Redirect | RewriteFlag::Permanent) {
                    let code = if *flag == RewriteFlag::Permanent {
                        301
                    } else {
                        302
                    };
                    let target = with_args(&new, r.args.as_deref());
                    return Flow::Respond(cx.redirect(r, code, &target, in_location));
                }
                if !set_uri(r, &new) {
                    return Flow::Respond(super::unsafe_uri(cx, r, &new));
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

/// `return CODE [TEXT|URL]`.
fn answer(cx: &Cx, r: &Routed, ret: &Return, in_location: bool) -> Response {
    let target = ret.target.as_ref().map(|t| match t.literal() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.expand(&cx.env(r, in_location))),
    });
    match (ret.code, target.as_deref()) {
        (301 | 302 | 303 | 307 | 308, Some(url)) => cx.redirect(r, ret.code, url, in_location),
        (code, Some(text)) => {
            // nginx sends the text as the location's default_type.
            let server = r.server(cx.config);
            let loc = match in_location {
                true => r.location(cx.config),
                false => super::route::match_location(server, "/"),
            };
            Response::with_body(code, &loc.default_type, text.as_bytes().to_vec())
        }
        (code, None) => fixed_return(code, None),
    }
}

/// A rewritten URI: `?` starts new arguments (the old ones follow them, unless the
/// replacement ends with `?`). `false` (nothing changed) when the path is not a
/// clean absolute path once its dot segments are removed (it climbs above `/`).
fn set_uri(r: &mut Routed, new: &str) -> bool {
    let (path, args) = match new.split_once('?') {
        Some((p, "")) => (p, None),
        Some((p, a)) => {
            let args = match &r.args {
                Some(old) if !old.is_empty() => format!("{a}&{old}"),
                _ => a.to_string(),
            };
            (p, Some(args))
        }
        None => (new, r.args.take()),
    };
    let Some(clean) = super::path::normalize(path) else {
        return false;
    };
    r.path = clean;
    r.args = args;
    true
}

/// A redirect target with the request's arguments appended (unless it ends in `?`,
/// which drops them).
fn with_args(target: &str, args: Option<&str>) -> String {
    if let Some(stripped) = target.strip_suffix('?') {
        return stripped.to_string();
    }
    match args {
        Some(a) if !a.is_empty() => {
            let sep = if target.contains('?') { '&' } else { '?' };
            format!("{target}{sep}{a}")
        }
        _ => target.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_follow_nginx() {
        assert_eq!(with_args("/new", Some("a=1")), "/new?a=1");
        assert_eq!(with_args("/new?b=2", Some("a=1")), "/new?b=2&a=1");
        assert_eq!(with_args("/new?", Some("a=1")), "/new");
        assert_eq!(with_args("/new", None), "/new");
        let mut r = Routed::new(0, "/old".into(), Some("a=1"));
        assert!(set_uri(&mut r, "/x?b=2"));
        assert_eq!(
            (r.path.as_str(), r.args.as_deref()),
            ("/x", Some("b=2&a=1"))
        );
        assert!(set_uri(&mut r, "/y?"));
        assert_eq!((r.path.as_str(), r.args.as_deref()), ("/y", None));
        r.args = Some("c=3".into());
        assert!(set_uri(&mut r, "//z/../w"));
        assert_eq!((r.path.as_str(), r.args.as_deref()), ("/w", Some("c=3")));
        // Above the root, or not a path: refused, the request keeps its URI.
        for bad in ["/../secret.txt", "/a/../../x?y=1", "relative", ""] {
            assert!(!set_uri(&mut r, bad), "{bad}");
            assert_eq!(r.path, "/w", "{bad}");
        }
    }
}
