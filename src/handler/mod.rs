//! The RequestProcessor. In two phases, as nginx's request phases:
//!
//! 1. [`route`] when the head is complete: pick the virtual server and location,
//!    clean the path, and answer at once what needs no body (`return`, 405, bad path).
//!    [`body_sink`] then says where the body goes (an upload writer or a spool).
//! 2. [`process`] when the body is in: hand the request to the first content handler
//!    that takes it (upload, delete, static file, index, autoindex), and turn errors
//!    into error pages.

pub mod autoindex;
pub mod beneath;
pub mod delete;
pub mod file_cache;
pub mod path;
pub mod precompressed;
pub mod route;
pub mod static_file;
pub mod upload;

use std::net::SocketAddr;

use crate::cgi::process::Launch;
use crate::cgi::{self, Script};
use crate::config::{Config, Location, Server};
use crate::http::body::{BodyError, BodySink, Spool};
use crate::http::response::error_body;
use crate::http::{Framing, Method, Request, Response};

/// The configuration a request was matched to: indices into the config, so a
/// connection can keep it across reads without borrowing.
#[derive(Debug, Clone)]
pub struct Routed {
    pub server: usize,
    pub location: usize,
    /// The percent-decoded, normalized path.
    pub path: String,
    /// The CGI script the path names, in a location with `cgi` handlers.
    pub script: Option<Script>,
}

impl Routed {
    pub fn server<'c>(&self, config: &'c Config) -> &'c Server {
        &config.servers[self.server]
    }

    pub fn location<'c>(&self, config: &'c Config) -> &'c Location {
        &config.servers[self.server].locations[self.location]
    }
}

/// Where the request arrived: the listen group (index into `Config::listens`) and
/// the socket addresses.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub group: usize,
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

/// Phase 1: server and location for a request head; `Err` is the response to send
/// without reading the body.
pub fn route(config: &Config, origin: Origin, req: &Request) -> Result<Routed, Response> {
    let server_idx = server_index(config, origin.group, req.host.as_deref());
    let server = &config.servers[server_idx];
    let Some(path) = path::clean(req.path()) else {
        return Err(error_response(config, server_idx, None, 400));
    };
    if let Some(ret) = &server.ret {
        return Err(decorate(
            fixed_return(ret.code, ret.target.as_deref()),
            None,
        ));
    }
    let location = location_index(server, &path);
    let script = cgi::find_script(&server.locations[location], &path);
    let routed = Routed {
        server: server_idx,
        location,
        path,
        script,
    };
    let loc = routed.location(config);
    // nginx checks the declared length right after finding the location, before
    // the location's `return` and method checks.
    let limit = loc.client_max_body_size;
    if matches!(req.framing, Framing::Length(n) if limit != 0 && n > limit) {
        return Err(error_response(config, server_idx, Some(&routed), 413));
    }
    if let Some(ret) = &loc.ret {
        return Err(decorate(
            fixed_return(ret.code, ret.target.as_deref()),
            Some(loc),
        ));
    }
    if !method_allowed(loc, req.method) || !has_handler(loc, req.method) {
        return Err(not_allowed(config, &routed));
    }
    Ok(routed)
}

/// 405 with the methods this location can really answer.
fn not_allowed(config: &Config, routed: &Routed) -> Response {
    let loc = routed.location(config);
    let allow: Vec<&str> = loc
        .allow_methods
        .iter()
        .map(String::as_str)
        .filter(|m| Method::from_name(m).is_some_and(|m| has_handler(loc, m)))
        .collect();
    let mut resp = error_response(config, routed.server, Some(routed), 405);
    resp.header("Allow", allow.join(", "));
    resp
}

/// POST and PUT need something to take the body: an upload store or CGI.
fn has_handler(loc: &Location, method: Method) -> bool {
    match method {
        Method::Post | Method::Put => loc.upload_store.is_some() || !loc.cgi.is_empty(),
        Method::Get | Method::Head | Method::Delete => true,
    }
}

/// Where a request's body goes while it is read.
pub enum Sink {
    /// Kept for the handler (memory, then an anonymous temp file).
    Spool(Spool),
    /// A raw upload streamed into the store.
    Raw(Box<upload::RawUpload>),
    /// A multipart upload, parts streamed into the store.
    Multipart(Box<upload::MultipartUpload>),
}

impl BodySink for Sink {
    fn write(&mut self, data: &[u8]) -> Result<(), BodyError> {
        match self {
            Sink::Spool(s) => s.write(data),
            Sink::Raw(r) => r.write(data),
            Sink::Multipart(m) => m.write(data),
        }
    }
}

