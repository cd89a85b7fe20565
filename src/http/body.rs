//! Reading request bodies: framing (Content-Length or chunked), the
//! `client_max_body_size` limit, and spooling to a temporary file once a body
//! outgrows its memory buffer (`client_body_buffer_size`), so a large upload
//! costs kilobytes of memory.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

pub use super::body_file::{BodyFile, BodyView};
use super::chunked::{ChunkError, ChunkedDecoder, Decoded};
use super::request::Framing;

/// Bodies up to this size stay in memory unless the location says otherwise
/// (nginx's 16k `client_body_buffer_size` and the quarter its buffer adds).
pub const MEMORY_LIMIT: usize = 20 * 1024;

/// Where decoded body bytes go: the request processor picks a sink per request
/// (a spool for most, an upload writer in upload locations).
pub trait BodySink {
    fn write(&mut self, data: &[u8]) -> Result<(), BodyError>;
}

/// A sink that drops what it is given: a body nobody reads.
pub struct Discard;

impl BodySink for Discard {
    fn write(&mut self, _data: &[u8]) -> Result<(), BodyError> {
        Ok(())
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Over `client_max_body_size` → 413.
    TooLarge,
    /// Malformed chunked framing → 400.
    Malformed(ChunkError),
    /// The sink refused the data with this status (bad multipart → 400, no
    /// permission → 403, disk full → 500).
    Rejected(u16),
}

impl BodyError {
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge => 413,
            BodyError::Malformed(_) => 400,
            BodyError::Rejected(s) => *s,
        }
    }

    /// A write error of a body file, as a status.
    pub fn io(e: &io::Error) -> BodyError {
        match e.kind() {
            io::ErrorKind::PermissionDenied => BodyError::Rejected(403),
            _ => BodyError::Rejected(500),
        }
    }
}

/// A body kept for the request processor: in memory while it fits the buffer
/// (`client_body_buffer_size`), then in a named file (`$request_body_file`),
/// removed when the request is done unless the location keeps it.
#[derive(Debug)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
    /// The file's name, shared with the request's variables.
    name: Option<BodyFile>,
    len: u64,
    /// Where the file goes (`client_body_temp_path`); `None` = the system's temp dir.
    dir: Option<std::sync::Arc<std::path::Path>>,
    /// A body larger than this goes to the file.
    limit: usize,
    /// `client_body_in_file_only`: every body goes to the file (`Some`), kept
    /// after the request when `true`.
    file_only: Option<bool>,
}

impl Default for Spool {
    fn default() -> Self {
        Spool {
            memory: Vec::new(),
            file: None,
            name: None,
            len: 0,
            dir: None,
            limit: MEMORY_LIMIT,
            file_only: None,
        }
    }
}

impl BodySink for Spool {
    fn write(&mut self, data: &[u8]) -> Result<(), BodyError> {
        self.len += data.len() as u64;
        if self.file.is_none()
            && self.file_only.is_none()
            && self.memory.len() + data.len() <= self.limit
        {
            self.memory.extend_from_slice(data);
            return Ok(());
        }
        let held = std::mem::take(&mut self.memory);
        let file = self.open_file()?;
        if !held.is_empty() {
            file.write_all(&held).map_err(|e| BodyError::io(&e))?;
        }
        file.write_all(data).map_err(|e| BodyError::io(&e))
    }
}

impl Spool {
    /// An empty spool whose file, if the body needs one, goes in `dir`.
    pub fn in_dir(dir: Option<std::sync::Arc<std::path::Path>>) -> Spool {
        Spool {
            dir,
            ..Spool::default()
        }
    }

    /// A spool that keeps up to `limit` bytes in memory; `file_only`: every
    /// body goes to a file, kept after the request when `Some(true)`.
    pub fn with_limits(self, limit: usize, file_only: Option<bool>) -> Spool {
        Spool {
            limit,
            file_only,
            ..self
        }
    }

    /// The spool's file, created on first use.
    fn open_file(&mut self) -> Result<&mut File, BodyError> {
        if self.file.is_none() {
            let keep = self.file_only == Some(true);
            let (file, name) =
                BodyFile::create(self.dir.as_deref(), keep).map_err(|e| BodyError::io(&e))?;
            self.name = Some(name);
            self.file = Some(file);
        }
        self.file.as_mut().ok_or(BodyError::Rejected(500))
    }

