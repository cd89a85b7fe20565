//! A response body on its way out, whatever the wire: bytes already in the
//! codec's buffer, a file (sent with sendfile or read in chunks, on the aio pool
//! when it is not in the page cache), the pieces of a multipart body, or a
//! stream a filter produces as it goes (compressed, recoded).
//!
//! The codec asks for the next bytes when its buffer is empty ([`Outgoing::produce`])
//! and frames them: `h1` as they are, or as chunks when the response goes
//! chunked (the filters' streams know nothing of HTTP/1.1 framing); `h2` puts
//! them in DATA frames. Work per turn is bounded by a share the caller counts
//! in `spent`, so a fast client on a large body cannot hold the worker.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::sync::Arc;

use crate::filter::cache::{self, Fill};
use crate::http::Body;
use crate::server::aio::{self, Aio, Kind, Owner};

/// File bodies up to this size are read into the head buffer: one write, no sendfile.
const SMALL_FILE: u64 = 16 * 1024;
/// Chunk size for file bodies sent without sendfile.
const COPY_CHUNK: usize = 64 * 1024;
/// The most one sendfile call sends before the connection lets the others run
/// (nginx's sendfile_max_chunk): a fast client on a large file cannot hog the
/// worker, and the socket buffer has drained by the time its turn comes back.
/// It is also a turn's share of every other body: bytes copied (`sendfile off`,
/// TLS) and file bytes compressed, each weighted by what it costs.
pub const SHARE: u64 = 2 * 1024 * 1024;
/// A file byte compressed costs this many bytes of a turn's share: a turn
/// compresses at most 256 KiB (about a millisecond at gzip level 1, a few at
/// brotli's default level), then yields like a sendfile share.
const COMPRESS_COST: u64 = 8;
/// Room kept before a streamed piece for its chunk-size line (`hex\r\n`).
const CHUNK_ROOM: usize = 18;

/// A file body still to be sent.
struct FileOut {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    sendfile: bool,
    /// Chunks not in the page cache are read on the aio pool.
    aio: bool,
    /// An aio job for this body is running: nothing to send until it is done.
    waiting: bool,
    /// An aio read failed or found the file shorter than its length.
    failed: bool,
}

/// What one sendfile call achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum SentFile {
    /// The file is out.
    Finished,
    /// The socket took less than offered: its buffer is full.
    Short,
    /// A whole share went out: let the other connections run.
    Share,
}

/// What the codec gets when it asks for more of the body.
#[derive(Debug, PartialEq, Eq)]
pub enum Produced {
    /// The body is complete (the last chunk is in the buffer when chunked).
    Done,
    /// Bytes were appended to the buffer (possibly none: ask again).
    More,
    /// A turn's share is spent: let the other connections run.
    Share,
    /// A file goes out next with sendfile: call [`Outgoing::sendfile`].
    SendFile,
}

/// The part of a response body not yet handed to the codec.
#[derive(Default)]
pub struct Outgoing {
    /// Boxed: most bodies are no large file, and an idle connection holds this.
    file: Option<Box<FileOut>>,
    /// The rest of a body in pieces (`Body::Parts`), queued once `file` is sent
    /// (boxed: a multi-range answer is rare, an idle connection is not).
    #[allow(clippy::box_collection)]
    pieces: Option<Box<VecDeque<Body>>>,
    /// A body compressed as it goes out (the compression filter's stream).
    encoded: Option<Box<crate::filter::Stream>>,
    /// A body recoded as it goes out (`charset_map`).
    recoded: Option<Box<crate::filter::recode_stream::RecodeStream>>,
    /// The streams' pieces are framed as HTTP/1.1 chunks.
    chunked: bool,
    /// The wire takes files with sendfile(2).
    sendfile: bool,
}

/// Where the body may go and who is asking (for the aio pool's answers).
pub struct Sink<'a> {
    pub out: &'a mut Vec<u8>,
    pub aio: &'a mut Aio,
    pub owner: Owner,
}

