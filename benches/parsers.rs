//! Micro-benchmarks of the hot parsers: a browser-like request head, a chunked
//! body, a multipart body, and loading the demo configuration.
//! Run with `cargo bench --bench parsers`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

use webserv::http::chunked::{ChunkedDecoder, Decoded};
use webserv::http::multipart::{Event, MultipartParser};
use webserv::http::request::parse_head;

const HEAD: &[u8] = b"GET /images/logo.svg?v=3 HTTP/1.1\r\n\
Host: localhost:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36\r\n\
Accept: image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Referer: http://localhost:8080/\r\n\
Connection: keep-alive\r\n\r\n";

fn request_head(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_head");
    g.throughput(Throughput::Bytes(HEAD.len() as u64));
    g.bench_function("browser_get", |b| {
        b.iter(|| {
            parse_head(black_box(HEAD), 8192).map(|r| r.map(|(req, n)| (req.headers.len(), n)))
        })
    });
    g.finish();
}

fn chunked_body() -> Vec<u8> {
    let mut body = Vec::new();
    for _ in 0..256 {
        body.extend_from_slice(b"1000\r\n");
        body.extend(std::iter::repeat_n(b'x', 4096));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

fn chunked(c: &mut Criterion) {
    let body = chunked_body();
    let mut g = c.benchmark_group("chunked");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("1MiB_in_4KiB_chunks", |b| {
        b.iter(|| {
            let (mut dec, mut at, mut total) = (ChunkedDecoder::new(), 0, 0);
            while let Ok((n, out)) = dec.decode(&body[at..]) {
                at += n;
                match out {
                    Decoded::Data(r) => total += r.len(),
                    _ => break,
                }
            }
            black_box(total)
        })
    });
    g.finish();
}

fn multipart(c: &mut Criterion) {
    let mut body =
        b"--BOUNDARYxyz\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n"
            .to_vec();
    body.extend(std::iter::repeat_n(b'a', 1 << 20));
    body.extend_from_slice(b"\r\n--BOUNDARYxyz--\r\n");
    let mut g = c.benchmark_group("multipart");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("1MiB_file_part", |b| {
        b.iter(|| {
            let (mut p, mut at, mut total) = (MultipartParser::new("BOUNDARYxyz"), 0, 0);
            while let Ok((n, ev)) = p.next(&body[at..]) {
                at += n;
                match ev {
                    Event::Data(d) => total += d.len(),
                    Event::End => break,
                    Event::NeedMore if n == 0 => break,
                    _ => {}
                }
            }
            black_box(total)
        })
    });
    g.finish();
}

fn config(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    c.bench_function("config/load_default_conf", |b| {
        b.iter(|| {
            webserv::config::load(black_box(&root.join("conf/default.conf")), root)
                .map(|c| c.servers.len())
        })
    });
}

criterion_group!(benches, request_head, chunked, multipart, config);
criterion_main!(benches);
