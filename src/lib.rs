//! webserv: an nginx-style, configurable HTTP/1.1 web server.
//!
//! # Layout
//!
//! - [`config`]: nginx-syntax configuration → typed model (`Config`, `Server`, `Location`).
//! - [`http`]: request head parsing (httparse), body decoders, responses, dates.
//! - [`server`]: the event loop: ConnectionManager (one mio `Poll` per worker),
//!   Listeners, Connections and their timers.
//! - [`transport`]: plain TCP or TLS (rustls) under each connection; SNI certificates.
//! - [`handler`]: the RequestProcessor: virtual server and location selection, then
//!   return / upload / delete / static / index / autoindex, and error pages.

pub mod cgi;
pub mod config;
pub mod explain;
pub mod filter;
pub mod handler;
pub mod http;
pub mod logging;
pub mod server;
pub mod transport;
pub mod vars;
