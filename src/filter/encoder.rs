//! One streaming compressor (gzip through flate2's zlib-rs backend, brotli, zstd)
//! behind a single interface: write input, take whatever compressed bytes are
//! ready, flush so everything written so far can be decoded (a streamed response
//! must not hold a script's output back), finish.

use std::io::{self, Write};

use super::negotiate::Encoding;

/// The brotli window (log2): 512 KiB, ngx_brotli's default, so one stream's memory
/// stays bounded.
const BROTLI_LGWIN: u32 = 19;
/// The zstd window (log2), the same 512 KiB.
const ZSTD_WINDOW_LOG: u32 = 19;
/// brotli's internal buffer.
const BROTLI_BUFFER: usize = 16 * 1024;

enum Inner {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

/// A compressor that collects its output in memory until it is taken.
pub struct Encoder {
    inner: Inner,
    pub encoding: Encoding,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Encoder({})", self.encoding.token())
    }
}

impl Encoder {
    /// A compressor for `encoding` at `level` (gzip 1-9, brotli 0-11, zstd 1-19).
    pub fn new(encoding: Encoding, level: u32) -> io::Result<Encoder> {
        let out = Vec::new();
        let inner = match encoding {
            Encoding::Gzip => Inner::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(level.clamp(1, 9)),
            )),
            Encoding::Brotli => Inner::Brotli(Box::new(brotli::CompressorWriter::new(
                out,
                BROTLI_BUFFER,
                level.min(11),
                BROTLI_LGWIN,
            ))),
            Encoding::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(out, level.clamp(1, 19) as i32)?;
                // High levels default to windows of 8 MiB and more per stream.
                e.window_log(ZSTD_WINDOW_LOG)?;
                Inner::Zstd(e)
            }
        };
        Ok(Encoder { inner, encoding })
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.inner {
            Inner::Gzip(e) => e.write_all(data),
            Inner::Brotli(e) => e.write_all(data),
            Inner::Zstd(e) => e.write_all(data),
        }
    }

    /// Makes everything written so far decodable by the client (a sync flush).
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Gzip(e) => e.flush(),
            Inner::Brotli(e) => e.flush(),
            Inner::Zstd(e) => e.flush(),
        }
    }

    /// The compressed bytes produced so far, appended to `out`.
    pub fn take_into(&mut self, out: &mut Vec<u8>) {
        let buf = match &mut self.inner {
            Inner::Gzip(e) => e.get_mut(),
            Inner::Brotli(e) => e.get_mut(),
            Inner::Zstd(e) => e.get_mut(),
        };
        if out.is_empty() {
            std::mem::swap(out, buf);
        } else {
            out.append(buf);
        }
    }

    /// Ends the stream; the rest of the output is appended to `out`.
    pub fn finish_into(self, out: &mut Vec<u8>) -> io::Result<()> {
        let mut rest = match self.inner {
            Inner::Gzip(e) => e.finish()?,
            Inner::Brotli(e) => e.into_inner(),
            Inner::Zstd(e) => e.finish()?,
        };
        out.append(&mut rest);
        Ok(())
    }
}

/// Compresses `data` whole.
pub fn compress(encoding: Encoding, level: u32, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut e = Encoder::new(encoding, level)?;
    e.write(data)?;
    let mut out = Vec::with_capacity(data.len() / 3 + 64);
    e.take_into(&mut out);
    e.finish_into(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn decode(encoding: Encoding, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match encoding {
            Encoding::Gzip => {
                flate2::read::GzDecoder::new(data)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Brotli => {
                brotli::Decompressor::new(data, 4096)
                    .read_to_end(&mut out)
                    .unwrap();
            }
            Encoding::Zstd => {
                out = zstd::stream::decode_all(data).unwrap();
            }
        }
        out
    }

    fn sample() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| format!("<li>item {} of {}</li>\n", i % 97, i).into_bytes())
            .collect()
    }

    #[test]
    fn round_trips_whole_and_streamed() {
        let data = sample();
        for enc in Encoding::PREFERENCE {
            let whole = compress(enc, 6, &data).unwrap();
            assert!(whole.len() < data.len() / 4, "{enc:?} compresses");
            assert_eq!(decode(enc, &whole), data, "{enc:?} whole");
            let mut e = Encoder::new(enc, 3).unwrap();
            let mut out = Vec::new();
            for piece in data.chunks(7_001) {
                e.write(piece).unwrap();
                e.take_into(&mut out);
            }
            e.finish_into(&mut out).unwrap();
            assert_eq!(decode(enc, &out), data, "{enc:?} streamed");
        }
    }

    /// After a flush, what was written so far decodes without the end of stream.
    #[test]
    fn flush_makes_the_prefix_decodable() {
        for enc in Encoding::PREFERENCE {
            let mut e = Encoder::new(enc, 6).unwrap();
            e.write(b"first line\n").unwrap();
            e.flush().unwrap();
            let mut out = Vec::new();
            e.take_into(&mut out);
            assert!(!out.is_empty(), "{enc:?} produced bytes at the flush");
            let mut got = Vec::new();
            let _ = match enc {
                Encoding::Gzip => flate2::read::GzDecoder::new(&out[..]).read_to_end(&mut got),
                Encoding::Brotli => brotli::Decompressor::new(&out[..], 64).read_to_end(&mut got),
                Encoding::Zstd => zstd::stream::read::Decoder::new(&out[..])
                    .unwrap()
                    .read_to_end(&mut got),
            };
            assert!(got.starts_with(b"first line\n"), "{enc:?}: {got:?}");
        }
    }

    /// zstd at level 19 keeps to the 512 KiB window (and stays decodable).
    #[test]
    fn zstd_window_is_bounded() {
        let data = sample();
        let out = compress(Encoding::Zstd, 19, &data).unwrap();
        let mut d = zstd::stream::read::Decoder::new(&out[..]).unwrap();
        d.window_log_max(ZSTD_WINDOW_LOG).unwrap();
        let mut got = Vec::new();
        d.read_to_end(&mut got).unwrap();
        assert_eq!(got, data);
    }

    #[test]
    fn empty_input_is_a_valid_stream() {
        for enc in Encoding::PREFERENCE {
            assert_eq!(decode(enc, &compress(enc, 1, b"").unwrap()), b"");
        }
    }
}
