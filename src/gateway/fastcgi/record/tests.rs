//! Tests of the FastCGI record codec: hand-written bytes, round trips, the size limits
//! and a response decoded from every possible split of its bytes.

use super::*;

/// One parsed record: type, id, content, padding length.
type Rec = (u8, u16, Vec<u8>, usize);

/// Splits `bytes` into records, checking versions, zero padding and 8-byte alignment.
fn records(bytes: &[u8]) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        assert!(rest.len() >= HEADER_LEN, "truncated header");
        assert_eq!(rest[0], FCGI_VERSION);
        let len = usize::from(u16::from_be_bytes([rest[4], rest[5]]));
        let pad = usize::from(rest[6]);
        assert_eq!((len + pad) % 8, 0, "records are padded to 8");
        let end = HEADER_LEN + len + pad;
        assert!(rest.len() >= end, "truncated record");
        assert!(rest[HEADER_LEN + len..end].iter().all(|&b| b == 0));
        let id = u16::from_be_bytes([rest[2], rest[3]]);
        let content = rest[HEADER_LEN..HEADER_LEN + len].to_vec();
        out.push((rest[1], id, content, pad));
        rest = &rest[end..];
    }
    out
}

/// The name-value pairs of a PARAMS stream's content.
fn parse_pairs(mut s: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    fn len(s: &mut &[u8]) -> usize {
        if s[0] < 0x80 {
            let n = usize::from(s[0]);
            *s = &s[1..];
            n
        } else {
            let n = u32::from_be_bytes([s[0], s[1], s[2], s[3]]) & 0x7fff_ffff;
            *s = &s[4..];
            n as usize
        }
    }
    let mut out = Vec::new();
    while !s.is_empty() {
        let (n, v) = (len(&mut s), len(&mut s));
        out.push((s[..n].to_vec(), s[n..n + v].to_vec()));
        s = &s[n + v..];
    }
    out
}

/// Concatenated content of `recs` (all of `kind`), checking the stream ends with an
/// empty record and has no other empty one.
fn stream_content(recs: &[Rec], kind: u8) -> Vec<u8> {
    let (last, body) = recs.split_last().expect("records");
    assert_eq!(
        (last.0, last.2.len()),
        (kind, 0),
        "ends with an empty record"
    );
    let mut all = Vec::new();
    for (k, _, c, _) in body {
        assert_eq!(*k, kind);
        assert!(!c.is_empty() && c.len() <= MAX_CONTENT);
        all.extend_from_slice(c);
    }
    all
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Decoded {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    end: Option<(u32, u8)>,
}

/// Feeds `chunks` to a fresh decoder for id 1 and gathers what it reports.
fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<Decoded, DecodeError> {
    let mut dec = Decoder::new(1);
    let mut got = Decoded::default();
    for chunk in chunks {
        let mut rest = chunk;
        loop {
            let (n, event) = dec.decode(rest)?;
            assert!(n <= rest.len());
            rest = &rest[n..];
            match event {
                None => {
                    assert!(rest.is_empty(), "no event means all input was taken");
                    break;
                }
                Some(Event::Stdout(d)) => got.stdout.extend_from_slice(d),
                Some(Event::Stderr(d)) => got.stderr.extend_from_slice(d),
                Some(Event::End {
                    app_status,
                    protocol_status,
                }) => {
                    assert!(got.end.is_none(), "one End");
                    got.end = Some((app_status, protocol_status));
                    assert!(dec.is_done());
                }
            }
            if let Some(Event::Stdout(d) | Event::Stderr(d)) = event {
                assert!(!d.is_empty(), "no empty pieces");
            }
        }
    }
    Ok(got)
}

fn decode_all(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    decode_chunks([bytes])
}

fn end_record(id: u16, app_status: u32, protocol_status: u8) -> Vec<u8> {
    let mut body = app_status.to_be_bytes().to_vec();
    body.extend_from_slice(&[protocol_status, 0, 0, 0]);
    let mut out = Vec::new();
    push_record(&mut out, FCGI_END_REQUEST, id, &body);
    out
}

fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out);
    out
}

