//! The typed configuration model: what the rest of the program reads.
//!
//! The checker (`check.rs`) builds these structs from the parsed directive tree,
//! with inheritance main → server → location already applied, so no other module
//! ever looks at raw directives.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use super::caching::{Expires, IfModifiedSince};
pub use super::keepalive::KeepAlive;
pub use super::listen::ListenOptions;
pub use super::server_names::NameRegex;
pub use super::types::{MimeTypes, lookup as mime_lookup};
use crate::vars::{Escape, Pattern, Template};

/// A position in a configuration file, for error messages and `--explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    /// The file as it was named (the main config path or an include's resolved path).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// The whole effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main configuration file, as given on the command line.
    pub file: PathBuf,
    /// `worker_processes`: number of event-loop workers (`auto` = available cores).
    pub worker_processes: usize,
    /// `worker_connections`: maximum open client connections per worker.
    pub worker_connections: usize,
    /// `pid PATH`: a file the running server writes its process id to.
    pub pid: Option<PathBuf>,
    /// `error_log`: where diagnostics go; `None` = stderr.
    pub error_log: Option<ErrorLog>,
    /// `worker_rlimit_nofile N`: the open-files limit to set; `None` = raise the soft
    /// limit to the hard one.
    pub worker_rlimit_nofile: Option<u64>,
    /// Every `server` block, in declaration order.
    pub servers: Vec<Server>,
    /// Distinct `listen` addresses, in order of first appearance, each with its servers.
    pub listens: Vec<ListenGroup>,
    /// Names of the `set` variables and named regex captures (their slots).
    pub vars: Vec<String>,
    /// Some template reads an `$ssl_*` variable: only then does a request carry
    /// its connection's handshake facts (`Request::tls`).
    pub ssl_vars: bool,
    /// `upstream` groups, then the implicit one-server groups of `proxy_pass`es.
    pub upstreams: Vec<super::upstream::Upstream>,
    /// The `charset_map` tables and the charset names the configuration knows.
    pub charset_maps: super::charset_map::CharsetMaps,
}

/// `error_log PATH|stderr [LEVEL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLog {
    /// `None` means stderr.
    pub path: Option<PathBuf>,
    pub level: log::LevelFilter,
}

/// One listening socket and the virtual servers that share it.
#[derive(Debug, Clone)]
pub struct ListenGroup {
    pub addr: SocketAddr,
    /// Indices into `Config::servers`, in declaration order.
    pub servers: Vec<usize>,
    /// Index into `Config::servers` of the server marked `default_server`, else the first.
    pub default_server: usize,
    /// Where the first `listen` for this address was written (named in bind errors).
    pub pos: Pos,
    /// The socket options of the address (from the one `listen` that gives any).
    pub options: ListenOptions,
    /// `listen ... ssl` on this address: its TLS configuration (certificates by SNI).
    pub tls: Option<Arc<super::tls::TlsPort>>,
    /// Some `listen` for this address says `proxy_protocol` (like `ssl`, it
    /// belongs to the address): every connection starts with a PROXY header.
    pub proxy_protocol: bool,
    /// Some `listen` for this address says `http2`, or its default server has
    /// `http2 on`: a cleartext connection may start with the HTTP/2 preface.
    pub http2: bool,
}

/// A `listen` directive.
#[derive(Debug, Clone)]
pub struct Listen {
    pub addr: SocketAddr,
    pub default_server: bool,
    /// Socket options written on this `listen`, if any.
    pub options: Option<ListenOptions>,
    /// `listen ... ssl`: connections to this address speak TLS.
    pub ssl: bool,
    /// `listen ... proxy_protocol`: connections start with a PROXY header.
    pub proxy_protocol: bool,
    /// `listen ... http2`: HTTP/2 on for every server of the address.
    pub http2: bool,
    pub pos: Pos,
}

