//! Error pages: `error_page CODE... [=[CODE]] URI|@name|URL` of the location that
//! produced the error, as an internal redirect that goes through the phases again
//! (with GET, as nginx does), so the page may live in any location, a named one
//! included; an absolute URL is a 302 to it. An error while serving an error page
//! gets the built-in page (nginx's `recursive_error_pages off`). The answer keeps
//! the original status (nginx's `err_status`, in the request's variable state)
//! unless `=CODE` forces one or a bare `=` lets the target's stand; a redirect the
//! target makes keeps its own.

use super::phases::{self, Target};
use super::{Cx, Origin, Routed, fixed_return, route, static_file};
use crate::config::Config;
use crate::http::request::Fields;
use crate::http::response::error_body;
use crate::http::{Framing, Method, Request, Response};

/// The error response for `status` where no request head is at hand (a malformed
/// request, a timeout) or from the connection: the `error_page` of the routed
/// location, else of the server's `/` location.
pub fn error_response(
    config: &Config,
    server_idx: usize,
    routed: Option<&Routed>,
    status: u16,
) -> Response {
    let server = &config.servers[server_idx];
    let loc = match routed {
        Some(r) => r.location(config),
        None => route::match_location(server, "/"),
    };
    if !loc.error_pages.contains_key(&status) && !loc.add_headers.iter().any(|h| h.always) {
        let mut resp = builtin_error(status);
        // An error status gets no `expires`: no value to read.
        super::headers::finish(&mut resp, loc, &|_| String::new());
        return resp;
    }
    let req = blank_request();
    let origin = Origin {
        group: 0,
        local: ([0, 0, 0, 0], 0).into(),
        peer: ([0, 0, 0, 0], 0).into(),
        tls: false,
        conn: crate::handler::Conn::accepted(std::time::Instant::now()),
        proxied: None,
        realip_from: None,
    };
    let cx = Cx {
        config,
        origin,
        req: &req,
        trace: None,
    };
    match routed {
        Some(r) => for_request(&cx, r, status),
        None => {
            let mut r = Routed::new(server_idx, "/".into(), None);
            r.location = route::find_location(server, "/", &mut r.vars).0;
            for_request(&cx, &r, status)
        }
    }
}

/// The error response for `status` while handling `r`, with the location's
/// `add_header ... always` headers.
pub fn for_request(cx: &Cx, r: &Routed, status: u16) -> Response {
    serve(cx, r, status).0
}

/// [`for_request`], and the request's state where the error page was served (its
/// location and variables, for the access log); `None` when no error page ran.
/// An error page in a proxied location gets the built-in page here: callers
/// that can start a backend use [`resolve`].
pub fn serve(cx: &Cx, r: &Routed, status: u16) -> (Response, Option<Routed>) {
    match resolve(cx, r, status) {
        Page::Ready(resp, done) => (resp, done),
        Page::Pass(_, next) => {
            log::error!(
                "error_page {status}: the proxied location {} cannot serve this error page",
                next.path
            );
            (cx.decorate(builtin_error(status), r), None)
        }
    }
}

/// The error page for an error found before a backend ran (the phases, a
/// content handler): as [`resolve`], with the request a proxied page gets
/// carrying no body (the client's was not read, or went to a handler).
pub fn resolve_bodiless(cx: &Cx, r: &Routed, status: u16) -> Page {
    match resolve(cx, r, status) {
        Page::Pass(mut get, next) => {
            get.framing = crate::http::Framing::None;
            Page::Pass(get, next)
        }
        ready => ready,
    }
}

/// Where an error page comes from.
// The common answer stays unboxed; the rare pass-on is boxed.
#[allow(clippy::large_enum_variant)]
pub enum Page {
    /// Answered here (a file, a redirect, the built-in page), with the state the
    /// page was served in.
    Ready(Response, Option<Routed>),
    /// A location with `proxy_pass` or `fastcgi_pass`: the request (a GET, or
    /// HEAD) goes there; its answer takes the status in the state's `err_status`.
    Pass(Box<Request>, Box<Routed>),
}

