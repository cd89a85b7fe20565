//! nginx variables: the names a configuration may use (`$uri`, `$http_user_agent`,
//! `$1`, `set $name ...`), compiled once at load into [`Var`]s inside [`Template`]s,
//! and their values for one request ([`Env`]).
//!
//! A name is resolved when the configuration is read: a built-in becomes its `Var`
//! at once, anything else waits (`Var::Unlinked`) until the whole file is read and
//! every `set` and named regex capture is known, then becomes a `Var::User` slot or
//! a `file:line:col` error, as nginx's "unknown variable".

pub mod auth;
pub mod client;
pub mod computed;
pub mod geo;
pub mod geo_ranges;
mod limit;
pub mod map;
mod pattern;
pub mod ssl;
pub mod ssl_cert;
mod template;
pub mod upstream;
mod value;

pub use pattern::{Pattern, from_pcre};
pub use ssl::{SslInfo, SslVar};
pub use template::{Captures, Escape, Template};
pub use value::{Done, Env, State};

use crate::config::{ConfigError, Pos};

/// One variable reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Uri,
    RequestUri,
    Args,
    IsArgs,
    /// `$arg_NAME`: a query argument.
    Arg(Box<str>),
    Host,
    /// `$http_NAME`: a request header, NAME with `_` for `-`, lower-case.
    Http(Box<str>),
    /// `$sent_http_NAME`: a response header (log_format only).
    SentHttp(Box<str>),
    /// `$sent_trailer_NAME`: a trailer field sent after the body (log_format).
    SentTrailer(Box<str>),
    Cookie(Box<str>),
    RemoteAddr,
    /// The client address as its 4 or 16 bytes (logged escaped).
    BinaryRemoteAddr,
    RemotePort,
    RemoteUser,
    ServerAddr,
    ServerPort,
    ServerName,
    ServerProtocol,
    /// `$http2`: `h2` over TLS, `h2c` cleartext, empty on HTTP/1.
    Http2,
    Scheme,
    Https,
    Request,
    RequestMethod,
    RequestFilename,
    DocumentRoot,
    RealpathRoot,
    ContentType,
    ContentLength,
    Status,
    BodyBytesSent,
    BytesSent,
    RequestTime,
    TimeLocal,
    TimeIso8601,
    Msec,
    RequestLength,
    RequestId,
    Pid,
    Hostname,
    Connection,
    ConnectionRequests,
    ConnectionTime,
    Pipe,
    /// `$nginx_version`: the nginx release whose behaviour webserv follows.
    NginxVersion,
    /// `$connections_active` (0), `_reading` (1), `_writing` (2), `_waiting` (3):
    /// the stub_status counts, process-wide.
    Connections(u8),
    /// `$request_body`: the body a proxied or CGI request read into memory.
    RequestBody,
    /// `$request_body_file`: the file such a body went to instead.
    RequestBodyFile,
    /// `$limit_req_status`, `$limit_conn_status`: what the limits decided.
    LimitReqStatus,
    LimitConnStatus,
    /// `$limit_rate`: the response's rate limit (bytes/s); `set` may change it.
    LimitRate,
    /// `$0`..`$9`: the last regex match's captures.
    Capture(u8),
    /// `$ssl_*`: what the connection's TLS handshake settled.
    Ssl(SslVar),
    /// `$proxy_*` and `$upstream_*`.
    Upstream(upstream::UpVar),
    /// `$proxy_protocol_*` and `$realip_remote_*`.
    Client(client::ClientVar),
    /// A `set` variable or a named capture: a slot in the request's [`State`].
    User(u16),
    /// A `map` or `geo` variable: an index into the configuration's
    /// [`computed::Computed`] table, evaluated when read.
    Computed(u16),
    /// A name not known yet; [`link`] turns it into `User` or an error.
    Unlinked(Box<(String, Pos)>),
}

/// The nginx release whose configuration language and behaviour webserv follows
/// (`$nginx_version`, e.g. in `SERVER_SOFTWARE nginx/$nginx_version`).
pub const NGINX_VERSION: &str = "1.22.1";

