//! `http::chunked::ChunkedDecoder` fed arbitrary bytes in two reads split at a
//! fuzzer-chosen point, compared with the same bytes in one read.
//!
//! The driver is the one `http::body` uses: consume what the decoder takes, keep the
//! rest for the next read. Properties: no panic; the decoder always makes progress
//! (no endless zero-length loop); both feedings give the same body bytes and the same
//! outcome; `total()` counts exactly the body bytes handed out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webserv::http::chunked::{ChunkError, ChunkedDecoder, Decoded};

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Done, with this many input bytes left over (the next request).
    Done(usize),
    NeedMore,
    Error(ChunkError),
}

fn run(pieces: &[&[u8]]) -> (Vec<u8>, Outcome, u64) {
    let mut dec = ChunkedDecoder::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut body = Vec::new();
    let total_len: usize = pieces.iter().map(|p| p.len()).sum();
    let mut steps = 0usize;
    for (i, piece) in pieces.iter().enumerate() {
        pending.extend_from_slice(piece);
        let last = i + 1 == pieces.len();
        loop {
            steps += 1;
            assert!(steps <= 4 * total_len + 16, "decoder makes no progress");
            match dec.decode(&pending) {
                Err(e) => return (body, Outcome::Error(e), dec.total()),
                Ok((n, Decoded::Data(r))) => {
                    assert!(r.end <= n && r.start < r.end, "bad range {r:?} for {n}");
                    body.extend_from_slice(&pending[r]);
                    pending.drain(..n);
                }
                Ok((n, Decoded::NeedMore)) => {
                    pending.drain(..n);
                    break;
                }
                Ok((n, Decoded::Done)) => {
                    pending.drain(..n);
                    assert!(dec.is_done());
                    let rest: usize = pieces[i + 1..].iter().map(|p| p.len()).sum();
                    return (body, Outcome::Done(pending.len() + rest), dec.total());
                }
            }
        }
        if last {
            return (body, Outcome::NeedMore, dec.total());
        }
    }
    (body, Outcome::NeedMore, dec.total())
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, input)) = data.split_first() else {
        return;
    };
    let cut = usize::from(split) * input.len() / 256;
    let (whole, whole_out, whole_total) = run(&[input]);
    assert_eq!(whole_total, whole.len() as u64);
    let (parts, parts_out, parts_total) = run(&[&input[..cut], &input[cut..]]);
    assert_eq!(parts_total, parts.len() as u64);
    assert_eq!(whole_out, parts_out, "outcome differs when split at {cut}");
    assert_eq!(whole, parts, "body differs when split at {cut}");
    // One byte at a time, for short inputs (the spec: split anywhere).
    if input.len() <= 256 {
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        let (single, single_out, _) = run(&bytes);
        assert_eq!(whole_out, single_out, "outcome differs byte by byte");
        assert_eq!(whole, single, "body differs byte by byte");
    }
});
