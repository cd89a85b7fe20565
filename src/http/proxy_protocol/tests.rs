use super::*;

fn sock(s: &str) -> Option<SocketAddr> {
    Some(s.parse().expect("test address"))
}

fn via(src: &str, dst: &str, tlvs: &[(u8, &[u8])]) -> Proxied {
    Proxied {
        src: sock(src),
        dst: sock(dst),
        tlvs: tlvs.iter().map(|&(t, v)| (t, v.to_vec())).collect(),
    }
}

fn err(reason: &'static str) -> Result<Parse, Error> {
    Err(Error::Invalid(reason))
}

/// A v2 header: signature, version/command, family/transport, length, `body`.
fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(ver_cmd);
    out.push(fam);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// IPv4 192.0.2.1:56324 → 198.51.100.2:443, then `tail`.
fn inet4(tail: &[u8]) -> Vec<u8> {
    let mut b = vec![192, 0, 2, 1, 198, 51, 100, 2];
    b.extend_from_slice(&56324u16.to_be_bytes());
    b.extend_from_slice(&443u16.to_be_bytes());
    b.extend_from_slice(tail);
    b
}

/// IPv6 2001:db8::1:1234 → 2001:db8::2:80, then `tail`.
fn inet6(tail: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    b.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
    b.extend_from_slice(&1234u16.to_be_bytes());
    b.extend_from_slice(&80u16.to_be_bytes());
    b.extend_from_slice(tail);
    b
}

const FULL6: &str = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";

