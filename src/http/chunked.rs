//! Decoder for `Transfer-Encoding: chunked` request bodies (RFC 9112 §7.1).
//!
//! An enum of states with one small step function per state. Each call consumes as
//! much as it can and hands back body bytes as slices of the input: nothing is copied
//! and nothing is lost when the input is split at any byte. Extensions and trailers
//! are skipped (bounded in size).

use std::ops::Range;

/// The longest chunk-size line (size + extensions) accepted.
pub const MAX_SIZE_LINE: usize = 4096;
/// The most trailer bytes accepted after the last chunk.
pub const MAX_TRAILERS: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting `HEX[;ext]\r\n`.
    Size,
    /// Inside chunk data with this many bytes left.
    Data(u64),
    /// Expecting the `\r\n` that ends chunk data.
    DataEnd,
    /// After the last (zero) chunk: trailer fields until an empty line.
    Trailers {
        seen: usize,
    },
    Done,
}

/// Why a chunked body is malformed (answered 400 and the connection closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    BadSize,
    BadDataEnd,
    TrailersTooLarge,
}

/// What one call to [`ChunkedDecoder::decode`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes: this range of the input (already counted in `consumed`).
    Data(Range<usize>),
    /// All consumable input was taken; call again with more.
    NeedMore,
    /// The body (and its trailers) ended.
    Done,
}

#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    /// Body bytes decoded so far.
    total: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size,
            total: 0,
        }
    }

    /// Body bytes decoded so far (for `client_max_body_size`).
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from the start of `input`. Returns how many bytes were consumed and
    /// what they held. Call in a loop, advancing by `consumed`, until `NeedMore` or
    /// `Done`.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Decoded), ChunkError> {
        let mut consumed = 0;
        loop {
            let rest = &input[consumed..];
            let (n, out) = match self.state {
                State::Size => self.size(rest)?,
                State::Data(left) => self.data(rest, left),
                State::DataEnd => self.data_end(rest)?,
                State::Trailers { seen } => self.trailers(rest, seen)?,
                State::Done => (0, Some(Decoded::Done)),
            };
            let start = consumed;
            consumed += n;
            match out {
                Some(Decoded::Data(r)) => {
                    return Ok((consumed, Decoded::Data(r.start + start..r.end + start)));
                }
                Some(other) => return Ok((consumed, other)),
                None => {}
            }
        }
    }

    fn size(&mut self, input: &[u8]) -> Result<(usize, Option<Decoded>), ChunkError> {
        // RFC 9112 §7.1: chunk-size is 1*HEXDIG, so an empty size is an error.
        if input.first().is_some_and(|b| !b.is_ascii_hexdigit()) {
            return Err(ChunkError::BadSize);
        }
        let Some(lf) = input.iter().position(|&b| b == b'\n') else {
            if input.len() < MAX_SIZE_LINE {
                return Ok((0, Some(Decoded::NeedMore)));
            }
            return Err(ChunkError::BadSize);
        };
        if lf >= MAX_SIZE_LINE {
            return Err(ChunkError::BadSize);
        }
        let size = size_line(&input[..lf])?;
        self.state = if size == 0 {
            State::Trailers { seen: 0 }
        } else {
            State::Data(size)
        };
        Ok((lf + 1, None))
    }

    fn data(&mut self, input: &[u8], left: u64) -> (usize, Option<Decoded>) {
        if input.is_empty() {
            return (0, Some(Decoded::NeedMore));
        }
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
        self.total += n as u64;
        let left = left - n as u64;
        self.state = if left == 0 {
            State::DataEnd
        } else {
            State::Data(left)
        };
        (n, Some(Decoded::Data(0..n)))
    }

    fn data_end(&mut self, input: &[u8]) -> Result<(usize, Option<Decoded>), ChunkError> {
        match input {
            [b'\r', b'\n', ..] => {
                self.state = State::Size;
                Ok((2, None))
            }
            [] | [b'\r'] => Ok((0, Some(Decoded::NeedMore))),
            _ => Err(ChunkError::BadDataEnd),
        }
    }

    /// Trailer lines are skipped; an empty line ends the body.
    fn trailers(
        &mut self,
        input: &[u8],
        seen: usize,
    ) -> Result<(usize, Option<Decoded>), ChunkError> {
        let Some(lf) = input.iter().position(|&b| b == b'\n') else {
            if seen + input.len() > MAX_TRAILERS {
                return Err(ChunkError::TrailersTooLarge);
            }
            return Ok((0, Some(Decoded::NeedMore)));
        };
        let line = &input[..lf];
        if line.last() != Some(&b'\r') || !clean_line(&line[..line.len() - 1]) {
            return Err(ChunkError::BadSize);
        }
        let seen = seen + lf + 1;
        if seen > MAX_TRAILERS {
            return Err(ChunkError::TrailersTooLarge);
        }
        self.state = if line.len() == 1 {
            State::Done
        } else {
            State::Trailers { seen }
        };
        Ok((lf + 1, None))
    }
}

/// The size of a chunk-size line (without its LF): hex digits (any number of
/// leading zeros; only a value that overflows a u64 is an error), optional
/// whitespace, extensions after `;`, and a CR at the end.
fn size_line(line: &[u8]) -> Result<u64, ChunkError> {
    let line = line.strip_suffix(b"\r").ok_or(ChunkError::BadSize)?;
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let size = line[..digits]
        .iter()
        .try_fold(0u64, |acc, &d| {
            let v = (d as char).to_digit(16)?;
            acc.checked_mul(16)?.checked_add(u64::from(v))
        })
        .ok_or(ChunkError::BadSize)?;
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count()..];
    // httparse lets any byte through in extensions; a bare CR or another control
    // byte there is how a front end and a back end disagree.
    if digits == 0 || !(rest.is_empty() || rest[0] == b';') || !clean_line(rest) {
        return Err(ChunkError::BadSize);
    }
    Ok(size)
}

