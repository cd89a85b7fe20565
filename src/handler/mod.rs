//! The RequestProcessor, in nginx's request phases:
//!
//! 1. [`route`] when the head is complete: pick the virtual server, then run the
//!    [`phases`] (rewrite, location, access, `try_files`, the content handler's
//!    choice, with internal redirects) and answer at once what needs no body
//!    (`return`, redirects, 405, 413, bad path). [`body_sink`] then says where the
//!    body goes (an upload writer or a spool).
//! 2. [`process`] when the body is in: run the chosen content handler (CGI, upload,
//!    delete, static file, autoindex), and turn errors into error pages
//!    ([`error_page`]).

pub mod auth;
pub mod autoindex;
mod body;
pub mod charset;
pub mod cond;
pub mod dav;
pub mod delete;
pub mod detail;
pub mod error_page;
pub mod file_cache;
pub mod headers;
pub mod limits;
pub mod log_scope;
pub mod options;
pub mod path;
pub mod phases;
pub mod precompressed;
pub mod precondition;
pub mod range;
pub mod realip;
pub mod rewrite;
pub mod route;
pub mod static_file;
pub mod status_page;
pub mod trailers;
mod unescape;
pub mod upload;
pub mod upload_summary;
pub mod vhost;

use std::net::SocketAddr;

use crate::cgi::process::Launch;
use crate::cgi::{self, Script};
use crate::config::{Config, Location, Server};
use crate::http::body::{BodyError, BodySink, Spool};
use crate::http::response::error_body;
use crate::http::{Framing, Method, Request, Response};
use crate::vars::{self, Env};

pub use error_page::{builtin_error, error_response};

/// The configuration a request was matched to (indices into the config, so a
/// connection can keep it across reads without borrowing), and the request's state
/// as the phases left it.
#[derive(Debug, Clone)]
pub struct Routed {
    pub server: usize,
    pub location: usize,
    /// The current URI: percent-decoded, normalized, then changed by rewrites,
    /// `try_files` and internal redirects (`$uri`).
    pub path: String,
    /// The current query string (`$args`).
    pub args: Option<String>,
    /// The CGI script the path names, in a location with `cgi` handlers.
    pub script: Option<Script>,
    /// Regex captures and `set` variables.
    pub vars: vars::State,
    /// Internal redirects so far.
    pub redirects: u8,
    /// Serving an `error_page`: a further error gets the built-in page.
    pub in_error_page: bool,
    /// The location with `root`/`alias` variables expanded, when it has any.
    pub local: Option<Box<Location>>,
    /// The client address realip found for this request (see [`realip`]).
    pub client: Option<SocketAddr>,
    /// The `limit_conn` counts this request holds and the `limit_req` delay.
    pub limits: limits::Held,
    /// The phases stopped at the access phase for this slow password check:
    /// run it, then route the request again (see [`auth`]).
    pub pending: Option<Box<auth::Verify>>,
    /// The user `auth_basic` let in (CGI's `REMOTE_USER`).
    pub user: Option<String>,
    /// The answer the phases made waits this long: `auth_delay`'s 401, or an
    /// error page its location's `limit_req` delays.
    pub delay: Option<std::time::Duration>,
}

impl Routed {
    pub fn new(server: usize, path: String, args: Option<&str>) -> Routed {
        Routed {
            server,
            location: 0,
            path,
            args: args.map(str::to_string),
            script: None,
            vars: vars::State::default(),
            redirects: 0,
            in_error_page: false,
            local: None,
            client: None,
            limits: limits::Held::default(),
            pending: None,
            user: None,
            delay: None,
        }
    }

    pub fn server<'c>(&self, config: &'c Config) -> &'c Server {
        &config.servers[self.server]
    }

    pub fn location<'a>(&'a self, config: &'a Config) -> &'a Location {
        match &self.local {
            Some(local) => local,
            None => &config.servers[self.server].locations[self.location],
        }
    }
}

/// An answer the phases gave before any content handler ran (a `return`, a
/// redirect, an error), with the request's state where they stopped: the access
/// log reads its location and variables (`$uri`, `$args`, `set` values). Boxed
/// where it is returned: it is large, and rarer than a routed request.
#[derive(Debug)]
pub struct Early {
    pub resp: Response,
    /// `None` when no location was chosen (an undecodable path, `OPTIONS *`).
    pub routed: Option<Routed>,
    /// An error page in a proxied location: this request goes to its backend
    /// (in `routed`'s state); `resp` (a 500) answers if no backend can be
    /// started after all.
    pub pass: Option<Box<Request>>,
}