/// A `server { }` block.
#[derive(Debug, Clone)]
pub struct Server {
    pub listen: Vec<Listen>,
    /// `server_name`, lower-cased; exact names, `*.suffix` / `.suffix` / `prefix.*`
    /// wildcards, and `~regex` names as written (matched through `name_regexes`).
    pub server_names: Vec<String>,
    /// The `~regex` server names, compiled, in the order they were written.
    pub name_regexes: Vec<NameRegex>,
    /// `client_header_buffer_size`: longest request head accepted (414 / 431 beyond).
    pub client_header_buffer_size: usize,
    /// `ignore_invalid_headers on|off`: request fields whose names have other
    /// bytes than letters, digits and `-` (and `_`, see `underscores_in_headers`)
    /// are dropped (on, the default) or kept.
    pub ignore_invalid_headers: bool,
    /// `underscores_in_headers on|off` of the server: whether `_` is valid in a
    /// request field name (default off).
    pub underscores_in_headers: bool,
    /// `max_headers N`: more request fields are a 400. `None`: webserv's own
    /// limit (`http::request::MAX_HEADERS`, 431 beyond).
    pub max_headers: Option<usize>,
    /// `large_client_header_buffers N SIZE`: SIZE, the longest line of a head
    /// (and the head may take N × SIZE when that exceeds the above).
    pub header_line_max: Option<usize>,
    pub client_header_timeout: Duration,
    pub client_body_timeout: Duration,
    /// `http2` and its settings (on also when the address's `listen` says `http2`).
    pub http2: super::http2::Http2,
    pub send_timeout: Duration,
    /// The server level's keep-alive policy (the answering location's applies
    /// once a request is routed).
    pub keepalive: KeepAlive,
    /// Server-level `rewrite`/`return`/`set`, run before location matching (nginx's
    /// server rewrite phase).
    pub rewrite: Vec<Op>,
    /// Every location, nested ones included, in declaration order (a parent before its
    /// children). If the config declares no prefix location `/`, the checker appends
    /// one carrying the server-level settings, so every URI matches.
    pub locations: Vec<Location>,
    /// Indices of the top-level locations, in declaration order.
    pub top: Vec<usize>,
    /// The `ssl_*` directives in effect for this server.
    pub tls: super::TlsSettings,
    /// `merge_slashes on|off`: whether `//` in a request path is one `/` (nginx's
    /// default) or an empty segment kept as such.
    pub merge_slashes: bool,
    /// How redirects made before a location is chosen (server-level `return`,
    /// `rewrite`) are written.
    pub redirect: RedirectStyle,
    /// The server level's realip settings (nginx's post-read phase reads
    /// them, before any location is chosen).
    pub realip: std::sync::Arc<super::realip::RealIp>,
    /// The configuration's `map` and `geo` variables (one table, shared).
    pub computed: Arc<crate::vars::computed::Computed>,
    /// Where the `server` keyword was written.
    pub pos: Pos,
}

/// How a redirect to a local URI is written in `Location`, as nginx's
/// `absolute_redirect`, `port_in_redirect` and `server_name_in_redirect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedirectStyle {
    /// `scheme://host[:port]/path` (on) or the path alone.
    pub absolute: bool,
    /// The port, unless it is the scheme's default.
    pub port: bool,
    /// The server's first `server_name` instead of the request's `Host`.
    pub server_name: bool,
}

/// How a location matches (nginx's modifiers).
#[derive(Debug, Clone)]
pub enum LocKind {
    /// `location /prefix`: longest prefix wins, then regexes may override.
    Prefix,
    /// `location ^~ /prefix`: as Prefix, but a match stops the regex search.
    NoRegex,
    /// `location = /uri`: only that URI, checked first.
    Exact,
    /// `location ~ RE` / `location ~* RE`: first match in order.
    Regex(Box<Pattern>),
    /// `location @name`: only reachable by `try_files` and `error_page`.
    Named,
}

/// The status page a location serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPage {
    /// `stub_status`: nginx's connection and request counts, as text.
    Stub,
    /// `metrics`: every counter in the Prometheus text format.
    Prometheus,
}

