//! The HTTP/2 directives, as nginx's: `http2 on|off` (server level, nginx
//! ≥ 1.25; `listen ... http2` turns it on for the whole address, as nginx
//! ≤ 1.24 did), `http2_max_concurrent_streams N` (128),
//! `http2_chunk_size SIZE` (8k: the most DATA one frame carries from a
//! response), `http2_body_preread_size SIZE` (64k: the window each stream
//! opens for its request body before the handler reads it) and
//! `http2_recv_buffer_size SIZE` (256k: how much the connection reads at once).

use super::ConfigError;
use super::parser::Directive;
use super::values;

/// A server's HTTP/2 settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2 {
    /// `http2 on`: TLS offers h2 by ALPN; a cleartext address takes h2 with
    /// prior knowledge (the connection preface) beside HTTP/1.
    pub on: bool,
    pub max_concurrent_streams: u32,
    pub chunk_size: u32,
    pub body_preread_size: u32,
    pub recv_buffer_size: usize,
}

impl Default for Http2 {
    fn default() -> Self {
        Http2 {
            on: false,
            max_concurrent_streams: 128,
            chunk_size: 8 * 1024,
            body_preread_size: 64 * 1024,
            recv_buffer_size: 256 * 1024,
        }
    }
}

/// One level's explicitly set values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Draft {
    on: Option<bool>,
    max_concurrent_streams: Option<u32>,
    chunk_size: Option<u32>,
    body_preread_size: Option<u32>,
    recv_buffer_size: Option<usize>,
}

impl Draft {
    pub fn merge(&self, outer: &Draft) -> Draft {
        Draft {
            on: self.on.or(outer.on),
            max_concurrent_streams: self.max_concurrent_streams.or(outer.max_concurrent_streams),
            chunk_size: self.chunk_size.or(outer.chunk_size),
            body_preread_size: self.body_preread_size.or(outer.body_preread_size),
            recv_buffer_size: self.recv_buffer_size.or(outer.recv_buffer_size),
        }
    }

    /// Records an HTTP/2 directive; `false` when `d` is none.
    pub fn apply(&mut self, d: &Directive) -> Result<bool, ConfigError> {
        let arg = &d.args[0];
        let name = d.name.as_str();
        let bad = || ConfigError::at(&arg.1, format!("invalid value \"{}\" in \"{name}\"", arg.0));
        match name {
            "http2" => self.on = Some(values::on_off(arg, name)?),
            "http2_max_concurrent_streams" => {
                let n = values::number(arg, name)?;
                self.max_concurrent_streams = Some(u32::try_from(n).map_err(|_| bad())?);
            }
            "http2_chunk_size" => {
                let n = values::size(arg, name)?;
                // A DATA frame carries at most 2^24 - 1 bytes; nginx refuses 0.
                match u32::try_from(n) {
                    Ok(n) if n > 0 && n < 1 << 24 => self.chunk_size = Some(n),
                    _ => return Err(bad()),
                }
            }
            "http2_body_preread_size" => {
                let n = values::size(arg, name)?;
                match u32::try_from(n) {
                    Ok(n) if n < 1 << 31 => self.body_preread_size = Some(n),
                    _ => return Err(bad()),
                }
            }
            "http2_recv_buffer_size" => {
                let n = values::size(arg, name)?;
                match usize::try_from(n) {
                    // nginx needs room for at least two frame headers.
                    Ok(n) if n > 2 * 9 => self.recv_buffer_size = Some(n),
                    _ => return Err(bad()),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The settings, nginx's defaults for what no level set; `listen_http2`:
    /// some `listen` of the server's addresses says `http2`.
    pub fn finish(&self, listen_http2: bool) -> Http2 {
        let d = Http2::default();
        Http2 {
            on: self.on.unwrap_or(listen_http2),
            max_concurrent_streams: self
                .max_concurrent_streams
                .unwrap_or(d.max_concurrent_streams),
            chunk_size: self.chunk_size.unwrap_or(d.chunk_size),
            body_preread_size: self.body_preread_size.unwrap_or(d.body_preread_size),
            recv_buffer_size: self.recv_buffer_size.unwrap_or(d.recv_buffer_size),
        }
    }
}
