//! Uploads and DELETE through the real binary over raw sockets: each test starts
//! `webserv` on a free 127.0.0.1 port with a configuration in a temporary directory,
//! sends requests byte for byte, and checks the responses and the files on disk.

use std::fs;
use std::io::Write;
use std::thread::sleep;
use std::time::Duration;

use fixture::Server;

/// A small private harness: the server process and a raw HTTP/1.1 connection.
mod fixture {
    use std::fs;
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    const IO_TIMEOUT: Duration = Duration::from_secs(5);
    const STARTUP: Duration = Duration::from_secs(10);

    /// Layout of the temporary directory (the server's prefix):
    /// `webserv.conf`, `webserv.log`, `secret.txt` (must survive every request),
    /// `store/` (upload_store and alias of `/up/` and `/ro/`), `www/` (root).
    pub struct Server {
        child: Child,
        pub port: u16,
        pub dir: tempfile::TempDir,
    }

    const CONF: &str = "
client_body_timeout 5s;
server {
    listen 127.0.0.1:PORT;
    root www;
    location / {
        allow_methods GET DELETE;
    }
    location /up/ {
        alias store/;
        upload_store store;
        autoindex on;
        allow_methods GET POST PUT DELETE;
        client_max_body_size LIMIT;
    }
    location /ro/ {
        alias store/;
        upload_store store;
        allow_methods GET PUT;
    }
}
";

    fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().expect("local addr").port()
    }

    impl Server {
        /// Starts webserv with `client_max_body_size LIMIT` on `/up/`.
        pub fn start(limit: &str) -> Server {
            let dir = tempfile::tempdir().expect("tempdir");
            let p = |rel: &str| dir.path().join(rel);
            fs::create_dir_all(p("store")).expect("mkdir store");
            fs::create_dir_all(p("www")).expect("mkdir www");
            fs::write(p("secret.txt"), b"secret").expect("write secret");
            // A port can be taken between choosing and binding it: try a few.
            for _ in 0..5 {
                let port = free_port();
                let conf = CONF.replace("PORT", &port.to_string());
                fs::write(p("webserv.conf"), conf.replace("LIMIT", limit)).expect("config");
                let log = fs::File::create(p("webserv.log")).expect("log");
                let mut child = Command::new(env!("CARGO_BIN_EXE_webserv"))
                    .args([Path::new("-p"), dir.path(), &p("webserv.conf")])
                    .current_dir(dir.path())
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().expect("log"))
                    .stderr(log)
                    .spawn()
                    .expect("spawn webserv");
                let deadline = Instant::now() + STARTUP;
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                        return Server { child, port, dir };
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            panic!(
                "webserv did not start: {:?}",
                fs::read_to_string(p("webserv.log"))
            );
        }

        pub fn path(&self, rel: &str) -> PathBuf {
            self.dir.path().join(rel)
        }

        pub fn store(&self) -> PathBuf {
            self.path("store")
        }

        /// Sorted names in the store, temporary files included.
        pub fn store_names(&self) -> Vec<String> {
            names(&self.store())
        }

        pub fn connect(&self) -> Conn {
            let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
            stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
            stream.set_write_timeout(Some(IO_TIMEOUT)).expect("timeout");
            stream.set_nodelay(true).expect("nodelay");
            Conn {
                stream,
                buf: Vec::new(),
            }
        }

        /// One request on a fresh connection.
        pub fn request(&self, data: &[u8]) -> Response {
            let mut c = self.connect();
            c.send(data);
            c.response()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[derive(Debug)]
    pub struct Response {
        pub status: u16,
        pub head: String,
        pub body: Vec<u8>,
    }

    impl Response {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.head.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim())
            })
        }
    }

    pub struct Conn {
        pub stream: TcpStream,
        buf: Vec<u8>,
    }

    impl Conn {
        pub fn send(&mut self, data: &[u8]) {
            self.stream.write_all(data).expect("send");
        }

        /// Reads more input; false at EOF or reset.
        fn fill(&mut self) -> bool {
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    true
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
                Err(e) => panic!("read: {e}"),
            }
        }

        fn take_until(&mut self, pat: &[u8]) -> Vec<u8> {
            loop {
                if let Some(i) = self.buf.windows(pat.len()).position(|w| w == pat) {
                    let out = self.buf[..i].to_vec();
                    self.buf.drain(..i + pat.len());
                    return out;
                }
                assert!(self.buf.len() < 1 << 20, "runaway response");
                assert!(
                    self.fill(),
                    "closed early: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
        }

        fn take(&mut self, n: usize) -> Vec<u8> {
            while self.buf.len() < n {
                assert!(self.fill(), "closed with {} of {n} bytes", self.buf.len());
            }
            self.buf.drain(..n).collect()
        }

        /// The next response, interim (1xx) ones included.
        pub fn any_response(&mut self) -> Response {
            let head = String::from_utf8(self.take_until(b"\r\n\r\n")).expect("utf-8 head");
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .expect("status line");
            let mut resp = Response {
                status,
                head,
                body: Vec::new(),
            };
            if status < 200 || status == 204 || status == 304 {
                return resp;
            }
            // Responses here are never chunked: a length, or until the close.
            if let Some(len) = resp.header("content-length") {
                let len = len.parse().expect("content-length");
                resp.body = self.take(len);
            } else {
                while self.fill() {}
                resp.body = std::mem::take(&mut self.buf);
            }
            resp
        }

        /// The next final response (1xx skipped).
        pub fn response(&mut self) -> Response {
            loop {
                let r = self.any_response();
                if r.status >= 200 {
                    return r;
                }
            }
        }
    }
}