/// Valid headers and what they say.
fn valid() -> Vec<(Vec<u8>, Proxied)> {
    let line = |s: &str| s.as_bytes().to_vec();
    let long6 = format!("PROXY TCP6 {FULL6} {FULL6} 65535 65535\r\n");
    let unknown_full = format!("PROXY UNKNOWN {FULL6} {FULL6} 65535 65535\r\n");
    assert_eq!(unknown_full.len(), V1_MAX_HEADER);
    let full6 = format!("[{FULL6}]:65535");
    let tlvs = [
        &[0x01, 0, 2][..],
        b"h2",
        &[0x04, 0, 0],
        &[0x02, 0, 3],
        b"a.b",
    ]
    .concat();
    let ssl = [&[0x20, 0, 10, 0x01, 0, 0, 0, 0, 0x21, 0, 2][..], b"v3"].concat();
    let unix = [vec![b'/'; 216], vec![0x05, 0, 1, 7]].concat();
    let (from4, to4) = ("192.0.2.1:56324", "198.51.100.2:443");
    let none = Proxied::default;
    vec![
        (
            line("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
            via("192.168.0.1:56324", "192.168.0.11:443", &[]),
        ),
        (
            line("PROXY TCP6 2001:db8::1 ::1 65535 0\r\n"),
            via("[2001:db8::1]:65535", "[::1]:0", &[]),
        ),
        (line(&long6), via(&full6, &full6, &[])),
        (
            line("PROXY TCP6 ::ffff:10.0.0.1 ::ffff:10.0.0.2 1 2\r\n"),
            via("[::ffff:10.0.0.1]:1", "[::ffff:10.0.0.2]:2", &[]),
        ),
        // Heading zeroes in ports, as nginx accepts them.
        (
            line("PROXY TCP4 1.2.3.4 5.6.7.8 080 00443\r\n"),
            via("1.2.3.4:80", "5.6.7.8:443", &[]),
        ),
        (line("PROXY UNKNOWN\r\n"), none()),
        (line("PROXY UNKNOWN TCP4 anything\r\n"), none()),
        (line(&unknown_full), none()),
        (v2(0x21, 0x11, &inet4(&[])), via(from4, to4, &[])),
        (
            v2(0x21, 0x11, &inet4(&tlvs)),
            via(from4, to4, &[(1, b"h2"), (4, b""), (2, b"a.b")]),
        ),
        (
            v2(0x21, 0x21, &inet6(&ssl)),
            via(
                "[2001:db8::1]:1234",
                "[2001:db8::2]:80",
                &[(0x20, &ssl[3..])],
            ),
        ),
        (v2(0x20, 0x00, &[]), none()),
        // LOCAL skips whatever address block it carries.
        (v2(0x20, 0x11, &inet4(&[])), none()),
        (v2(0x20, 0x21, &inet6(&[])), none()),
        // UDP, unspecified transport or family: connection addresses stand.
        (v2(0x21, 0x12, &inet4(&[])), none()),
        (v2(0x21, 0x10, &inet4(&[])), none()),
        (v2(0x21, 0x01, &[1, 2, 3]), none()),
        // Unassigned families and transports too, as nginx reads them.
        (v2(0x21, 0x41, &[1, 2, 3, 4]), none()),
        (v2(0x20, 0xf0, &[]), none()),
        (v2(0x21, 0x13, &inet4(&[])), none()),
        (
            v2(0x21, 0x31, &unix),
            Proxied {
                src: None,
                dst: None,
                tlvs: vec![(5, vec![7])],
            },
        ),
    ]
}

/// The header followed by the first bytes of a request, and the expected parse.
fn with_request(header: &[u8], want: Proxied) -> (Vec<u8>, Result<Parse, Error>) {
    let bytes = [header, b"GET / HTTP/1.1\r\n"].concat();
    (
        bytes,
        Ok(Parse::Done {
            header: want,
            consumed: header.len(),
        }),
    )
}

#[test]
fn valid_headers() {
    for (header, want) in valid() {
        let (bytes, want) = with_request(&header, want);
        assert_eq!(
            parse(&bytes),
            want,
            "{:?}",
            bytes.escape_ascii().to_string()
        );
    }
}

#[test]
fn invalid_and_incomplete_headers() {
    let sig = V2_SIGNATURE.as_slice();
    let mut too_big = v2(0x21, 0x11, &[]);
    too_big[14..16].copy_from_slice(&((MAX_HEADER - V2_FIXED + 1) as u16).to_be_bytes());
    let mut biggest = too_big.clone();
    biggest[14..16].copy_from_slice(&((MAX_HEADER - V2_FIXED) as u16).to_be_bytes());
    let unix_short = v2(0x21, 0x31, &[0; 100]);
    let cases: Vec<(Vec<u8>, Result<Parse, Error>)> = vec![
        (b"".to_vec(), Ok(Parse::NeedMore)),
        (b"P".to_vec(), Ok(Parse::NeedMore)),
        (b"PROXY TCP".to_vec(), Ok(Parse::NeedMore)),
        (b"PROXY TCP4 1.2.".to_vec(), Ok(Parse::NeedMore)),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443\r".to_vec(),
            Ok(Parse::NeedMore),
        ),
        (b"PROXY UNKNOWN".to_vec(), Ok(Parse::NeedMore)),
        (sig[..5].to_vec(), Ok(Parse::NeedMore)),
        (sig.to_vec(), Ok(Parse::NeedMore)),
        (
            v2(0x21, 0x11, &inet4(&[]))[..27].to_vec(),
            Ok(Parse::NeedMore),
        ),
        (biggest, Ok(Parse::NeedMore)),
        // A plain request on a PROXY listener fails on its first byte.
        (b"G".to_vec(), err("not a PROXY protocol header")),
        (b"\x16\x03\x01".to_vec(), err("not a PROXY protocol header")),
        (
            b"PROXX".to_vec(),
            err("PROXY v1 header does not start with \"PROXY \""),
        ),
        (b"PROXY  TCP4".to_vec(), err("unknown PROXY v1 protocol")),
        (b"PROXY tcp4 ".to_vec(), err("unknown PROXY v1 protocol")),
        (b"PROXY TCP5 ".to_vec(), err("unknown PROXY v1 protocol")),
        (b"PROXY UDP4 ".to_vec(), err("unknown PROXY v1 protocol")),
        (
            b"PROXY UNKNOWNX\r\n".to_vec(),
            err("unknown PROXY v1 protocol"),
        ),
        (
            b"PROXY TCP4\r\n".to_vec(),
            err("no space after the PROXY v1 protocol"),
        ),
        (
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n".to_vec(),
            err("invalid PROXY v1 source address"),
        ),
        (
            b"PROXY TCP4 256.1.1.1 ".to_vec(),
            err("invalid PROXY v1 source address"),
        ),
        (
            b"PROXY TCP4 01.2.3.4 ".to_vec(),
            err("invalid PROXY v1 source address"),
        ),
        (
            b"PROXY TCP4 1.2.3 ".to_vec(),
            err("invalid PROXY v1 source address"),
        ),
        (
            b"PROXY TCP4 ::1 ".to_vec(),
            err("invalid PROXY v1 source address"),
        ),
        (
            b"PROXY TCP4 1.2.3.4.5.6.7.89".to_vec(),
            err("invalid PROXY v1 source address"),
        ),
        (
            b"PROXY TCP6 1.2.3.4 ".to_vec(),
            err("invalid PROXY v1 source address"),
        ),
        (
            b"PROXY TCP6 ::1%eth0 ".to_vec(),
            err("invalid PROXY v1 source address"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 ::1 ".to_vec(),
            err("invalid PROXY v1 destination address"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8\r\n".to_vec(),
            err("invalid PROXY v1 destination address"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 ".to_vec(),
            err("invalid PROXY v1 source port"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999".to_vec(),
            err("invalid PROXY v1 source port"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 ".to_vec(),
            err("invalid PROXY v1 source port"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8  80".to_vec(),
            err("invalid PROXY v1 source port"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 \r\n".to_vec(),
            err("invalid PROXY v1 destination port"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 -1".to_vec(),
            err("invalid PROXY v1 destination port"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443 \r\n".to_vec(),
            err("invalid PROXY v1 destination port"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443\n".to_vec(),
            err("invalid PROXY v1 destination port"),
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 80 443\rX".to_vec(),
            err("PROXY v1 line not ended by CRLF"),
        ),
        (
            b"PROXY UNKNOWN a\nb\r\n".to_vec(),
            err("PROXY v1 line not ended by CRLF"),
        ),
        (
            b"PROXY UNKNOWN a\rb\r\n".to_vec(),
            err("PROXY v1 line not ended by CRLF"),
        ),
        (
            [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 93]].concat(),
            err("PROXY v1 line longer than 107 bytes"),
        ),
        (
            [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 92], b"\r\n"].concat(),
            err("PROXY v1 line longer than 107 bytes"),
        ),
        (b"\r\nGET".to_vec(), err("invalid PROXY v2 signature")),
        (
            b"\r\n\r\n\0\r\nQUIX\n".to_vec(),
            err("invalid PROXY v2 signature"),
        ),
        (
            v2(0x11, 0x11, &inet4(&[])),
            err("unknown PROXY protocol version"),
        ),
        (
            v2(0x31, 0x11, &inet4(&[])),
            err("unknown PROXY protocol version"),
        ),
        (v2(0x22, 0x11, &inet4(&[])), err("unknown PROXY v2 command")),
        (v2(0x2f, 0x11, &inet4(&[])), err("unknown PROXY v2 command")),
        (too_big, err("PROXY v2 header is too large")),
        (
            v2(0x21, 0x11, &[0; 11]),
            err("PROXY v2 address block too short"),
        ),
        (
            v2(0x21, 0x21, &inet4(&[])),
            err("PROXY v2 address block too short"),
        ),
        (unix_short, err("PROXY v2 address block too short")),
        (v2(0x21, 0x11, &inet4(&[1])), err("broken PROXY v2 TLV")),
        (v2(0x21, 0x11, &inet4(&[1, 0])), err("broken PROXY v2 TLV")),
        (
            v2(0x21, 0x11, &inet4(&[1, 0, 3, b'h', b'2'])),
            err("broken PROXY v2 TLV"),
        ),
        (
            v2(0x21, 0x11, &inet4(&[1, 0, 0, 2, 1, 0])),
            err("broken PROXY v2 TLV"),
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            parse(&bytes),
            want,
            "{:?}",
            bytes.escape_ascii().to_string()
        );
    }
}

/// Feeds every prefix: `NeedMore` until some point, then one fixed outcome
/// (`Done` or an error) for every longer prefix. Returns that outcome.
fn outcome_over_prefixes(bytes: &[u8]) -> Result<Parse, Error> {
    let mut settled: Option<(usize, Result<Parse, Error>)> = None;
    for k in 0..=bytes.len() {
        let got = parse(&bytes[..k]);
        match &settled {
            Some((at, first)) => assert_eq!(&got, first, "prefix {k} (settled at {at})"),
            None if got != Ok(Parse::NeedMore) => {
                if let Ok(Parse::Done { consumed, .. }) = got {
                    assert_eq!(consumed, k, "done only once the header is complete");
                }
                settled = Some((k, got));
            }
            None => {}
        }
    }
    settled.map_or(Ok(Parse::NeedMore), |(_, outcome)| outcome)
}

#[test]
fn split_at_every_offset() {
    for (header, want) in valid() {
        let (bytes, want) = with_request(&header, want);
        assert_eq!(outcome_over_prefixes(&bytes), want);
    }
}

/// Corrupting any byte of a valid header never panics, and the outcome over
/// prefixes still settles once (an error stays an error as bytes arrive).
#[test]
fn corrupted_headers_settle() {
    for (header, _) in valid() {
        let bytes = [&header[..], b"GET /"].concat();
        for at in 0..bytes.len().min(120) {
            for b in [
                0u8, 0xff, b' ', b'\r', b'\n', b'0', b'9', b':', b'.', b'P', 0x21,
            ] {
                let mut copy = bytes.clone();
                copy[at] = b;
                let _ = outcome_over_prefixes(&copy);
            }
        }
    }
}

#[test]
fn log_text_stops_at_the_line_end() {
    assert_eq!(
        broken_header_text(b"GET / HTTP/1.1\r\nHost: x\r\n"),
        "GET / HTTP/1.1"
    );
    assert_eq!(
        broken_header_text(b"\x16\x03\x01\x00"),
        "\\x16\\x03\\x01\\x00"
    );
    assert_eq!(broken_header_text(&[b'a'; 500]).len(), V1_MAX_HEADER);
    let e = Error::Invalid("PROXY v2 header is too large");
    assert_eq!(
        e.to_string(),
        "broken PROXY protocol header: PROXY v2 header is too large"
    );
}
