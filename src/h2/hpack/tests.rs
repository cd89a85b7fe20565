//! HPACK against RFC 7541 Appendix C (C.2-C.6: one block, then request and response
//! sequences with and without Huffman, evictions at a 256-byte table), the size update
//! rules of §4.2/§6.3, malformed blocks, the HPACK bomb and the encoder.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn fields(d: &Decoded) -> Vec<(String, String)> {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    d.fields.iter().map(|(n, v)| (text(n), text(v))).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Decodes each (block, expected fields, table size after) in turn on one decoder.
/// (block in hex, the fields it decodes to, the table size after it).
type Step<'a> = (&'a str, &'a [(&'a str, &'a str)], usize);

fn sequence(table: usize, steps: &[Step]) {
    let mut d = Decoder::new(table);
    for (i, (block, want, size)) in steps.iter().enumerate() {
        let out = d.decode(&hex(block), 1 << 20).unwrap();
        assert_eq!(fields(&out), pairs(want), "step {i}");
        assert_eq!(d.table_size(), *size, "table size after step {i}");
    }
}

#[test]
fn c2_single_representations() {
    let cases: [(&str, (&str, &str), usize); 4] = [
        (
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
            ("custom-key", "custom-header"),
            55,
        ),
        (
            "040c 2f73 616d 706c 652f 7061 7468",
            (":path", "/sample/path"),
            0,
        ),
        (
            "1008 7061 7373 776f 7264 0673 6563 7265 74",
            ("password", "secret"),
            0,
        ),
        ("82", (":method", "GET"), 0),
    ];
    for (block, want, size) in cases {
        let mut d = Decoder::new(4096);
        let out = d.decode(&hex(block), 1 << 20).unwrap();
        assert_eq!(fields(&out), pairs(&[want]));
        assert_eq!(d.table_size(), size);
    }
}

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

#[test]
fn c3_requests_plain() {
    sequence(
        4096,
        &[
            (
                "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                REQ1,
                57,
            ),
            ("8286 84be 5808 6e6f 2d63 6163 6865", REQ2, 110),
            (
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                REQ3,
                164,
            ),
        ],
    );
}

#[test]
fn c4_requests_huffman() {
    sequence(
        4096,
        &[
            ("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", REQ1, 57),
            ("8286 84be 5886 a8eb 1064 9cbf", REQ2, 110),
            (
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                REQ3,
                164,
            ),
        ],
    );
}

const RESP1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];

#[test]
fn c5_responses_plain_with_evictions() {
    sequence(
        256,
        &[
            (
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                 6c65 2e63 6f6d",
                RESP1,
                222,
            ),
            ("4803 3330 37c1 c0bf", RESP2, 222),
            (
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                 3d31",
                RESP3,
                215,
            ),
        ],
    );
}

#[test]
fn c6_responses_huffman_with_evictions() {
    sequence(
        256,
        &[
            (
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                RESP1,
                222,
            ),
            ("4883 640e ffc1 c0bf", RESP2, 222),
            (
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                RESP3,
                215,
            ),
        ],
    );
}

#[test]
fn size_updates_only_at_block_start_and_within_limit() {
    let mut d = Decoder::new(4096);
    // Two updates at the start (0 then 100) are fine, then a field.
    assert!(d.decode(&[0x20, 0x3f, 0x45, 0x82], 1 << 16).is_ok());
    // An update after a field.
    assert_eq!(
        d.decode(&[0x82, 0x20], 1 << 16),
        Err(DecodeError("table size update after a field"))
    );
    // Above the 4096 we announced: 0x3f e1 1f = 31 + 0x61 + (0x1f << 7) = 4096 + 1.
    let mut d = Decoder::new(4096);
    let err = d.decode(&[0x3f, 0xe2, 0x1f], 1 << 16).unwrap_err();
    assert_eq!(err, DecodeError("table size update above the limit"));
    assert!(d.decode(&[0x3f, 0xe1, 0x1f], 1 << 16).is_ok());
}

#[test]
fn size_update_evicts() {
    let mut d = Decoder::new(4096);
    d.decode(
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
        1 << 16,
    )
    .unwrap();
    assert_eq!(d.table_size(), 55);
    d.decode(&[0x20], 1 << 16).unwrap();
    assert_eq!(d.table_size(), 0);
    // Index 62 no longer exists.
    assert_eq!(d.decode(&[0xbe], 1 << 16), Err(DecodeError("bad index")));
}

#[test]
fn malformed_blocks() {
    let cases: [&[u8]; 7] = [
        &[0x80],                               // index 0
        &[0xff, 0x00],                         // index 127: beyond the tables
        &[0x40, 0x05, b'a'],                   // string longer than the block
        &[0x82, 0x7f],                         // truncated integer
        &[0x00, 0x81, 0x00, 0x00],             // bad Huffman padding in the name
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], // integer overflow
        &[0x41],                               // value missing
    ];
    for block in cases {
        let mut d = Decoder::new(4096);
        assert!(d.decode(block, 1 << 16).is_err(), "{block:02x?}");
    }
}

#[test]
fn hpack_bomb_stays_within_the_limit() {
    // One 4000-byte entry inserted, then referenced 10000 times (one byte each).
    let mut block = vec![0x40, 0x01, b'x'];
    encode_int(3900, 7, 0, &mut block);
    block.extend(std::iter::repeat_n(b'v', 3900));
    block.extend(std::iter::repeat_n(0xbe, 10_000));
    let mut d = Decoder::new(4096);
    let out = d.decode(&block, 32 * 1024).unwrap();
    assert!(out.too_large);
    assert!(out.fields.is_empty());
    assert_eq!(out.fields.capacity(), 0, "nothing kept past the limit");
    // The table is still in step: the next block can use the entry.
    let next = d.decode(&[0xbe], 32 * 1024).unwrap();
    assert_eq!(next.fields.len(), 1);
    assert!(!next.too_large);
}

#[test]
fn limit_counts_32_per_field() {
    let mut d = Decoder::new(4096);
    // ":method: GET" is 7 + 3 + 32 = 42 bytes.
    assert!(!d.decode(&[0x82], 42).unwrap().too_large);
    assert!(d.decode(&[0x82], 41).unwrap().too_large);
}

#[test]
fn encoder_round_trips_through_decoder() {
    let list = [
        (":status", "200"),
        (":status", "302"),
        ("content-type", "text/html"),
        ("x-custom", "a value with spaces"),
        ("accept-encoding", "gzip, deflate"),
        ("set-cookie", ""),
    ];
    let mut block = Vec::new();
    for (n, v) in list {
        encode_field(n, v, &mut block);
    }
    // `:status: 200` is the single byte 0x88 (static index 8).
    assert_eq!(block[0], 0x88);
    let out = Decoder::new(4096).decode(&block, 1 << 16).unwrap();
    assert_eq!(fields(&out), pairs(&list));
}

#[test]
fn integers_round_trip() {
    for prefix in 1..=8u8 {
        for value in [0, 1, 30, 31, 127, 128, 1337, 65535, 1 << 20] {
            let mut out = Vec::new();
            encode_int(value, prefix, 0, &mut out);
            let mut input = decoder_input(&out);
            assert_eq!(
                input.0.int_for_test(prefix),
                Ok(value),
                "{value} prefix {prefix}"
            );
        }
    }
}

fn decoder_input(b: &[u8]) -> (decoder::TestInput<'_>,) {
    (decoder::TestInput::new(b),)
}