#[test]
fn encoders_write_the_expected_bytes() {
    let check = |name: &str, got: Vec<u8>, want: &[u8]| assert_eq!(got, want, "{name}");
    let (ab, xyz, https) = (&b"AB"[..], &b"xyz"[..], &b"HTTPS"[..]);
    let begin = enc(|o| begin_request(o, 1, true));
    check(
        "begin keep",
        begin,
        &[1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0],
    );
    let begin = enc(|o| begin_request(o, 258, false));
    check(
        "begin close, id 258",
        begin,
        &[1, 1, 1, 2, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
    );
    let one = [
        &[1, 4, 0, 1, 0, 7, 1, 0, 2, 3][..],
        b"ABxyz\0",
        &[1, 4, 0, 1, 0, 0, 0, 0],
    ];
    check(
        "params one pair",
        enc(|o| params(o, 1, [(ab, xyz)])),
        &one.concat(),
    );
    check(
        "params none",
        enc(|o| params(o, 1, [])),
        &[1, 4, 0, 1, 0, 0, 0, 0],
    );
    let empty = [
        &[1, 4, 0, 1, 0, 7, 1, 0, 5, 0][..],
        b"HTTPS\0",
        &[1, 4, 0, 1, 0, 0, 0, 0],
    ];
    check(
        "params empty value",
        enc(|o| params(o, 1, [(https, &[][..])])),
        &empty.concat(),
    );
    let abc = [&[1, 5, 0, 1, 0, 3, 5, 0][..], b"abc\0\0\0\0\0"].concat();
    check("stdin abc", enc(|o| stdin(o, 1, b"abc")), &abc);
    let eight = [&[1, 5, 0, 1, 0, 8, 0, 0][..], b"12345678"].concat();
    check("stdin eight", enc(|o| stdin(o, 1, b"12345678")), &eight);
    check(
        "stdin end",
        enc(|o| stdin(o, 1, b"")),
        &[1, 5, 0, 1, 0, 0, 0, 0],
    );
    check(
        "abort",
        enc(|o| abort_request(o, 7)),
        &[1, 2, 0, 7, 0, 0, 0, 0],
    );
}

#[test]
fn encoders_append_to_what_is_there() {
    let mut out = b"xx".to_vec();
    begin_request(&mut out, 1, false);
    params(&mut out, 1, [(&b"A"[..], &b"1"[..])]);
    stdin(&mut out, 1, b"body");
    stdin(&mut out, 1, b"");
    assert_eq!(&out[..2], b"xx");
    let kinds: Vec<u8> = records(&out[2..]).iter().map(|r| r.0).collect();
    assert_eq!(
        kinds,
        [1, 4, 4, 5, 5],
        "begin, params, its end, stdin, its end"
    );
}

/// Decoder table rows: `name: [bytes] => expected`, bytes as array elements.
macro_rules! decode_cases {
    ($($name:literal: [$($b:expr),* $(,)?] => $want:expr;)*) => {
        $(assert_eq!(decode_all(&[$($b),*]), $want, $name);)*
    };
}

#[test]
fn decoder_cases_from_raw_bytes() {
    use DecodeError::*;
    let ok = |stdout: &[u8], stderr: &[u8], end: Option<(u32, u8)>| {
        let (stdout, stderr) = (stdout.to_vec(), stderr.to_vec());
        Ok(Decoded {
            stdout,
            stderr,
            end,
        })
    };
    decode_cases! {
        "stdout padded": [1, 6, 0, 1, 0, 2, 6, 0, b'h', b'i', 0, 0, 0, 0, 0, 0]
            => ok(b"hi", b"", None);
        "padding need not be zero": [1, 6, 0, 1, 0, 1, 2, 0, b'x', 9, 9] => ok(b"x", b"", None);
        "stderr": [1, 7, 0, 1, 0, 3, 0, 0, b'e', b'r', b'r'] => ok(b"", b"err", None);
        "empty stdout and stderr": [1, 6, 0, 1, 0, 0, 0, 0, 1, 7, 0, 1, 0, 0, 3, 0, 0, 0, 0]
            => ok(b"", b"", None);
        "end": [1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] => ok(b"", b"", Some((0, 0)));
        "end statuses": [1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0]
            => ok(b"", b"", Some((258, 3)));
        "end longer, padded": [1, 3, 0, 1, 0, 10, 6, 0, 0, 0, 0, 5, 0, 0, 0, 0, 7, 7,
            0, 0, 0, 0, 0, 0] => ok(b"", b"", Some((5, 0)));
        "end without its padding yet": [1, 3, 0, 1, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            => ok(b"", b"", None);
        "end partial": [1, 3, 0, 1, 0, 8, 0, 0, 0, 0] => ok(b"", b"", None);
        "stdout unpadded, end": [1, 6, 0, 1, 0, 1, 0, 0, b'x', 1, 3, 0, 1, 0, 8, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0] => ok(b"x", b"", Some((0, 0)));
        "nothing": [] => ok(b"", b"", None);
        "half a header": [1, 6, 0] => ok(b"", b"", None);
        "version 0": [0, 6, 0, 1, 0, 0, 0, 0] => Err(Version(0));
        "version 2, alone": [2] => Err(Version(2));
        "get values result": [1, 10, 0, 0, 0, 0, 0, 0] => Err(UnexpectedType(10));
        "unknown type": [1, 11, 0, 0, 0, 8, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]
            => Err(UnexpectedType(11));
        "stdin back": [1, 5, 0, 1, 0, 0, 0, 0] => Err(UnexpectedType(5));
        "type 0": [1, 0, 0, 1, 0, 0, 0, 0] => Err(UnexpectedType(0));
        "type 200, alone": [1, 200] => Err(UnexpectedType(200));
        "other id": [1, 6, 0, 2, 0, 1, 0, 0, b'x'] => Err(WrongId(2));
        "id high byte": [1, 6, 1, 1] => Err(WrongId(257));
        "stdout for id 0": [1, 6, 0, 0, 0, 1, 0, 0, b'x'] => Err(WrongId(0));
        "end short": [1, 3, 0, 1, 0, 4, 0, 0, 0, 0, 0, 0] => Err(EndRequestLength(4));
        "end empty": [1, 3, 0, 1, 0, 0, 0, 0] => Err(EndRequestLength(0));
        "a record after end": [1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            1, 6, 0, 1, 0, 0, 0, 0] => Err(AfterEnd);
        "a byte after end": [1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            => Err(AfterEnd);
        "error after output": [1, 6, 0, 1, 0, 1, 0, 0, b'x', 3, 6, 0, 1, 0, 0, 0, 0]
            => Err(Version(3));
    }
}

#[test]
fn errors_stick_and_end_is_final() {
    let mut dec = Decoder::new(1);
    assert_eq!(dec.decode(&[9, 6, 0, 1]), Err(DecodeError::Version(9)));
    assert_eq!(dec.decode(&[]), Err(DecodeError::Version(9)));
    let mut dec = Decoder::new(1);
    let end = end_record(1, 0, FCGI_REQUEST_COMPLETE);
    let event = Event::End {
        app_status: 0,
        protocol_status: 0,
    };
    assert_eq!(dec.decode(&end), Ok((end.len(), Some(event))));
    assert_eq!(dec.decode(&[]), Ok((0, None)));
    assert_eq!(dec.decode(b"x"), Err(DecodeError::AfterEnd));
}

#[test]
fn decoder_reports_the_stdout_stream_closing() {
    let mut dec = Decoder::new(1);
    assert_eq!(
        dec.decode(&[1, 6, 0, 1, 0, 1, 0, 0, b'x']),
        Ok((9, Some(Event::Stdout(b"x"))))
    );
    assert!(!dec.stdout_closed());
    assert_eq!(dec.decode(&[1, 6, 0, 1, 0, 0, 0, 0]), Ok((8, None)));
    assert!(dec.stdout_closed());
}

#[test]
fn pair_lengths_switch_to_four_bytes_past_127() {
    for (n, prefix) in [
        (0, vec![0]),
        (1, vec![1]),
        (127, vec![127]),
        (128, vec![0x80, 0, 0, 128]),
        (300, vec![0x80, 0, 1, 44]),
        (70_000, vec![0x80, 1, 0x11, 0x70]),
    ] {
        let name = vec![b'N'; n];
        let value = vec![b'v'; n];
        let mut out = Vec::new();
        params(&mut out, 1, [(&name[..], &value[..])]);
        let content = stream_content(&records(&out), FCGI_PARAMS);
        let expect = [&prefix[..], &prefix, &name, &value].concat();
        assert_eq!(content, expect, "length {n}");
        assert_eq!(parse_pairs(&content), [(name, value)]);
    }
}

#[test]
fn params_round_trip() {
    let long = vec![b'L'; 128];
    let pairs: Vec<(&[u8], &[u8])> = vec![
        (b"QUERY_STRING", b""),
        (b"REQUEST_METHOD", b"GET"),
        (b"SCRIPT_FILENAME", b"/srv/www/index.php"),
        (&long, b"x"),
        (b"HTTP_X", &long),
        (b"BIN", b"\0\xff\r\n"),
    ];
    let mut out = Vec::new();
    params(&mut out, 9, pairs.iter().copied());
    let recs = records(&out);
    assert!(recs.iter().all(|r| r.1 == 9));
    let got = parse_pairs(&stream_content(&recs, FCGI_PARAMS));
    let want: Vec<(Vec<u8>, Vec<u8>)> = pairs
        .iter()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_200k_param_value_spans_records() {
    let value: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::new();
    let pairs = [(&b"A"[..], &b"1"[..]), (b"BIG", &value), (b"Z", b"2")];
    params(&mut out, 1, pairs);
    let recs = records(&out);
    let total = 4 + (1 + 4 + 3 + value.len()) + 4;
    assert_eq!(recs.len(), total.div_ceil(MAX_CONTENT) + 1);
    // Every record but the last two (the rest and the empty end) is full.
    assert!(
        recs[..recs.len() - 2]
            .iter()
            .all(|r| r.2.len() == MAX_CONTENT)
    );
    let got = parse_pairs(&stream_content(&recs, FCGI_PARAMS));
    assert_eq!(got.len(), 3);
    assert_eq!(got[1], (b"BIG".to_vec(), value));
    assert_eq!(got[2], (b"Z".to_vec(), b"2".to_vec()));
}

#[test]
fn a_pair_length_can_straddle_records() {
    // The first pair takes 65533 bytes: the second's name length and the first byte
    // of its 4-byte value length end the record, the other three bytes open the next.
    let first = vec![b'a'; MAX_CONTENT - 2 - (1 + 4 + 1)];
    let second = vec![b'b'; 200];
    let mut out = Vec::new();
    params(&mut out, 1, [(&b"A"[..], &first[..]), (b"B", &second)]);
    let recs = records(&out);
    assert_eq!(recs[0].2.len(), MAX_CONTENT);
    assert_eq!(&recs[0].2[MAX_CONTENT - 2..], &[1, 0x80]);
    assert_eq!(&recs[1].2[..3], &[0, 0, 200]);
    let got = parse_pairs(&stream_content(&recs, FCGI_PARAMS));
    assert_eq!(got, [(b"A".to_vec(), first), (b"B".to_vec(), second)]);
}

#[test]
fn a_200k_stdin_is_split_at_65535() {
    let body: Vec<u8> = (0..200 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    let mut out = Vec::new();
    stdin(&mut out, 3, &body);
    stdin(&mut out, 3, b"");
    let recs = records(&out);
    let sizes: Vec<usize> = recs.iter().map(|r| r.2.len()).collect();
    let (full, last) = (MAX_CONTENT, body.len() - 3 * MAX_CONTENT);
    assert_eq!(sizes, [full, full, full, last, 0]);
    let pads: Vec<usize> = recs.iter().map(|r| r.3).collect();
    assert_eq!(pads, [1, 1, 1, 5, 0]);
    assert!(recs.iter().all(|r| r.1 == 3));
    assert_eq!(stream_content(&recs, FCGI_STDIN), body);
}

/// A response of several records: header block, stderr between stdout pieces, an
/// empty stdout record, a padded END_REQUEST.
fn sample_response() -> (Vec<u8>, Decoded) {
    let head = b"Status: 200 OK\r\nContent-Type: text/html\r\n\r\n";
    let body: Vec<u8> = (0..70_000).map(|i| b'a' + (i % 26) as u8).collect();
    let mut out = Vec::new();
    push_stream(&mut out, FCGI_STDOUT, 1, head);
    push_record(&mut out, FCGI_STDERR, 1, b"PHP Warning: something\n");
    push_stream(&mut out, FCGI_STDOUT, 1, &body);
    push_record(&mut out, FCGI_STDERR, 1, b"x");
    push_record(&mut out, FCGI_STDOUT, 1, b"");
    push_record(&mut out, FCGI_STDOUT, 1, b"");
    // END_REQUEST, app status 300, padded by 3.
    out.extend_from_slice(&[1, 3, 0, 1, 0, 8, 3, 0, 0, 0, 1, 44, 0, 0, 0, 0, 0, 0, 0]);
    let want = Decoded {
        stdout: [&head[..], &body].concat(),
        stderr: b"PHP Warning: something\nx".to_vec(),
        end: Some((300, FCGI_REQUEST_COMPLETE)),
    };
    (out, want)
}

#[test]
fn decoding_is_the_same_at_every_split() {
    let (bytes, want) = sample_response();
    assert_eq!(decode_all(&bytes), Ok(want.clone()));
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(decode_chunks([a, b]), Ok(want.clone()), "split at {at}");
    }
    for size in [1, 2, 3, 7, 8, 9, 4096] {
        let got = decode_chunks(bytes.chunks(size));
        assert_eq!(got, Ok(want.clone()), "chunks of {size} (1: byte by byte)");
    }
}

#[test]
fn a_piece_never_reaches_past_its_record() {
    let (bytes, _) = sample_response();
    let mut dec = Decoder::new(1);
    let mut rest = &bytes[..];
    let mut events = 0;
    while let (n, Some(event)) = dec.decode(rest).expect("valid") {
        rest = &rest[n..];
        events += 1;
        if let Event::Stdout(d) | Event::Stderr(d) = event {
            assert!(d.len() <= MAX_CONTENT);
        }
    }
    assert!(rest.is_empty() && dec.is_done());
    assert_eq!(events, 6, "head, stderr, two body records, stderr, end");
}

#[test]
fn garbage_is_an_error_or_a_wait_never_a_panic() {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let len = (next() % 64) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Mostly plausible headers, so the decoder gets past the first checks.
        if let Some(b) = bytes.get_mut(0) {
            *b = if next() % 4 == 0 { *b } else { 1 };
        }
        if let Some(b) = bytes.get_mut(1) {
            *b = [FCGI_STDOUT, FCGI_STDERR, FCGI_END_REQUEST, *b][(next() % 4) as usize];
        }
        if let Some(b) = bytes.get_mut(3) {
            *b = if next() % 4 == 0 { *b } else { 1 };
        }
        let _ = decode_chunks(bytes.chunks(1 + (next() % 5) as usize));
    }
}
