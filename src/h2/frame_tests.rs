//! Frame parsing: a table of raw frames (each type, good and bad lengths, wrong
//! streams), split at every offset, and the writers read back by the parser.

use super::*;

const MAX: u32 = MIN_MAX_FRAME_SIZE;

fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_head(&mut out, payload.len(), kind, flags, stream);
    out.extend_from_slice(payload);
    out
}

fn one(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    match parse(bytes, MAX)? {
        Some((f, n)) => {
            assert_eq!(n, bytes.len());
            Ok(f)
        }
        None => panic!("incomplete"),
    }
}

fn conn_code(r: Result<Frame<'_>, FrameError>) -> ErrorCode {
    match r {
        Err(FrameError::Connection(e)) => e.code,
        other => panic!("expected a connection error, got {other:?}"),
    }
}

#[test]
fn good_frames() {
    let prio = [0x80, 0, 0, 3, 15];
    let cases: Vec<(Vec<u8>, Frame<'static>)> = vec![
        (
            raw(DATA, FLAG_END_STREAM, 1, b"abc"),
            Frame::Data {
                stream: 1,
                data: b"abc",
                end_stream: true,
                flow_len: 3,
            },
        ),
        (
            raw(DATA, FLAG_PADDED, 3, &[2, b'x', 0, 0]),
            Frame::Data {
                stream: 3,
                data: b"x",
                end_stream: false,
                flow_len: 4,
            },
        ),
        (
            raw(
                HEADERS,
                FLAG_END_HEADERS | FLAG_PRIORITY,
                1,
                &[0x80, 0, 0, 3, 15, 0x82],
            ),
            Frame::Headers {
                stream: 1,
                block: &[0x82],
                end_stream: false,
                end_headers: true,
                priority: Some(Priority {
                    exclusive: true,
                    depends_on: 3,
                    weight: 15,
                }),
            },
        ),
        (
            raw(HEADERS, FLAG_PADDED | FLAG_END_STREAM, 5, &[1, 0x82, 0]),
            Frame::Headers {
                stream: 5,
                block: &[0x82],
                end_stream: true,
                end_headers: false,
                priority: None,
            },
        ),
        (
            raw(PRIORITY, 0, 1, &prio),
            Frame::Priority {
                stream: 1,
                priority: Priority {
                    exclusive: true,
                    depends_on: 3,
                    weight: 15,
                },
            },
        ),
        (
            raw(RST_STREAM, 0, 1, &[0, 0, 0, 8]),
            Frame::RstStream {
                stream: 1,
                code: ErrorCode::Cancel,
            },
        ),
        (
            raw(SETTINGS, 0, 0, &[0, 4, 0, 0, 0xff, 0xff]),
            Frame::Settings {
                ack: false,
                params: &[0, 4, 0, 0, 0xff, 0xff],
            },
        ),
        (
            raw(SETTINGS, FLAG_ACK, 0, &[]),
            Frame::Settings {
                ack: true,
                params: &[],
            },
        ),
        (
            raw(PUSH_PROMISE, 0, 1, &[0, 0, 0, 2]),
            Frame::PushPromise { stream: 1 },
        ),
        (
            raw(PING, 0, 0, b"12345678"),
            Frame::Ping {
                ack: false,
                data: *b"12345678",
            },
        ),
        (
            raw(GOAWAY, 0, 0, &[0, 0, 0, 7, 0, 0, 0, 0, b'x']),
            Frame::GoAway {
                last_stream: 7,
                code: ErrorCode::NoError,
                debug: b"x",
            },
        ),
        (
            raw(WINDOW_UPDATE, 0, 0, &[0x80, 0, 0x10, 0]),
            Frame::WindowUpdate {
                stream: 0,
                increment: 4096,
            },
        ),
        (
            raw(CONTINUATION, FLAG_END_HEADERS, 1, &[0x84]),
            Frame::Continuation {
                stream: 1,
                block: &[0x84],
                end_headers: true,
            },
        ),
        (
            raw(0x42, 0xff, 9, b"whatever"),
            Frame::Unknown {
                kind: 0x42,
                stream: 9,
            },
        ),
    ];
    for (bytes, want) in &cases {
        assert_eq!(&one(bytes).unwrap(), want, "{bytes:02x?}");
        // Split at every offset: every proper prefix is incomplete.
        for cut in 0..bytes.len() {
            assert_eq!(
                parse(&bytes[..cut], MAX),
                Ok(None),
                "cut {cut} of {bytes:02x?}"
            );
        }
    }
}

