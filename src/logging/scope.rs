//! The request a worker thread is handling, for its log records: where they go
//! (the location's `error_log` lines) and the tail nginx adds to each
//! (`*CONN ... , client: ..., server: ..., request: "...", host: "..."`).
//!
//! Each worker runs one request's phases at a time, so the scope is a
//! thread-local set by [`enter`] for the span of a handler call and put back
//! when its [`Guard`] drops.

use std::cell::RefCell;
use std::sync::Arc;

use crate::config::ErrorLog;

/// What records made while a request is handled carry.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The `error_log` lines of the request's level; `None`: the main ones.
    pub logs: Option<Arc<[ErrorLog]>>,
    /// The connection's number (`*N`).
    pub conn: u64,
    /// `, client: ..., server: ..., request: "...", host: "..."`.
    pub tail: String,
}

thread_local! {
    static CURRENT: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Puts the scope back as it was when dropped.
#[must_use = "the scope ends when the guard is dropped"]
pub struct Guard {
    previous: Option<Scope>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Makes `scope` the current one until the guard drops.
pub fn enter(scope: Scope) -> Guard {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(scope));
    Guard { previous }
}

/// The request moved to a level with these `error_log` lines (`None`: the main
/// ones), e.g. a location was chosen.
pub fn set_logs(logs: Option<&Arc<[ErrorLog]>>) {
    CURRENT.with(|c| {
        if let Some(s) = c.borrow_mut().as_mut() {
            s.logs = logs.cloned();
        }
    });
}

/// Runs `f` with the current scope.
pub fn with<T>(f: impl FnOnce(Option<&Scope>) -> T) -> T {
    CURRENT.with(|c| f(c.borrow().as_ref()))
}

/// nginx's tail for a request: `, client: ADDR, server: NAME, request:
/// "LINE"`, and `, host: "HOST"` when the request named one.
pub fn tail(client: std::net::IpAddr, server: &str, request: &str, host: Option<&str>) -> String {
    let mut t = format!(", client: {client}, server: {server}, request: \"{request}\"");
    if let Some(h) = host {
        t.push_str(", host: \"");
        t.push_str(h);
        t.push('"');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_scopes_restore() {
        assert!(with(|s| s.is_none()));
        {
            let _a = enter(Scope {
                conn: 1,
                ..Scope::default()
            });
            {
                let _b = enter(Scope {
                    conn: 2,
                    ..Scope::default()
                });
                assert_eq!(with(|s| s.map(|s| s.conn)), Some(2));
            }
            assert_eq!(with(|s| s.map(|s| s.conn)), Some(1));
        }
        assert!(with(|s| s.is_none()));
    }

    #[test]
    fn tails() {
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        assert_eq!(
            tail(ip, "localhost", "GET / HTTP/1.1", Some("a.test")),
            ", client: 127.0.0.1, server: localhost, request: \"GET / HTTP/1.1\", host: \"a.test\""
        );
        assert_eq!(
            tail(ip, "", "GET / HTTP/1.0", None),
            ", client: 127.0.0.1, server: , request: \"GET / HTTP/1.0\""
        );
    }
}
