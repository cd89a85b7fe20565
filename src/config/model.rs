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
    /// Every `server` block, in declaration order.
    pub servers: Vec<Server>,
    /// Distinct `listen` addresses, in order of first appearance, each with its servers.
    pub listens: Vec<ListenGroup>,
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
}

/// A `listen` directive.
#[derive(Debug, Clone)]
pub struct Listen {
    pub addr: SocketAddr,
    pub default_server: bool,
    pub pos: Pos,
}

/// A `server { }` block.
#[derive(Debug, Clone)]
pub struct Server {
    pub listen: Vec<Listen>,
    /// `server_name`, lower-cased; exact names and `*.suffix` / `.suffix` wildcards.
    pub server_names: Vec<String>,
    /// `client_header_buffer_size`: longest request head accepted (414 / 431 beyond).
    pub client_header_buffer_size: usize,
    pub client_header_timeout: Duration,
    pub client_body_timeout: Duration,
    pub send_timeout: Duration,
    pub keepalive_timeout: Duration,
    /// `keepalive_requests`: requests served on one connection before it is closed.
    pub keepalive_requests: u64,
    /// A server-level `return`, applied before location matching (nginx rewrite phase).
    pub ret: Option<Return>,
    /// Locations in declaration order. If the config declares no prefix location `/`,
    /// the checker appends one carrying the server-level settings, so every URI matches.
    pub locations: Vec<Location>,
    /// Where the `server` keyword was written.
    pub pos: Pos,
}

/// A `location [=] URI { }` block, with every inheritable directive resolved.
#[derive(Debug, Clone)]
pub struct Location {
    /// The URI prefix (or exact URI).
    pub path: String,
    /// `location = /uri`: matches only that URI, checked before prefixes.
    pub exact: bool,
    /// `root`, absolute (resolved against the prefix). Default `<prefix>/www`.
    pub root: PathBuf,
    /// `alias`, absolute: replaces the location prefix instead of appending to root.
    pub alias: Option<PathBuf>,
    /// `index` files tried for a directory, in order. Default `["index.html"]`.
    pub index: Vec<String>,
    /// `autoindex on|off`. Default off.
    pub autoindex: bool,
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
    /// `sendfile on|off`. Default on.
    pub sendfile: bool,
    /// `aio threads|off`: file chunks that are not in the page cache are read by
    /// a thread pool instead of the event loop. Default off.
    pub aio: bool,
    /// `open_file_cache` and `open_file_cache_valid`.
    pub open_file_cache: OpenFileCache,
    /// `default_type`. Default `application/octet-stream`.
    pub default_type: String,
    /// `add_header NAME VALUE` entries (nginx semantics: a level that declares any
    /// replaces the inherited list).
    pub add_headers: Vec<(String, String)>,
    /// `access_log PATH|off`, absolute; `None` = off (the default).
    pub access_log: Option<PathBuf>,
    /// `gzip`, `brotli`, `zstd` and their `_static`, `_types`... directives.
    pub compression: super::compress::Compression,
    pub pos: Pos,
}

/// What `error_page` points a status at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPage {
    /// A local URI (internal redirect) or an absolute URL (302 to it).
    pub uri: String,
    /// `=CODE`: answer with this status instead of the original one.
    pub status_override: Option<u16>,
}

/// `return CODE [URL|TEXT]`, or `return URL` (302).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    pub code: u16,
    /// For 301/302/303/307/308 the Location; otherwise the response body text.
    pub target: Option<String>,
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
    /// The client_max_body_size etc. of the location matching `path` is decided by the
    /// request processor; this helper only answers whether a name matches this server.
    pub fn matches_name(&self, host: &str) -> bool {
        self.server_names.iter().any(|n| name_matches(n, host))
    }
}

/// nginx server_name matching: exact, `*.example.com` (any subdomain) and
/// `.example.com` (the domain and any subdomain). `host` must be lower-case, no port.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    if let Some(suffix) = pattern.strip_prefix("*.") {
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
