//! The request phases, as nginx runs them, on a request head: an explicit list
//! ([`PHASES`]) of small steps, each returning a [`Verdict`]:
//!
//! post-read (realip) → server rewrite (`rewrite`/`return`/`set`) → find the
//! location (`internal`, the declared body size) → location rewrite → preaccess
//! (realip, `limit_req`, `limit_conn`) → access (`allow`/`deny`, `auth_basic`,
//! `satisfy`; it may park the request for a password check) → post-access
//! (variable `root`, OPTIONS, methods) → `try_files` → content (the handler's choice: backend, CGI script,
//! `index` file; upload, delete, static file and autoindex need no choice here).
//!
//! An internal redirect (`rewrite ... last`, a `try_files` fallback, an `index`
//! file, an `error_page`) goes back to "find the location" with the new URI; more
//! than [`MAX_REDIRECTS`] in one request is a 500, as in nginx. The head is enough
//! for every decision, so the body can then go straight to its sink (an upload
//! file, or the spool a CGI script reads), and the content runs once it is in.

use std::borrow::Cow;

use super::auth::Access;
use super::rewrite::{self, Flow};
use super::static_file::{self, Kind};
use super::{Cx, Early, Routed, error_page, error_response, path, route as find};
use crate::cgi;
use crate::config::proxy::Protocol;
use crate::config::{Fallback, Location, TryFiles};
use crate::http::{Framing, Method, Request, Response};

/// Internal redirects allowed in one request (nginx's limit).
pub const MAX_REDIRECTS: u8 = 10;

/// Where the next round starts.
#[derive(Clone, Copy)]
pub enum Target {
    /// Search the locations for `Routed::path`.
    Uri,
    /// A named location (index into the server's locations).
    Named(usize),
}

/// What one phase decided.
pub enum Verdict {
    /// Go on with the next phase.
    Next,
    /// Answer with this response: the phases end here.
    Respond(Response),
    /// An internal redirect: back to "find the location" (the step has set the
    /// new URI in the request's state).
    Redirect(Target),
    /// An error page in a proxied location: this request (without a body) goes
    /// to its backend, in the state the phases left.
    Pass(Box<Request>),
    /// Wait this long (`limit_req`'s delay), then run this phase again: the
    /// connection parks on its timer, no thread sleeps.
    Wait(std::time::Duration),
    /// The phases stop unanswered: the request waits for a password check
    /// (`Routed::pending`), and the connection routes it again once it is done.
    Park,
}

/// How the phases ended before the content handler.
pub enum Stopped {
    Respond(Response),
    Pass(Box<Request>),
    /// Go on at this phase after the delay ([`resume`]).
    Wait(std::time::Duration, usize),
}

/// One phase: it reads the request through `cx` and changes its state `r`;
/// `target` is what "find the location" searches this round.
type Step = fn(cx: &Cx, r: &mut Routed, target: Target) -> Verdict;

/// The phases in nginx's order, each with its name (`--explain` says which one
/// answered).
pub const PHASES: [(&str, Step); 9] = [
    ("post-read", post_read),
    ("server-rewrite", server_rewrite),
    ("find-config", find_config),
    ("rewrite", location_rewrite),
    ("preaccess", preaccess),
    ("access", access),
    ("post-access", post_access),
    ("try-files", try_files_phase),
    ("content", content),
];

/// Where an internal redirect starts again.
const FIND_CONFIG: usize = 2;

/// The phases from the first on. An early answer keeps the request's state where
/// it stopped, for the access log.
pub fn route(cx: &Cx, server: usize, vars: crate::vars::State) -> Result<Routed, Box<Early>> {
    let merge = cx.config.servers[server].merge_slashes;
    let Some(clean) = path::clean_with(cx.req.path(), merge) else {
        return Err(Early::bare(error_response(cx.config, server, None, 400)));
    };
    let mut r = Routed::new(server, clean, cx.req.query());
    r.vars = vars;
    // Until a location is found, the server's settings are those of its `/`.
    r.location = find::find_location(&cx.config.servers[server], "/", &mut r.vars.clone()).0;
    finish(run(cx, &mut r, 0, Target::Uri), r)
}

/// The phases from where a wait stopped them (`r.limits.delay`'s phase) on.
pub fn resume(cx: &Cx, mut r: Routed) -> Result<Routed, Box<Early>> {
    let at = r.limits.delay.take().map_or(FIND_CONFIG, |(_, at)| at);
    finish(run(cx, &mut r, at, Target::Uri), r)
}