impl Early {
    fn at(resp: Response, routed: Routed) -> Box<Early> {
        Box::new(Early {
            resp,
            routed: Some(routed),
            pass: None,
        })
    }

    fn bare(resp: Response) -> Box<Early> {
        Box::new(Early {
            resp,
            routed: None,
            pass: None,
        })
    }
}

/// Where the request arrived: the listen group (index into `Config::listens`) and
/// the socket addresses.
#[derive(Debug, Clone)]
pub struct Origin {
    pub group: usize,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// The request came over TLS (`listen ... ssl`): `$scheme` is `https`, `$https`
    /// is `on`, CGI gets `HTTPS=on`. The one place the handlers learn it.
    pub tls: bool,
    pub conn: Conn,
    /// The addresses of the connection's PROXY protocol header (`$proxy_protocol_*`),
    /// when its listener has `proxy_protocol` and the header named any.
    /// Shared (not inline) to keep an idle connection small.
    pub proxied: Option<std::sync::Arc<Proxied>>,
    /// The connection's own client address once realip has replaced `peer` for
    /// this request (`$realip_remote_addr`); `None` while `peer` is that address.
    pub realip_from: Option<Box<SocketAddr>>,
}

/// What a PROXY protocol header said about the client's connection to the
/// balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proxied {
    /// The client.
    pub src: SocketAddr,
    /// The address the client connected to.
    pub dst: SocketAddr,
}

/// The connection a request came on: `$connection`, `$connection_requests`,
/// `$connection_time`, `$pipe`, and the age `keepalive_time` limits.
#[derive(Debug, Clone, Copy)]
pub struct Conn {
    /// Connections accepted by this process before this one, plus one.
    pub serial: u64,
    pub opened: std::time::Instant,
    /// Requests read on the connection, the current one included.
    pub requests: u64,
    /// The current request's bytes had arrived before the previous response
    /// was finished (HTTP/1.1 pipelining).
    pub pipelined: bool,
}

impl Conn {
    /// A connection opened at `now`, numbered after every one before it.
    pub fn accepted(now: std::time::Instant) -> Conn {
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Conn {
            serial: SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1,
            opened: now,
            requests: 0,
            pipelined: false,
        }
    }
}

impl Origin {
    /// A plain connection from 127.0.0.1:2 to 127.0.0.1:1, group 0: what the unit
    /// tests route with.
    #[cfg(test)]
    pub fn test_loopback() -> Origin {
        Origin {
            group: 0,
            local: ([127, 0, 0, 1], 1).into(),
            peer: ([127, 0, 0, 1], 2).into(),
            tls: false,
            conn: Conn::accepted(std::time::Instant::now()),
            proxied: None,
            realip_from: None,
        }
    }

    /// A connection accepted now on listen group `group`.
    pub fn accepted(group: usize, local: SocketAddr, peer: SocketAddr, tls: bool) -> Origin {
        Origin {
            group,
            local,
            peer,
            tls,
            conn: Conn::accepted(std::time::Instant::now()),
            proxied: None,
            realip_from: None,
        }
    }

    /// This origin with realip's client address `addr` in place of the peer
    /// (once per request: a second call keeps the first replacement's origin).
    pub fn with_client(mut self, addr: SocketAddr) -> Origin {
        self.realip_from.get_or_insert_with(|| Box::new(self.peer));
        self.peer = addr;
        self
    }

    /// Back to the connection's own client address (a new request starts).
    pub fn without_client(&mut self) {
        if let Some(own) = self.realip_from.take() {
            self.peer = *own;
        }
    }

    /// The origin realip left for `r`: every later phase, the content handlers,
    /// the gateway and the access log read the client address from it.
    pub fn for_request(&self, r: &Routed) -> Origin {
        match r.client {
            Some(addr) if self.realip_from.is_none() => self.clone().with_client(addr),
            _ => self.clone(),
        }
    }

    /// `$scheme`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}

/// What every phase reads: the configuration, where the request came from, and
/// the request head.
pub struct Cx<'a> {
    pub config: &'a Config,
    pub origin: Origin,
    pub req: &'a Request,
    /// `--explain`: each phase's decision, as a line.
    pub trace: Option<&'a std::cell::RefCell<Vec<String>>>,
}

impl<'a> Cx<'a> {
    /// Records a phase's decision when explaining (the text is only built then).
    pub fn note(&self, line: impl FnOnce() -> String) {
        if let Some(t) = self.trace {
            t.borrow_mut().push(line());
        }
    }