/// A `location [=|^~|~|~*] URI { }` or `location @name { }` block, with every
/// inheritable directive resolved.
#[derive(Debug, Clone)]
pub struct Location {
    /// The URI prefix, exact URI, regex as written, or `@name`.
    pub path: String,
    pub kind: LocKind,
    /// `internal`: only internal redirects reach it (others get 404).
    pub internal: bool,
    /// `stub_status` or `metrics`: the location answers with a status page.
    pub status_page: Option<StatusPage>,
    /// The enclosing location of a nested one (index into `Server::locations`).
    pub parent: Option<usize>,
    /// Nested locations, in declaration order.
    pub children: Vec<usize>,
    /// `rewrite`/`return`/`set`/`break` of this location, in order.
    pub rewrite: Vec<Op>,
    /// `try_files FILE... URI|=CODE`.
    pub try_files: Option<TryFiles>,
    /// `root` when it contains variables (expanded per request).
    pub root_vars: Option<Template>,
    /// `alias` when it contains variables (expanded per request).
    pub alias_vars: Option<Template>,
    /// `root`, absolute (resolved against the prefix). Default `<prefix>/www`.
    pub root: PathBuf,
    /// `alias`, absolute: replaces the location prefix instead of appending to root.
    pub alias: Option<PathBuf>,
    /// `index` files tried for a directory, in order. Default `["index.html"]`.
    pub index: Vec<Template>,
    /// `autoindex on|off`. Default off.
    pub autoindex: bool,
    /// `autoindex_exact_size`, `autoindex_localtime`, `autoindex_format`.
    pub listing: ListingStyle,
    /// `charset`, `source_charset`, `override_charset`, `charset_types`.
    pub charset: super::charset::Charset,
    /// `set_real_ip_from`, `real_ip_header`, `real_ip_recursive` (nginx's
    /// preaccess phase reads them here).
    pub realip: std::sync::Arc<super::realip::RealIp>,
    /// `allow` / `deny` rules, in order (checked after realip).
    pub access: Vec<super::access::Rule>,
    /// `limit_req`, `limit_conn`, `limit_rate` and their settings.
    pub limits: std::sync::Arc<super::limits::Limits>,
    /// `auth_basic`, `satisfy`, `auth_delay`, `limit_except` (the rest of the
    /// access phase).
    pub auth: std::sync::Arc<super::auth::Auth>,
    /// `error_page CODE... [=CODE] URI`, keyed by status.
    pub error_pages: HashMap<u16, ErrorPage>,
    /// `client_max_body_size` in bytes; 0 = unlimited. Default 1 MiB.
    pub client_max_body_size: u64,
    /// `allow_methods`, upper-case; `HEAD` is added whenever `GET` is present.
    /// Default `GET HEAD`.
    pub allow_methods: Vec<String>,
    /// `return CODE [URL|TEXT]` / `return URL`.
    pub ret: Option<Return>,
    /// `upload_store DIR`, absolute: uploads enabled, written there.
    pub upload_store: Option<PathBuf>,
    /// `cgi EXT [INTERPRETER]` entries, in order.
    pub cgi: Vec<CgiHandler>,
    /// `cgi_timeout`. Default 30s.
    pub cgi_timeout: Duration,
    /// `cgi_path_info split|full`: what a script gets as PATH_INFO. Default split.
    pub cgi_path_info: CgiPathInfo,
    /// `sendfile on|off`. Default on.
    pub sendfile: bool,
    /// `aio threads|off`: file chunks that are not in the page cache are read by
    /// a thread pool instead of the event loop. Default off.
    pub aio: bool,
    /// `open_file_cache` and `open_file_cache_valid`.
    pub open_file_cache: OpenFileCache,
    /// `default_type`. Default `application/octet-stream`.
    pub default_type: String,
    /// `add_header NAME VALUE [always]` entries (nginx semantics: a level that
    /// declares any replaces the inherited list).
    pub add_headers: Vec<AddHeader>,
    /// `access_log PATH [FORMAT] [if=COND]` entries; empty = off (the default).
    pub access_logs: Vec<AccessLog>,
    /// `types { }`: extension → MIME type; `None` = mime_guess's table.
    pub types: Option<Arc<MimeTypes>>,
    /// `server_tokens on|off`: `Server: webserv/VERSION` or `Server: webserv`
    /// (also the footer of built-in error pages). Default on, as nginx.
    pub server_tokens: bool,
    /// `log_not_found on|off`: a file that does not exist is logged at `error`, as
    /// nginx does (on), or not.
    pub log_not_found: bool,
    /// `open_log_file_cache`: descriptors of access logs with variables in
    /// their paths kept open; `None` = off (opened for every line).
    pub log_file_cache: Option<LogFileCache>,
    /// `keepalive_timeout`, `keepalive_requests`, `keepalive_time`,
    /// `keepalive_disable` for the requests this location answers.
    pub keepalive: KeepAlive,
    /// `send_timeout` for the responses this location answers.
    pub send_timeout: Duration,
    /// How local redirects are written (`absolute_redirect` and its two companions).
    pub redirect: RedirectStyle,
    /// `client_body_temp_path DIR`: the directory request bodies too large for
    /// memory are spooled to (named files, removed when the request is done
    /// unless `client_body_in_file_only on`); `None` = the system's temporary
    /// directory.
    pub client_body_temp_path: Option<std::sync::Arc<std::path::Path>>,
    /// `underscores_in_headers on|off`: whether a request header whose name has `_`
    /// reaches CGI (as `HTTP_*`, where `X_User` would pass for `X-User`). Default off,
    /// as nginx: such headers are dropped for CGI and logged at info.
    pub underscores_in_headers: bool,
    /// `expires`: `Expires` and `Cache-Control` on 2xx/3xx responses. Default off.
    pub expires: Expires,
    /// `expires` with variables: the value is read per response (the mode in
    /// `expires` says whether `modified` was given).
    pub expires_value: Option<crate::vars::Template>,
    /// `max_ranges N`: at most N ranges per request (more: the whole file);
    /// 0 turns ranges off. `None`: no limit (nginx's default).
    pub max_ranges: Option<u32>,
    /// `add_trailer NAME VALUE [always]`: fields sent after a chunked body.
    pub add_trailers: Vec<AddHeader>,
    /// `etag on|off`. Default on.
    pub etag: bool,
    /// `if_modified_since off|exact|before`. Default before.
    pub if_modified_since: IfModifiedSince,
    /// `gzip`, `brotli`, `zstd` and their `_static`, `_types`... directives.
    pub compression: super::compress::Compression,
    /// `client_body_buffer_size`, `client_body_in_file_only`,
    /// `client_body_in_single_buffer`, `chunked_transfer_encoding`.
    pub bodies: super::bodies::Bodies,
    /// `dav_methods`, `create_full_put_path`, `min_delete_depth`, `dav_access`.
    pub dav: super::dav::Dav,
    /// `proxy_pass`: this location's content comes from an upstream.
    pub proxy_pass: Option<super::proxy::Pass>,
    /// The `proxy_*` settings (shared: a location copied per request copies a pointer).
    pub proxy: Arc<super::proxy::Settings>,
    /// `fastcgi_pass`: this location's content comes from a FastCGI application.
    pub fastcgi_pass: Option<super::proxy::Pass>,
    /// The `fastcgi_*` settings.
    pub fastcgi: Arc<super::proxy::Settings>,
    /// An `if` block's configuration (nginx's `noname`): reached only through its
    /// condition, never by matching a URI.
    pub noname: bool,
    pub pos: Pos,
}