/// The phases' end as `route` gives it: a wait leaves the request routed, with
/// the delay noted for the connection.
fn finish(stopped: Result<(), Stopped>, mut r: Routed) -> Result<Routed, Box<Early>> {
    match stopped {
        Ok(()) => Ok(r),
        Err(Stopped::Wait(delay, at)) => {
            r.limits.delay = Some((delay, at));
            Ok(r)
        }
        Err(Stopped::Respond(resp)) => Err(Early::at(resp, r)),
        Err(Stopped::Pass(get)) => {
            let mut early = Early::at(super::builtin_error(500), r);
            early.pass = Some(get);
            Err(early)
        }
    }
}

/// The phases from "find the location" on, until a content handler is chosen; `r`
/// is left as the phases left it, also when they answer (`Err`).
///
/// An error page's location may delay it by `limit_req` when the request met no
/// limit before (the limits run once per main request): the page is made at
/// once and its answer held for the delay (`r.delay`, as `auth_delay` holds a
/// 401).
pub fn locate(cx: &Cx, r: &mut Routed, target: Target) -> Result<(), Response> {
    let mut stopped = run(cx, r, FIND_CONFIG, target);
    if let Err(Stopped::Wait(delay, at)) = stopped {
        // limit_req has decided now: the phase runs again without a wait.
        r.delay = Some(r.delay.unwrap_or_default().max(delay));
        stopped = run(cx, r, at, Target::Uri);
    }
    match stopped {
        Ok(()) => Ok(()),
        Err(Stopped::Respond(resp)) => Err(resp),
        // Only an error page passes on, and an error page's own errors get the
        // built-in page: not reached from error_page's rounds.
        Err(Stopped::Pass(_) | Stopped::Wait(..)) => Err(super::builtin_error(500)),
    }
}

/// Runs the phases from `at` to the end, or until one answers.
fn run(cx: &Cx, r: &mut Routed, mut at: usize, mut target: Target) -> Result<(), Stopped> {
    while let Some((name, step)) = PHASES.get(at) {
        // Every phase sees the client address realip has found so far.
        let seen = super::realip::view(cx, r);
        let cx = seen.as_ref().unwrap_or(cx);
        super::log_scope::follow(cx.config, r);
        match step(cx, r, target) {
            Verdict::Next => at += 1,
            Verdict::Respond(resp) => {
                cx.note(|| format!("the {name} phase answered {}", resp.status));
                return Err(Stopped::Respond(resp));
            }
            Verdict::Pass(get) => {
                cx.note(|| format!("the {name} phase passed an error page to a backend"));
                return Err(Stopped::Pass(get));
            }
            Verdict::Wait(delay) => {
                cx.note(|| format!("the {name} phase waits {} ms", delay.as_millis()));
                return Err(Stopped::Wait(delay, at));
            }
            Verdict::Redirect(next) => {
                if let Some(stop) = redirected(cx, r) {
                    return Err(stop);
                }
                target = next;
                at = FIND_CONFIG;
            }
            Verdict::Park => {
                cx.note(|| format!("the {name} phase waits for a password check"));
                return Ok(());
            }
        }
    }
    Ok(())
}

/// realip with the server's settings.
fn post_read(cx: &Cx, r: &mut Routed, _: Target) -> Verdict {
    super::realip::post_read(cx, r);
    Verdict::Next
}

/// The server's `rewrite`/`return`/`set`, once per request.
fn server_rewrite(cx: &Cx, r: &mut Routed, _: Target) -> Verdict {
    let ops = &cx.config.servers[r.server].rewrite;
    if ops.is_empty() {
        return Verdict::Next;
    }
    match rewrite::run(cx, ops, r, false) {
        // The server's headers (`add_header`, `expires`, `charset`) apply to
        // its own `return`, as in nginx.
        Flow::Respond(resp) => Verdict::Respond(cx.decorate(resp, r)),
        // nginx reruns the server's rewrites on the error page's internal
        // redirect, so a server-level `return CODE` answers its own error
        // again: the built-in page.
        Flow::Error(code) => Verdict::Respond(cx.decorate(super::builtin_error(code), r)),
        Flow::Next | Flow::Last | Flow::Break => Verdict::Next,
    }
}