impl Outgoing {
    /// Queues `body`: bytes go straight into `sink.out`, the rest waits here.
    /// `sendfile`: the wire can take a file with sendfile(2) (plain TCP, h1).
    /// `chunked`: a streamed body goes out as HTTP/1.1 chunks.
    pub fn queue(&mut self, sink: &mut Sink, body: Body, sendfile: bool, chunked: bool) {
        self.sendfile = sendfile;
        match body {
            Body::Empty => {}
            Body::Encoded(mut stream) => {
                if let Some((fill, file)) = stream.take_fill() {
                    fill_cache(sink.aio, sink.owner, fill, file);
                }
                self.chunked = chunked;
                self.encoded = Some(stream);
            }
            Body::Recoded(stream) => {
                self.chunked = chunked && stream.chunked();
                self.recoded = Some(stream);
            }
            Body::Parts { pieces, .. } => {
                self.pieces.get_or_insert_default().extend(pieces);
                self.queue_pieces(sink, sendfile, chunked);
            }
            Body::Bytes(b) => sink.out.extend_from_slice(&b),
            Body::Shared { data, offset, len } => {
                if let Some(part) = data.get(offset..offset + len) {
                    sink.out.extend_from_slice(part);
                }
            }
            Body::File {
                file,
                offset,
                len,
                sendfile: on,
                aio,
            } => {
                if len <= SMALL_FILE && append_file(sink.out, &file, offset, len).is_ok() {
                    return;
                }
                self.file = Some(Box::new(FileOut {
                    file,
                    offset,
                    remaining: len,
                    sendfile: on && sendfile,
                    aio,
                    waiting: false,
                    failed: false,
                }));
            }
        }
    }

    /// Queues pieces of a `Body::Parts` until one is a file left to send.
    fn queue_pieces(&mut self, sink: &mut Sink, sendfile: bool, chunked: bool) {
        while self.file.is_none()
            && let Some(piece) = self.pieces.as_mut().and_then(|p| p.pop_front())
        {
            self.queue(sink, piece, sendfile, chunked);
        }
    }

    /// Whether more of the body follows what is in the codec's buffer.
    pub fn has_more(&self) -> bool {
        self.encoded.is_some()
            || self.recoded.is_some()
            || self.pieces.as_ref().is_some_and(|p| !p.is_empty())
            || self.file.as_ref().is_some_and(|f| f.remaining > 0)
    }