/// Built-in names with no parameter.
const NAMES: &[(&str, Var)] = &[
    ("uri", Var::Uri),
    ("document_uri", Var::Uri),
    ("request_uri", Var::RequestUri),
    ("args", Var::Args),
    ("query_string", Var::Args),
    ("is_args", Var::IsArgs),
    ("host", Var::Host),
    ("remote_addr", Var::RemoteAddr),
    ("binary_remote_addr", Var::BinaryRemoteAddr),
    ("remote_port", Var::RemotePort),
    ("remote_user", Var::RemoteUser),
    ("server_addr", Var::ServerAddr),
    ("server_port", Var::ServerPort),
    ("server_name", Var::ServerName),
    ("server_protocol", Var::ServerProtocol),
    ("http2", Var::Http2),
    ("scheme", Var::Scheme),
    ("https", Var::Https),
    ("request", Var::Request),
    ("request_method", Var::RequestMethod),
    ("request_filename", Var::RequestFilename),
    ("document_root", Var::DocumentRoot),
    ("realpath_root", Var::RealpathRoot),
    ("content_type", Var::ContentType),
    ("content_length", Var::ContentLength),
    ("status", Var::Status),
    ("body_bytes_sent", Var::BodyBytesSent),
    ("bytes_sent", Var::BytesSent),
    ("request_time", Var::RequestTime),
    ("time_local", Var::TimeLocal),
    ("time_iso8601", Var::TimeIso8601),
    ("msec", Var::Msec),
    ("request_length", Var::RequestLength),
    ("request_id", Var::RequestId),
    ("pid", Var::Pid),
    ("hostname", Var::Hostname),
    ("connection", Var::Connection),
    ("connection_requests", Var::ConnectionRequests),
    ("connection_time", Var::ConnectionTime),
    ("pipe", Var::Pipe),
    ("nginx_version", Var::NginxVersion),
    ("connections_active", Var::Connections(0)),
    ("connections_reading", Var::Connections(1)),
    ("connections_writing", Var::Connections(2)),
    ("connections_waiting", Var::Connections(3)),
    ("request_body", Var::RequestBody),
    ("request_body_file", Var::RequestBodyFile),
    ("limit_req_status", Var::LimitReqStatus),
    ("limit_conn_status", Var::LimitConnStatus),
    ("limit_rate", Var::LimitRate),
];

impl Var {
    /// The variable called `name` (without `$`): a built-in, or `Unlinked`.
    pub fn named(name: &str, pos: &Pos) -> Var {
        if let Some((_, v)) = NAMES.iter().find(|(n, _)| *n == name) {
            return v.clone();
        }
        if let Some((_, v)) = ssl::NAMES.iter().find(|(n, _)| *n == name) {
            return Var::Ssl(*v);
        }
        if let Some((_, v)) = client::NAMES.iter().find(|(n, _)| *n == name) {
            return Var::Client(*v);
        }
        if let Some((_, v)) = upstream::NAMES.iter().find(|(n, _)| *n == name) {
            return Var::Upstream(v.clone());
        }
        let param = |p: &str| name.strip_prefix(p).filter(|s| !s.is_empty());
        if let Some(h) = param("http_") {
            return Var::Http(h.to_ascii_lowercase().into());
        }
        if let Some(h) = param("sent_http_") {
            return Var::SentHttp(h.to_ascii_lowercase().into());
        }
        if let Some(c) = param("upstream_cookie_") {
            return Var::Upstream(upstream::UpVar::Cookie(c.into()));
        }
        if let Some(t) = param("sent_trailer_") {
            return Var::SentTrailer(t.to_ascii_lowercase().into());
        }
        if let Some(h) = param("upstream_http_") {
            return Var::Upstream(upstream::UpVar::Http(h.to_ascii_lowercase().into()));
        }
        // `$arg_` (no name) is accepted, as nginx does, and always empty.
        if let Some(a) = name.strip_prefix("arg_") {
            return Var::Arg(a.into());
        }
        if let Some(c) = param("cookie_") {
            return Var::Cookie(c.into());
        }
        if name.len() == 1
            && let Some(d) = name.bytes().next().filter(u8::is_ascii_digit)
        {
            return Var::Capture(d - b'0');
        }
        Var::Unlinked(Box::new((name.to_string(), pos.clone())))
    }