/// Finds the location (a directory's location without its slash is a 301 to
/// it), then the checks nginx makes at once: `internal`, the declared length.
fn find_config(cx: &Cx, r: &mut Routed, target: Target) -> Verdict {
    let server = &cx.config.servers[r.server];
    r.local = None;
    let how;
    (r.location, how) = match target {
        Target::Named(i) => (i, None),
        Target::Uri => {
            let (i, how) = find::find_location(server, &r.path, &mut r.vars);
            if find::auto_redirect(server, &r.path, how) {
                r.location = i;
                let mut to = format!("{}/", path::encode(&r.path));
                if let Some(a) = r.args.as_deref().filter(|a| !a.is_empty()) {
                    to.push('?');
                    to.push_str(a);
                }
                return Verdict::Respond(cx.redirect(r, 301, &to, true));
            }
            (i, Some(how))
        }
    };
    let loc = &server.locations[r.location];
    cx.note(|| {
        let why = match how {
            None => "named location".to_string(),
            Some(find::How::Regex) if r.vars.captures.is_empty() => "regex".to_string(),
            Some(find::How::Regex) => format!("regex, captures {:?}", r.vars.captures),
            Some(h) => format!("{h:?}").to_lowercase(),
        };
        format!(
            "location {}{} for {} ({why})",
            loc.modifier(),
            loc.path,
            r.path
        )
    });
    super::log_scope::follow(cx.config, r);
    log::debug!(
        "using configuration \"{}{}\"",
        loc.modifier().trim_end(),
        loc.path
    );
    if loc.internal && r.redirects == 0 {
        return fail(cx, r, 404);
    }
    let limit = loc.client_max_body_size;
    if matches!(cx.req.framing, Framing::Length(n) if limit != 0 && n > limit) {
        return fail(cx, r, 413);
    }
    Verdict::Next
}

/// The location's `rewrite`/`return`/`set`/`if`.
fn location_rewrite(cx: &Cx, r: &mut Routed, _: Target) -> Verdict {
    let loc = &cx.config.servers[r.server].locations[r.location];
    match rewrite::run(cx, &loc.rewrite, r, true) {
        Flow::Next | Flow::Break => Verdict::Next,
        Flow::Last => Verdict::Redirect(Target::Uri),
        Flow::Respond(resp) if redirect_has_error_page(cx, r, &resp) => fail_redirect(cx, r, resp),
        Flow::Respond(resp) => Verdict::Respond(cx.decorate(resp, r)),
        Flow::Error(code) => fail(cx, r, code),
    }
}

/// realip with the location's settings (an `if` that held may have moved the
/// request to its configuration), then `limit_req` and `limit_conn` on the
/// client it leaves (once per request; a delay is the connection's to wait).
fn preaccess(cx: &Cx, r: &mut Routed, _: Target) -> Verdict {
    super::realip::preaccess(cx, r);
    let seen = super::realip::view(cx, r);
    match super::limits::preaccess(seen.as_ref().unwrap_or(cx), r) {
        super::limits::Limit::Pass => Verdict::Next,
        super::limits::Limit::Delay(d) => Verdict::Wait(d),
        super::limits::Limit::Reject(code) => fail(cx, r, code),
    }
}

/// `allow` / `deny` on the client address realip left, basic authentication,
/// combined by `satisfy` (`handler::auth`).
fn access(cx: &Cx, r: &mut Routed, _: Target) -> Verdict {
    let loc = &cx.config.servers[r.server].locations[r.location];
    match super::auth::check(cx, r, loc) {
        Access::Allow => Verdict::Next,
        Access::Deny(refusal) => match fail(cx, r, refusal.status) {
            Verdict::Respond(mut resp) => {
                super::auth::refused(&mut resp, r, refusal);
                Verdict::Respond(resp)
            }
            other => other,
        },
        Access::Pending(job) => {
            r.pending = Some(job);
            Verdict::Park
        }
    }
}

/// A variable `root`/`alias` expanded for this request; OPTIONS and methods the
/// location cannot answer (a proxied location's content is the upstream's,
/// whatever the method).
fn post_access(cx: &Cx, r: &mut Routed, _: Target) -> Verdict {
    let loc = &cx.config.servers[r.server].locations[r.location];
    let from_vars = loc
        .disable_symlinks
        .as_ref()
        .and_then(|d| d.from.as_ref())
        .is_some_and(|t| t.literal().is_none());
    if loc.root_vars.is_some() || loc.alias_vars.is_some() || from_vars {
        r.local = Some(Box::new(expanded(cx, r, loc)));
    }
    let loc = r.location(cx.config);
    let proxied = loc.gateway().is_some();
    if cx.req.method == Method::Options && !proxied {
        return Verdict::Respond(cx.decorate(super::options::for_location(loc), r));
    }
    let method = cx.req.method;
    if !proxied
        && !loc.dav.handles(method)
        && (!super::method_allowed(loc, method) || !super::has_handler(loc, method))
    {
        return Verdict::Respond(super::not_allowed(cx, r));
    }
    Verdict::Next
}

