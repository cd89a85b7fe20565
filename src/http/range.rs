//! The `Range: bytes=...` header read as nginx's range filter reads it: a list
//! of byte ranges (first-last, first-, -suffix, spaces allowed around the
//! numbers, comma separated), clamped to the representation's length. What
//! nginx answers with 416 (a malformed list, nothing satisfiable) and what it
//! answers with the whole representation (a range starting at 0 that is empty,
//! more ranges than allowed, ranges adding up to more than the whole) are told
//! apart, as the handler answers them differently.

/// One satisfiable range: bytes `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// What a `Range` header asks of a representation of a known length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// Send these ranges (one: a single part; several: `multipart/byteranges`).
    Parts(Vec<ByteRange>),
    /// 416, `Content-Range: bytes */LEN`.
    Unsatisfiable,
    /// Send the whole representation (200).
    Whole,
}

/// The largest number nginx keeps reading (its `off_t`): more digits are 416.
const MAX_OFFSET: u64 = i64::MAX as u64;

/// Reads `value` (the whole header value) against a representation of `length`
/// bytes, allowing at most `max` ranges. A value that is not `bytes=` is
/// [`Ranges::Whole`].
pub fn parse(value: &[u8], length: u64, max: usize) -> Ranges {
    if value.len() < 7 || !value[..6].eq_ignore_ascii_case(b"bytes=") {
        return Ranges::Whole;
    }
    let mut cur = Cursor {
        s: &value[6..],
        at: 0,
    };
    let mut found = Vec::new();
    let mut total: u64 = 0;
    loop {
        let Some((start, end)) = cur.range(length) else {
            return Ranges::Unsatisfiable;
        };
        if start < end {
            found.push(ByteRange { start, end });
            total = match total.checked_add(end - start) {
                Some(t) if t <= MAX_OFFSET => t,
                _ => return Ranges::Unsatisfiable,
            };
            if found.len() > max {
                return Ranges::Whole;
            }
        } else if start == 0 {
            return Ranges::Whole;
        }
        if cur.next() != Some(b',') {
            break;
        }
    }
    if found.is_empty() {
        return Ranges::Unsatisfiable;
    }
    if found.len() > 1 && total > length {
        return Ranges::Whole;
    }
    Ranges::Parts(found)
}

/// A position in the range list.
struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek();
        self.at += 1;
        b
    }

    fn spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    /// One or more digits; `None` if there are none or the number is too big.
    fn number(&mut self) -> Option<u64> {
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return None;
        }
        let mut n: u64 = 0;
        while let Some(b) = self.peek().filter(u8::is_ascii_digit) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .filter(|&n| n <= MAX_OFFSET)?;
            self.at += 1;
        }
        Some(n)
    }

    /// Whether the list goes on (`,`) or ends here.
    fn at_separator(&self) -> bool {
        matches!(self.peek(), None | Some(b','))
    }

    /// One range as `(start, end)` clamped to `length` (end exclusive; `start >=
    /// end` is an unsatisfiable one); `None` for a malformed one.
    fn range(&mut self, length: u64) -> Option<(u64, u64)> {
        self.spaces();
        let (start, suffix) = if self.peek() == Some(b'-') {
            self.at += 1;
            (0, true)
        } else {
            let start = self.number()?;
            self.spaces();
            if self.next() != Some(b'-') {
                return None;
            }
            self.spaces();
            if self.at_separator() {
                return Some((start, length));
            }
            (start, false)
        };
        let last = self.number()?;
        self.spaces();
        if !self.at_separator() {
            return None;
        }
        if suffix {
            let start = length.saturating_sub(last);
            return Some((start, if length == 0 { 0 } else { length }));
        }
        Some((start, if last >= length { length } else { last + 1 }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(list: &[(u64, u64)]) -> Ranges {
        Ranges::Parts(
            list.iter()
                .map(|&(start, end)| ByteRange { start, end })
                .collect(),
        )
    }

    #[test]
    fn table() {
        use Ranges::*;
        let cases: Vec<(&[u8], u64, usize, Ranges)> = vec![
            (b"bytes=0-8", 1000, 10, parts(&[(0, 9)])),
            (b"bytes=-10", 1000, 10, parts(&[(990, 1000)])),
            (b"bytes=990-", 1000, 10, parts(&[(990, 1000)])),
            (b"bytes=990-1990", 1000, 10, parts(&[(990, 1000)])),
            (b"bytes=0-10001", 1000, 10, parts(&[(0, 1000)])),
            (b"BYTES=0-0", 1000, 10, parts(&[(0, 1)])),
            (b"bytes= 1 - 2 ", 1000, 10, parts(&[(1, 3)])),
            (b"bytes=-2000", 1000, 10, parts(&[(0, 1000)])),
            (
                b"bytes=0-9, -10, 10-19",
                1000,
                10,
                parts(&[(0, 10), (990, 1000), (10, 20)]),
            ),
            // An unsatisfiable range among satisfiable ones is left out.
            (
                b"bytes=0-9, -10, 100000-, 10-19",
                1000,
                10,
                parts(&[(0, 10), (990, 1000), (10, 20)]),
            ),
            (b"bytes=0-1,0-1", 1000, 10, parts(&[(0, 2), (0, 2)])),
            (b"bytes=100000-", 1000, 10, Unsatisfiable),
            (b"bytes=1000-1000", 1000, 10, Unsatisfiable),
            (b"bytes=alpha", 1000, 10, Unsatisfiable),
            (b"bytes=10-alpha", 1000, 10, Unsatisfiable),
            (b"bytes=10", 1000, 10, Unsatisfiable),
            (b"bytes=10-11 12-", 1000, 10, Unsatisfiable),
            (b"bytes=5-1", 1000, 10, Unsatisfiable),
            (b"bytes=-0", 1000, 10, Unsatisfiable),
            (b"bytes=0-1,", 1000, 10, Unsatisfiable),
            (b"bytes=+1-2", 1000, 10, Unsatisfiable),
            (b"bytes=99999999999999999999-", 1000, 10, Unsatisfiable),
            (b"bytes=0-99999999999999999999", 1000, 10, Unsatisfiable),
            (b"bytes=1-2", 0, 10, Unsatisfiable),
            (b"bytes=-1", 0, 10, Whole),
            (b"bytes=0-", 0, 10, Whole),
            // More than the whole in total, or more ranges than allowed.
            (b"bytes=0-10001, 0-0", 1000, 10, Whole),
            (b"bytes=0-9, -10, 10-19", 1000, 2, Whole),
            (
                b"bytes=0-9, -10, 10000-",
                1000,
                2,
                parts(&[(0, 10), (990, 1000)]),
            ),
            (b"bytes=0-9", 1000, 0, Whole),
            (b"bytes=", 1000, 10, Whole),
            (b"items=0-1", 1000, 10, Whole),
            (b"", 1000, 10, Whole),
        ];
        for (value, length, max, want) in cases {
            let text = String::from_utf8_lossy(value);
            assert_eq!(parse(value, length, max), want, "{text:?} of {length}");
        }
    }

    #[test]
    fn lengths() {
        let r = ByteRange { start: 3, end: 10 };
        assert_eq!(r.len(), 7);
        assert!(!r.is_empty());
    }
}
