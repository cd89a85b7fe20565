//! The HPACK decoder (RFC 7541 §3, §6): one header block in, a bounded field list out.

use super::huffman;
use super::table::{DynamicTable, ENTRY_OVERHEAD};

/// A header block the decoder cannot read: a connection error COMPRESSION_ERROR
/// (RFC 9113 §4.3), since the dynamic tables can no longer agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

/// The decoded fields of one block.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// The list exceeded `max_list`: `fields` was dropped, the table was kept in step.
    pub too_large: bool,
}

/// The longest integer we read: 2^28 is beyond any length or index we accept.
const MAX_INT: usize = 1 << 28;

/// Per-connection decoder state.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// The SETTINGS_HEADER_TABLE_SIZE we announced: size updates may not exceed it.
    announced: usize,
}

/// A cursor over one block.
struct Input<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(DecodeError("truncated block"))?;
        self.pos += 1;
        Ok(b)
    }

    /// §5.1: an integer with an N-bit prefix.
    fn int(&mut self, prefix: u8) -> Result<usize, DecodeError> {
        let max = (1usize << prefix) - 1;
        let mut value = usize::from(self.byte()?) & max;
        if value < max {
            return Ok(value);
        }
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            value += usize::from(b & 0x7f) << shift;
            if value > MAX_INT {
                return Err(DecodeError("integer too large"));
            }
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// §5.2: a string literal, Huffman-decoded if flagged.
    fn string(&mut self) -> Result<Vec<u8>, DecodeError> {
        let huff = self.buf.get(self.pos).is_some_and(|b| b & 0x80 != 0);
        let len = self.int(7)?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len());
        let raw = &self.buf[self.pos..end.ok_or(DecodeError("string past block end"))?];
        self.pos += len;
        if !huff {
            return Ok(raw.to_vec());
        }
        let mut out = Vec::with_capacity(raw.len() * 8 / 5);
        huffman::decode(raw, &mut out).map_err(|_| DecodeError("bad huffman string"))?;
        Ok(out)
    }
}

/// Collects fields up to a size limit.
struct Sink {
    decoded: Decoded,
    size: usize,
    max: usize,
}

impl Sink {
    fn push(&mut self, name: &[u8], value: &[u8]) {
        self.size = self
            .size
            .saturating_add(name.len() + value.len() + ENTRY_OVERHEAD);
        if self.size > self.max {
            if !self.decoded.too_large {
                self.decoded.fields = Vec::new();
                self.decoded.too_large = true;
            }
            return;
        }
        self.decoded.fields.push((name.to_vec(), value.to_vec()));
    }
}

impl Decoder {
    /// A decoder for a peer told SETTINGS_HEADER_TABLE_SIZE = `announced`.
    pub fn new(announced: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(announced),
            announced,
        }
    }

    /// The dynamic table's current size in bytes (§4.1).
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Decodes one complete header block. Fields beyond `max_list` bytes are not kept.
    pub fn decode(&mut self, block: &[u8], max_list: usize) -> Result<Decoded, DecodeError> {
        let mut input = Input { buf: block, pos: 0 };
        let mut sink = Sink {
            decoded: Decoded::default(),
            size: 0,
            max: max_list,
        };
        let mut at_start = true;
        while input.pos < block.len() {
            let first = block[input.pos];
            if first & 0xe0 == 0x20 {
                // §4.2: size updates only at the start of a block.
                if !at_start {
                    return Err(DecodeError("table size update after a field"));
                }
                self.size_update(&mut input)?;
                continue;
            }
            at_start = false;
            self.field(first, &mut input, &mut sink)?;
        }
        Ok(sink.decoded)
    }

    fn size_update(&mut self, input: &mut Input) -> Result<(), DecodeError> {
        let size = input.int(5)?;
        // §6.3: above the limit we announced → decoding error.
        if size > self.announced {
            return Err(DecodeError("table size update above the limit"));
        }
        self.table.set_max_size(size);
        Ok(())
    }

    fn field(&mut self, first: u8, input: &mut Input, sink: &mut Sink) -> Result<(), DecodeError> {
        if first & 0x80 != 0 {
            // §6.1: an indexed field.
            let index = input.int(7)?;
            let (n, v) = self.table.get(index).ok_or(DecodeError("bad index"))?;
            sink.push(n, v);
            return Ok(());
        }
        // §6.2.1 incremental indexing (01), §6.2.2 without (0000), §6.2.3 never (0001).
        let (prefix, indexing) = if first & 0x40 != 0 {
            (6, true)
        } else {
            (4, false)
        };
        let index = input.int(prefix)?;
        let name = if index == 0 {
            input.string()?
        } else {
            self.table
                .get(index)
                .ok_or(DecodeError("bad name index"))?
                .0
                .to_vec()
        };
        let value = input.string()?;
        sink.push(&name, &value);
        if indexing {
            self.table.insert(name, value);
        }
        Ok(())
    }
}

/// Integer decoding exposed to the module's tests.
#[cfg(test)]
pub struct TestInput<'a>(Input<'a>);

#[cfg(test)]
impl<'a> TestInput<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        TestInput(Input { buf, pos: 0 })
    }

    pub fn int_for_test(&mut self, prefix: u8) -> Result<usize, DecodeError> {
        self.0.int(prefix)
    }
}