/// `try_files`: the first file that exists, else the fallback.
fn try_files_phase(cx: &Cx, r: &mut Routed, _: Target) -> Verdict {
    let loc = r.location(cx.config);
    let Some(tf) = &loc.try_files else {
        return Verdict::Next;
    };
    match try_files(cx, r, loc, tf) {
        Tried::File(uri, tailed) => {
            r.path = uri;
            if tailed.is_some() {
                r.local = tailed;
            }
            Verdict::Next
        }
        Tried::Uri(uri) => {
            if !set_target(r, &uri) {
                return Verdict::Respond(super::unsafe_uri(cx, r, &uri));
            }
            Verdict::Redirect(Target::Uri)
        }
        Tried::Named(i) => Verdict::Redirect(Target::Named(i)),
        Tried::Status(code) => fail(cx, r, code),
    }
}

/// The content handler's choice: a backend, a CGI script, or an `index` file (an
/// internal redirect); anything else is decided when the body is in.
fn content(cx: &Cx, r: &mut Routed, _: Target) -> Verdict {
    let loc = r.location(cx.config);
    if let Some(g) = loc.gateway() {
        cx.note(|| match g.protocol {
            Protocol::Http => format!("proxied to {}", g.pass.url),
            Protocol::FastCgi => format!("passed to FastCGI application {}", g.pass.url),
        });
        return Verdict::Next;
    }
    // A status page is the location's content: no script, no index file.
    if loc.status_page.is_some() {
        return Verdict::Next;
    }
    r.script = cgi::find_script(loc, &r.path);
    let loc = r.location(cx.config);
    if r.script.is_none()
        && r.path.ends_with('/')
        && index_applies(loc, cx.req.method)
        && let Some(uri) = index_file(cx, r, loc)
    {
        r.path = uri;
        return Verdict::Redirect(Target::Uri);
    }
    Verdict::Next
}

/// The error page for `code`; `r` becomes the state the error page ended in
/// (or is passed on in, for a proxied error page).
fn fail(cx: &Cx, r: &mut Routed, code: u16) -> Verdict {
    match error_page::resolve(cx, r, code) {
        error_page::Page::Ready(resp, done) => {
            if let Some(done) = done {
                *r = done;
            }
            Verdict::Respond(resp)
        }
        error_page::Page::Pass(get, next) => {
            *r = *next;
            Verdict::Pass(get)
        }
    }
}

/// Whether a location's `return` or `rewrite` redirect goes to the location's
/// `error_page` for its status, as nginx finalizes such a request with it.
fn redirect_has_error_page(cx: &Cx, r: &Routed, resp: &Response) -> bool {
    matches!(resp.status, 301 | 302 | 303 | 307 | 308)
        && !r.in_error_page
        && r.location(cx.config).error_pages.contains_key(&resp.status)
}

/// The error page for a redirect: its `Location` stays unless the page sets
/// its own (nginx keeps the header across the internal redirect).
fn fail_redirect(cx: &Cx, r: &mut Routed, redirect: Response) -> Verdict {
    match fail(cx, r, redirect.status) {
        Verdict::Respond(mut resp) => {
            if resp.get_header("Location").is_none()
                && let Some(location) = redirect.get_header("Location")
            {
                resp.header("Location", location);
            }
            Verdict::Respond(resp)
        }
        other => other,
    }
}

/// Counts an internal redirect; too many is a 500 (`Some`: the phases stop).
fn redirected(cx: &Cx, r: &mut Routed) -> Option<Stopped> {
    cx.note(|| {
        let args = r.args.as_deref().map_or(String::new(), |a| format!("?{a}"));
        format!("internal redirect to {}{args}", r.path)
    });
    r.redirects += 1;
    if r.redirects > MAX_REDIRECTS {
        log::error!(
            "rewrite or internal redirection cycle while processing \"{}\"",
            r.path
        );
        return Some(match fail(cx, r, 500) {
            Verdict::Pass(get) => Stopped::Pass(get),
            Verdict::Respond(resp) => Stopped::Respond(resp),
            Verdict::Next | Verdict::Redirect(_) | Verdict::Wait(_) | Verdict::Park => {
                Stopped::Respond(super::builtin_error(500))
            }
        });
    }
    None
}