    /// The variables' view of the request as `r` stands.
    pub fn env<'b>(&'b self, r: &'b Routed, in_location: bool) -> Env<'b> {
        Env {
            req: self.req,
            origin: &self.origin,
            server: r.server(self.config),
            location: in_location.then(|| r.location(self.config)),
            uri: &r.path,
            args: r.args.as_deref(),
            state: &r.vars,
            done: None,
        }
    }

    /// A redirect to `target`; a local target is made absolute as nginx does
    /// (`absolute_redirect`): the request's host (or, with `server_name_in_redirect`,
    /// the server's first name; without either, the local address) and the port it
    /// arrived on (unless `port_in_redirect off` or it is the scheme's default).
    /// `in_location`: whether the location's settings apply yet.
    pub fn redirect(&self, r: &Routed, code: u16, target: &str, in_location: bool) -> Response {
        let url = self.absolute(r, target, in_location);
        self.decorate(fixed_return(code, Some(&url)), r)
    }

    /// A local `target` as a redirect or `Location` header writes it: absolute
    /// unless `absolute_redirect off` (see [`Cx::redirect`]).
    pub fn absolute(&self, r: &Routed, target: &str, in_location: bool) -> String {
        let style = match in_location {
            true => r.location(self.config).redirect,
            false => r.server(self.config).redirect,
        };
        if !target.starts_with('/') || !style.absolute {
            return target.to_string();
        }
        let server = r.server(self.config);
        let name = server
            .server_names
            .first()
            .filter(|n| style.server_name && !n.starts_with('~') && !n.contains('*'));
        let mut host = match name {
            Some(n) => n.trim_start_matches('.').to_string(),
            None => self.req.host.clone().unwrap_or_default(),
        };
        if host.is_empty() {
            host = self.origin.local.ip().to_string();
        }
        let port = self.origin.local.port();
        let default_port = if self.origin.scheme() == "https" {
            443
        } else {
            80
        };
        if port == default_port || !style.port {
            format!("{}://{host}{target}", self.origin.scheme())
        } else {
            format!("{}://{host}:{port}{target}", self.origin.scheme())
        }
    }

    /// The error response for `status` while handling `r`.
    pub fn error(&self, r: &Routed, status: u16) -> Response {
        error_page::for_request(self, r, status)
    }

    /// Applies the location's header filters in nginx's order: charset,
    /// `expires`, `add_header`, then the range filter, then the charset's
    /// recoding of the body; `add_trailer` is noted for a chunked body.
    pub fn decorate(&self, mut resp: Response, r: &Routed) -> Response {
        let loc = r.location(self.config);
        let recode = charset::apply_header(self, r, &mut resp);
        if recode
            .as_ref()
            .is_some_and(|t| crate::filter::recode::Recoder::new(t).changes_length())
        {
            // Recoding changes the length: nginx's range filter sees none.
            resp.allow_ranges = false;
        }
        let env = self.env(r, true);
        headers::finish(&mut resp, loc, &|t| t.expand(&env));
        self.add_headers(&mut resp, r);
        if let range::Verdict::Unsatisfiable(length) =
            range::apply(self.req, loc.max_ranges, &mut resp)
        {
            resp = self.unsatisfiable(r, length);
        }
        if let Some(t) = recode {
            crate::filter::recode_stream::recode_response(&mut resp, &t, self.req.http11);
        }
        trailers::note(&mut resp, loc, &env);
        resp
    }

    /// 416 for a range past the end, with `Content-Range: bytes */LENGTH`.
    fn unsatisfiable(&self, r: &Routed, length: u64) -> Response {
        let mut resp = self.error(r, 416);
        resp.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-range"));
        resp.header("Content-Range", format!("bytes */{length}"));
        resp
    }

    /// The location's `add_header` list (on 2xx/3xx, or any status with `always`).
    pub fn add_headers(&self, resp: &mut Response, r: &Routed) {
        self.add_headers_with(resp, r, &self.env(r, true));
    }

