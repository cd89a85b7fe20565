//! CGI/1.1 through the real binary over raw sockets: a server on a free 127.0.0.1
//! port with shell scripts in a temporary site, responses parsed by hand (chunked
//! framing included), and the server killed when the test ends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A running webserv with a temporary site; killed on drop.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    /// Writes `scripts` (executable) under cgi-bin/ and `files` under the root, then
    /// starts webserv with `.sh` scripts run through /bin/sh.
    fn start(scripts: &[(&str, &str)], files: &[(&str, &str)], cgi_timeout: &str) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("site");
        for (name, text) in scripts {
            write(&root.join("cgi-bin").join(name), text, 0o755);
        }
        for (name, text) in files {
            write(&root.join(name), text, 0o644);
        }
        let port = free_port();
        let config = format!(
            "error_log stderr;\n\
             server {{\n\
                 listen 127.0.0.1:{port};\n\
                 server_name localhost;\n\
                 root {root};\n\
                 location /cgi-bin/ {{\n\
                     cgi .sh /bin/sh;\n\
                     cgi_timeout {cgi_timeout};\n\
                     allow_methods GET POST;\n\
                     client_max_body_size 0;\n\
                 }}\n\
             }}\n",
            root = root.display()
        );
        let conf = dir.path().join("webserv.conf");
        std::fs::write(&conf, config).expect("write config");
        let child = Command::new(env!("CARGO_BIN_EXE_webserv"))
            .arg("-p")
            .arg(dir.path())
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn webserv");
        let mut server = Server { child, port, dir };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("webserv exited early: {status}");
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("webserv did not listen on {} in time", self.port);
    }

    fn connect(&self) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// One request on a fresh connection.
    fn request(&self, req: &[u8]) -> Resp {
        let mut conn = self.connect();
        conn.send(req);
        conn.response()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connection with a read buffer, so several responses can be read.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn send(&mut self, data: &[u8]) {
        self.stream.write_all(data).expect("send");
    }

    /// Reads more into the buffer; false at EOF.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk).expect("read (timeout?)");
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    fn take_until(&mut self, delim: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.windows(delim.len()).position(|w| w == delim) {
                let out = self.buf[..i].to_vec();
                self.buf.drain(..i + delim.len());
                return out;
            }
            assert!(self.buf.len() < 1 << 20, "no delimiter in 1 MiB");
            assert!(self.fill(), "connection closed before {delim:?}");
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(
                self.fill(),
                "connection closed with {} of {n}",
                self.buf.len()
            );
        }
        self.buf.drain(..n).collect()
    }

    /// One response (1xx skipped), framed by Content-Length, chunked, or EOF.
    fn response(&mut self) -> Resp {
        let (status, headers) = loop {
            let head = String::from_utf8(self.take_until(b"\r\n\r\n")).expect("utf-8 head");
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap();
            let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
            let headers: Vec<(String, String)> = lines
                .map(|l| {
                    let (n, v) = l.split_once(':').expect("header line");
                    (n.to_owned(), v.trim().to_owned())
                })
                .collect();
            if status >= 200 {
                break (status, headers);
            }
        };
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if resp.header("Transfer-Encoding") == Some("chunked") {
            assert!(resp.header("Content-Length").is_none());
            loop {
                let line = String::from_utf8(self.take_until(b"\r\n")).unwrap();
                let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
                    .expect("chunk size");
                if size == 0 {
                    while !self.take_until(b"\r\n").is_empty() {}
                    break;
                }
                resp.body.extend(self.take(size));
                assert_eq!(self.take(2), b"\r\n", "chunk not followed by CRLF");
            }
        } else if let Some(len) = resp.header("Content-Length") {
            resp.body = self.take(len.parse().unwrap());
        } else {
            while self.fill() {}
            resp.body = std::mem::take(&mut self.buf);
        }
        resp
    }
}

const HELLO: &str = "printf 'Content-Type: text/plain\\r\\n\\r\\n'\nprintf 'hello from cgi\\n'\n";

#[test]
fn hello_is_relayed_chunked() {
    let server = Server::start(&[("hello.sh", HELLO)], &[], "10s");
    let resp = server.request(&get("/cgi-bin/hello.sh"));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Content-Type"), Some("text/plain"));
    assert_eq!(resp.header("Transfer-Encoding"), Some("chunked"));
    assert!(resp.header("Date").is_some());
    assert_eq!(resp.text(), "hello from cgi\n");
}