/// `add_header NAME VALUE [always]`.
#[derive(Debug, Clone)]
pub struct AddHeader {
    pub name: String,
    pub value: Template,
    /// `always`: on every status, not only success and redirects.
    pub always: bool,
}

/// One `access_log PATH [FORMAT [buffer=SIZE] [gzip[=LEVEL]] [flush=TIME] [if=COND]]`.
#[derive(Debug, Clone)]
pub struct AccessLog {
    /// Absolute path (as written, for a path with variables).
    pub path: PathBuf,
    /// A path with variables: expanded for each line (relative to `prefix`); the
    /// file is opened for the line, or kept by `open_log_file_cache`.
    pub path_vars: Option<Template>,
    pub prefix: PathBuf,
    /// `buffer=`, `flush=`, `gzip=`: lines gather in memory before they are
    /// written. One buffer per file: every `access_log` naming the path shares it.
    pub buffer: Option<LogBuffer>,
    /// `log_format` name (`combined` when not given).
    pub format: String,
    /// The format itself, linked after the whole configuration is read.
    pub compiled: Option<Arc<LogFormat>>,
    /// `if=COND`: logged only when COND is neither empty nor "0".
    pub condition: Option<Template>,
    pub pos: Pos,
}

/// How a buffered access log file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBuffer {
    /// `buffer=SIZE` (64k when only `gzip` asks for a buffer, as nginx).
    pub size: usize,
    /// `flush=TIME`: the longest a line waits in the buffer.
    pub flush: Option<Duration>,
    /// `gzip[=LEVEL]`: each flushed buffer is written as one gzip member.
    pub gzip: Option<u32>,
}