    /// [`Cx::add_headers`] with the values read from `env` (a relayed answer's
    /// knows what the upstream sent).
    pub fn add_headers_with(&self, resp: &mut Response, r: &Routed, env: &vars::Env) {
        let loc = r.location(self.config);
        if loc.add_headers.is_empty() {
            return;
        }
        let added = takes_added_headers(resp.status);
        for h in loc.add_headers.iter().filter(|h| added || h.always) {
            let value = match h.value.literal() {
                Some(v) => v.to_string(),
                None if h.value.vars().any(|v| matches!(v, vars::Var::SentHttp(_))) => {
                    sent_so_far(resp, env, &h.value)
                }
                None => h.value.expand(env),
            };
            // Last-Modified and ETag replace the response's own (an empty value
            // removes it), as nginx's headers filter does; others are added.
            if h.name.eq_ignore_ascii_case("last-modified") || h.name.eq_ignore_ascii_case("etag") {
                resp.headers
                    .retain(|(n, _)| !n.eq_ignore_ascii_case(&h.name));
            }
            if !value.is_empty() {
                resp.header(&h.name, value);
            }
        }
    }
}

/// `template`'s value where `$sent_http_*` reads the fields `resp` has so far
/// (those before this `add_header`, as in nginx).
fn sent_so_far(resp: &Response, env: &vars::Env, template: &vars::Template) -> String {
    let mut snapshot = Response::new(resp.status);
    snapshot.headers = resp.headers.clone();
    snapshot.raw_headers = resp.raw_headers.clone();
    let done = match env.done {
        Some(d) => vars::Done {
            response: Some(&snapshot),
            ..*d
        },
        None => vars::Done {
            status: resp.status,
            body_bytes: 0,
            bytes_sent: 0,
            request_time: std::time::Duration::ZERO,
            response: Some(&snapshot),
            upstream: None,
        },
    };
    template.expand(&vars::Env {
        done: Some(&done),
        ..*env
    })
}

/// Phase 1: server and location for a request head; `Err` is the response to send
/// without reading the body.
pub fn route(config: &Config, origin: Origin, req: &Request) -> Result<Routed, Box<Early>> {
    let (server, vars) = select_server(config, &origin, req);
    let _log = log_scope::enter(config, &origin, req, server, None);
    if let Some(resp) = options::star(&config.servers[server], req) {
        return Err(Early::bare(resp));
    }
    let cx = Cx {
        config,
        origin,
        req,
        trace: None,
    };
    phases::route(&cx, server, vars)
}

/// Phase 1 again after a wait (`limit_req`'s delay): the phases go on where
/// they stopped for `routed`.
pub fn resume(
    config: &Config,
    origin: Origin,
    req: &Request,
    routed: Routed,
) -> Result<Routed, Box<Early>> {
    let _log = log_scope::enter(config, &origin, req, routed.server, None);
    let cx = Cx {
        config,
        origin,
        req,
        trace: None,
    };
    phases::resume(&cx, routed)
}

/// The server for the request and, when a `server_name` regex chose it, its
/// captures as the request's first variables (`$1`, named groups).
fn select_server(config: &Config, origin: &Origin, req: &Request) -> (usize, vars::State) {
    let mut state = vars::State::default();
    let Some(group) = config.listens.get(origin.group) else {
        return (0, state);
    };
    let chosen = vhost::select(config, group, req.host.as_deref());
    if let Some((_, caps)) = &chosen.captures {
        state.captures = caps
            .iter()
            .take(10)
            .map(|m| m.map_or(String::new(), |m| m.as_str().to_string()))
            .collect();
        for (name, value) in chosen.named_captures() {
            if let Some(slot) = config.vars.iter().position(|v| v == name) {
                state.set(slot as u16, value.to_string());
            }
        }
    }
    (chosen.server, state)
}

/// [`route`], with every phase's decision written down (`--explain`).
pub fn route_traced(
    config: &Config,
    origin: Origin,
    req: &Request,
) -> (Result<Routed, Response>, Vec<String>) {
    let trace = std::cell::RefCell::new(Vec::new());
    let (server, vars) = select_server(config, &origin, req);
    let cx = Cx {
        config,
        origin,
        req,
        trace: Some(&trace),
    };
    let mut result = phases::route(&cx, server, vars.clone());
    if let Ok(r) = &mut result
        && let Some(check) = r.pending.take()
    {
        // Explaining waits for the password check, then routes again.
        check.finish(check.run());
        trace.borrow_mut().clear();
        result = phases::route(&cx, server, vars);
    }
    let result = result.map_err(|early| early.resp);
    (result, trace.into_inner())
}

/// A rewrite or `try_files` result that is no clean path (it climbs above `/`): the
/// request fails, it never goes on with the raw string. 400, as for such a request
/// line, since the client's URI made it.
fn unsafe_uri(cx: &Cx, r: &Routed, uri: &str) -> Response {
    log::error!(
        "rewritten URI \"{uri}\" of \"{}\" climbs above the root",
        cx.req.target
    );
    cx.error(r, 400)
}

