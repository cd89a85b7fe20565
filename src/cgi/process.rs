//! A running CGI script: spawned with three pipes made non-blocking and registered
//! in the worker's Poll under the connection's token family, so stdin, stdout and
//! stderr are served by readiness like sockets and nothing ever blocks.
//!
//! The child runs in its own process group so a timeout or a disconnect can stop
//! it together with anything it forked. Every child is reaped: at once if it has
//! exited, otherwise by [`reap`], which the worker calls on every loop turn.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mio::unix::pipe::{Receiver, Sender};
use mio::{Interest, Registry, Token};

use crate::http::body::{Spool, SpoolData};

/// Token offsets within a connection's family (`key * 4 + offset`).
pub const STDIN: usize = 1;
pub const STDOUT: usize = 2;
pub const STDERR: usize = 3;

/// How long a child gets between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// The most stderr read in one pass over a script's pipes.
const STDERR_SHARE: usize = 16 * 1024;
/// The longest stderr line logged as one record.
const MAX_STDERR_LINE: usize = 4096;

/// What to run.
#[derive(Debug, Clone)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, String)>,
    /// The script's directory.
    pub cwd: PathBuf,
    /// For log messages.
    pub script_name: String,
}

impl Launch {
    /// The interpreter the script runs through, if the configuration names one.
    pub fn interpreter(&self) -> Option<&Path> {
        (!self.args.is_empty()).then_some(self.program.as_path())
    }
}

/// Why `e` kept a script from starting, in words for the log and the error page:
/// a missing interpreter is named as the configuration names it.
pub fn spawn_failure(interpreter: Option<&Path>, e: &io::Error) -> String {
    match interpreter {
        Some(p) if e.kind() == io::ErrorKind::NotFound => {
            format!("interpreter \"{}\" not found", p.display())
        }
        // The script exists (it was found before): what is missing is its `#!` line's.
        None if e.kind() == io::ErrorKind::NotFound => {
            "the interpreter on its #! line was not found".to_string()
        }
        _ => e.to_string(),
    }
}

/// The request body on its way into the script's stdin.
enum Input {
    Memory {
        data: Vec<u8>,
        pos: usize,
    },
    File {
        file: File,
        buf: Vec<u8>,
        pos: usize,
    },
    Done,
}

pub struct Process {
    /// `None` once reaped or handed to the reaper.
    child: Option<Child>,
    stdin: Option<Sender>,
    stdout: Option<Receiver>,
    stderr: Option<Receiver>,
    input: Input,
    stderr_line: Vec<u8>,
    script_name: String,
}

/// Children that were stopped or finished without having exited yet.
struct Zombie {
    child: Child,
    /// When to send SIGKILL if it is still alive.
    kill_at: Instant,
}

static REAPER: Mutex<Vec<Zombie>> = Mutex::new(Vec::new());

impl Process {
    /// Forks and executes the script, and registers its pipes for connection `key`.
    pub fn spawn(
        launch: Launch,
        body: Spool,
        registry: &Registry,
        key: usize,
    ) -> io::Result<Process> {
        let input = match body.into_data()? {
            SpoolData::Memory(data) if data.is_empty() => Input::Done,
            SpoolData::Memory(data) => Input::Memory { data, pos: 0 },
            SpoolData::File(file) => Input::File {
                file,
                buf: Vec::new(),
                pos: 0,
            },
        };
        let mut child = Command::new(&launch.program)
            .args(&launch.args)
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&launch.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let mut proc = Process {
            stdin: child.stdin.take().map(Sender::from),
            stdout: child.stdout.take().map(Receiver::from),
            stderr: child.stderr.take().map(Receiver::from),
            child: Some(child),
            input,
            stderr_line: Vec::new(),
            script_name: launch.script_name,
        };
        proc.register(registry, key)?;
        if matches!(proc.input, Input::Done) {
            proc.stdin = None;
        }
        Ok(proc)
    }

    fn register(&mut self, registry: &Registry, key: usize) -> io::Result<()> {
        if let Some(s) = &mut self.stdin {
            s.set_nonblocking(true)?;
            registry.register(s, Token(key * 4 + STDIN), Interest::WRITABLE)?;
        }
        if let Some(r) = &mut self.stdout {
            r.set_nonblocking(true)?;
            registry.register(r, Token(key * 4 + STDOUT), Interest::READABLE)?;
        }
        if let Some(r) = &mut self.stderr {
            r.set_nonblocking(true)?;
            registry.register(r, Token(key * 4 + STDERR), Interest::READABLE)?;
        }
        Ok(())
    }

