//! Reading request bodies: framing (Content-Length or chunked), the
//! `client_max_body_size` limit, and spooling to a temporary file once a body
//! outgrows a small memory buffer, so a large upload costs kilobytes of memory.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

use super::chunked::{ChunkError, ChunkedDecoder, Decoded};
use super::request::Framing;

/// Bodies up to this size stay in memory; larger ones go to a temporary file.
pub const MEMORY_LIMIT: usize = 64 * 1024;

/// A complete request body, as handed to the request processor.
#[derive(Debug, Default)]
pub enum RequestBody {
    #[default]
    Empty,
    Memory(Vec<u8>),
    /// An anonymous temporary file (already unlinked), positioned at its start.
    File {
        file: File,
        len: u64,
    },
}

impl RequestBody {
    pub fn len(&self) -> u64 {
        match self {
            RequestBody::Empty => 0,
            RequestBody::Memory(v) => v.len() as u64,
            RequestBody::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Over `client_max_body_size` → 413.
    TooLarge,
    /// Malformed chunked framing → 400.
    Malformed(ChunkError),
    /// The spool file could not be written → 500.
    Io(io::Error),
}

impl BodyError {
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge => 413,
            BodyError::Malformed(_) => 400,
            BodyError::Io(_) => 500,
        }
    }
}

enum Decoder {
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
}

/// Consumes body bytes as they arrive and keeps them in memory or a spool file.
pub struct BodyReader {
    decoder: Decoder,
    /// `client_max_body_size`; 0 = unlimited.
    limit: u64,
    received: u64,
    memory: Vec<u8>,
    spool: Option<File>,
    done: bool,
}

impl BodyReader {
    /// A reader for `framing` (which must not be `Framing::None`). A Content-Length
    /// over `limit` is rejected at once, before any body byte is read.
    pub fn new(framing: Framing, limit: u64) -> Result<Self, BodyError> {
        let decoder = match framing {
            Framing::Length(n) if limit != 0 && n > limit => return Err(BodyError::TooLarge),
            Framing::Length(n) => Decoder::Length { remaining: n },
            Framing::Chunked => Decoder::Chunked(ChunkedDecoder::new()),
            Framing::None => Decoder::Length { remaining: 0 },
        };
        let done = matches!(decoder, Decoder::Length { remaining: 0 });
        Ok(BodyReader {
            decoder,
            limit,
            received: 0,
            memory: Vec::new(),
            spool: None,
            done,
        })
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Body bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Takes body bytes from the front of `input`; returns how many were consumed
    /// (bytes after the body's end are left for the next request).
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, BodyError> {
        let mut consumed = 0;
        while !self.done && consumed < input.len() {
            let rest = &input[consumed..];
            match &mut self.decoder {
                Decoder::Length { remaining } => {
                    let n = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    *remaining -= n as u64;
                    self.done = *remaining == 0;
                    consumed += n;
                    self.store(&rest[..n])?;
                }
                Decoder::Chunked(dec) => {
                    let (n, out) = dec.decode(rest).map_err(BodyError::Malformed)?;
                    consumed += n;
                    match out {
                        Decoded::Data(r) => self.store(&rest[r])?,
                        Decoded::Done => self.done = true,
                        Decoded::NeedMore => break,
                    }
                }
            }
        }
        Ok(consumed)
    }

    fn store(&mut self, data: &[u8]) -> Result<(), BodyError> {
        self.received += data.len() as u64;
        if self.limit != 0 && self.received > self.limit {
            return Err(BodyError::TooLarge);
        }
        if self.spool.is_none() && self.memory.len() + data.len() <= MEMORY_LIMIT {
            self.memory.extend_from_slice(data);
            return Ok(());
        }
        let spool = match &mut self.spool {
            Some(f) => f,
            None => self
                .spool
                .insert(tempfile::tempfile().map_err(BodyError::Io)?),
        };
        if !self.memory.is_empty() {
            spool.write_all(&self.memory).map_err(BodyError::Io)?;
            self.memory = Vec::new();
        }
        spool.write_all(data).map_err(BodyError::Io)
    }

    /// The complete body.
    pub fn finish(self) -> Result<RequestBody, BodyError> {
        match self.spool {
            Some(mut file) => {
                file.seek(SeekFrom::Start(0)).map_err(BodyError::Io)?;
                Ok(RequestBody::File {
                    file,
                    len: self.received,
                })
            }
            None if self.memory.is_empty() => Ok(RequestBody::Empty),
            None => Ok(RequestBody::Memory(self.memory)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read_all(body: RequestBody) -> Vec<u8> {
        match body {
            RequestBody::Empty => Vec::new(),
            RequestBody::Memory(v) => v,
            RequestBody::File { mut file, .. } => {
                let mut v = Vec::new();
                file.read_to_end(&mut v).unwrap();
                v
            }
        }
    }

    #[test]
    fn length_body_leaves_the_next_request() {
        let mut r = BodyReader::new(Framing::Length(5), 0).unwrap();
        assert_eq!(r.feed(b"hel").unwrap(), 3);
        assert!(!r.is_done());
        assert_eq!(r.feed(b"loGET /").unwrap(), 2);
        assert!(r.is_done());
        assert_eq!(read_all(r.finish().unwrap()), b"hello");
    }

    #[test]
    fn limits_by_length_and_by_chunked_total() {
        assert!(matches!(
            BodyReader::new(Framing::Length(11), 10),
            Err(BodyError::TooLarge)
        ));
        assert!(BodyReader::new(Framing::Length(10), 10).is_ok());
        let mut r = BodyReader::new(Framing::Chunked, 4).unwrap();
        assert!(matches!(
            r.feed(b"3\r\nabc\r\n2\r\nde\r\n"),
            Err(BodyError::TooLarge)
        ));
        let mut r = BodyReader::new(Framing::Chunked, 5).unwrap();
        r.feed(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(read_all(r.finish().unwrap()), b"abcde");
    }

    #[test]
    fn large_bodies_spool_to_a_file() {
        let data: Vec<u8> = (0..MEMORY_LIMIT * 3).map(|i| (i % 251) as u8).collect();
        let mut r = BodyReader::new(Framing::Length(data.len() as u64), 0).unwrap();
        for piece in data.chunks(1000) {
            assert_eq!(r.feed(piece).unwrap(), piece.len());
        }
        let body = r.finish().unwrap();
        assert!(matches!(body, RequestBody::File { .. }));
        assert_eq!(read_all(body), data);
    }
}