fn req(method: &str, path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n").into_bytes();
    out.extend_from_slice(body);
    out
}

fn put(path: &str, body: &[u8]) -> Vec<u8> {
    req(
        "PUT",
        path,
        &format!("Content-Length: {}\r\n", body.len()),
        body,
    )
}

/// `n` bytes that are not a short repeating pattern.
fn data(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn multipart(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, bytes) in parts {
        write!(
            out,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .unwrap();
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    write!(
        out,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nplain\r\n--{boundary}--\r\n"
    )
    .unwrap();
    out
}

fn multipart_head(boundary: &str, len: usize) -> Vec<u8> {
    req(
        "POST",
        "/up/",
        &format!(
            "Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len}\r\n"
        ),
        b"",
    )
}

/// Polls until the store holds exactly `want` (bounded).
fn store_becomes(server: &Server, want: &[&str]) -> Vec<String> {
    for _ in 0..100 {
        let names = server.store_names();
        if names == want {
            return names;
        }
        sleep(Duration::from_millis(50));
    }
    server.store_names()
}

#[test]
fn put_creates_then_replaces_byte_exact() {
    let s = Server::start("1m");
    let first = data(100_000, 1);
    let r = s.request(&put("/up/a.bin", &first));
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.header("location").unwrap().ends_with("/up/a.bin"));
    assert_eq!(fs::read(s.store().join("a.bin")).unwrap(), first);

    let second = data(5000, 2);
    let r = s.request(&put("/up/a.bin", &second));
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(fs::read(s.store().join("a.bin")).unwrap(), second);
    assert_eq!(s.store_names(), ["a.bin"]);

    let r = s.request(&req("GET", "/up/a.bin", "", b""));
    assert_eq!((r.status, r.body), (200, second));
}

#[test]
fn multipart_stores_each_file_byte_exact() {
    let s = Server::start("1m");
    let (one, two) = (data(70_000, 3), b"\r\n--bnd not a delimiter\r\n".to_vec());
    let body = multipart("bnd", &[("one.bin", &one), ("../two.txt", &two)]);
    let mut c = s.connect();
    c.send(&multipart_head("bnd", body.len()));
    for piece in body.chunks(4093) {
        c.send(piece);
    }
    let r = c.response();
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.header("location").is_none(), "two files, no Location");
    assert_eq!(fs::read(s.store().join("one.bin")).unwrap(), one);
    assert_eq!(fs::read(s.store().join("two.txt")).unwrap(), two);
    assert_eq!(s.store_names(), ["one.bin", "two.txt"]);
    assert!(!s.path("two.txt").exists(), "nothing outside the store");
}

#[test]
fn multipart_single_file_gets_location_and_clash_suffix() {
    let s = Server::start("1m");
    fs::write(s.store().join("n.txt"), b"original").unwrap();
    let body = multipart("q", &[("n.txt", b"new")]);
    let mut out = multipart_head("q", body.len());
    out.extend_from_slice(&body);
    let r = s.request(&out);
    assert_eq!(r.status, 201);
    assert!(r.header("location").unwrap().ends_with("/up/n-1.txt"));
    assert_eq!(fs::read(s.store().join("n.txt")).unwrap(), b"original");
    assert_eq!(fs::read(s.store().join("n-1.txt")).unwrap(), b"new");
}

