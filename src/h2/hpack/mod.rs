//! HPACK header compression (RFC 7541).
//!
//! - [`Decoder`]: one per connection, for the peer's header blocks. Its output is
//!   bounded: past `max_list` bytes (§4.1 sizes: name + value + 32 per field) it stops
//!   keeping fields but goes on decoding, so that the dynamic table stays in step with
//!   the peer's encoder (an HPACK bomb costs no memory beyond the limit).
//! - [`encode_field`]: our responses, stateless (static-table indexes where they match,
//!   literals without indexing otherwise, Huffman where shorter): we never need the
//!   peer's table size.

pub(crate) mod decoder;
mod huffman;
mod table;

pub use decoder::{DecodeError, Decoded, Decoder};
pub use table::{ENTRY_OVERHEAD, STATIC};

/// Appends an HPACK integer with an `prefix`-bit prefix; `first` holds the bits above it.
pub fn encode_int(value: usize, prefix: u8, first: u8, out: &mut Vec<u8>) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// Appends a string literal (§5.2), Huffman-coded when that is shorter.
pub fn encode_str(s: &[u8], out: &mut Vec<u8>) {
    let huff = huffman::encoded_len(s);
    if huff < s.len() {
        encode_int(huff, 7, 0x80, out);
        huffman::encode(s, out);
    } else {
        encode_int(s.len(), 7, 0, out);
        out.extend_from_slice(s);
    }
}

/// Appends one field: indexed when the static table has it exactly, else a literal
/// without indexing (§6.2.2), naming the static entry when only the name matches.
/// `name` must already be lowercase (RFC 9113 §8.2.1).
pub fn encode_field(name: &str, value: &str, out: &mut Vec<u8>) {
    match table::static_find(name, value) {
        (Some(i), _) => encode_int(i, 7, 0x80, out),
        (None, Some(i)) => {
            encode_int(i, 4, 0, out);
            encode_str(value.as_bytes(), out);
        }
        (None, None) => {
            out.push(0);
            encode_str(name.as_bytes(), out);
            encode_str(value.as_bytes(), out);
        }
    }
}

#[cfg(test)]
mod tests;
