//! `h2::hpack::Decoder` on arbitrary header blocks, one connection's worth in a row.
//!
//! The first byte picks the list limit (64 B .. 16 KiB), the second the table size;
//! the rest is split into blocks at 0xff 0x00 pairs. Properties: no panic; a decoded
//! list never holds more than the limit (names + values + 32 per field); what
//! `encode_field` writes decodes back to the same field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webserv::h2::hpack::{Decoder, ENTRY_OVERHEAD, encode_field};

fuzz_target!(|data: &[u8]| {
    let [limit, table, rest @ ..] = data else {
        return;
    };
    let limit = 64 + usize::from(*limit) * 64;
    let mut d = Decoder::new(usize::from(*table) * 32);
    for block in rest.split(|&b| b == 0xff) {
        let Ok(out) = d.decode(block, limit) else {
            return;
        };
        let size: usize = out
            .fields
            .iter()
            .map(|(n, v)| n.len() + v.len() + ENTRY_OVERHEAD)
            .sum();
        assert!(size <= limit, "{size} > {limit}");
        assert!(!out.too_large || out.fields.is_empty());
        // Round trip of the first field through our encoder (names lowercased, UTF-8).
        if let Some((n, v)) = out.fields.first()
            && let (Ok(n), Ok(v)) = (std::str::from_utf8(n), std::str::from_utf8(v))
        {
            let mut enc = Vec::new();
            encode_field(n, v, &mut enc);
            let back = Decoder::new(0)
                .decode(&enc, usize::MAX)
                .expect("our block decodes");
            assert_eq!(
                back.fields,
                [(n.as_bytes().to_vec(), v.as_bytes().to_vec())]
            );
        }
    }
});