    /// Appends the next bytes of the body to `sink.out` (empty when called).
    /// `spent` counts this turn's work against [`SHARE`].
    pub fn produce(&mut self, sink: &mut Sink, spent: &mut u64) -> io::Result<Produced> {
        if let Some(stream) = &mut self.encoded {
            // The next compressed piece, once the previous one is out.
            let Some(left) = SHARE.checked_sub(*spent).filter(|&l| l > 0) else {
                return Ok(Produced::Share);
            };
            let start = open_piece(sink.out, self.chunked);
            let before = stream.remaining();
            let done = stream.fill(sink.out, left.div_ceil(COMPRESS_COST))?;
            *spent += (before - stream.remaining()).saturating_mul(COMPRESS_COST);
            close_piece(sink.out, start, done, self.chunked);
            if done {
                self.encoded = None;
            }
            return Ok(Produced::More);
        }
        if let Some(stream) = &mut self.recoded {
            let Some(left) = SHARE.checked_sub(*spent).filter(|&l| l > 0) else {
                return Ok(Produced::Share);
            };
            let start = open_piece(sink.out, self.chunked);
            let before = stream.remaining();
            let done = stream.fill(sink.out, left)?;
            *spent += before - stream.remaining();
            close_piece(sink.out, start, done, self.chunked);
            if done {
                self.recoded = None;
            }
            return Ok(Produced::More);
        }
        let Some(f) = &mut self.file else {
            return Ok(Produced::Done);
        };
        if f.waiting {
            // The aio job's completion drives this connection again.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        if f.failed {
            return Err(io::Error::other("reading the file failed"));
        }
        if f.remaining == 0 {
            self.file = None;
            if self.pieces.as_ref().is_none_or(|p| p.is_empty()) {
                return Ok(Produced::Done);
            }
            let (sendfile, chunked) = (self.sendfile, self.chunked);
            self.queue_pieces(sink, sendfile, chunked);
            return Ok(Produced::More);
        }
        if f.sendfile {
            return Ok(Produced::SendFile);
        }
        if *spent >= SHARE {
            return Ok(Produced::Share);
        }
        let chunk = f.remaining.min(COPY_CHUNK as u64) as usize;
        *spent += chunk as u64;
        let out = &mut *sink.out;
        out.clear();
        out.resize(chunk, 0);
        let n = if f.aio {
            match aio::read_cached(&f.file, out, f.offset) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if submit(sink.aio, sink.owner, f, chunk as u64, Kind::Read) {
                        out.clear();
                        return Err(e);
                    }
                    f.file.read_exact_at(out, f.offset)?;
                    chunk
                }
                other => other?,
            }
        } else {
            f.file.read_exact_at(out, f.offset)?;
            chunk
        };
        if n == 0 {
            out.clear();
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
        }
        out.truncate(n);
        f.offset += n as u64;
        f.remaining -= n as u64;
        Ok(Produced::More)
    }

    /// One `sendfile(2)` call for up to `max` bytes of the file body (less when it
    /// must first be read into the page cache on the aio pool: WouldBlock).
    /// Returns the bytes sent and what the call achieved.
    pub fn sendfile(
        &mut self,
        socket: &mio::net::TcpStream,
        aio: &mut Aio,
        owner: Owner,
        max: u64,
    ) -> io::Result<(usize, SentFile)> {
        let Some(f) = &mut self.file else {
            return Ok((0, SentFile::Finished));
        };
        let count = f.remaining.min(SHARE).min(max);
        if f.aio
            && !aio::is_cached(&f.file, f.offset, count)
            && submit(aio, owner, f, count, Kind::Warm)
        {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = sendfile(socket, f, count)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
        }
        let sent = if f.remaining == 0 {
            SentFile::Finished
        } else if (n as u64) < count {
            // A short send means the socket buffer filled up: the kernel will
            // report writability once it drains, so no EAGAIN probe is needed.
            SentFile::Short
        } else {
            SentFile::Share
        };
        Ok((n, sent))
    }

    /// An aio job for the file body finished: a `Read` brought the next chunk
    /// (it becomes the codec's buffer), a `Warm` the next sendfile chunk into
    /// the page cache. `false`: the job was not this body's.
    pub fn aio_done(&mut self, result: io::Result<Vec<u8>>, out: &mut Vec<u8>) -> bool {
        let Some(f) = &mut self.file else {
            return false;
        };
        if !f.waiting {
            return false;
        }
        f.waiting = false;
        if f.sendfile {
            // A failed warm-up is left to sendfile, which meets the same error.
            return true;
        }
        match result {
            Ok(buf) if !buf.is_empty() && buf.len() as u64 <= f.remaining => {
                f.offset += buf.len() as u64;
                f.remaining -= buf.len() as u64;
                *out = buf;
            }
            _ => f.failed = true,
        }
        true
    }
}

/// Starts a streamed piece in `out`: room for its chunk-size line when chunked.
fn open_piece(out: &mut Vec<u8>, chunked: bool) -> usize {
    out.clear();
    if chunked {
        out.resize(CHUNK_ROOM, 0);
    }
    out.len()
}

/// Frames the piece appended after `start` as a chunk (the last chunk after
/// it when `done`): the size line goes right before the data, and the bytes
/// of room it does not need are cut from the front.
fn close_piece(out: &mut Vec<u8>, start: usize, done: bool, chunked: bool) {
    if !chunked {
        return;
    }
    let len = out.len() - start;
    if len == 0 {
        out.clear();
    } else {
        let mut line = [0u8; CHUNK_ROOM];
        let hex = hex_line(&mut line, len);
        let from = start - hex.len();
        out[from..start].copy_from_slice(hex);
        out.drain(..from);
        out.extend_from_slice(b"\r\n");
    }
    if done {
        out.extend_from_slice(b"0\r\n\r\n");
    }
}

