//! webserv: an nginx-style, configurable HTTP/1.1 web server.
//!
//! # Layout
//!
//! - [`config`]: nginx-syntax configuration → typed model (`Config`, `Server`, `Location`).
//! - [`http`]: request head parsing (httparse), body decoders, responses, dates.
//! - [`server`]: the event loop: ConnectionManager (one mio `Poll` per worker),
//!   Listeners, Connections and their timers.
//! - [`transport`]: plain TCP or TLS (rustls) under each connection; SNI certificates.
//! - [`handler`]: the RequestProcessor, in nginx's request phases: server, rewrite,
//!   location (exact, prefix, `^~`, regex, named, nested), access, `try_files`, then a
//!   content handler (CGI, upload, delete, static, autoindex), with internal redirects
//!   (`index`, `try_files`, `error_page`, `rewrite ... last`) back to the location.
//! - [`vars`]: nginx variables, compiled once into templates; regexes with captures.
//! - [`filter`]: response body filters (gzip, brotli, zstd), negotiated per request.
//! - [`fs`]: opening and removing names strictly beneath a base directory.
//! - [`gateway`]: upstream server groups and the choice of a peer ([`gateway::balance`]).
//! - [`cgi`]: CGI/1.1 scripts on non-blocking pipes in the same loop.
//! - [`limit`]: `limit_req` / `limit_conn` zones: leaky buckets and counts shared by the workers.
//! - [`gateway`]: application servers over sockets: FastCGI records (`fastcgi::record`).
//! - [`explain`]: `-T` (the effective configuration) and `--explain` (each phase).
//! - [`metrics`]: per-thread counters for `stub_status`, `metrics` and `--status`.

pub mod cgi;
pub mod config;
pub mod explain;
pub mod filter;
pub mod fs;
pub mod gateway;
pub mod h2;
pub mod handler;
pub mod http;
pub mod limit;
pub mod logging;
pub mod metrics;
pub mod server;
pub mod transport;
pub mod vars;
