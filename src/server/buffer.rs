//! The input buffer of a connection: bytes read but not yet parsed.
//!
//! Reads go through one scratch buffer per worker thread, and only the bytes that
//! arrived are copied into the connection's own buffer: an idle keep-alive
//! connection holds no buffer memory, and a request that arrives whole costs a
//! small allocation instead of a large zeroed one.

use std::cell::RefCell;
use std::io::{self, Read};

/// The most bytes one read asks for.
pub const INITIAL: usize = 16 * 1024;

/// The most bytes one [`read_with`] asks for (a backend's body reads).
pub const SCRATCH_MAX: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; INITIAL]);
    static BIG_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads once from `r`, at most `max` bytes (up to [`SCRATCH_MAX`]), into the
/// worker's scratch buffer (zeroed once per thread, not per read), and hands
/// what arrived to `take`: `Ok((0, _))` is EOF.
pub fn read_with<T>(
    r: &mut impl Read,
    max: usize,
    take: impl FnOnce(&[u8]) -> T,
) -> io::Result<(usize, T)> {
    BIG_SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        if scratch.is_empty() {
            scratch.resize(SCRATCH_MAX, 0);
        }
        let n = r.read(&mut scratch[..max.min(SCRATCH_MAX)])?;
        Ok((n, take(&scratch[..n])))
    })
}

#[derive(Debug, Default)]
pub struct Buffer {
    data: Vec<u8>,
    /// Bytes before this offset have been parsed already.
    start: usize,
}

impl Buffer {
    /// The unparsed bytes.
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..]
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.data.len()
    }

    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }

    /// Drops `n` parsed bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.data.len());
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        } else if self.start >= INITIAL {
            self.data.drain(..self.start);
            self.start = 0;
        }
    }

    /// Frees the allocation if nothing is buffered.
    pub fn release(&mut self) {
        if self.is_empty() {
            self.data = Vec::new();
            self.start = 0;
        }
    }

    /// How many bytes the next `read_from(_, max)` asks for.
    pub fn room(&self, max: usize) -> usize {
        max.max(INITIAL).saturating_sub(self.len()).min(INITIAL)
    }

    /// Reads once from `r`, keeping at most `max` unparsed bytes. Returns `Ok(0)` on
    /// EOF; an error of kind `OutOfMemory` if `max` bytes are already buffered.
    pub fn read_from(&mut self, r: &mut impl Read, max: usize) -> io::Result<usize> {
        let room = self.room(max);
        if room == 0 {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "input buffer full",
            ));
        }
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let n = r.read(&mut scratch[..room])?;
            self.data.extend_from_slice(&scratch[..n]);
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_consumes_and_releases() {
        let mut b = Buffer::default();
        let mut src: &[u8] = b"hello world";
        assert_eq!(b.read_from(&mut src, 64).unwrap(), 11);
        assert_eq!(b.filled(), b"hello world");
        b.consume(6);
        assert_eq!(b.filled(), b"world");
        b.consume(5);
        assert!(b.is_empty());
        b.release();
        assert_eq!(b.data.capacity(), 0);
    }

    #[test]
    fn scratch_reads_hand_over_only_what_arrived() {
        let big = vec![b'y'; SCRATCH_MAX + 10];
        let mut src: &[u8] = &big;
        let (n, len) = read_with(&mut src, usize::MAX, |b| b.len()).unwrap();
        assert_eq!((n, len), (SCRATCH_MAX, SCRATCH_MAX));
        let (n, got) = read_with(&mut src, 4, |b| b.to_vec()).unwrap();
        assert_eq!((n, got.as_slice()), (4, &b"yyyy"[..]));
        let mut empty: &[u8] = b"";
        assert_eq!(read_with(&mut empty, 8, |b| b.len()).unwrap(), (0, 0));
    }

    #[test]
    fn refuses_to_grow_past_max() {
        let mut b = Buffer::default();
        let big = vec![b'x'; INITIAL * 3];
        let mut src: &[u8] = &big;
        let mut total = 0;
        loop {
            match b.read_from(&mut src, INITIAL * 2) {
                Ok(n) => total += n,
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
                    break;
                }
            }
        }
        assert_eq!(total, INITIAL * 2);
    }

    #[test]
    fn keeps_a_partial_request_across_reads() {
        let mut b = Buffer::default();
        let mut first: &[u8] = b"GET / HT";
        let mut second: &[u8] = b"TP/1.1\r\n";
        b.read_from(&mut first, 1024).unwrap();
        b.consume(4);
        b.read_from(&mut second, 1024).unwrap();
        assert_eq!(b.filled(), b"/ HTTP/1.1\r\n");
    }
}