/// `len` in hex followed by CRLF, at the end of `line`.
fn hex_line(line: &mut [u8; CHUNK_ROOM], mut len: usize) -> &[u8] {
    let mut at = CHUNK_ROOM - 2;
    line[at..].copy_from_slice(b"\r\n");
    loop {
        at -= 1;
        line[at] = b"0123456789abcdef"[len & 15];
        len >>= 4;
        if len == 0 {
            break;
        }
    }
    &line[at..]
}

/// Reads a small file body straight into `out` (no zero-filling: `read_to_end`
/// reads into spare capacity).
fn append_file(out: &mut Vec<u8>, file: &File, offset: u64, len: u64) -> io::Result<()> {
    let start = out.len();
    let res = if offset == 0 {
        out.reserve(len as usize);
        file.take(len).read_to_end(out).and_then(|n| {
            if n as u64 == len {
                Ok(())
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            }
        })
    } else {
        out.resize(start + len as usize, 0);
        file.read_exact_at(&mut out[start..], offset)
    };
    if res.is_err() {
        out.truncate(start);
    }
    res
}

/// Hands the next `len` bytes of `f` to the aio pool; `false` if there is no
/// pool (the caller then reads inline).
fn submit(aio: &mut Aio, owner: Owner, f: &mut FileOut, len: u64, kind: Kind) -> bool {
    let job = aio::Job {
        owner,
        file: Arc::clone(&f.file),
        offset: f.offset,
        len: len as usize,
        kind,
    };
    f.waiting = aio.submit(job).is_ok();
    f.waiting
}

/// Has the pool compress a compressed-body cache entry the response streams
/// meanwhile; nothing if the entry is being computed already or there is no pool.
fn fill_cache(aio: &mut Aio, owner: Owner, fill: Box<Fill>, file: Arc<File>) {
    if !cache::claim(&fill) {
        return;
    }
    let job = aio::Job {
        owner,
        file,
        offset: 0,
        len: 0,
        kind: Kind::Compress(fill),
    };
    if let Err(job) = aio.submit(job)
        && let Kind::Compress(fill) = job.kind
    {
        cache::complete(&fill, Err(io::Error::other("no thread pool")));
    }
}

/// One `sendfile(2)` call for up to `count` bytes of `f`.
fn sendfile(stream: &mio::net::TcpStream, f: &mut FileOut, count: u64) -> io::Result<usize> {
    let count = count as usize;
    let mut off = f.offset as libc::off_t;
    loop {
        // SAFETY: both descriptors are open for the duration of the call and `off`
        // is a valid pointer to a local.
        let n = unsafe { libc::sendfile(stream.as_raw_fd(), f.file.as_raw_fd(), &mut off, count) };
        if n >= 0 {
            f.offset = off as u64;
            f.remaining -= n as u64;
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_lines_are_hex() {
        let mut line = [0u8; CHUNK_ROOM];
        assert_eq!(hex_line(&mut line, 0), b"0\r\n");
        assert_eq!(hex_line(&mut line, 10), b"a\r\n");
        assert_eq!(hex_line(&mut line, 0x1f40), b"1f40\r\n");
        assert_eq!(hex_line(&mut line, usize::MAX).len(), 16 + 2);
    }

    #[test]
    fn pieces_are_framed_in_place() {
        let mut out = b"stale".to_vec();
        let start = open_piece(&mut out, true);
        out.extend_from_slice(b"hello");
        close_piece(&mut out, start, false, true);
        assert_eq!(out, b"5\r\nhello\r\n");
        let start = open_piece(&mut out, true);
        close_piece(&mut out, start, true, true);
        assert_eq!(out, b"0\r\n\r\n");
        let start = open_piece(&mut out, false);
        out.extend_from_slice(b"raw");
        close_piece(&mut out, start, true, false);
        assert_eq!(out, b"raw");
    }
}