#[test]
fn bad_lengths_and_streams() {
    use ErrorCode::*;
    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        (raw(DATA, 0, 0, b"x"), ProtocolError),
        (raw(DATA, FLAG_PADDED, 1, &[]), FrameSizeError),
        (raw(DATA, FLAG_PADDED, 1, &[3, 0, 0]), ProtocolError),
        (raw(HEADERS, 0, 0, &[0x82]), ProtocolError),
        (raw(HEADERS, FLAG_PRIORITY, 1, &[0, 0, 0]), FrameSizeError),
        (raw(HEADERS, FLAG_PADDED, 1, &[1]), ProtocolError),
        (raw(PRIORITY, 0, 0, &[0, 0, 0, 1, 1]), ProtocolError),
        (raw(RST_STREAM, 0, 1, &[0, 0, 0]), FrameSizeError),
        (raw(RST_STREAM, 0, 0, &[0, 0, 0, 0]), ProtocolError),
        (raw(SETTINGS, 0, 0, &[0, 1, 0]), FrameSizeError),
        (
            raw(SETTINGS, FLAG_ACK, 0, &[0, 1, 0, 0, 0, 0]),
            FrameSizeError,
        ),
        (raw(SETTINGS, 0, 1, &[]), ProtocolError),
        (raw(PING, 0, 0, b"1234567"), FrameSizeError),
        (raw(PING, 0, 3, b"12345678"), ProtocolError),
        (raw(GOAWAY, 0, 0, &[0, 0, 0, 0]), FrameSizeError),
        (raw(GOAWAY, 0, 1, &[0; 8]), ProtocolError),
        (raw(WINDOW_UPDATE, 0, 1, &[0, 0, 1]), FrameSizeError),
        (raw(CONTINUATION, 0, 0, &[]), ProtocolError),
        (raw(PUSH_PROMISE, 0, 0, &[0; 4]), ProtocolError),
    ];
    for (bytes, code) in cases {
        assert_eq!(conn_code(one(&bytes)), code, "{bytes:02x?}");
    }
}

#[test]
fn priority_of_wrong_length_is_a_stream_error() {
    let bytes = raw(PRIORITY, 0, 3, &[0, 0, 0, 1]);
    let err = parse(&bytes, MAX).unwrap_err();
    assert_eq!(
        err,
        FrameError::Stream {
            stream: 3,
            code: ErrorCode::FrameSizeError,
            len: 13
        }
    );
}

#[test]
fn oversized_frame_fails_on_its_header_alone() {
    let mut head = Vec::new();
    write_head(&mut head, MAX as usize + 1, DATA, 0, 1);
    assert_eq!(
        conn_code(parse(&head, MAX).map(|_| unreachable!())),
        ErrorCode::FrameSizeError
    );
    // Exactly the maximum is fine.
    let bytes = raw(DATA, 0, 1, &vec![0; MAX as usize]);
    assert!(one(&bytes).is_ok());
}

#[test]
fn reserved_bit_ignored() {
    let mut bytes = raw(DATA, 0, 1, b"");
    bytes[5] |= 0x80;
    assert_eq!(
        one(&bytes).unwrap(),
        Frame::Data {
            stream: 1,
            data: b"",
            end_stream: false,
            flow_len: 0
        }
    );
}

#[test]
fn writers_read_back() {
    let mut out = Vec::new();
    write_settings(&mut out, &[(3, 100), (4, 65535)]);
    write_settings_ack(&mut out);
    write_ping_ack(&mut out, b"abcdefgh");
    write_goaway(&mut out, 5, ErrorCode::EnhanceYourCalm);
    write_rst_stream(&mut out, 3, ErrorCode::RefusedStream);
    write_window_update(&mut out, 0, 1 << 20);
    write_data(&mut out, 1, b"hello", true);
    let mut frames = Vec::new();
    let mut rest = &out[..];
    while let Some((f, n)) = parse(rest, MAX).unwrap() {
        frames.push(f);
        rest = &rest[n..];
    }
    assert!(rest.is_empty());
    let params: Vec<_> = match &frames[0] {
        Frame::Settings { ack: false, params } => settings_params(params).collect(),
        f => panic!("{f:?}"),
    };
    assert_eq!(params, [(3, 100), (4, 65535)]);
    assert_eq!(
        frames[1],
        Frame::Settings {
            ack: true,
            params: &[]
        }
    );
    assert_eq!(
        frames[2],
        Frame::Ping {
            ack: true,
            data: *b"abcdefgh"
        }
    );
    assert_eq!(
        frames[3],
        Frame::GoAway {
            last_stream: 5,
            code: ErrorCode::EnhanceYourCalm,
            debug: &[]
        }
    );
    assert_eq!(
        frames[4],
        Frame::RstStream {
            stream: 3,
            code: ErrorCode::RefusedStream
        }
    );
    assert_eq!(
        frames[5],
        Frame::WindowUpdate {
            stream: 0,
            increment: 1 << 20
        }
    );
    assert_eq!(
        frames[6],
        Frame::Data {
            stream: 1,
            data: b"hello",
            end_stream: true,
            flow_len: 5
        }
    );
}

#[test]
fn headers_split_into_continuations() {
    let block: Vec<u8> = (0..25u8).collect();
    let mut out = Vec::new();
    write_headers(&mut out, 7, &block, true, 10);
    let mut rest = &out[..];
    let mut got = Vec::new();
    let mut kinds = Vec::new();
    while let Some((f, n)) = parse(rest, MAX).unwrap() {
        match f {
            Frame::Headers {
                block,
                end_stream,
                end_headers,
                ..
            } => {
                assert!(end_stream && !end_headers);
                kinds.push("H");
                got.extend_from_slice(block);
            }
            Frame::Continuation {
                block, end_headers, ..
            } => {
                kinds.push(if end_headers { "C!" } else { "C" });
                got.extend_from_slice(block);
            }
            f => panic!("{f:?}"),
        }
        rest = &rest[n..];
    }
    assert_eq!(kinds, ["H", "C", "C!"]);
    assert_eq!(got, block);
    // A small block is one HEADERS with END_HEADERS.
    let mut out = Vec::new();
    write_headers(&mut out, 1, &[0x88], false, 16384);
    assert_eq!(out, [0, 0, 1, HEADERS, FLAG_END_HEADERS, 0, 0, 0, 1, 0x88]);
}