    /// Writes body bytes into stdin until the pipe is full or the body is all
    /// written (then stdin is closed, so the script sees EOF). A script that exits
    /// without reading its input just loses it. Returns whether anything was written.
    pub fn pump_stdin(&mut self) -> bool {
        let mut progress = false;
        while let Some(stdin) = &mut self.stdin {
            let chunk: &[u8] = match &mut self.input {
                Input::Memory { data, pos } => &data[*pos..],
                Input::File { file, buf, pos } => {
                    if *pos == buf.len() {
                        buf.resize(64 * 1024, 0);
                        match file.read(buf) {
                            Ok(n) => buf.truncate(n),
                            Err(_) => buf.clear(),
                        }
                        *pos = 0;
                    }
                    &buf[*pos..]
                }
                Input::Done => &[],
            };
            if chunk.is_empty() {
                self.input = Input::Done;
                self.stdin = None;
                return true;
            }
            match stdin.write(chunk) {
                Ok(n) => {
                    progress = true;
                    match &mut self.input {
                        Input::Memory { pos, .. } | Input::File { pos, .. } => *pos += n,
                        Input::Done => {}
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return progress,
                Err(_) => {
                    self.input = Input::Done;
                    self.stdin = None;
                    return true;
                }
            }
        }
        progress
    }

    /// Reads the script's output. `Ok(0)` is EOF.
    pub fn read_stdout(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(out) = &mut self.stdout else {
            return Ok(0);
        };
        loop {
            match out.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(0) => {
                    self.stdout = None;
                    return Ok(0);
                }
                other => return other,
            }
        }
    }

    /// Sends what the script wrote to stderr to the error log, a line at a time,
    /// at most [`STDERR_SHARE`] bytes per call: a script that writes to stderr as
    /// fast as it is read must not keep the loop from everyone else (the caller
    /// runs again while this reports progress). Returns whether anything was read.
    pub fn drain_stderr(&mut self) -> bool {
        let mut progress = false;
        let mut buf = [0u8; 4096];
        let mut taken = 0;
        while let Some(err) = &mut self.stderr {
            if taken >= STDERR_SHARE {
                break;
            }
            match err.read(&mut buf) {
                Ok(0) => {
                    self.stderr = None;
                    self.flush_stderr_line();
                }
                Ok(n) => {
                    progress = true;
                    taken += n;
                    self.log_stderr(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        progress
    }

    fn log_stderr(&mut self, data: &[u8]) {
        for &b in data {
            if b == b'\n' || self.stderr_line.len() >= MAX_STDERR_LINE {
                self.flush_stderr_line();
            }
            if b != b'\n' {
                self.stderr_line.push(b);
            }
        }
    }

    fn flush_stderr_line(&mut self) {
        if !self.stderr_line.is_empty() {
            let line = String::from_utf8_lossy(&self.stderr_line);
            log::warn!("cgi {}: {}", self.script_name, line.trim_end_matches('\r'));
            self.stderr_line.clear();
        }
    }

    /// The script's output ended: reap it now if it has exited, else let the
    /// reaper wait for it (and kill it after `grace`).
    pub fn finish(mut self, grace: Duration) {
        self.drain_stderr();
        self.flush_stderr_line();
        if let Some(mut child) = self.child.take() {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => hand_to_reaper(child, Instant::now() + grace),
            }
        }
    }
}

impl Drop for Process {
    /// A process dropped before it finished (timeout, client gone, error) is
    /// stopped: SIGTERM to its group now, SIGKILL after the grace period.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && let Ok(None) = child.try_wait()
        {
            signal_group(&child, libc::SIGTERM);
            hand_to_reaper(child, Instant::now() + KILL_GRACE);
        }
    }
}

fn signal_group(child: &Child, signal: i32) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a pid we spawned (and its process group, whose id is
    // that pid because of process_group(0)); no memory is involved.
    unsafe {
        libc::kill(-pid, signal);
        libc::kill(pid, signal);
    }
}

fn hand_to_reaper(child: Child, kill_at: Instant) {
    if let Ok(mut list) = REAPER.lock() {
        list.push(Zombie { child, kill_at });
    }
}

/// Reaps children that have exited and kills those past their deadline. Returns
/// whether any are still waiting (the loop then wakes up again soon).
pub fn reap(now: Instant) -> bool {
    let Ok(mut list) = REAPER.lock() else {
        return false;
    };
    list.retain_mut(|z| match z.child.try_wait() {
        Ok(Some(_)) | Err(_) => false,
        Ok(None) => {
            if now >= z.kill_at {
                signal_group(&z.child, libc::SIGKILL);
            }
            true
        }
    });
    !list.is_empty()
}