/// The error page for `status` of `r`'s location, as far as it can be found
/// without a backend.
pub fn resolve(cx: &Cx, r: &Routed, status: u16) -> Page {
    let builtin = || cx.decorate(builtin_error(status), r);
    let ready = |resp| Page::Ready(resp, None);
    let Some(page) = r.location(cx.config).error_pages.get(&status) else {
        return ready(builtin());
    };
    if r.in_error_page {
        return ready(builtin());
    }
    let target = match page.uri.literal() {
        Some(s) => s.to_string(),
        None => page.uri.expand(&cx.env(r, true)),
    };
    if target.starts_with("http://") || target.starts_with("https://") {
        let code = page
            .status_override
            .filter(|c| matches!(c, 301 | 302 | 303 | 307 | 308))
            .unwrap_or(302);
        return ready(cx.decorate(fixed_return(code, Some(&target)), r));
    }
    // `=CODE` answers with CODE, a bare `=` with the page's own status.
    let answer = match page.status_override {
        Some(0) => None,
        Some(code) => Some(code),
        None => Some(status),
    };
    let mut get = cx.req.clone();
    if get.method != Method::Head {
        get.method = Method::Get;
    }
    get.framing = Framing::None;
    get.expect_continue = false;
    let gcx = Cx {
        config: cx.config,
        origin: cx.origin.clone(),
        req: &get,
        trace: cx.trace,
    };
    cx.note(|| format!("error_page {status} → internal redirect to {target}"));
    let mut next = r.clone();
    next.redirects += 1;
    next.in_error_page = true;
    next.script = None;
    next.vars.err_status = answer;
    let start = if target.starts_with('@') {
        match route::named_location(r.server(cx.config), &target) {
            Some(i) => Target::Named(i),
            None => {
                log::error!("error_page: no named location \"{target}\"");
                return ready(builtin());
            }
        }
    } else {
        let (p, args) = target.split_once('?').unwrap_or((&target, ""));
        let Some(clean) = super::path::clean(p) else {
            return ready(builtin());
        };
        next.path = clean;
        next.args = (!args.is_empty()).then(|| args.to_string());
        Target::Uri
    };
    match phases::locate(&gcx, &mut next, start) {
        Ok(()) if next.location(cx.config).gateway().is_some() => {
            // The body goes on to the backend, and to a named location the
            // method too, as nginx passes them.
            if target.starts_with('@') {
                get.method = cx.req.method;
            }
            get.framing = cx.req.framing;
            Page::Pass(Box::new(get), Box::new(next))
        }
        Ok(()) if next.script.is_some() => {
            log::error!("error_page {target}: a CGI script cannot serve an error page yet");
            ready(builtin())
        }
        Ok(()) => match static_file::serve_error_page(next.location(cx.config), &next.path) {
            Ok(mut resp) => {
                if let Some(code) = answer {
                    resp.status = code;
                }
                Page::Ready(gcx.decorate(resp, &next), Some(next))
            }
            // A directory without its slash: the redirect the static handler makes.
            Err(301) => {
                let slashed = match next.args.as_deref() {
                    Some(a) => format!("{}/?{a}", next.path),
                    None => format!("{}/", next.path),
                };
                Page::Ready(gcx.redirect(&next, 301, &slashed, true), Some(next))
            }
            Err(_) => ready(builtin()),
        },
        Err(resp) => Page::Ready(resp, Some(next)),
    }
}

/// The built-in HTML error page.
pub fn builtin_error(status: u16) -> Response {
    Response::with_body(status, super::charset::GENERATED_HTML, error_body(status))
}

/// A GET of nothing, for error pages found before a request head was read.
pub fn blank_request() -> Request {
    Request {
        method: Method::Get,
        target: String::new(),
        http11: true,
        http2: false,
        headers: Fields::default(),
        host: None,
        framing: Framing::None,
        keep_alive: false,
        expect_continue: false,
        head_len: 0,
        tls: None,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::handler::{Origin, route};
    use crate::http::Body;
    use crate::http::request::parse_head;

    fn config(text: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gone.html"), "gone\n").unwrap();
        let file = dir.path().join("t.conf");
        let text = text.replace("ROOT", &dir.path().display().to_string());
        std::fs::write(&file, text).unwrap();
        let config = crate::config::load(&file, dir.path()).unwrap();
        (dir, config)
    }

    #[test]
    fn status_follows_nginx_err_status() {
        let (_dir, c) = config(
            "server { listen 127.0.0.1:1; root ROOT; error_page 410 /gone.html;
                location /a/ { error_page 404 @fb; }
                location @fb { return 200 \"fb $status\"; }
                location /b/ { error_page 404 /err?from=$uri; }
                location = /err { return 200 \"err $arg_from\"; }
                location /c/ { return 410; }
                location /d/ { error_page 404 = @fb; }
                location /e/ { error_page 404 =201 @fb; }
                location /f/ { error_page 404 @redir; }
                location @redir { return 301 /x; }
                location /g/ { error_page 404 @gone; }
                location @gone { return 410; }
            }",
        );
        let origin = Origin {
            group: 0,
            local: ([127, 0, 0, 1], 1).into(),
            peer: ([127, 0, 0, 1], 2).into(),
            tls: false,
            conn: crate::handler::Conn::accepted(std::time::Instant::now()),
            proxied: None,
            realip_from: None,
        };
        // target, status, body (for a `return` text)
        let cases: &[(&str, u16, Option<&str>)] = &[
            ("/a/x", 404, Some("fb 404")),
            ("/b/y", 404, Some("err /b/y")),
            ("/c/z", 410, None),
            ("/d/x", 200, Some("fb 200")),
            ("/e/x", 201, Some("fb 201")),
            ("/f/x", 301, None),
            ("/g/x", 410, None),
        ];
        for (target, status, body) in cases {
            let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
            let (req, _) = parse_head(raw.as_bytes(), 8192).unwrap().unwrap();
            let resp = match route(&c, origin.clone(), &req) {
                Ok(r) => {
                    let sink = crate::handler::Sink::Spool(Default::default());
                    let mut r = r;
                    match crate::handler::process(&c, &mut r, origin.clone(), &req, sink) {
                        crate::handler::Outcome::Respond(resp) => resp,
                        _ => panic!("{target}: not answered at once"),
                    }
                }
                Err(early) => early.resp,
            };
            assert_eq!(resp.status, *status, "{target}");
            if let Some(want) = body {
                let Body::Bytes(got) = &resp.body else {
                    panic!("{target}: not a text body")
                };
                assert_eq!(std::str::from_utf8(got).unwrap(), *want, "{target}");
            }
        }
    }
}
