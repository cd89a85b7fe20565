//! One error log line as nginx writes it:
//! `YYYY/MM/DD HH:MM:SS [LEVEL] PID#TID: [*CONN ]MESSAGE[TAIL]\n` (UTC, as the
//! access log's `$time_local`).

use std::time::{SystemTime, UNIX_EPOCH};

use super::scope::Scope;
use crate::config::Level;
use crate::http::date::civil;

thread_local! {
    /// The worker thread's id, as nginx prints it after the pid.
    static TID: u64 = thread_id();
}

fn thread_id() -> u64 {
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::gettid() };
    u64::try_from(tid).unwrap_or(0)
}

/// The line for `msg` at `level`, in `scope`'s request if any.
pub fn format(level: Level, msg: &str, scope: Option<&Scope>) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let tid = TID.with(|t| *t);
    let mut line = stamp(now, level, std::process::id(), tid);
    if let Some(s) = scope {
        line.push_str(&format!("*{} ", s.conn));
    }
    // One record, one line: a message never breaks the log's framing.
    line.extend(msg.chars().map(|c| if c == '\n' { ' ' } else { c }));
    if let Some(s) = scope {
        line.push_str(&s.tail);
    }
    line.push('\n');
    line
}

/// `2026/12/07 18:00:00 [error] 10#11: `.
fn stamp(secs: u64, level: Level, pid: u32, tid: u64) -> String {
    let c = civil(secs);
    format!(
        "{}/{:02}/{:02} {:02}:{:02}:{:02} [{}] {pid}#{tid}: ",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.min,
        c.sec,
        level.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        // 2026-12-07 18:00:05 UTC
        let secs = 1_796_666_405;
        assert_eq!(
            stamp(secs, Level::Notice, 10, 11),
            "2026/12/07 18:00:05 [notice] 10#11: "
        );
    }

    #[test]
    fn request_lines_carry_the_connection_and_tail() {
        let scope = Scope {
            logs: None,
            conn: 7,
            tail: ", client: 127.0.0.1".into(),
        };
        let line = format(Level::Error, "open() failed\nx", Some(&scope));
        assert!(line.contains(" [error] "), "{line}");
        assert!(
            line.ends_with(": *7 open() failed x, client: 127.0.0.1\n"),
            "{line}"
        );
        let bare = format(Level::Warn, "w", None);
        assert!(bare.ends_with(": w\n") && !bare.contains('*'), "{bare}");
    }
}
