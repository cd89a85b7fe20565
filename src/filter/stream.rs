//! A compressed file body streamed to the client: the connection asks for the next
//! piece whenever its output buffer is empty, and gets at most one buffer's worth
//! of the file compressed (the codec frames it: a chunk, a DATA frame). Memory per response is
//! the encoder's state plus two buffers, whatever the file's size. The caller says
//! how much file it may compress per piece: that is its share of the worker's turn
//! (see `server::connection`), so a fast client cannot hold the worker. A file
//! recoded by the charset filter is recoded piece by piece before it is compressed.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::cache::Fill;
use super::recode::Recoder;
use super::{BUFFER, Encoder};

pub struct Stream {
    encoder: Option<Encoder>,
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    /// File bytes read for the encoder; compressed bytes taken from it.
    input: Vec<u8>,
    output: Vec<u8>,
    /// A compressed-body cache miss: the entry the connection has the pool fill.
    fill: Option<Box<Fill>>,
    /// The charset filter's recoder, and the buffer it recodes into.
    recode: Option<Box<(Recoder, Vec<u8>)>>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stream({:?}, {} left)", self.encoder, self.remaining)
    }
}

impl Stream {
    pub fn new(encoder: Encoder, file: Arc<File>, offset: u64, len: u64) -> Stream {
        Stream {
            encoder: Some(encoder),
            file,
            offset,
            remaining: len,
            input: Vec::new(),
            output: Vec::new(),
            fill: None,
            recode: None,
        }
    }

    /// Recodes the file with `recoder` before compressing it.
    pub fn recoding(mut self, recoder: Recoder) -> Stream {
        self.recode = Some(Box::new((recoder, Vec::new())));
        self
    }

    /// This stream answers a compressed-body cache miss that `fill` computes.
    pub fn filling(mut self, fill: Option<Fill>) -> Stream {
        self.fill = fill.map(Box::new);
        self
    }

    /// The cache fill to hand to the pool (once), with the file it reads.
    pub fn take_fill(&mut self) -> Option<(Box<Fill>, Arc<File>)> {
        Some((self.fill.take()?, Arc::clone(&self.file)))
    }

    /// File bytes not yet compressed.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Appends the next compressed bytes to `out`, compressing at most `max_in`
    /// file bytes (rounded up to one buffer); `Ok(true)` once the last of them
    /// has been appended. Nothing may be appended when the encoder keeps all the
    /// input it took: the caller asks again.
    pub fn fill(&mut self, out: &mut Vec<u8>, max_in: u64) -> io::Result<bool> {
        let Some(encoder) = &mut self.encoder else {
            return Ok(true);
        };
        let mut taken = 0;
        while self.output.is_empty() && self.remaining > 0 && (taken == 0 || taken < max_in) {
            let n = self.remaining.min(BUFFER as u64) as usize;
            self.input.resize(n, 0);
            self.file.read_exact_at(&mut self.input, self.offset)?;
            self.offset += n as u64;
            self.remaining -= n as u64;
            taken += n as u64;
            if let Some(r) = &mut self.recode {
                let (recoder, recoded) = &mut **r;
                recoded.clear();
                recoder.feed(&self.input, recoded);
                encoder.write(recoded)?;
            } else {
                encoder.write(&self.input)?;
            }
            encoder.take_into(&mut self.output);
        }
        if self.remaining == 0 {
            if let Some(encoder) = self.encoder.take() {
                encoder.finish_into(&mut self.output)?;
            }
            out.extend_from_slice(&self.output);
            self.output = Vec::new();
            self.input = Vec::new();
            return Ok(true);
        }
        out.extend_from_slice(&self.output);
        self.output.clear();
        Ok(false)
    }
}

/// Frames `data` as one chunk (nothing for no data: a zero chunk ends the body).
pub fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Encoding;
    use std::io::{Read, Write};

    #[test]
    fn streams_a_file_in_bounded_chunks() {
        let mut tmp = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 7) as u8)
            .collect();
        tmp.write_all(&data).unwrap();
        let file = Arc::new(tmp);
        // Offset 1000, 250000 bytes: the part of the file given.
        let mut s = Stream::new(
            Encoder::new(Encoding::Gzip, 1).unwrap(),
            file,
            1000,
            250_000,
        );
        let mut wire = Vec::new();
        let mut rounds = 0;
        loop {
            let mut out = Vec::new();
            let done = s.fill(&mut out, BUFFER as u64).unwrap();
            assert!(out.len() <= 2 * BUFFER, "one round is bounded");
            wire.extend_from_slice(&out);
            rounds += 1;
            if done {
                break;
            }
        }
        assert!(rounds >= 2, "{rounds} rounds");
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&wire[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, &data[1000..251_000]);
    }

    #[test]
    fn a_recoded_file_is_recoded_then_compressed() {
        let mut to_utf8 = [[1, b'?', 0, 0]; 256];
        for (i, e) in to_utf8.iter_mut().enumerate().take(128) {
            e[1] = i as u8;
        }
        to_utf8[0xc1] = [2, 0xd0, 0xb0, 0];
        let table = crate::config::charset_map::Table::ToUtf8(Arc::new(to_utf8));
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(&b"\xc1z".repeat(100_000)).unwrap();
        let mut s = Stream::new(
            Encoder::new(Encoding::Gzip, 1).unwrap(),
            Arc::new(tmp),
            0,
            200_000,
        )
        .recoding(Recoder::new(&table));
        let mut wire = Vec::new();
        while !s.fill(&mut wire, BUFFER as u64).unwrap() {}
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&wire[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, "аz".repeat(100_000).as_bytes());
    }

    #[test]
    fn one_fill_compresses_no_more_than_it_is_allowed() {
        // Zeros: the encoder keeps taking input without producing output, so only
        // the limit stops a piece.
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(&vec![0u8; 1 << 20]).unwrap();
        let mut s = Stream::new(
            Encoder::new(Encoding::Gzip, 1).unwrap(),
            Arc::new(tmp),
            0,
            1 << 20,
        );
        let mut out = Vec::new();
        assert!(!s.fill(&mut out, 1).unwrap());
        assert_eq!(
            s.remaining(),
            (1 << 20) - BUFFER as u64,
            "one buffer at least"
        );
        assert!(!s.fill(&mut out, 3 * BUFFER as u64).unwrap());
        assert!(s.remaining() >= (1 << 20) - 4 * BUFFER as u64);
    }

    #[test]
    fn a_shrunk_file_is_an_error() {
        let mut tmp = tempfile::tempfile().unwrap();
        tmp.write_all(b"short").unwrap();
        let mut s = Stream::new(
            Encoder::new(Encoding::Zstd, 1).unwrap(),
            Arc::new(tmp),
            0,
            100,
        );
        assert!(s.fill(&mut Vec::new(), u64::MAX).is_err());
    }
}
