//! Configuration: nginx syntax in, typed model out.
//!
//! Two passes, as nginx does it:
//!
//! 1. Syntax: `lexer` (tokens with line:col) → `parser` (a tree of directives),
//!    with `include` globs pasted in by `include`.
//! 2. Meaning: `check` validates every directive against the `directives` table
//!    (context, arity, block, repetition) and parses values (`values`) into
//!    per-level `settings`; `build` applies inheritance main → http → server →
//!    location, fills defaults and groups servers by listen address into [`Config`].
//!
//! Every error carries `file:line:col` (see [`ConfigError`]).

pub mod access;
pub mod auth;
pub mod bodies;
mod build;
pub mod caching;
pub mod charset;
pub mod charset_map;
mod check;
mod compat;
pub mod compress;
pub mod cond;
pub mod dav;
mod directives;
pub mod error_log;
pub mod fastcgi;
pub mod http2;
pub mod ignore_headers;
mod include;
pub mod keepalive;
mod lexer;
pub mod limits;
mod link;
mod listen;
mod logs;
pub mod map;
mod mapping;
mod model;
mod parser;
pub mod proxy;
pub mod proxy_ssl;
pub mod realip;
mod script;
pub mod server_names;
mod settings;
pub mod symlinks;
pub mod tls;
mod types;
mod unsupported;
pub mod upstream;
mod values;
mod warnings;

#[cfg(test)]
mod tests;

pub use error_log::{ErrorLog, Level};
pub use mapping::FileRef;
pub use model::*;
pub use tls::{Protocol, TlsPort, TlsSettings};
pub use warnings::{find_program, warnings};

use std::fmt;
use std::path::Path;

/// A configuration error: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `None` only for errors that belong to no position (e.g. the main file is unreadable).
    pub pos: Option<Pos>,
    pub msg: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pos {
            Some(pos) => write!(f, "{pos}: {}", self.msg),
            None => f.write_str(&self.msg),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error at `pos`.
    pub fn at(pos: &Pos, msg: impl Into<String>) -> Self {
        ConfigError {
            pos: Some(pos.clone()),
            msg: msg.into(),
        }
    }

    /// An error that belongs to no position.
    pub fn new(msg: impl Into<String>) -> Self {
        ConfigError {
            pos: None,
            msg: msg.into(),
        }
    }
}

/// Every file the configuration `path` reads (itself and its includes), once
/// each, with its text, in the order read (`-T`).
pub fn files(path: &Path) -> Result<Vec<(std::path::PathBuf, String)>, ConfigError> {
    include::files_read(path)
}

/// Reads, parses and checks the configuration file `path`; relative paths inside it
/// (root, alias, upload_store, logs, cgi interpreters) resolve against `prefix`,
/// `include` globs against the including file's directory.
pub fn load(path: &Path, prefix: &Path) -> Result<Config, ConfigError> {
    let prefix = std::path::absolute(prefix).unwrap_or_else(|_| prefix.to_path_buf());
    let tree = include::load_tree(path)?;
    let draft = check::check(&tree, &prefix)?;
    build::build(draft, path, &prefix)
}
