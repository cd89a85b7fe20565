//! How bodies are buffered and framed: `client_body_buffer_size SIZE`,
//! `client_body_in_file_only on|clean|off`, `client_body_in_single_buffer on|off`
//! (request bodies) and `chunked_transfer_encoding on|off` (responses of unknown
//! length). Each is inherited on its own, as nginx merges them.

use super::ConfigError;
use super::parser::Directive;
use super::values;

/// nginx's default `client_body_buffer_size` on 64-bit systems (two pages).
pub const DEFAULT_BUFFER: usize = 16 << 10;

/// `client_body_in_file_only`: whether every body goes to a named file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InFile {
    /// Bodies stay in memory while they fit the buffer (the default).
    #[default]
    Off,
    /// Always a file, kept after the request (`$request_body_file` names it).
    On,
    /// Always a file, removed when the request is done.
    Clean,
}

/// A location's body settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bodies {
    /// `client_body_buffer_size`: a request body up to this size (plus a
    /// quarter, as nginx sizes its buffer) stays in memory (`$request_body`).
    pub buffer_size: usize,
    pub in_file: InFile,
    /// `client_body_in_single_buffer`: webserv keeps a body in one buffer anyway.
    pub single_buffer: bool,
    /// `chunked_transfer_encoding off`: a response of unknown length is sent
    /// delimited by closing the connection instead of in chunks. Default on.
    pub chunked: bool,
}

impl Default for Bodies {
    fn default() -> Self {
        Bodies {
            buffer_size: DEFAULT_BUFFER,
            in_file: InFile::Off,
            single_buffer: false,
            chunked: true,
        }
    }
}

impl Bodies {
    /// The most a body may hold and still stay in memory.
    pub fn memory_limit(&self) -> usize {
        self.buffer_size.saturating_add(self.buffer_size >> 2)
    }
}

/// One level's explicitly set values.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    buffer_size: Option<usize>,
    in_file: Option<InFile>,
    single_buffer: Option<bool>,
    chunked: Option<bool>,
}

impl Draft {
    pub fn merge(&self, outer: &Draft) -> Draft {
        Draft {
            buffer_size: self.buffer_size.or(outer.buffer_size),
            in_file: self.in_file.or(outer.in_file),
            single_buffer: self.single_buffer.or(outer.single_buffer),
            chunked: self.chunked.or(outer.chunked),
        }
    }

    /// Records one of the body directives; `false` when `d` is none of them.
    pub fn apply(&mut self, d: &Directive) -> Result<bool, ConfigError> {
        let name = d.name.as_str();
        let Some(arg) = d.args.first() else {
            return Ok(false);
        };
        match name {
            "client_body_buffer_size" => {
                let n = values::size(arg, name)?;
                self.buffer_size = Some(usize::try_from(n).unwrap_or(usize::MAX));
            }
            "client_body_in_file_only" => {
                self.in_file = Some(match arg.0.as_str() {
                    "on" => InFile::On,
                    "clean" => InFile::Clean,
                    "off" => InFile::Off,
                    other => {
                        return Err(ConfigError::at(
                            &arg.1,
                            format!("\"{name}\" takes on|clean|off, got \"{other}\""),
                        ));
                    }
                })
            }
            "client_body_in_single_buffer" => self.single_buffer = Some(values::on_off(arg, name)?),
            "chunked_transfer_encoding" => self.chunked = Some(values::on_off(arg, name)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The settings, nginx's defaults for what no level set.
    pub fn finish(&self) -> Bodies {
        let d = Bodies::default();
        Bodies {
            buffer_size: self.buffer_size.unwrap_or(d.buffer_size),
            in_file: self.in_file.unwrap_or(d.in_file),
            single_buffer: self.single_buffer.unwrap_or(d.single_buffer),
            chunked: self.chunked.unwrap_or(d.chunked),
        }
    }
}