/// A redirect target `URI[?ARGS]`: new arguments replace the old ones. `false`
/// (nothing changed) when the path climbs above `/` or is not absolute.
fn set_target(r: &mut Routed, uri: &str) -> bool {
    let (p, args) = match uri.split_once('?') {
        Some((p, a)) => (p, Some(a.to_string())),
        None => (uri, r.args.clone()),
    };
    let Some(clean) = path::normalize(p) else {
        return false;
    };
    r.path = clean;
    r.args = args;
    true
}

/// The location with `root`/`alias` variables expanded for this request.
fn expanded(cx: &Cx, r: &Routed, loc: &Location) -> Location {
    let env = cx.env(r, true);
    let mut local = loc.clone();
    if let Some(t) = &loc.root_vars {
        local.root = t.expand(&env).into();
    }
    if let Some(t) = &loc.alias_vars {
        local.alias = Some(t.expand(&env).into());
    }
    // `from=$document_root` reads the root just expanded.
    if let Some(t) = loc.disable_symlinks.as_ref().and_then(|d| d.from.as_ref()) {
        let mut env = cx.env(r, true);
        env.location = Some(&local);
        let from = t.expand(&env);
        local.symlinks_from = Some(from);
    }
    local
}

/// What `try_files` found.
enum Tried {
    /// A file (or directory, for a name ending in `/`) exists: serve this URI here
    /// (with the URI added to the location's alias when that names the file).
    File(String, Option<Box<Location>>),
    /// The fallback URI.
    Uri(String),
    Named(usize),
    Status(u16),
}

fn try_files(cx: &Cx, r: &Routed, loc: &Location, tf: &TryFiles) -> Tried {
    let env = cx.env(r, true);
    for t in &tf.files {
        let name: Cow<str> = match t.literal() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(t.expand(&env)),
        };
        // nginx tests `NAME/` as the directory NAME, and serves it as NAME (so a
        // directory without its slash gets the 301 to it).
        let dir = t.source().ends_with('/') && name.len() > 1;
        let tested = if dir {
            &name[..name.len() - 1]
        } else {
            &name[..]
        };
        let Some(uri) = path::normalize(tested) else {
            continue;
        };
        let want = if dir { Kind::Dir } else { Kind::File };
        // nginx: in a regex location the alias is the directory the names are in.
        let tailed = (!dir && loc.alias.is_some() && loc.alias_is_whole()).then(|| {
            let mut t = Box::new(loc.clone());
            t.alias_tail = Some(uri.clone());
            t
        });
        let here = tailed.as_deref().unwrap_or(loc);
        let found = static_file::probe(here, &uri) == Some(want);
        cx.note(|| {
            let kind = if dir { "directory" } else { "file" };
            let file = here.file_for(&uri);
            let seen = if found { "found" } else { "not found" };
            format!("try_files {kind} {}: {seen}", file.display())
        });
        if found {
            return Tried::File(uri, tailed);
        }
    }
    match &tf.fallback {
        Fallback::Status(code) => Tried::Status(*code),
        Fallback::Uri(t) => {
            let uri = t.expand(&env);
            if uri.starts_with('@') {
                let server = &cx.config.servers[r.server];
                return match find::named_location(server, &uri) {
                    Some(i) => Tried::Named(i),
                    None => {
                        log::error!("try_files: no named location \"{uri}\"");
                        Tried::Status(500)
                    }
                };
            }
            Tried::Uri(uri)
        }
    }
}

/// nginx's index module answers GET, HEAD and POST; a POST to a location that takes
/// uploads is the upload's.
fn index_applies(loc: &Location, method: Method) -> bool {
    match method {
        Method::Get | Method::Head => true,
        Method::Post => loc.upload_store.is_none(),
        _ => false,
    }
}