#[test]
fn environment_variables() {
    let vars = [
        "GATEWAY_INTERFACE",
        "REQUEST_METHOD",
        "QUERY_STRING",
        "SCRIPT_NAME",
        "PATH_INFO",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "HTTP_X_CUSTOM",
    ];
    let mut script = String::from("printf 'Content-Type: text/plain\\r\\n\\r\\n'\n");
    for v in vars {
        script += &format!("printf '%s\\n' \"{v}=${v}\"\n");
    }
    script += "printf 'cwd=%s\\n' \"$(pwd)\"\n";
    let server = Server::start(&[("env.sh", &script)], &[], "10s");
    let req = format!(
        "GET /cgi-bin/env.sh/a/b?x=1&y=2 HTTP/1.1\r\nHost: localhost:{}\r\nX-Custom: yes\r\n\r\n",
        server.port
    );
    let text = server.request(req.as_bytes()).text();
    let cgi_bin = server.dir.path().join("site").join("cgi-bin");
    let want = [
        "GATEWAY_INTERFACE=CGI/1.1".to_owned(),
        "REQUEST_METHOD=GET".to_owned(),
        "QUERY_STRING=x=1&y=2".to_owned(),
        "SCRIPT_NAME=/cgi-bin/env.sh".to_owned(),
        "PATH_INFO=/a/b".to_owned(),
        "SERVER_NAME=localhost".to_owned(),
        format!("SERVER_PORT={}", server.port),
        "SERVER_PROTOCOL=HTTP/1.1".to_owned(),
        "REMOTE_ADDR=127.0.0.1".to_owned(),
        "HTTP_X_CUSTOM=yes".to_owned(),
        format!("cwd={}", cgi_bin.display()),
    ];
    for line in want {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing in:\n{text}"
        );
    }
}

#[test]
fn post_body_is_echoed() {
    let echo = "printf 'Content-Type: application/octet-stream\\r\\n'\n\
                printf 'X-Length: %s\\r\\n\\r\\n' \"$CONTENT_LENGTH\"\n\
                cat\n";
    let server = Server::start(&[("echo.sh", echo)], &[], "10s");
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut req = format!(
        "POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let resp = server.request(&req);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("X-Length"), Some("300000"));
    assert!(resp.body == body, "echoed body differs");

    // The same body chunked: the script sees the decoded length.
    let mut conn = server.connect();
    conn.send(
        b"POST /cgi-bin/echo.sh HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    for part in body.chunks(70_000) {
        conn.send(format!("{:x}\r\n", part.len()).as_bytes());
        conn.send(part);
        conn.send(b"\r\n");
    }
    conn.send(b"0\r\n\r\n");
    let resp = conn.response();
    assert_eq!(resp.header("X-Length"), Some("300000"));
    assert!(resp.body == body, "echoed chunked body differs");
}

#[test]
fn invalid_output_is_502() {
    let scripts = [
        ("garbage.sh", "echo 'not a header'\necho\necho body\n"),
        ("silent.sh", "exit 0\n"),
        ("crash.sh", "kill -SEGV $$\n"),
    ];
    let server = Server::start(&scripts, &[], "10s");
    for (name, _) in scripts {
        let resp = server.request(&get(&format!("/cgi-bin/{name}")));
        assert_eq!(resp.status, 502, "{name}");
    }
}

#[test]
fn slow_script_is_504_after_cgi_timeout() {
    let server = Server::start(&[("slow.sh", "sleep 30\n")], &[], "1s");
    let start = Instant::now();
    let resp = server.request(&get("/cgi-bin/slow.sh"));
    let elapsed = start.elapsed();
    assert_eq!(resp.status, 504);
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[test]
fn local_location_is_an_internal_redirect() {
    let server = Server::start(
        &[(
            "go.sh",
            "printf 'Location: /static/target.txt\\r\\n\\r\\n'\n",
        )],
        &[("static/target.txt", "the target\n")],
        "10s",
    );
    let resp = server.request(&get("/cgi-bin/go.sh"));
    assert_eq!(resp.status, 200);
    assert!(resp.header("Location").is_none());
    assert_eq!(resp.text(), "the target\n");
}

#[test]
fn keep_alive_after_a_chunked_cgi_response() {
    let server = Server::start(&[("hello.sh", HELLO)], &[("a.txt", "static\n")], "10s");
    let mut conn = server.connect();
    conn.send(&get("/cgi-bin/hello.sh"));
    let first = conn.response();
    assert_eq!(first.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(first.text(), "hello from cgi\n");
    conn.send(&get("/a.txt"));
    assert_eq!(conn.response().text(), "static\n");
    conn.send(&get("/cgi-bin/hello.sh"));
    assert_eq!(conn.response().text(), "hello from cgi\n");
}
