//! The access log: one line per request in nginx's "combined" format, appended to
//! the file named by `access_log` (files opened once and kept).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::http::date::log_date;

/// What one log line says about a request.
pub struct Entry<'a> {
    pub peer: SocketAddr,
    /// The request line as received (`GET / HTTP/1.1`), or `-` if none was parsed.
    pub request_line: &'a str,
    pub status: u16,
    pub body_bytes: u64,
    pub referer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Open log files by path.
#[derive(Default)]
pub struct AccessLogs {
    files: HashMap<PathBuf, Option<File>>,
}

impl AccessLogs {
    /// Appends `entry` to `path`. A file that cannot be opened is reported once and
    /// then skipped: logging never fails a request.
    pub fn write(&mut self, path: &Path, entry: &Entry) {
        let slot = self
            .files
            .entry(path.to_path_buf())
            .or_insert_with(|| open(path));
        if let Some(file) = slot
            && let Err(e) = file.write_all(format_line(entry, SystemTime::now()).as_bytes())
        {
            log::error!("access log {}: {e}", path.display());
        }
    }
}

fn open(path: &Path) -> Option<File> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(f) => Some(f),
        Err(e) => {
            log::error!("cannot open access log {}: {e}", path.display());
            None
        }
    }
}

/// `$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`
pub fn format_line(e: &Entry, now: SystemTime) -> String {
    format!(
        "{} - - [{}] \"{}\" {} {} \"{}\" \"{}\"\n",
        e.peer.ip(),
        log_date(now),
        escape(e.request_line),
        e.status,
        e.body_bytes,
        escape(e.referer.unwrap_or("-")),
        escape(e.user_agent.unwrap_or("-")),
    )
}

/// nginx escapes `"`, `\` and non-printable bytes as `\xHH`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("\\x{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn combined_format() {
        let e = Entry {
            peer: "127.0.0.1:5000".parse().unwrap(),
            request_line: "GET /a\"b HTTP/1.1",
            status: 200,
            body_bytes: 612,
            referer: None,
            user_agent: Some("curl/8"),
        };
        let line = format_line(&e, UNIX_EPOCH + Duration::from_secs(784_111_777));
        assert_eq!(
            line,
            "127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] \"GET /a\\x22b HTTP/1.1\" 200 612 \"-\" \"curl/8\"\n"
        );
    }
}