/// The first `index` file that exists in the directory `r.path` names, as a URI
/// (names may hold variables: `index $server_name.html;`).
fn index_file(cx: &Cx, r: &Routed, loc: &Location) -> Option<String> {
    let uri = &r.path;
    loc.index.iter().find_map(|t| {
        let name: Cow<str> = match t.literal() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(t.expand(&cx.env(r, true))),
        };
        // nginx: an index that is a URI is an internal redirect at once, the
        // file unchecked (`index $map_value;` picks the page).
        if name.starts_with('/') {
            return Some(name.into_owned());
        }
        let candidate = format!("{uri}{name}");
        (static_file::probe(loc, &candidate) == Some(Kind::File)).then_some(candidate)
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::handler::route;
    use crate::http::request::parse_head;

    fn config(text: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, text).unwrap();
        crate::config::load(&file, dir.path()).unwrap()
    }

    #[test]
    fn early_answers_keep_the_request_state() {
        let c = config(
            "server { listen 127.0.0.1:1; set $v 1;
                location /a/ { set $v 0; return 200 x; }
                location /b/ { rewrite ^/b/(.*)$ /a/$1?n=1 last; }
                location /c/ { internal; }
            }",
        );
        let slot = c.vars.iter().position(|v| v == "v").unwrap() as u16;
        let origin = crate::handler::Origin::test_loopback();
        // target, status, $uri, $args, $v, location
        let cases = [
            ("/a/x%20y?q=1", 200, "/a/x y", Some("q=1"), "0", "/a/"),
            ("/b/z?q=1", 200, "/a/z", Some("n=1&q=1"), "0", "/a/"),
            ("/c/", 404, "/c/", None, "1", "/c/"),
        ];
        for (target, status, uri, args, v, loc) in cases {
            let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
            let (req, _) = parse_head(raw.as_bytes(), 8192).unwrap().unwrap();
            let early = route(&c, origin.clone(), &req).unwrap_err();
            let r = early.routed.expect(target);
            assert_eq!(early.resp.status, status, "{target}");
            assert_eq!(
                (r.path.as_str(), r.args.as_deref()),
                (uri, args),
                "{target}"
            );
            assert_eq!(r.vars.user(slot), Some(v), "{target}");
            assert_eq!(r.location(&c).path, loc, "{target}");
        }
    }

    #[test]
    fn an_error_page_delayed_by_its_limit_holds_its_answer() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("p")).unwrap();
        std::fs::write(root.path().join("p/x"), "page").unwrap();
        let c = config(&format!(
            "http {{ limit_req_zone $binary_remote_addr zone=ut_page:1m rate=1r/m;
                server {{ listen 127.0.0.1:1; root {};
                    location /a/ {{ error_page 404 /p/x; return 404; }}
                    location /p/ {{ limit_req zone=ut_page burst=1; }}
                }} }}",
            root.path().display()
        ));
        let origin = crate::handler::Origin::test_loopback();
        let raw = "GET /a/ HTTP/1.1\r\nHost: a\r\n\r\n";
        let (req, _) = parse_head(raw.as_bytes(), 8192).unwrap().unwrap();
        // The first page at once, the second held for the bucket's drain
        // (62.5 s at 1r/m), counted once; the third refused: the built-in 503.
        let mut seen = Vec::new();
        for _ in 0..3 {
            let early = route(&c, origin.clone(), &req).unwrap_err();
            let delay = early.routed.as_ref().and_then(|r| r.delay);
            seen.push((early.resp.status, delay.map(|d| d.as_millis())));
        }
        assert_eq!(seen, [(404, None), (404, Some(62_500)), (503, None)]);
    }

    #[test]
    fn phases_answer_in_nginx_order() {
        let c = config(
            "server { listen 127.0.0.1:1;
                location /r/ { deny all; return 200 x; }
                location /a/ { deny all; try_files /nothing =404; }
                location /t/ { try_files /nothing =410; }
                location /m/ { allow_methods GET; deny all; }
                location /big/ { client_max_body_size 1; return 200 x; }
            }",
        );
        let origin = crate::handler::Origin::test_loopback();
        // rewrite before access, access before try_files, the declared length
        // right after the location is found.
        let cases = [
            ("GET /r/ HTTP/1.1\r\nHost: a\r\n\r\n", 200),
            ("GET /a/ HTTP/1.1\r\nHost: a\r\n\r\n", 403),
            ("GET /t/ HTTP/1.1\r\nHost: a\r\n\r\n", 410),
            (
                "PUT /m/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                403,
            ),
            (
                "POST /big/ HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n",
                413,
            ),
        ];
        for (raw, status) in cases {
            let (req, _) = parse_head(raw.as_bytes(), 8192).unwrap().unwrap();
            let early = route(&c, origin.clone(), &req).unwrap_err();
            assert_eq!(early.resp.status, status, "{raw}");
        }
    }
}
