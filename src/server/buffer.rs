//! The input buffer of a connection: bytes read but not yet parsed. Allocated on
//! first read and released when empty, so an idle keep-alive connection holds no
//! buffer memory.

use std::io::{self, Read};

/// The first allocation; it grows (doubling) only while a request head needs more.
pub const INITIAL: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct Buffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
}

impl Buffer {
    /// The unparsed bytes.
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Drops `n` parsed bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Frees the allocation if nothing is buffered.
    pub fn release(&mut self) {
        if self.is_empty() {
            self.data = Vec::new();
        }
    }

    /// Reads once from `r` into free space, making room by compacting or growing up
    /// to `max` bytes. Returns `Ok(0)` on EOF; an error of kind `OutOfMemory` if the
    /// buffer already holds `max` bytes.
    pub fn read_from(&mut self, r: &mut impl Read, max: usize) -> io::Result<usize> {
        if self.end == self.data.len() {
            self.make_room(max)?;
        }
        let n = r.read(&mut self.data[self.end..])?;
        self.end += n;
        Ok(n)
    }

    fn make_room(&mut self, max: usize) -> io::Result<()> {
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        } else if self.data.len() < max.max(INITIAL) {
            let size = (self.data.len() * 2).clamp(INITIAL, max.max(INITIAL));
            self.data.resize(size, 0);
        } else {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "input buffer full",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_consumes_compacts_and_releases() {
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
}
