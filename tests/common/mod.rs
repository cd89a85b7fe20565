//! Shared fixture for the integration tests: a `TestServer` that runs the real
//! `webserv` binary on a free 127.0.0.1 port inside a temporary directory. The raw
//! HTTP/1.1 client (every socket operation with a timeout) is in `client.rs`.
//!
//! Layout of a fixture's temporary directory:
//!
//! ```text
//! DIR/webserv.conf   the configuration ({port}, {root}, {dir} substituted)
//! DIR/webserv.log    the server's stdout and stderr
//! DIR/www/           {root}: the document root the tests fill
//! ```
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

mod client;
pub use client::*;

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for the server to accept connections after spawning it.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Time between SIGTERM and SIGKILL when a fixture is dropped.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// Timeout of every single socket read or write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

// ---- the server --------------------------------------------------------------

/// A temporary directory with a document root, before the server starts.
pub struct Fixture {
    dir: tempfile::TempDir,
    port: u16,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// A fresh temporary directory with an empty `www/` and a free port reserved.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("create temp dir");
        fs::create_dir(dir.path().join("www")).expect("create www");
        Fixture {
            dir,
            port: free_port(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temporary directory (`{dir}` in configurations).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The document root (`{root}` in configurations).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    /// Writes `data` to `rel` under the temp dir, creating parent directories.
    pub fn file(&self, rel: &str, data: impl AsRef<[u8]>) -> PathBuf {
        write_file(&self.dir.path().join(rel), data.as_ref())
    }

    /// Creates `rel` as a symlink pointing at `target` (used as given).
    pub fn symlink(&self, rel: &str, target: impl AsRef<Path>) {
        let link = self.dir.path().join(rel);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        std::os::unix::fs::symlink(target, link).expect("symlink");
    }

    /// Creates the directory `rel` (and its parents) under the temp dir.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let path = self.dir.path().join(rel);
        fs::create_dir_all(&path).expect("mkdir");
        path
    }

    /// `config` with `{port}`, `{root}` and `{dir}` replaced.
    pub fn render(&self, config: &str) -> String {
        config
            .replace("{port}", &self.port.to_string())
            .replace("{root}", &self.root().display().to_string())
            .replace("{dir}", &self.dir().display().to_string())
    }

    /// Writes the configuration and spawns webserv on it, without waiting.
    pub fn spawn(&self, config: &str) -> Child {
        let conf = self.conf_path();
        fs::write(&conf, self.render(config)).expect("write config");
        let log = fs::File::create(self.log_path()).expect("create log");
        let log2 = log.try_clone().expect("clone log");
        Command::new(env!("CARGO_BIN_EXE_webserv"))
            .arg("-p")
            .arg(self.dir())
            .arg(&conf)
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .expect("spawn webserv")
    }

    /// Spawns webserv on `config` and waits until its port accepts connections.
    pub fn start(self, config: &str) -> TestServer {
        let child = self.spawn(config);
        let mut server = TestServer {
            fixture: self,
            child: Some(child),
        };
        server.wait_until_up();
        server
    }

    pub fn conf_path(&self) -> PathBuf {
        self.dir.path().join("webserv.conf")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("webserv.log")
    }

    /// Everything the server printed so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// A running webserv; SIGTERM (then SIGKILL) when dropped.
pub struct TestServer {
    fixture: Fixture,
    child: Option<Child>,
}

impl std::ops::Deref for TestServer {
    type Target = Fixture;

    fn deref(&self) -> &Fixture {
        &self.fixture
    }
}

impl TestServer {
    /// Starts a server on `config` with an empty document root.
    pub fn start(config: &str) -> TestServer {
        Fixture::new().start(config)
    }

    fn wait_until_up(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child_mut().try_wait().expect("try_wait") {
                panic!("webserv exited with {status} at startup:\n{}", self.log());
            }
            if port_accepts(self.port()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "webserv did not accept on port {} in time:\n{}",
                self.port(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("server already stopped")
    }

    /// Sends `signal` to the server process.
    pub fn signal(&mut self, signal: i32) {
        let pid = self.child_mut().id() as libc::pid_t;
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal})");
    }

    /// Waits up to `limit` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        wait_child(self.child_mut(), limit)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            // SAFETY: kill(2) on the pid of our own child, not yet reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            if wait_child(&mut child, STOP_GRACE).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Polls `child` until it exits or `limit` passes.
pub fn wait_child(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `data` to `path`, creating parent directories.
pub fn write_file(path: &Path, data: &[u8]) -> PathBuf {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, data).expect("write file");
    path.to_path_buf()
}

/// `len` bytes of a pattern that does not repeat with any small period, so that a
/// shifted, duplicated or dropped block is detected.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            // xorshift32
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind port 0");
    l.local_addr().expect("local_addr").port()
}

fn port_accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// A minimal configuration: one server on {port} with root {root}, plus `extra`
/// directives inside the server block.
pub fn simple_conf(extra: &str) -> String {
    format!(
        "error_log stderr warn;\nserver {{\n    listen 127.0.0.1:{{port}};\n    \
         root {{root}};\n{extra}\n}}\n"
    )
}