/// No control bytes but HTAB in a size line (RFC 9112 §7.1.1 chunk-ext).
fn clean_line(line: &[u8]) -> bool {
    line.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes (keeping unconsumed bytes, as the
    /// connection does) and returns the body or the error.
    fn run(input: &[u8], step: usize) -> Result<(Vec<u8>, bool, usize), ChunkError> {
        let mut dec = ChunkedDecoder::new();
        let (mut buf, mut body, mut fed) = (Vec::new(), Vec::new(), 0);
        while !dec.is_done() {
            if fed < input.len() {
                let end = (fed + step).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
            let (n, out) = dec.decode(&buf)?;
            if let Decoded::Data(r) = &out {
                body.extend_from_slice(&buf[r.clone()]);
            }
            buf.drain(..n);
            if out == Decoded::NeedMore && fed == input.len() {
                break;
            }
        }
        Ok((body, dec.is_done(), buf.len()))
    }

    #[test]
    fn table() {
        type Case = (&'static [u8], Result<(&'static [u8], bool), ChunkError>);
        let cases: &[Case] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", Ok((b"hello", true))),
            (
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                Ok((b"hello world", true)),
            ),
            (b"A\r\n0123456789\r\n0\r\n\r\n", Ok((b"0123456789", true))),
            (b"5;name=val\r\nhello\r\n0;x\r\n\r\n", Ok((b"hello", true))),
            (
                b"5\r\nhello\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\n",
                Ok((b"hello", true)),
            ),
            (b"0\r\n\r\n", Ok((b"", true))),
            (b"5\r\nhel", Ok((b"hel", false))),
            (b"5\r\nhelloXX", Err(ChunkError::BadDataEnd)),
            (b"5\r\nhello\n0\r\n\r\n", Err(ChunkError::BadDataEnd)),
            (b"zz\r\n", Err(ChunkError::BadSize)),
            (b"\r\n", Err(ChunkError::BadSize)),
            (b"-5\r\n", Err(ChunkError::BadSize)),
            (b"0_2\r\n", Err(ChunkError::BadSize)),
            (b"5\nhello", Err(ChunkError::BadSize)),
            (b"fffffffffffffffff\r\n", Err(ChunkError::BadSize)),
            (b"10000000000000000\r\n", Err(ChunkError::BadSize)),
            (
                b"00000000000000000005\r\nhello\r\n0000000000000000000000\r\n\r\n",
                Ok((b"hello", true)),
            ),
            (
                b"0000000000000000000000000000000001\r\nx",
                Ok((b"x", false)),
            ),
            (b"5 ;x\r\nhello\r\n0\r\n\r\n", Ok((b"hello", true))),
            (b"5 x\r\n", Err(ChunkError::BadSize)),
            (b"5\x0c;x\r\n", Err(ChunkError::BadSize)),
            (b"0x5\r\n", Err(ChunkError::BadSize)),
            (b"5;a\rb\r\nhello\r\n0\r\n\r\n", Err(ChunkError::BadSize)),
            (b"0\r\nX: 1\n\r\n", Err(ChunkError::BadSize)),
            (b"5;a\nb\r\nhello\r\n0\r\n\r\n", Err(ChunkError::BadSize)),
            (b"5;a\x00\r\nhello\r\n0\r\n\r\n", Err(ChunkError::BadSize)),
            (b"5;a=\"b\tc\"\r\nhello\r\n0\r\n\r\n", Ok((b"hello", true))),
        ];
        for (raw, want) in cases {
            let got = run(raw, raw.len()).map(|(b, d, _)| (b, d));
            let want = (*want).map(|(b, d)| (b.to_vec(), d));
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn split_at_every_offset_and_byte_by_byte() {
        let raw = b"4;ext=\"q\"\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\nNEXT";
        for step in 1..raw.len() {
            let (body, done, left) = run(raw, step).unwrap();
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "step {step}");
            assert!(done);
            assert!(left <= 4, "only the next request's bytes remain");
        }
    }

    #[test]
    fn leading_zeros_split_at_every_offset() {
        let raw =
            b"00000000000000000004\r\nWiki\r\n0005 ;x\r\npedia\r\n0000000000000000000\r\n\r\nNEXT";
        for step in 1..raw.len() {
            let (body, done, left) = run(raw, step).unwrap();
            assert_eq!(
                (body.as_slice(), done),
                (&b"Wikipedia"[..], true),
                "step {step}"
            );
            assert!(left <= 4, "only the next request's bytes remain");
        }
    }

    #[test]
    fn counts_total_and_bounds_lines() {
        let mut dec = ChunkedDecoder::new();
        let (_, out) = dec.decode(b"3\r\nabc\r\n").unwrap();
        assert_eq!(out, Decoded::Data(3..6));
        assert_eq!(dec.total(), 3);
        let long_ext = [b"1;".as_slice(), &[b'x'; MAX_SIZE_LINE]].concat();
        assert_eq!(
            ChunkedDecoder::new().decode(&long_ext),
            Err(ChunkError::BadSize)
        );
        let long_trailer = [b"0\r\nX: ".as_slice(), &[b'x'; MAX_TRAILERS]].concat();
        assert_eq!(
            ChunkedDecoder::new().decode(&long_trailer),
            Err(ChunkError::TrailersTooLarge)
        );
    }
}
