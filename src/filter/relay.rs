//! The compression filter for a body relayed as it is produced (CGI output now,
//! upstream responses later): decide from the head, rewrite the head's fields,
//! then compress each piece of body and flush it at once, so the client gets the
//! first bytes while the producer is still running.

use std::io;

use super::{Candidate, Encoder, add_vary_raw, decide, weaken};
use crate::config::compress::Compression;
use crate::http::Request;

/// A relayed body being compressed. It produces compressed bytes only: the
/// codec frames them (HTTP/1 chunks, HTTP/2 DATA frames).
pub struct Relay {
    encoder: Encoder,
    /// The producer's declared length, if it gave one: input past it is dropped.
    pub left: Option<u64>,
}

/// Decides for a relayed response with these fields; on yes, rewrites them
/// (Content-Encoding, weak ETag, no Content-Length) and returns the compressor.
/// `Vary` is added whenever the answer depended on Accept-Encoding.
pub fn start(
    comp: &Compression,
    req: &Request,
    status: u16,
    fields: &mut Vec<(String, Vec<u8>)>,
    length: Option<u64>,
) -> Option<Box<Relay>> {
    if !(comp.gzip.on || comp.brotli.on || comp.zstd.on) {
        return None;
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    };
    let candidate = Candidate {
        status,
        content_type: field("content-type"),
        cache_control: field("cache-control"),
        encoded: field("content-encoding").is_some(),
        length,
    };
    let decision = decide(comp, req, &candidate);
    if decision.vary {
        add_vary_raw(fields);
    }
    let (enc, level) = decision.encoding?;
    let encoder = match Encoder::new(enc, level) {
        Ok(e) => e,
        Err(e) => {
            log::error!("cannot start a {} stream: {e}", enc.token());
            return None;
        }
    };
    fields.retain(|(n, _)| {
        !n.eq_ignore_ascii_case("content-length") && !n.eq_ignore_ascii_case("accept-ranges")
    });
    for (name, value) in fields.iter_mut() {
        if name.eq_ignore_ascii_case("etag") {
            *value = weaken(&String::from_utf8_lossy(value)).into_bytes();
        }
    }
    fields.push(("Content-Encoding".into(), enc.token().as_bytes().to_vec()));
    Some(Box::new(Relay {
        encoder,
        left: length,
    }))
}

impl Relay {
    /// Compresses `data`, flushes, and appends the compressed bytes to `out`.
    pub fn chunk(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let data = match &mut self.left {
            Some(left) => {
                let n = (data.len() as u64).min(*left) as usize;
                *left -= n as u64;
                &data[..n]
            }
            None => data,
        };
        if data.is_empty() {
            return Ok(());
        }
        self.encoder.write(data)?;
        self.encoder.flush()?;
        self.encoder.take_into(out);
        Ok(())
    }

    /// The end of the compressed stream, appended to `out`.
    pub fn finish(self, out: &mut Vec<u8>) -> io::Result<()> {
        self.encoder.finish_into(out)
    }
}