/// The sink for a routed request's body; `Err` is a status to answer instead
/// (e.g. 403 when the upload store is not writable).
pub fn body_sink(config: &Config, routed: &Routed, req: &Request) -> Result<Sink, u16> {
    let loc = routed.location(config);
    if routed.script.is_some() {
        return Ok(Sink::Spool(Spool::default()));
    }
    match (&loc.upload_store, req.method) {
        (Some(store), Method::Post | Method::Put) => {
            let rest = routed.path.get(loc.path.len()..).unwrap_or("");
            upload::begin(store, &loc.path, rest, req)
        }
        _ => Ok(Sink::Spool(Spool::default())),
    }
}

/// What phase 2 decided.
pub enum Outcome {
    Respond(Response),
    /// Run a CGI script; the connection relays its output.
    Cgi(CgiJob),
}

/// A CGI script to run, with its body and limits.
pub struct CgiJob {
    pub launch: Launch,
    pub body: Spool,
    pub timeout: std::time::Duration,
}

/// Phase 2: the outcome for a routed request whose body has been read.
pub fn process(
    config: &Config,
    routed: &Routed,
    origin: Origin,
    req: &Request,
    body: Sink,
) -> Outcome {
    let loc = routed.location(config);
    let body = match (body, &routed.script) {
        (Sink::Spool(spool), Some(script)) => {
            return Outcome::Cgi(cgi_job(config, routed, script, origin, req, spool));
        }
        (body, _) => body,
    };
    let result = match (req.method, body) {
        (_, Sink::Raw(upload)) => upload.finish(),
        (_, Sink::Multipart(upload)) => upload.finish(req),
        (Method::Get | Method::Head, _) => static_file::serve(loc, &routed.path, req),
        (Method::Delete, _) => delete::delete(loc, &routed.path),
        (Method::Post | Method::Put, _) => Err(405),
    };
    let resp = match result {
        Ok(resp) => decorate(resp, Some(loc)),
        Err(405) => not_allowed(config, routed),
        Err(status) => error_response(config, routed.server, Some(routed), status),
    };
    // Body filters (compression) see every response a content handler made.
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
        server_name: server.server_names.first().map_or("", String::as_str),
        content_length: has_body.then(|| body.len()),
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

fn location_index(server: &Server, path: &str) -> usize {
    let loc = route::match_location(server, path);
    server
        .locations
        .iter()
        .position(|l| std::ptr::eq(l, loc))
        .unwrap_or(0)
}

fn method_allowed(loc: &Location, method: Method) -> bool {
    loc.allow_methods.iter().any(|m| m == method.as_str())
}

/// `return CODE [URL|TEXT]`.
fn fixed_return(code: u16, target: Option<&str>) -> Response {
    let mut resp = Response::new(code);
    match (code, target) {
        (301 | 302 | 303 | 307 | 308, Some(url)) => {
            resp.header("Location", url);
            resp.header("Content-Type", "text/html");
            resp.body = crate::http::Body::Bytes(error_body(code));
        }
        (_, Some(text)) => {
            resp.header("Content-Type", "text/plain");
            resp.body = crate::http::Body::Bytes(text.as_bytes().to_vec());
        }
        (_, None) if code >= 400 => {
            resp.header("Content-Type", "text/html");
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

/// Applies the location's `add_header` list.
fn decorate(mut resp: Response, loc: Option<&Location>) -> Response {
    if let Some(loc) = loc.filter(|_| takes_added_headers(resp.status)) {
        for (name, value) in &loc.add_headers {
            resp.header(name, value.clone());
        }
    }
    resp
}

/// An error response for `status`: the configured `error_page` of the location
/// (internal redirect, keeping the original status unless `=CODE` overrides it, or a
/// 302 to an absolute URL), else the built-in page. Used by the connection too, for
/// errors found before routing (`routed` = None: the server's `/` location decides).
pub fn error_response(
    config: &Config,
    server_idx: usize,
    routed: Option<&Routed>,
    status: u16,
) -> Response {
    let server = &config.servers[server_idx];
    let loc = match routed {
        Some(r) => r.location(config),
        None => &server.locations[location_index(server, "/")],
    };
    if let Some(page) = loc.error_pages.get(&status) {
        if page.uri.starts_with("http://") || page.uri.starts_with("https://") {
            let mut resp = fixed_return(302, Some(&page.uri));
            resp.header("Cache-Control", "no-store");
            return resp;
        }
        if let Some(resp) = internal_page(server, &page.uri, page.status_override.unwrap_or(status))
        {
            return resp;
        }
    }
    builtin_error(status)
}

/// Serves `uri` from the server's configuration as the body of an error response.
fn internal_page(server: &Server, uri: &str, status: u16) -> Option<Response> {
    let uri_path = uri.split_once('?').map_or(uri, |(p, _)| p);
    let clean = path::clean(uri_path)?;
    let loc = route::match_location(server, &clean);
    let mut resp = static_file::serve_error_page(loc, &clean).ok()?;
    resp.status = status;
    Some(resp)
}

/// The built-in HTML error page.
pub fn builtin_error(status: u16) -> Response {
    Response::with_body(status, "text/html", error_body(status))
}