    /// Whether a value exists only once the response is known (log_format).
    pub fn is_late(&self) -> bool {
        match self {
            Var::Upstream(v) => v.is_late(),
            _ => matches!(
                self,
                Var::Status
                    | Var::BodyBytesSent
                    | Var::BytesSent
                    | Var::RequestTime
                    | Var::SentHttp(_)
                    | Var::SentTrailer(_)
            ),
        }
    }
}

/// The variable names a configuration declares (`set` and named captures), in the
/// order first seen: a name's index is its `Var::User` slot.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub names: Vec<String>,
    /// `map` and `geo` variables: name and index in [`computed::Computed`].
    pub computed: Vec<(String, u16)>,
}

impl Names {
    /// The slot of `name`, declaring it if new.
    pub fn declare(&mut self, name: &str) -> u16 {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return i as u16;
        }
        self.names.push(name.to_string());
        (self.names.len() - 1) as u16
    }

    fn find(&self, name: &str) -> Option<u16> {
        self.names.iter().position(|n| n == name).map(|i| i as u16)
    }
}

/// Resolves an `Unlinked` variable against the declared names.
pub fn link(var: &mut Var, names: &Names) -> Result<(), ConfigError> {
    if let Var::Unlinked(b) = var {
        let (name, pos) = &**b;
        if let Some((_, i)) = names.computed.iter().find(|(n, _)| n == name) {
            *var = Var::Computed(*i);
            return Ok(());
        }
        match names.find(name) {
            Some(i) => *var = Var::User(i),
            None => return Err(ConfigError::at(pos, format!("unknown \"{name}\" variable"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pos() -> Pos {
        Pos {
            file: Arc::from("t.conf"),
            line: 1,
            col: 1,
        }
    }

    #[test]
    fn names_resolve() {
        let cases = [
            ("uri", Var::Uri),
            ("query_string", Var::Args),
            ("http_user_agent", Var::Http("user_agent".into())),
            ("http_X_Forwarded_For", Var::Http("x_forwarded_for".into())),
            ("arg_page", Var::Arg("page".into())),
            ("arg_", Var::Arg("".into())),
            ("cookie_sid", Var::Cookie("sid".into())),
            ("1", Var::Capture(1)),
            ("0", Var::Capture(0)),
            ("ssl_protocol", Var::Ssl(SslVar::Protocol)),
            ("ssl_server_name", Var::Ssl(SslVar::ServerName)),
            ("ssl_session_reused", Var::Ssl(SslVar::SessionReused)),
            ("request_body", Var::RequestBody),
            ("request_body_file", Var::RequestBodyFile),
            ("sent_trailer_X_Foo", Var::SentTrailer("x_foo".into())),
            (
                "upstream_cookie_sid",
                Var::Upstream(upstream::UpVar::Cookie("sid".into())),
            ),
        ];
        for (name, want) in cases {
            assert_eq!(Var::named(name, &pos()), want, "{name}");
        }
        assert!(matches!(Var::named("http_", &pos()), Var::Unlinked(_)));
        assert!(matches!(Var::named("foo", &pos()), Var::Unlinked(_)));
    }

    #[test]
    fn linking() {
        let mut names = Names::default();
        assert_eq!(names.declare("a"), 0);
        assert_eq!(names.declare("b"), 1);
        assert_eq!(names.declare("a"), 0);
        let mut v = Var::named("b", &pos());
        link(&mut v, &names).unwrap();
        assert_eq!(v, Var::User(1));
        let mut v = Var::named("nope", &pos());
        assert_eq!(
            link(&mut v, &names).unwrap_err().to_string(),
            "t.conf:1:1: unknown \"nope\" variable"
        );
    }
}