/// `open_log_file_cache max=N [inactive=T] [min_uses=N] [valid=T]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileCache {
    pub max: usize,
    /// An entry not used for this long is dropped.
    pub inactive: Duration,
    /// A descriptor stays open once its name was used this many times.
    pub min_uses: u32,
    /// How long a kept descriptor is trusted before the name is opened again.
    pub valid: Duration,
    /// The directive: locations that inherit it share one cache, as in nginx.
    pub pos: Pos,
}

/// `log_format NAME [escape=default|json|none] STRING...`.
#[derive(Debug, Clone)]
pub struct LogFormat {
    pub name: String,
    pub escape: Escape,
    pub template: Template,
}

/// A directive of nginx's rewrite module, run in order in its phase.
#[derive(Debug, Clone)]
pub enum Op {
    /// `rewrite REGEX REPLACEMENT [FLAG]`.
    Rewrite {
        pattern: Box<Pattern>,
        replacement: Template,
        flag: RewriteFlag,
        pos: Pos,
    },
    /// `return CODE [URL|TEXT]` / `return URL`.
    Return(Return),
    /// `set $NAME VALUE`.
    Set {
        var: crate::vars::Var,
        value: Template,
    },
    /// `break`: stop running this list.
    Break,
    /// `if (CONDITION) { ... }`.
    If(Box<super::cond::IfBlock>),
}

/// The flag of a `rewrite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RewriteFlag {
    /// Go on with the next directive, with the new URI.
    None,
    /// Stop, and search the location for the new URI.
    Last,
    /// Stop, and stay in this location with the new URI.
    Break,
    /// 302 to the new URI.
    Redirect,
    /// 301 to the new URI.
    Permanent,
}

/// `try_files FILE... FALLBACK`.
#[derive(Debug, Clone)]
pub struct TryFiles {
    /// Tried in order; a trailing `/` tests for a directory.
    pub files: Vec<Template>,
    pub fallback: Fallback,
}

/// The last argument of `try_files`.
#[derive(Debug, Clone)]
pub enum Fallback {
    /// An internal redirect to a URI (or `@name`).
    Uri(Template),
    /// `=CODE`.
    Status(u16),
}

/// How a directory listing is written (`autoindex_*` directives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListingStyle {
    /// `autoindex_exact_size on|off`: sizes in bytes, or rounded to K, M, G. Default on.
    pub exact_size: bool,
    /// `autoindex_localtime on|off`: dates in the server's time zone, not GMT. Default off.
    pub localtime: bool,
    /// `autoindex_format html|json|xml`. Default html.
    pub format: ListingFormat,
}

impl Default for ListingStyle {
    fn default() -> Self {
        ListingStyle {
            exact_size: true,
            localtime: false,
            format: ListingFormat::Html,
        }
    }
}

/// `autoindex_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingFormat {
    Html,
    Json,
    /// JSON wrapped in the `?callback=` function's call, as nginx.
    Jsonp,
    Xml,
}

/// What `error_page` points a status at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage {
    /// A local URI or `@name` (internal redirect) or an absolute URL (302 to it).
    pub uri: Template,
    /// `=CODE`: answer with this status instead of the original one.
    pub status_override: Option<u16>,
}

/// `return CODE [URL|TEXT]`, or `return URL` (302).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    pub code: u16,
    /// For 301/302/303/307/308 the Location; otherwise the response body text.
    pub target: Option<Template>,
}

/// A location's backend: what `proxy_pass` or `fastcgi_pass` names, with its settings.
#[derive(Clone, Copy)]
pub struct Gateway<'a> {
    pub protocol: super::proxy::Protocol,
    pub pass: &'a super::proxy::Pass,
    pub settings: &'a Arc<super::proxy::Settings>,
}