    /// Called once the whole body is read: with `client_body_in_file_only` even
    /// an empty body has its (empty) file, as nginx makes one.
    pub fn finish(&mut self) -> Result<(), BodyError> {
        if self.file_only.is_some() {
            self.open_file()?;
        }
        Ok(())
    }

    /// What `$request_body` / `$request_body_file` see of the body: `None`
    /// for an empty body kept in memory (no value, as nginx).
    pub fn view(&self) -> Option<BodyView> {
        match &self.name {
            Some(name) => Some(BodyView::File(name.clone())),
            None if self.memory.is_empty() => None,
            None => Some(BodyView::Memory(self.memory.as_slice().into())),
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes kept in memory, if the body never went to a file.
    pub fn memory(&self) -> Option<&[u8]> {
        self.file.is_none().then_some(self.memory.as_slice())
    }

    /// The body, in memory or as the spool file rewound to its start.
    pub fn into_data(self) -> io::Result<SpoolData> {
        match self.file {
            Some(mut f) => {
                f.seek(SeekFrom::Start(0))?;
                Ok(SpoolData::File(f))
            }
            None => Ok(SpoolData::Memory(self.memory)),
        }
    }

    /// The spool file rewound to its start, if the body went to one.
    pub fn into_file(self) -> io::Result<Option<File>> {
        match self.file {
            Some(mut f) => {
                f.seek(SeekFrom::Start(0))?;
                Ok(Some(f))
            }
            None => Ok(None),
        }
    }
}

/// A finished spool's contents.
pub enum SpoolData {
    Memory(Vec<u8>),
    File(File),
}

enum Decoder {
    Length { remaining: u64 },
    Chunked(ChunkedDecoder),
}

/// Takes body bytes off the connection's input per the framing, enforces
/// `client_max_body_size`, and passes the decoded bytes to a sink.
pub struct BodyReader {
    decoder: Decoder,
    /// `client_max_body_size`; 0 = unlimited.
    limit: u64,
    received: u64,
    done: bool,
}

impl BodyReader {
    /// A reader for `framing`. A Content-Length over `limit` is rejected at once,
    /// before any body byte is read.
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

    /// Takes body bytes from the front of `input` into `sink`; returns how many
    /// input bytes were consumed (bytes after the body stay for the next request).
    pub fn feed(&mut self, input: &[u8], sink: &mut dyn BodySink) -> Result<usize, BodyError> {
        let mut consumed = 0;
        while !self.done && consumed < input.len() {
            let rest = &input[consumed..];
            let (n, data) = match &mut self.decoder {
                Decoder::Length { remaining } => {
                    let n = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    *remaining -= n as u64;
                    self.done = *remaining == 0;
                    (n, Some(0..n))
                }
                Decoder::Chunked(dec) => match dec.decode(rest).map_err(BodyError::Malformed)? {
                    (n, Decoded::Data(r)) => (n, Some(r)),
                    (n, Decoded::Done) => {
                        self.done = true;
                        (n, None)
                    }
                    (n, Decoded::NeedMore) => {
                        consumed += n;
                        break;
                    }
                },
            };
            consumed += n;
            if let Some(r) = data {
                self.received += r.len() as u64;
                if self.limit != 0 && self.received > self.limit {
                    return Err(BodyError::TooLarge);
                }
                sink.write(&rest[r])?;
            }
        }
        Ok(consumed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn read_all(spool: Spool) -> Vec<u8> {
        if let Some(m) = spool.memory() {
            return m.to_vec();
        }
        let mut v = Vec::new();
        spool
            .into_file()
            .unwrap()
            .unwrap()
            .read_to_end(&mut v)
            .unwrap();
        v
    }

    #[test]
    fn length_body_leaves_the_next_request() {
        let (mut r, mut s) = (
            BodyReader::new(Framing::Length(5), 0).unwrap(),
            Spool::default(),
        );
        assert_eq!(r.feed(b"hel", &mut s).unwrap(), 3);
        assert!(!r.is_done());
        assert_eq!(r.feed(b"loGET /", &mut s).unwrap(), 2);
        assert!(r.is_done());
        assert_eq!(read_all(s), b"hello");
    }

    #[test]
    fn limits_by_length_and_by_chunked_total() {
        assert!(matches!(
            BodyReader::new(Framing::Length(11), 10),
            Err(BodyError::TooLarge)
        ));
        assert!(BodyReader::new(Framing::Length(10), 10).is_ok());
        let (mut r, mut s) = (
            BodyReader::new(Framing::Chunked, 4).unwrap(),
            Spool::default(),
        );
        let res = r.feed(b"3\r\nabc\r\n2\r\nde\r\n", &mut s);
        assert!(matches!(res, Err(BodyError::TooLarge)));
        let (mut r, mut s) = (
            BodyReader::new(Framing::Chunked, 5).unwrap(),
            Spool::default(),
        );
        let n = r
            .feed(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT", &mut s)
            .unwrap();
        assert_eq!(n, 20, "stops before the next request");
        assert!(r.is_done());
        assert_eq!(read_all(s), b"abcde");
    }

    #[test]
    fn large_bodies_spool_to_a_file() {
        let data: Vec<u8> = (0..MEMORY_LIMIT * 3).map(|i| (i % 251) as u8).collect();
        let mut r = BodyReader::new(Framing::Length(data.len() as u64), 0).unwrap();
        let mut s = Spool::default();
        for piece in data.chunks(1000) {
            assert_eq!(r.feed(piece, &mut s).unwrap(), piece.len());
        }
        assert!(s.memory().is_none(), "went to a file");
        assert_eq!(s.len(), data.len() as u64);
        assert_eq!(read_all(s), data);
    }

    #[test]
    fn the_buffer_size_decides_memory_or_a_named_file() {
        let dir = tempfile::tempdir().unwrap();
        let spool =
            |limit, file_only| Spool::in_dir(Some(dir.path().into())).with_limits(limit, file_only);
        let mut s = spool(10, None);
        s.write(b"0123456789").unwrap();
        assert_eq!(
            s.view().and_then(|v| v.memory().map(<[u8]>::to_vec)),
            Some(b"0123456789".to_vec())
        );
        s.write(b"!").unwrap();
        let view = s.view().unwrap();
        let path = view.file().unwrap().to_path_buf();
        assert!(view.memory().is_none() && path.starts_with(dir.path()));
        assert_eq!(std::fs::read(&path).unwrap(), b"0123456789!");
        drop(s);
        assert!(path.exists(), "the request's view still holds it");
        drop(view);
        assert!(!path.exists(), "removed once the request is done");
        assert!(spool(10, None).view().is_none(), "no body, no value");
    }

    #[test]
    fn file_only_keeps_or_cleans_even_an_empty_body() {
        let dir = tempfile::tempdir().unwrap();
        for keep in [true, false] {
            let mut s = Spool::in_dir(Some(dir.path().into())).with_limits(1 << 20, Some(keep));
            s.write(b"ab").unwrap();
            s.finish().unwrap();
            let path = s.view().unwrap().file().unwrap().to_path_buf();
            assert_eq!(std::fs::read(&path).unwrap(), b"ab");
            drop(s);
            assert_eq!(path.exists(), keep, "keep={keep}");
            let mut empty = Spool::in_dir(Some(dir.path().into())).with_limits(1 << 20, Some(keep));
            empty.finish().unwrap();
            let path = empty.view().unwrap().file().unwrap().to_path_buf();
            assert_eq!(std::fs::read(&path).unwrap(), b"");
        }
    }

    #[test]
    fn discard_reads_through_to_the_next_request() {
        let mut r = BodyReader::new(Framing::Chunked, 0).unwrap();
        let n = r.feed(b"3\r\nabc\r\n0\r\n\r\nGET", &mut Discard).unwrap();
        assert!(r.is_done());
        assert_eq!(n, 13, "up to the next request");
        let mut r = BodyReader::new(Framing::Chunked, 0).unwrap();
        assert!(r.feed(b"4\r\nSEE-THIS\r\n", &mut Discard).is_err());
    }
}
