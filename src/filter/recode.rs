//! The charset recoder: rewrites a body from one charset to another with a
//! [`Table`] of `charset_map`, as nginx's charset filter does. Byte tables keep the
//! length; to UTF-8 each byte becomes its sequence; from UTF-8 each character
//! becomes its byte, `&#N;` when the table has none, `?` for invalid bytes. A UTF-8
//! sequence split across two pieces of the body is held until the next piece (an
//! incomplete one at the very end is dropped, as nginx does).

use crate::config::charset_map::Table;

/// What [`decode`] found at the start of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// A character and the bytes it took (valid, or in nginx's "invalid
    /// sequence" range above U+10FFFF).
    Char(u32, usize),
    /// Not UTF-8; the bytes to skip.
    Invalid(usize),
    /// The input ends inside a sequence.
    Incomplete,
}

/// nginx's `ngx_utf8_decode` (sequences of two bytes or more): a bad lead byte is
/// skipped alone; a bad continuation byte is skipped with what came before it.
pub fn decode(input: &[u8]) -> Decoded {
    let Some(&lead) = input.first() else {
        return Decoded::Incomplete;
    };
    let (mut u, valid, len) = match lead {
        0xf8.. => return Decoded::Invalid(1),
        0xf0.. => (u32::from(lead & 0x07), 0xffff, 3),
        0xe0.. => (u32::from(lead & 0x0f), 0x7ff, 2),
        0xc2.. => (u32::from(lead & 0x1f), 0x7f, 1),
        _ => return Decoded::Invalid(1),
    };
    if input.len() - 1 < len {
        return Decoded::Incomplete;
    }
    for (i, &b) in input[1..=len].iter().enumerate() {
        if b < 0x80 {
            return Decoded::Invalid(i + 2);
        }
        u = (u << 6) | u32::from(b & 0x3f);
    }
    if u > valid {
        Decoded::Char(u, len + 1)
    } else {
        Decoded::Invalid(len + 1)
    }
}

/// One response's recoding state.
#[derive(Debug)]
pub struct Recoder {
    table: Table,
    /// The start of a UTF-8 sequence the previous piece ended in.
    saved: [u8; 4],
    saved_len: usize,
}

impl Recoder {
    pub fn new(table: &Table) -> Recoder {
        Recoder {
            table: table.clone(),
            saved: [0; 4],
            saved_len: 0,
        }
    }

    /// Whether the output may be longer or shorter than the input (then the
    /// response loses its Content-Length and its ranges, as in nginx).
    pub fn changes_length(&self) -> bool {
        !matches!(self.table, Table::Bytes(_))
    }

    /// Recodes the next piece of the body, appending to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        match &self.table {
            Table::Bytes(t) => out.extend(input.iter().map(|&b| t[usize::from(b)])),
            Table::ToUtf8(t) => {
                for &b in input {
                    let e = &t[usize::from(b)];
                    out.extend_from_slice(&e[1..=usize::from(e[0]).min(3)]);
                }
            }
            Table::FromUtf8(_) => self.decode_utf8(input, out),
        }
    }

    fn decode_utf8(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if self.saved_len > 0 {
            // Complete the held sequence with the first bytes of this piece.
            let have = self.saved_len;
            let take = (4 - have).min(input.len());
            let mut joined = self.saved;
            joined[have..have + take].copy_from_slice(&input[..take]);
            match decode(&joined[..have + take]) {
                Decoded::Incomplete => {
                    self.saved = joined;
                    self.saved_len = have + take;
                    return;
                }
                Decoded::Char(c, n) => {
                    self.put(c, out);
                    input = &input[n.saturating_sub(have)..];
                }
                Decoded::Invalid(n) => {
                    out.push(b'?');
                    input = &input[n.saturating_sub(have)..];
                }
            }
            self.saved_len = 0;
        }
        while let Some(&b) = input.first() {
            if b < 0x80 {
                let ascii = input.iter().position(|&b| b >= 0x80).unwrap_or(input.len());
                out.extend_from_slice(&input[..ascii]);
                input = &input[ascii..];
                continue;
            }
            match decode(input) {
                Decoded::Char(c, n) => {
                    self.put(c, out);
                    input = &input[n..];
                }
                Decoded::Invalid(n) => {
                    out.push(b'?');
                    input = &input[n..];
                }
                Decoded::Incomplete => {
                    self.saved[..input.len()].copy_from_slice(input);
                    self.saved_len = input.len();
                    return;
                }
            }
        }
    }

    /// One decoded character: its byte, `&#N;`, or `?` beyond Unicode.
    fn put(&self, c: u32, out: &mut Vec<u8>) {
        let Table::FromUtf8(t) = &self.table else {
            return;
        };
        if c > 0x10ffff {
            out.push(b'?');
        } else if let Some(&b) = t.get(&c).filter(|&&b| b != 0) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("&#{c};").as_bytes());
        }
    }
}

/// The whole of `body` recoded.
pub fn recode_all(table: &Table, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    Recoder::new(table).feed(body, &mut out);
    out
}

#[cfg(test)]
#[path = "recode_tests.rs"]
mod tests;