impl Location {
    /// The backend this location passes requests to, if any.
    pub fn gateway(&self) -> Option<Gateway<'_>> {
        use super::proxy::Protocol;
        if let Some(pass) = &self.proxy_pass {
            return Some(Gateway {
                protocol: Protocol::Http,
                pass,
                settings: &self.proxy,
            });
        }
        let pass = self.fastcgi_pass.as_ref()?;
        Some(Gateway {
            protocol: Protocol::FastCgi,
            pass,
            settings: &self.fastcgi,
        })
    }

    pub fn is_exact(&self) -> bool {
        matches!(self.kind, LocKind::Exact)
    }

    /// A prefix location (`/x` or `^~ /x`).
    pub fn is_prefix(&self) -> bool {
        matches!(self.kind, LocKind::Prefix | LocKind::NoRegex)
    }

    pub fn is_named(&self) -> bool {
        matches!(self.kind, LocKind::Named)
    }

    /// The modifier as written before the URI (`= `, `^~ `, `~ `, `~* `, or none).
    pub fn modifier(&self) -> &'static str {
        match &self.kind {
            LocKind::Prefix | LocKind::Named => "",
            LocKind::NoRegex => "^~ ",
            LocKind::Exact => "= ",
            LocKind::Regex(p) if p.caseless() => "~* ",
            LocKind::Regex(_) => "~ ",
        }
    }

    /// `$document_root`: the root, or the alias.
    pub fn document_root(&self) -> &std::path::Path {
        self.alias.as_deref().unwrap_or(&self.root)
    }
}

/// `cgi_path_info split|full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CgiPathInfo {
    /// RFC 3875 §4.1.5: the part of the path after the script's name.
    #[default]
    Split,
    /// The whole decoded request path, as the 42 school's `cgi_tester` expects.
    Full,
}

/// `cgi EXT [INTERPRETER]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHandler {
    /// Extension with its dot, e.g. `.py`.
    pub ext: String,
    /// Interpreter program; `None` = execute the script itself.
    pub interpreter: Option<PathBuf>,
}

impl Server {
    /// This server's names for [`super::server_names::select`], known there as `key`.
    pub fn candidate(&self, key: usize) -> super::server_names::Candidate<'_> {
        super::server_names::Candidate {
            key,
            names: &self.server_names,
            regexes: &self.name_regexes,
        }
    }

    /// The client_max_body_size etc. of the location matching `path` is decided by the
    /// request processor; this helper only answers whether a name matches this server.
    pub fn matches_name(&self, host: &str) -> bool {
        self.server_names.iter().any(|n| name_matches(n, host))
    }
}

/// nginx server_name matching: exact, `*.example.com` (any subdomain),
/// `.example.com` (the domain and any subdomain) and `www.example.*` (any last
/// labels). `host` must be lower-case, no port. Regex names (`~...`) never match
/// here: they are tried through [`Server::name_regexes`].
pub fn name_matches(pattern: &str, host: &str) -> bool {
    if pattern.starts_with('~') {
        false
    } else if let Some(prefix) = pattern.strip_suffix(".*") {
        host.len() > prefix.len() + 1
            && host.starts_with(prefix)
            && host.as_bytes()[prefix.len()] == b'.'
    } else if let Some(suffix) = pattern.strip_prefix("*.") {
        host.len() > suffix.len() + 1
            && host.ends_with(suffix)
            && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
    } else if let Some(suffix) = pattern.strip_prefix('.') {
        host == suffix
            || (host.ends_with(suffix) && host.as_bytes()[host.len() - suffix.len() - 1] == b'.')
    } else {
        pattern == host
    }
}

/// `open_file_cache off | max=N [inactive=TIME]` and `open_file_cache_valid TIME`:
/// the per-worker cache of open files. Default: on, 1000 entries, 60 s inactive,
/// every hit revalidated by a stat (valid 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileCache {
    /// Most entries per worker; 0 = off.
    pub max: usize,
    /// Entries unused this long are closed.
    pub inactive: Duration,
    /// Hits younger than this skip revalidation; zero = always revalidate.
    pub valid: Duration,
}

impl Default for OpenFileCache {
    fn default() -> Self {
        OpenFileCache {
            max: 1000,
            inactive: Duration::from_secs(60),
            valid: Duration::ZERO,
        }
    }
}