/// 405 with the methods this location can really answer.
fn not_allowed(cx: &Cx, routed: &Routed) -> Response {
    let allow = options::allow(routed.location(cx.config));
    let mut resp = cx.error(routed, 405);
    resp.header("Allow", allow);
    resp
}

/// POST and PUT need something to take the body: an upload store or CGI.
pub(crate) fn has_handler(loc: &Location, method: Method) -> bool {
    match method {
        Method::Post | Method::Put => loc.upload_store.is_some() || !loc.cgi.is_empty(),
        Method::Get | Method::Head | Method::Delete | Method::Options => true,
        // Only `dav_methods` serves them.
        Method::Mkcol | Method::Copy | Method::Move => false,
    }
}

/// Where a request's body goes while it is read.
pub enum Sink {
    /// Kept for the handler (memory, then a temporary file).
    Spool(Spool),
    /// A raw upload streamed into the store.
    Raw(Box<upload::RawUpload>),
    /// A multipart upload, parts streamed into the store.
    Multipart(Box<upload::MultipartUpload>),
    /// A WebDAV PUT, streamed to a temporary file beside its target.
    Dav(Box<dav::put::Put>),
}

impl BodySink for Sink {
    fn write(&mut self, data: &[u8]) -> Result<(), BodyError> {
        match self {
            Sink::Spool(s) => s.write(data),
            Sink::Raw(r) => r.write(data),
            Sink::Multipart(m) => m.write(data),
            Sink::Dav(p) => p.write(data),
        }
    }
}

/// The sink for a routed request's body; `Err` is a status to answer instead
/// (e.g. 403 when the upload store is not writable).
pub fn body_sink(config: &Config, routed: &Routed, req: &Request) -> Result<Sink, u16> {
    let loc = routed.location(config);
    if routed.script.is_some() || loc.gateway().is_some() {
        return Ok(Sink::Spool(body::spool_for(loc)));
    }
    if req.method == Method::Put && loc.dav.handles(Method::Put) {
        return dav::put::begin(loc, &routed.path, req).map(|p| Sink::Dav(Box::new(p)));
    }
    match (&loc.upload_store, req.method) {
        (Some(store), Method::Post | Method::Put) => {
            let rest = loc.rest_of(&routed.path);
            upload::begin(store, &loc.path, rest, req)
        }
        _ => Ok(Sink::Spool(Spool::in_dir(
            loc.client_body_temp_path.clone(),
        ))),
    }
}

/// What phase 2 decided.
pub enum Outcome {
    Respond(Response),
    /// Run a CGI script; the connection relays its output.
    Cgi(CgiJob),
    /// Pass the request to the location's `proxy_pass` upstream, with its body.
    Proxy(Spool),
    /// An error page in a proxied location: pass this request (no body) there,
    /// in the state `routed` was left in.
    ErrorPass(Box<Request>),
}

/// A CGI script to run, with its body and limits.
pub struct CgiJob {
    pub launch: Launch,
    pub body: Spool,
    pub timeout: std::time::Duration,
}

