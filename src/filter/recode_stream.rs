//! A recoded body streamed to the client (see [`super::recode`]): the connection
//! asks for the next piece whenever its output buffer is empty, and gets at most
//! one buffer's worth of the source recoded. A byte table keeps the length, so the
//! body goes out plain under its Content-Length; a recoding to or from UTF-8 goes
//! out chunked. Memory per response: two buffers, whatever the file's size.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::BUFFER;
use super::recode::Recoder;
use super::stream::chunk;

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
        if self.length.is_some() {
            out.extend_from_slice(&self.output);
        } else {
            chunk(out, &self.output);
        }
        self.output.clear();
        if self.source.remaining() > 0 {
            return Ok(false);
        }
        if self.length.is_none() {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        self.done = true;
        self.input = Vec::new();
        self.output = Vec::new();
        Ok(true)
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
    fn from_utf8_goes_chunked_and_keeps_split_sequences() {
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
        assert!(wire.ends_with(b"\r\n0\r\n\r\n"));
        let mut body = Vec::new();
        let mut rest = &wire[..];
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&rest[eol + 2..eol + 2 + n]);
            rest = &rest[eol + 4 + n..];
        }
        let want: Vec<u8> = text.as_bytes()[1..]
            .iter()
            .filter(|&&b| b != 0xd0)
            .map(|&b| if b == 0xb0 { 0xc1 } else { b })
            .collect();
        assert_eq!(body, want);
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
