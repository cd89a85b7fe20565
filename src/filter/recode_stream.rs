//! A recoded body streamed to the client (see [`super::recode`]): the connection
//! asks for the next piece whenever its output buffer is empty, and gets at most
//! one buffer's worth of the source recoded. A byte table keeps the length, so the
//! body goes out plain under its Content-Length; a recoding to or from UTF-8 has
//! no length: the codec frames it (HTTP/1.1 chunks; to an HTTP/1.0 client plain,
//! ended by closing the connection).
//! Memory per response: two buffers, whatever the file's size. [`recode_response`]
//! turns a finished response's body into one.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::BUFFER;
use super::recode::{Recoder, recode_all};
use crate::config::charset_map::Table;
use crate::http::{Body, Response};

/// Where the bytes to recode come from.
#[derive(Debug)]
pub enum Source {
    File {
        file: Arc<File>,
        offset: u64,
        remaining: u64,
    },
    Memory {
        data: Vec<u8>,
        pos: usize,
    },
}

impl Source {
    fn remaining(&self) -> u64 {
        match self {
            Source::File { remaining, .. } => *remaining,
            Source::Memory { data, pos } => (data.len() - pos) as u64,
        }
    }

    /// The next piece (at most one buffer) into `buf`.
    fn read(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Source::File {
                file,
                offset,
                remaining,
            } => {
                let n = (*remaining).min(BUFFER as u64) as usize;
                buf.resize(n, 0);
                file.read_exact_at(buf, *offset)?;
                *offset += n as u64;
                *remaining -= n as u64;
            }
            Source::Memory { data, pos } => {
                let n = (data.len() - *pos).min(BUFFER);
                buf.clear();
                buf.extend_from_slice(&data[*pos..*pos + n]);
                *pos += n;
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct RecodeStream {
    recoder: Recoder,
    source: Source,
    /// The length of the body sent, when it is the source's (byte tables).
    length: Option<u64>,
    /// Without a length: chunked, or plain until the connection closes.
    chunked: bool,
    input: Vec<u8>,
    output: Vec<u8>,
    done: bool,
}

impl RecodeStream {
    pub fn new(recoder: Recoder, source: Source) -> RecodeStream {
        let length = (!recoder.changes_length()).then(|| source.remaining());
        RecodeStream {
            recoder,
            source,
            length,
            chunked: length.is_none(),
            input: Vec::new(),
            output: Vec::new(),
            done: false,
        }
    }

    /// The Content-Length of the body; `None`: it goes out chunked.
    pub fn length(&self) -> Option<u64> {
        self.length
    }

    /// Source bytes not yet recoded.
    pub fn remaining(&self) -> u64 {
        self.source.remaining()
    }

    /// Sends a body without a length plain, to be ended by closing the connection
    /// (HTTP/1.0 has no chunked coding).
    pub fn until_close(mut self) -> RecodeStream {
        self.chunked = false;
        self
    }

    /// Whether the body goes out chunked.
    pub fn chunked(&self) -> bool {
        self.chunked
    }

    /// Whether the body has no length and ends when the connection closes.
    pub fn ends_with_close(&self) -> bool {
        self.length.is_none() && !self.chunked
    }

    /// The recoder and the source of a stream not started yet (for the
    /// compression filter to read on its own).
    pub fn into_parts(self) -> (Recoder, Source) {
        (self.recoder, self.source)
    }

    /// The whole body recoded at once, unframed (for a later filter that needs
    /// it in memory: compression of a body of one buffer or less).
    pub fn collect(mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while self.source.remaining() > 0 {
            self.source.read(&mut self.input)?;
            self.recoder.feed(&self.input, &mut out);
        }
        Ok(out)
    }

    /// Appends the next piece(s) to `out`, recoding at most `max_in` source bytes
    /// (rounded up to one buffer); `Ok(true)` once the body is complete (with the
    /// last chunk when chunked).
    pub fn fill(&mut self, out: &mut Vec<u8>, max_in: u64) -> io::Result<bool> {
        if self.done {
            return Ok(true);
        }
        let mut taken = 0;
        while self.source.remaining() > 0 && (taken == 0 || taken < max_in) {
            self.source.read(&mut self.input)?;
            taken += self.input.len() as u64;
            self.recoder.feed(&self.input, &mut self.output);
        }
        out.extend_from_slice(&self.output);
        self.output.clear();
        if self.source.remaining() > 0 {
            return Ok(false);
        }
        self.done = true;
        self.input = Vec::new();
        self.output = Vec::new();
        Ok(true)
    }
}

/// Recodes `resp`'s body with `table` (the charset filter's body part). A
/// recoding that changes the length takes the ranges away, as nginx's does (its
/// range filter sees no length): `Accept-Ranges` goes, and a 206 becomes a 200
/// with the whole body. `http11`: a body without a length may go chunked.
pub fn recode_response(resp: &mut Response, table: &Table, http11: bool) {
    let recoder = Recoder::new(table);
    let changes = recoder.changes_length();
    let mut body = std::mem::take(&mut resp.body);
    if changes {
        resp.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("accept-ranges"));
        if resp.status == 206 && whole(&mut body) {
            resp.status = 200;
            resp.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-range"));
        }
    }
    let source = match body {
        Body::Bytes(b) if !changes => {
            resp.body = Body::Bytes(recode_all(table, &b));
            return;
        }
        Body::Shared { data, offset, len } => {
            let part = data.get(offset..offset + len).unwrap_or_default();
            if !changes {
                resp.body = Body::Bytes(recode_all(table, part));
                return;
            }
            Source::Memory {
                data: part.to_vec(),
                pos: 0,
            }
        }
        Body::Bytes(data) => Source::Memory { data, pos: 0 },
        Body::File {
            file, offset, len, ..
        } => Source::File {
            file,
            offset,
            remaining: len,
        },
        Body::Parts { pieces, whole } => {
            resp.body = recode_parts(table, pieces, whole);
            return;
        }
        other @ (Body::Empty | Body::Encoded(_) | Body::Recoded(_)) => {
            resp.body = other;
            return;
        }
    };
    let stream = RecodeStream::new(recoder, source);
    resp.body = Body::Recoded(Box::new(if http11 { stream } else { stream.until_close() }));
}

/// The most bytes of a `multipart/byteranges` body recoded in memory; a larger
/// one is sent as it is (and logged).
const PARTS_IN_MEMORY: u64 = 16 << 20;

/// A `multipart/byteranges` body recoded byte for byte, part headers included
/// (as nginx's charset filter, which runs after its range filter, does).
fn recode_parts(table: &Table, pieces: Vec<Body>, whole: Box<Body>) -> Body {
    let total: u64 = pieces.iter().map(Body::len).sum();
    if total > PARTS_IN_MEMORY {
        log::error!("a multipart range response of {total} bytes is not recoded");
        return Body::Parts { pieces, whole };
    }
    let mut out = Vec::with_capacity(total as usize);
    for piece in &pieces {
        match piece {
            Body::Bytes(b) => out.extend_from_slice(b),
            Body::Shared { data, offset, len } => {
                out.extend_from_slice(data.get(*offset..offset + len).unwrap_or_default())
            }
            Body::File {
                file, offset, len, ..
            } => {
                let start = out.len();
                out.resize(start + *len as usize, 0);
                if let Err(e) =
                    std::os::unix::fs::FileExt::read_exact_at(&**file, &mut out[start..], *offset)
                {
                    log::error!("reading a file to recode failed: {e}");
                    return Body::Parts { pieces, whole };
                }
            }
            _ => return Body::Parts { pieces, whole },
        }
    }
    Body::Bytes(recode_all(table, &out))
}

/// Widens a part of a file to the whole of it; `false` if its size is unknown.
fn whole(body: &mut Body) -> bool {
    if let Body::Parts { whole: w, .. } = body {
        let w = std::mem::take(&mut **w);
        *body = w;
    }
    match body {
        Body::File {
            file, offset, len, ..
        } => match file.metadata() {
            Ok(meta) => {
                (*offset, *len) = (0, meta.len());
                true
            }
            Err(e) => {
                log::error!("cannot read the size of a file to recode: {e}");
                false
            }
        },
        Body::Shared { data, offset, len } => {
            (*offset, *len) = (0, data.len());
            true
        }
        _ => false,
    }
}

/// A relayed body (CGI output) recoded piece by piece as it comes.
#[derive(Debug)]
pub struct RelayRecoder {
    recoder: Recoder,
    /// The producer's declared length, if it gave one: input past it is dropped.
    left: Option<u64>,
}

impl RelayRecoder {
    pub fn new(recoder: Recoder, length: Option<u64>) -> RelayRecoder {
        RelayRecoder {
            recoder,
            left: length,
        }
    }

    /// Recodes the next piece into `out` (emptied first).
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.clear();
        let data = match &mut self.left {
            Some(left) => {
                let n = (data.len() as u64).min(*left) as usize;
                *left -= n as u64;
                &data[..n]
            }
            None => data,
        };
        self.recoder.feed(data, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::charset_map::Table;
    use std::collections::HashMap;
    use std::io::Write;

    fn drain(s: &mut RecodeStream) -> Vec<u8> {
        let mut wire = Vec::new();
        let mut rounds = 0;
        while !s.fill(&mut wire, 1).unwrap() {
            rounds += 1;
            assert!(rounds < 1000);
        }
        wire
    }

    #[test]
    fn a_byte_table_streams_a_file_part_plain() {
        let mut t = [0u8; 256];
        for (i, b) in t.iter_mut().enumerate() {
            *b = i as u8;
        }
        t[b'X' as usize] = b'Y';
        let mut tmp = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| b"aXbX"[(i % 4) as usize]).collect();
        tmp.write_all(&data).unwrap();
        let source = Source::File {
            file: Arc::new(tmp),
            offset: 10,
            remaining: 150_000,
        };
        let mut s = RecodeStream::new(Recoder::new(&Table::Bytes(Arc::new(t))), source);
        assert_eq!(s.length(), Some(150_000));
        let wire = drain(&mut s);
        let want: Vec<u8> = data[10..150_010]
            .iter()
            .map(|&b| if b == b'X' { b'Y' } else { b })
            .collect();
        assert_eq!(wire, want);
    }

    #[test]
    fn from_utf8_has_no_length_and_keeps_split_sequences() {
        // "а" (D0 B0) repeated: buffer boundaries fall inside sequences.
        let text = "zа".repeat(50_000);
        let map: HashMap<u32, u8> = [(0x430, 0xc1)].into();
        let source = Source::Memory {
            data: text.clone().into_bytes(),
            pos: 1,
        };
        let mut s = RecodeStream::new(Recoder::new(&Table::FromUtf8(Arc::new(map))), source);
        assert_eq!(s.length(), None);
        let wire = drain(&mut s);
        // Unframed: the codec frames it.
        let body = wire;
        let want: Vec<u8> = text.as_bytes()[1..]
            .iter()
            .filter(|&&b| b != 0xd0)
            .map(|&b| if b == 0xb0 { 0xc1 } else { b })
            .collect();
        assert_eq!(body, want);
    }

    fn file_body(data: &[u8], offset: u64, len: u64) -> Body {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(data).unwrap();
        Body::File {
            file: Arc::new(tmp),
            offset,
            len,
            sendfile: true,
            aio: false,
        }
    }

    fn to_utf8() -> Table {
        let mut t = [[1, b'?', 0, 0]; 256];
        for (i, e) in t.iter_mut().enumerate().take(128) {
            e[1] = i as u8;
        }
        t[0xc1] = [2, 0xd0, 0xb0, 0];
        Table::ToUtf8(Arc::new(t))
    }

    fn xy() -> Table {
        let mut t = [0u8; 256];
        for (i, b) in t.iter_mut().enumerate() {
            *b = i as u8;
        }
        t[b'X' as usize] = b'Y';
        Table::Bytes(Arc::new(t))
    }

    fn ranged(body: Body) -> Response {
        let mut resp = Response::new(206);
        resp.header("Content-Range", "bytes 1-2/4");
        resp.header("Accept-Ranges", "bytes");
        resp.body = body;
        resp
    }

    fn sent(resp: Response) -> Vec<u8> {
        match resp.body {
            Body::Recoded(mut s) => drain(&mut s),
            Body::Bytes(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_length_changing_recoding_sends_the_whole_file() {
        let mut resp = ranged(file_body(b"a\xc1X\xc1", 1, 2));
        recode_response(&mut resp, &to_utf8(), true);
        assert_eq!(resp.status, 200);
        assert!(resp.get_header("content-range").is_none());
        assert!(resp.get_header("accept-ranges").is_none());
        let Body::Recoded(s) = &resp.body else {
            panic!("not streamed");
        };
        assert!(s.chunked() && s.length().is_none());
        assert_eq!(sent(resp), b"a\xd0\xb0X\xd0\xb0");
        // Memory too; HTTP/1.0 gets it plain, ended by the close.
        let shared: Arc<[u8]> = Arc::from(&b"a\xc1X\xc1"[..]);
        let mut resp = ranged(Body::Shared {
            data: shared,
            offset: 1,
            len: 2,
        });
        recode_response(&mut resp, &to_utf8(), false);
        assert_eq!(resp.status, 200);
        assert!(resp.body.ends_with_close());
        assert_eq!(sent(resp), b"a\xd0\xb0X\xd0\xb0");
    }

    #[test]
    fn a_byte_table_keeps_ranges_and_lengths() {
        let mut resp = ranged(file_body(b"aXXb", 1, 2));
        recode_response(&mut resp, &xy(), true);
        assert_eq!(resp.status, 206);
        assert_eq!(resp.get_header("accept-ranges"), Some("bytes"));
        assert_eq!(resp.body.len(), 2);
        assert_eq!(sent(resp), b"YY");
        let mut resp = Response::with_body(200, "text/html", b"XaX".to_vec());
        recode_response(&mut resp, &xy(), false);
        assert!(matches!(&resp.body, Body::Bytes(b) if b == b"YaY"));
        let mut resp = Response::new(304);
        recode_response(&mut resp, &to_utf8(), true);
        assert!(matches!(resp.body, Body::Empty));
    }

    #[test]
    fn a_relayed_body_is_capped_at_its_declared_length() {
        let mut r = RelayRecoder::new(Recoder::new(&to_utf8()), Some(3));
        let mut out = Vec::new();
        r.feed(b"\xc1a", &mut out);
        assert_eq!(out, b"\xd0\xb0a");
        r.feed(b"\xc1\xc1", &mut out);
        assert_eq!(out, b"\xd0\xb0");
        r.feed(b"\xc1", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn collect_recodes_everything() {
        let source = Source::Memory {
            data: b"\xc1z".to_vec(),
            pos: 0,
        };
        let s = RecodeStream::new(Recoder::new(&to_utf8()), source);
        assert_eq!(s.collect().unwrap(), b"\xd0\xb0z");
    }

    #[test]
    fn a_shrunk_file_is_an_error() {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(b"short").unwrap();
        let source = Source::File {
            file: Arc::new(tmp),
            offset: 0,
            remaining: 100,
        };
        let t = Table::Bytes(Arc::new([b'?'; 256]));
        let mut s = RecodeStream::new(Recoder::new(&t), source);
        assert!(s.fill(&mut Vec::new(), u64::MAX).is_err());
    }
}