#[test]
fn chunked_upload_with_extensions_and_trailers() {
    let s = Server::start("1m");
    let content = data(30_000, 4);
    let mut body = Vec::new();
    for (i, piece) in content.chunks(7000).enumerate() {
        write!(body, "{:x};n={i};flag\r\n", piece.len()).unwrap();
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0;end=yes\r\nX-Trailer: 1\r\n\r\n");
    let mut c = s.connect();
    c.send(&req(
        "PUT",
        "/up/c.bin",
        "Transfer-Encoding: chunked\r\n",
        &body,
    ));
    assert_eq!(c.response().status, 201);
    // The same connection goes on: the trailers were consumed exactly.
    c.send(&req("GET", "/up/c.bin", "", b""));
    let r = c.response();
    assert_eq!((r.status, r.body.len()), (200, content.len()));
    assert_eq!(fs::read(s.store().join("c.bin")).unwrap(), content);
}

#[test]
fn too_large_by_content_length_is_413_before_the_body() {
    let s = Server::start("1k");
    // No body is sent: the answer comes from the head alone.
    let r = s.request(&req("PUT", "/up/big", "Content-Length: 1025\r\n", b""));
    assert_eq!(r.status, 413);
    let mut c = s.connect();
    c.send(&req(
        "PUT",
        "/up/big",
        "Content-Length: 5000\r\nExpect: 100-continue\r\n",
        b"",
    ));
    assert_eq!(c.any_response().status, 413, "no 100 Continue first");
    let r = s.request(&put("/up/exact", &data(1024, 5)));
    assert_eq!(r.status, 201, "exactly the limit is accepted");
    assert_eq!(s.store_names(), ["exact"]);
}

#[test]
fn too_large_by_chunked_total_is_413() {
    let s = Server::start("1k");
    let mut body = Vec::new();
    for _ in 0..3 {
        body.extend_from_slice(b"200\r\n");
        body.extend_from_slice(&[b'z'; 0x200]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let mut c = s.connect();
    c.send(&req(
        "PUT",
        "/up/chunky",
        "Transfer-Encoding: chunked\r\n",
        &body,
    ));
    assert_eq!(c.response().status, 413);
    assert_eq!(store_becomes(&s, &[]), Vec::<String>::new());
}

#[test]
fn interrupted_uploads_leave_nothing() {
    let s = Server::start("1m");
    let content = data(200_000, 6);

    let mut c = s.connect();
    c.send(&req(
        "PUT",
        "/up/cut.bin",
        &format!("Content-Length: {}\r\n", content.len()),
        &content[..100_000],
    ));
    sleep(Duration::from_millis(300));
    drop(c);

    let body = multipart("cut", &[("whole.txt", b"complete"), ("cut.bin", &content)]);
    let mut c = s.connect();
    c.send(&multipart_head("cut", body.len()));
    c.send(&body[..150_000]);
    sleep(Duration::from_millis(300));
    drop(c);

    let mut c = s.connect();
    c.send(&req(
        "PUT",
        "/up/cut2.bin",
        "Transfer-Encoding: chunked\r\n",
        b"10000\r\n",
    ));
    c.send(&content[..30_000]);
    sleep(Duration::from_millis(300));
    drop(c);

    assert_eq!(store_becomes(&s, &[]), Vec::<String>::new());
    assert_eq!(
        fixture::names(s.dir.path()),
        ["secret.txt", "store", "webserv.conf", "webserv.log", "www"]
    );
    // Still serving.
    assert_eq!(s.request(&put("/up/after", b"ok")).status, 201);
}

#[test]
fn put_into_missing_subdirectory_or_onto_the_directory_is_409() {
    let s = Server::start("1m");
    assert_eq!(s.request(&put("/up/nodir/f", b"x")).status, 409);
    assert_eq!(s.request(&put("/up/", b"x")).status, 409);
    assert_eq!(s.store_names(), Vec::<String>::new());
}

#[test]
fn delete_statuses() {
    let s = Server::start("1m");
    let store = s.store();
    fs::write(store.join("f.txt"), b"f").unwrap();
    fs::create_dir(store.join("dir")).unwrap();

    let del = |path: &str| s.request(&req("DELETE", path, "", b""));
    let r = del("/up/f.txt");
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert!(!store.join("f.txt").exists());
    assert_eq!(del("/up/f.txt").status, 404);
    assert_eq!(del("/up/dir").status, 409);
    assert!(store.join("dir").is_dir());

    fs::write(store.join("keep.txt"), b"k").unwrap();
    let r = del("/ro/keep.txt");
    assert_eq!(r.status, 405);
    let allow = r.header("allow").unwrap();
    assert!(
        allow.contains("PUT") && !allow.contains("DELETE"),
        "{allow}"
    );
    assert!(store.join("keep.txt").exists());

    for path in [
        "/up/../secret.txt",
        "/up/%2e%2e/secret.txt",
        "/up/%2e%2e%2fsecret.txt",
        "/up/..%2f..%2fsecret.txt",
    ] {
        let status = del(path).status;
        assert!([400, 403, 404].contains(&status), "{path}: {status}");
    }
    assert_eq!(fs::read(s.path("secret.txt")).unwrap(), b"secret");
}

#[test]
fn post_to_a_location_without_a_store_is_405() {
    let s = Server::start("1m");
    let r = s.request(&req("POST", "/x.txt", "Content-Length: 2\r\n", b"hi"));
    assert_eq!(r.status, 405);
    assert!(r.header("allow").unwrap().contains("DELETE"));
    assert!(!s.path("www/x.txt").exists());
}
