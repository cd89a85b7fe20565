//! Choosing the virtual server for a request among the servers on the connection's
//! address, by `config::server_names::select` (nginx's order: an exact
//! `server_name`, else the longest leading wildcard, else the longest trailing
//! wildcard, else the first regex that matches, else the address's default server;
//! the SNI certificate choice uses the same selector). A regex match keeps its
//! captures, for the variables the request phases expose.

use regex::{Captures, Regex};

use crate::config::server_names::{self, Rule};
use crate::config::{Config, ListenGroup};

/// The chosen server and, when a regex name chose it, that regex's captures.
#[derive(Debug)]
pub struct Selected<'c, 'h> {
    /// Index into `Config::servers`.
    pub server: usize,
    pub captures: Option<(&'c Regex, Captures<'h>)>,
    /// Why this server: for `--explain`.
    pub why: Why<'c>,
}

/// Which rule chose the server.
pub type Why<'c> = Rule<'c>;

impl Selected<'_, '_> {
    /// Named captures, `(name, value)`, in the regex's order (unmatched groups
    /// give the empty string, as an unset variable in nginx).
    pub fn named_captures(&self) -> Vec<(&str, &str)> {
        let Some((regex, caps)) = &self.captures else {
            return Vec::new();
        };
        regex
            .capture_names()
            .flatten()
            .map(|name| (name, caps.name(name).map_or("", |m| m.as_str())))
            .collect()
    }

    /// For `--explain`: the regex that chose the server and its captures.
    pub fn regex_reason(&self, host: &str) -> Option<String> {
        let Why::Regex(source) = self.why else {
            return None;
        };
        let count = self.captures.as_ref().map_or(1, |(_, c)| c.len());
        let caps: Vec<String> = (1..count)
            .map(|n| format!("${n}={:?}", self.capture(n).unwrap_or_default()))
            .chain(
                self.named_captures()
                    .iter()
                    .map(|(k, v)| format!("${k}={v:?}")),
            )
            .collect();
        Some(format!(
            "regex server_name \"{source}\" matches \"{host}\" (first matching regex; captures: {})",
            caps.join(" ")
        ))
    }

    /// Capture `n` (`$1`..`$9`; 0 is the whole match), if a regex chose the server.
    pub fn capture(&self, n: usize) -> Option<&str> {
        let (_, caps) = self.captures.as_ref()?;
        Some(caps.get(n).map_or("", |m| m.as_str()))
    }
}

/// The server for `host` (lower-case, no port) among those of `group`, by the
/// selector the TLS certificate choice also uses.
pub fn select<'c, 'h>(
    config: &'c Config,
    group: &ListenGroup,
    host: Option<&'h str>,
) -> Selected<'c, 'h> {
    let servers = group
        .servers
        .iter()
        .filter_map(|&i| Some(config.servers.get(i)?.candidate(i)));
    let choice = server_names::select(servers, group.default_server, host);
    Selected {
        server: choice.server,
        captures: choice.captures,
        why: choice.rule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, text).unwrap();
        crate::config::load(&file, dir.path()).unwrap_or_else(|e| panic!("{e}"))
    }

    const CONF: &str = "
        server { listen 127.0.0.1:1; server_name default.test; }
        server { listen 127.0.0.1:1; server_name ~^(?<sub>[a-z]+)\\.example\\.com$; }
        server { listen 127.0.0.1:1; server_name *.example.com; }
        server { listen 127.0.0.1:1; server_name www.example.com; }
        server { listen 127.0.0.1:1; server_name www.example.*; }
        server { listen 127.0.0.1:1; server_name *.a.example.com ~^www\\.(.+)$; }
        server { listen 127.0.0.1:1 default_server; server_name ~^(\\d+)\\.(\\d+)\\.test$ _; }
    ";

    #[test]
    fn nginx_selection_order() {
        let c = config(CONF);
        let g = &c.listens[0];
        let cases: &[(Option<&str>, usize, Why)] = &[
            (Some("www.example.com"), 3, Why::Exact),
            (Some("default.test"), 0, Why::Exact),
            // The leading wildcard wins over the regex that also matches.
            (
                Some("api.example.com"),
                2,
                Why::LeadingWildcard("*.example.com"),
            ),
            // The longest leading wildcard wins.
            (
                Some("x.a.example.com"),
                5,
                Why::LeadingWildcard("*.a.example.com"),
            ),
            // Trailing wildcard before regexes (`~^www\.(.+)$` also matches).
            (
                Some("www.example.org"),
                4,
                Why::TrailingWildcard("www.example.*"),
            ),
            (Some("www.other.net"), 5, Why::Regex("~^www\\.(.+)$")),
            (
                Some("12.34.test"),
                6,
                Why::Regex("~^(\\d+)\\.(\\d+)\\.test$"),
            ),
            (Some("unknown.net"), 6, Why::Default),
            (None, 6, Why::Default),
        ];
        for (host, server, why) in cases {
            let s = select(&c, g, *host);
            assert_eq!((s.server, s.why), (*server, *why), "{host:?}");
        }
    }

    #[test]
    fn regexes_in_order_with_their_captures() {
        let c = config(
            "server { listen 127.0.0.1:1; server_name ~^(?<sub>.+)\\.example\\.com$; }
             server { listen 127.0.0.1:1; server_name ~^(?<all>.+)$; }",
        );
        let g = &c.listens[0];
        // Case is ignored, as nginx compiles server_name regexes caselessly.
        let s = select(&c, g, Some("Blog.EXAMPLE.com"));
        assert_eq!(s.server, 0);
        assert_eq!(s.named_captures(), [("sub", "Blog")]);
        assert_eq!(s.capture(1), Some("Blog"));
        assert_eq!(s.capture(0), Some("Blog.EXAMPLE.com"));
        let why = s.regex_reason("Blog.EXAMPLE.com").unwrap();
        assert!(
            why.ends_with("captures: $1=\"Blog\" $sub=\"Blog\")"),
            "{why}"
        );
        let s = select(&c, g, Some("other.org"));
        assert_eq!(s.server, 1);
        assert_eq!(s.named_captures(), [("all", "other.org")]);
        let exact = config("server { listen 127.0.0.1:1; server_name a; }");
        let s = select(&exact, &exact.listens[0], Some("a"));
        assert!(s.named_captures().is_empty() && s.capture(1).is_none());
        assert_eq!(s.regex_reason("a"), None);
    }
}