/// Phase 2: the outcome for a routed request whose body has been read. An error
/// page leaves `routed` as the state it was served in.
pub fn process(
    config: &Config,
    routed: &mut Routed,
    origin: Origin,
    req: &Request,
    body: Sink,
) -> Outcome {
    let _log = log_scope::enter(config, &origin, req, routed.server, None);
    log_scope::follow(config, routed);
    if routed.pending.is_some() {
        // The phases stopped for a password check: never serve past it.
        log::error!("a request reached its content before its password check");
        return Outcome::Respond(error_response(config, routed.server, Some(routed), 500));
    }
    let mut body = body;
    let reads_body = routed.location(config).gateway().is_some() || routed.script.is_some();
    if reads_body
        && let Sink::Spool(spool) = &mut body
        && let Err(status) = body::settle(routed, req, spool)
    {
        return Outcome::Respond(error_response(config, routed.server, Some(routed), status));
    }
    let loc = routed.location(config);
    if loc.gateway().is_some()
        && let Sink::Spool(spool) = body
    {
        return Outcome::Proxy(spool);
    }
    let body = match (body, &routed.script) {
        (Sink::Spool(spool), Some(script)) => {
            return Outcome::Cgi(cgi_job(config, routed, script, origin, req, spool));
        }
        (body, _) => body,
    };
    let cx = Cx {
        config,
        origin,
        req,
        trace: None,
    };
    let result = match (req.method, body) {
        (m, _) if let Some(page) = loc.status_page => status_page::serve(page, m),
        (_, Sink::Raw(upload)) => upload.finish(),
        (_, Sink::Multipart(upload)) => upload.finish(req),
        (_, Sink::Dav(put)) => put.finish().map(|done| dav::respond(&cx, routed, done)),
        (m, _) if loc.dav.handles(m) => dav::serve(&cx, routed),
        (Method::Get | Method::Head, _) => static_file::serve(loc, &routed.path, req),
        (Method::Delete, _) => delete::delete(loc, &routed.path, req),
        (Method::Post | Method::Put | Method::Options, _) => Err(405),
        (Method::Mkcol | Method::Copy | Method::Move, _) => Err(405),
    };
    let resp = match result {
        Ok(resp) if resp.status == 301 && resp.get_header("Location").is_some() => {
            // A directory without its slash: the redirect nginx makes absolute.
            let target = resp.get_header("Location").unwrap_or("/").to_string();
            cx.redirect(routed, 301, &target, true)
        }
        Ok(resp) => cx.decorate(resp, routed),
        Err(405) => not_allowed(&cx, routed),
        Err(status) => match error_page::resolve_bodiless(&cx, routed, status) {
            error_page::Page::Ready(resp, done) => {
                if let Some(done) = done {
                    *routed = done;
                }
                resp
            }
            error_page::Page::Pass(get, next) => {
                *routed = *next;
                return Outcome::ErrorPass(get);
            }
        },
    };
    // Body filters (compression) see every response a content handler made.
    let loc = routed.location(config);
    Outcome::Respond(crate::filter::apply(&loc.compression, req, resp))
}

fn cgi_job(
    config: &Config,
    routed: &Routed,
    script: &Script,
    origin: Origin,
    req: &Request,
    body: Spool,
) -> CgiJob {
    let loc = routed.location(config);
    let server = routed.server(config);
    let has_body = req.framing != Framing::None;
    let env = cgi::environment(&cgi::EnvInput {
        req,
        script,
        loc,
        local: origin.local,
        peer: origin.peer,
        https: origin.tls,
        server_name: server.server_names.first().map_or("", String::as_str),
        content_length: has_body.then(|| body.len()),
        query: routed.args.as_deref(),
        user: routed.user.as_deref(),
    });
    let cwd = script
        .file
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let (program, args) = match &script.interpreter {
        Some(interp) => (interp.clone(), vec![script.file.clone().into_os_string()]),
        None => (script.file.clone(), Vec::new()),
    };
    CgiJob {
        launch: Launch {
            program,
            args,
            env,
            cwd,
            script_name: script.name.clone(),
        },
        body,
        timeout: loc.cgi_timeout,
    }
}

/// The server for `host` on listen group `group`, as an index into `Config::servers`.
pub fn server_index(config: &Config, group: usize, host: Option<&str>) -> usize {
    let Some(group) = config.listens.get(group) else {
        return 0;
    };
    let server = route::select_server(config, group, host);
    config
        .servers
        .iter()
        .position(|s| std::ptr::eq(s, server))
        .unwrap_or(0)
}

pub(crate) fn method_allowed(loc: &Location, method: Method) -> bool {
    loc.allow_methods.iter().any(|m| m == method.as_str())
}

/// `return CODE [URL|TEXT]`.
pub(crate) fn fixed_return(code: u16, target: Option<&str>) -> Response {
    let mut resp = Response::new(code);
    match (code, target) {
        (301 | 302 | 303 | 307 | 308, Some(url)) => {
            resp.header("Location", url);
            resp.header("Content-Type", charset::GENERATED_HTML);
            resp.body = crate::http::Body::Bytes(error_body(code));
        }
        (_, Some(text)) => {
            resp.header("Content-Type", "text/plain");
            resp.body = crate::http::Body::Bytes(text.as_bytes().to_vec());
        }
        (_, None) if code >= 400 => {
            resp.header("Content-Type", charset::GENERATED_HTML);
            resp.body = crate::http::Body::Bytes(error_body(code));
        }
        _ => {}
    }
    resp
}

/// Statuses that get `add_header` headers (nginx: success and redirects only).
fn takes_added_headers(status: u16) -> bool {
    matches!(
        status,
        200 | 201 | 204 | 206 | 301 | 302 | 303 | 304 | 307 | 308
    )
}
