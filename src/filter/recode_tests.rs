use std::collections::HashMap;
use std::sync::Arc;

use super::*;

fn bytes_table() -> Table {
    let mut t = [0u8; 256];
    for (i, b) in t.iter_mut().enumerate() {
        *b = if i < 128 { i as u8 } else { b'?' };
    }
    t[b'X' as usize] = b'Y';
    t[0xe1] = 0xc1;
    Table::Bytes(Arc::new(t))
}

fn to_utf8() -> Table {
    let mut t = [[1, b'?', 0, 0]; 256];
    for (i, e) in t.iter_mut().enumerate().take(128) {
        e[1] = i as u8;
    }
    t[0xc1] = [2, 0xd0, 0xb0, 0]; // а
    t[0x95] = [3, 0xe2, 0x88, 0x99]; // ∙
    Table::ToUtf8(Arc::new(t))
}

fn from_utf8() -> Table {
    let map: HashMap<u32, u8> = [(0x430, 0xc1), (0x2219, 0x95), (0xe9, 0xe9)].into();
    Table::FromUtf8(Arc::new(map))
}

fn run(table: &Table, input: &[u8]) -> Vec<u8> {
    recode_all(table, input)
}

#[test]
fn byte_tables_keep_the_length() {
    let t = bytes_table();
    let cases: &[(&[u8], &[u8])] = &[
        (b"", b""),
        (b"XXX", b"YYY"),
        (b"aXb", b"aYb"),
        (b"\xe1\xe2", b"\xc1?"),
    ];
    for (input, want) in cases {
        assert_eq!(run(&t, input), *want, "{input:?}");
    }
    assert!(!Recoder::new(&t).changes_length());
}

#[test]
fn bytes_to_utf8() {
    let t = to_utf8();
    let cases: &[(&[u8], &[u8])] = &[
        (b"abc", b"abc"),
        (b"\xc1", "а".as_bytes()),
        (b"x\x95y", "x∙y".as_bytes()),
        (b"\xff", b"?"),
    ];
    for (input, want) in cases {
        assert_eq!(run(&t, input), *want, "{input:?}");
    }
    assert!(Recoder::new(&t).changes_length());
}

#[test]
fn utf8_to_bytes() {
    let t = from_utf8();
    let cases: &[(&[u8], &[u8])] = &[
        (b"plain", b"plain"),
        ("а∙é".as_bytes(), b"\xc1\x95\xe9"),
        // Characters the table lacks become numeric references.
        ("ж".as_bytes(), b"&#1078;"),
        ("😀".as_bytes(), b"&#128512;"),
        // A stray continuation byte, a bad lead byte.
        (b"a\x80b\xffc", b"a?b?c"),
        // Overlong forms are invalid, the whole sequence one `?`.
        (b"\xc0\x80", b"??"),
        (b"\xe0\x80\x80z", b"?z"),
        // A bad continuation byte is taken with the sequence (nginx).
        (b"\xd0A\xd0\xb0", b"?\xc1"),
        // Beyond U+10FFFF.
        (b"\xf4\x90\x80\x80", b"?"),
        // Incomplete at the very end: dropped.
        (b"ab\xe2\x88", b"ab"),
    ];
    for (input, want) in cases {
        assert_eq!(
            String::from_utf8_lossy(&run(&t, input)),
            String::from_utf8_lossy(want),
            "{input:?}"
        );
    }
}

#[test]
fn split_at_every_offset_gives_the_same_bytes() {
    let text = "aа∙ж😀é z\u{80}".as_bytes();
    let mut input = text.to_vec();
    input.extend_from_slice(b"\x80\xd0A\xffend");
    for table in [from_utf8(), to_utf8(), bytes_table()] {
        let whole = run(&table, &input);
        for cut in 0..=input.len() {
            let mut r = Recoder::new(&table);
            let mut out = Vec::new();
            r.feed(&input[..cut], &mut out);
            r.feed(&input[cut..], &mut out);
            assert_eq!(out, whole, "cut at {cut}");
        }
        let mut r = Recoder::new(&table);
        let mut out = Vec::new();
        for b in &input {
            r.feed(std::slice::from_ref(b), &mut out);
        }
        assert_eq!(out, whole, "byte by byte");
    }
}

#[test]
fn a_held_sequence_that_turns_out_invalid_is_dropped_whole() {
    // nginx's quirk: the held bytes F0 41 42 are one `?`, the input goes on after
    // them (unsplit, the 42 would be kept).
    let t = from_utf8();
    let mut r = Recoder::new(&t);
    let mut out = Vec::new();
    r.feed(b"\xf0AB", &mut out);
    r.feed(b"C", &mut out);
    assert_eq!(out, b"?C");
    assert_eq!(run(&t, b"\xf0ABC"), b"?BC");
}

#[test]
fn decode_follows_ngx_utf8_decode() {
    let cases: &[(&[u8], Decoded)] = &[
        (b"\xd0\xb0", Decoded::Char(0x430, 2)),
        (b"\xe2\x88\x99", Decoded::Char(0x2219, 3)),
        (b"\xf0\x9f\x98\x80", Decoded::Char(0x1f600, 4)),
        (b"\xf7\xbf\xbf\xbf", Decoded::Char(0x1fffff, 4)),
        (b"\xd0", Decoded::Incomplete),
        (b"\xf0\x9f\x98", Decoded::Incomplete),
        (b"\x41", Decoded::Invalid(1)),
        (b"\xc1\x81", Decoded::Invalid(1)),
        (b"\xf8\x80", Decoded::Invalid(1)),
        (b"\xe2\x41\x99", Decoded::Invalid(2)),
        (b"\xe2\x88\x41", Decoded::Invalid(3)),
        (b"\xe0\x9f\xbf", Decoded::Invalid(3)),
    ];
    for (input, want) in cases {
        assert_eq!(decode(input), *want, "{input:?}");
    }
}
