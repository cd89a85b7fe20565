//! `server_name` arguments: exact names, wildcards (`*.example.com`,
//! `.example.com`, `www.example.*`) and regular expressions (`~^(?<sub>.+)\.example\.com$`),
//! checked and compiled when the configuration is read, and [`select`], the one
//! place a name picks a server: the `Host` of a request (`handler::vhost`) and the
//! SNI name of a TLS handshake (`transport::sni`, for the certificate) both ask it.
//! Regexes use the `regex` crate: matching takes time linear in the host name
//! whatever the pattern (no catastrophic backtracking), at the price of PCRE's
//! look-around and backreferences, which are a configuration error. As in nginx
//! they ignore case.

use regex::{Captures, Regex, RegexBuilder};

use super::ConfigError;
use super::model::name_matches;
use super::values::Arg;

/// A compiled `server_name ~REGEX`.
#[derive(Debug, Clone)]
pub struct NameRegex {
    /// The argument as written, with its `~`.
    pub source: String,
    pub regex: Regex,
}

/// One server as the selector sees it: the caller's key for it and its names.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'c> {
    /// What [`Choice::server`] says when this server is chosen (an index into
    /// `Config::servers`, or into the caller's own list).
    pub key: usize,
    /// Lower-case exact names and wildcards; `~` names are skipped here.
    pub names: &'c [String],
    /// The compiled `~` names, in the order written.
    pub regexes: &'c [NameRegex],
}

/// Which rule of nginx's order chose the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule<'c> {
    Exact,
    LeadingWildcard(&'c str),
    TrailingWildcard(&'c str),
    /// The regex as written, with its `~`.
    Regex(&'c str),
    Default,
}

/// The chosen server and, when a regex chose it, that regex and its captures.
#[derive(Debug)]
pub struct Choice<'c, 'h> {
    /// The chosen candidate's key.
    pub server: usize,
    pub rule: Rule<'c>,
    pub captures: Option<(&'c Regex, Captures<'h>)>,
}

/// The server for `host` (lower-case, no port) among `servers` (in declaration
/// order), in nginx's order: an exact name; else the longest matching leading
/// wildcard (`*.example.com`, `.example.com`); else the longest matching trailing
/// wildcard (`www.example.*`); else the first regex that matches, servers and
/// their regexes in the order written; else `default` (a key).
pub fn select<'c, 'h, I>(servers: I, default: usize, host: Option<&'h str>) -> Choice<'c, 'h>
where
    I: Iterator<Item = Candidate<'c>> + Clone,
{
    let choice = |server, rule| Choice {
        server,
        rule,
        captures: None,
    };
    let Some(host) = host else {
        return choice(default, Rule::Default);
    };
    let names = || {
        servers
            .clone()
            .flat_map(|c| c.names.iter().map(move |n| (c.key, n.as_str())))
    };
    if let Some((key, _)) = names().find(|&(_, n)| n == host) {
        return choice(key, Rule::Exact);
    }
    let longest = |kind: fn(&str) -> bool| {
        names()
            .filter(|&(_, n)| kind(n) && name_matches(n, host))
            .max_by_key(|&(_, n)| n.len())
    };
    if let Some((key, n)) = longest(|n| n.starts_with('.') || n.starts_with("*.")) {
        return choice(key, Rule::LeadingWildcard(n));
    }
    if let Some((key, n)) = longest(|n| n.ends_with(".*")) {
        return choice(key, Rule::TrailingWildcard(n));
    }
    for c in servers {
        for r in c.regexes {
            if let Some(caps) = r.regex.captures(host) {
                return Choice {
                    server: c.key,
                    rule: Rule::Regex(&r.source),
                    captures: Some((&r.regex, caps)),
                };
            }
        }
    }
    choice(default, Rule::Default)
}

/// Checks the arguments of one `server_name` and adds them: every name to
/// `names` (lower-cased, regexes as written), regexes also compiled to `regexes`.
pub fn add(
    names: &mut Vec<Arg>,
    regexes: &mut Vec<NameRegex>,
    args: &[Arg],
) -> Result<(), ConfigError> {
    for (name, pos) in args {
        if let Some(pattern) = name.strip_prefix('~') {
            regexes.push(compile(name, pattern, pos)?);
            names.push((name.clone(), pos.clone()));
            continue;
        }
        if !wildcard_ok(name) {
            let msg = format!("invalid server name or wildcard \"{name}\"");
            return Err(ConfigError::at(pos, msg));
        }
        names.push((name.to_lowercase(), pos.clone()));
    }
    Ok(())
}

/// `*` only as a whole first label (`*.example.com`) or last label (`www.example.*`).
fn wildcard_ok(name: &str) -> bool {
    if name.is_empty() {
        return true; // `server_name ""`: requests without a Host.
    }
    let inner = name
        .strip_prefix("*.")
        .or_else(|| name.strip_suffix(".*"))
        .unwrap_or(name);
    !inner.is_empty() && !inner.contains('*')
}

fn compile(name: &str, pattern: &str, pos: &super::Pos) -> Result<NameRegex, ConfigError> {
    if pattern.is_empty() {
        return Err(ConfigError::at(pos, "empty regex in \"server_name\""));
    }
    let regex = RegexBuilder::new(&crate::vars::from_pcre(pattern))
        .case_insensitive(true)
        .build()
        .map_err(|e| {
            let msg = format!("invalid regex \"{name}\" in \"server_name\": {}", why(&e));
            ConfigError::at(pos, msg)
        })?;
    Ok(NameRegex {
        source: name.to_string(),
        regex,
    })
}

/// The one line of a regex error that says what is wrong.
fn why(e: &regex::Error) -> String {
    let text = e.to_string();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(text.lines().last().unwrap_or_default());
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;
    use std::sync::Arc;

    fn run(names: &[&str]) -> Result<(Vec<String>, Vec<String>), String> {
        let pos = Pos {
            file: Arc::from("t.conf"),
            line: 1,
            col: 5,
        };
        let args: Vec<Arg> = names.iter().map(|n| (n.to_string(), pos.clone())).collect();
        let (mut out, mut re) = (Vec::new(), Vec::new());
        add(&mut out, &mut re, &args).map_err(|e| e.to_string())?;
        Ok((
            out.into_iter().map(|(n, _)| n).collect(),
            re.into_iter().map(|r| r.source).collect(),
        ))
    }

    /// Servers (names as written) → the compiled lists `select` reads.
    fn servers(table: &[&[&str]]) -> Vec<(Vec<String>, Vec<NameRegex>)> {
        let pos = Pos {
            file: Arc::from("t.conf"),
            line: 1,
            col: 1,
        };
        let compile = |names: &&[&str]| {
            let args: Vec<Arg> = names.iter().map(|n| (n.to_string(), pos.clone())).collect();
            let (mut out, mut re) = (Vec::new(), Vec::new());
            add(&mut out, &mut re, &args).unwrap();
            (out.into_iter().map(|(n, _)| n).collect(), re)
        };
        table.iter().map(compile).collect()
    }

    fn choose<'c, 'h>(
        servers: &'c [(Vec<String>, Vec<NameRegex>)],
        default: usize,
        host: Option<&'h str>,
    ) -> Choice<'c, 'h> {
        let candidates = servers.iter().enumerate().map(|(key, (names, regexes))| {
            // Keys other than positions, to show they are what comes back.
            Candidate {
                key: key + 100,
                names,
                regexes,
            }
        });
        select(candidates, default + 100, host)
    }

    #[test]
    fn nginx_selection_order() {
        let table = servers(&[
            &["default.test"],
            &["~^(?<sub>[a-z]+)\\.example\\.com$"],
            &["*.example.com"],
            &["www.example.com"],
            &["www.example.*"],
            &["*.a.example.com", "~^www\\.(.+)$"],
            &["~^re\\d+\\.test$", "_"],
            &[".example.org", "www.example.org.*"],
            &["~^re5\\.test$"],
        ]);
        let cases: &[(Option<&str>, usize, Rule)] = &[
            (Some("www.example.com"), 3, Rule::Exact),
            (Some("default.test"), 0, Rule::Exact),
            (Some("_"), 6, Rule::Exact),
            // A leading wildcard wins over a regex that also matches.
            (
                Some("api.example.com"),
                2,
                Rule::LeadingWildcard("*.example.com"),
            ),
            // The longest leading wildcard wins, wherever it is declared.
            (
                Some("x.a.example.com"),
                5,
                Rule::LeadingWildcard("*.a.example.com"),
            ),
            // `.example.org` is the name itself and any subdomain, and is a
            // leading wildcard, so it wins over the trailing `www.example.*`.
            (
                Some("example.org"),
                7,
                Rule::LeadingWildcard(".example.org"),
            ),
            (
                Some("www.example.org"),
                7,
                Rule::LeadingWildcard(".example.org"),
            ),
            // A trailing wildcard before regexes (`~^www\.(.+)$` also matches);
            // the longest one wins.
            (
                Some("www.example.net"),
                4,
                Rule::TrailingWildcard("www.example.*"),
            ),
            (
                Some("www.example.org.uk"),
                7,
                Rule::TrailingWildcard("www.example.org.*"),
            ),
            // Regexes: the first that matches, in declaration order.
            (Some("www.other.net"), 5, Rule::Regex("~^www\\.(.+)$")),
            (Some("re5.test"), 6, Rule::Regex("~^re\\d+\\.test$")),
            (Some("RE7.test"), 6, Rule::Regex("~^re\\d+\\.test$")),
            // Nothing matches, or no name at all: the default server.
            (Some("unknown.net"), 0, Rule::Default),
            (Some(""), 0, Rule::Default),
            (None, 0, Rule::Default),
        ];
        for &(host, server, rule) in cases {
            let c = choose(&table, 0, host);
            assert_eq!((c.server, c.rule), (server + 100, rule), "{host:?}");
            assert_eq!(
                c.captures.is_some(),
                matches!(rule, Rule::Regex(_)),
                "{host:?}"
            );
        }
        // The regex's captures come with the choice.
        let c = choose(&table, 0, Some("www.other.net"));
        let (_, caps) = c.captures.unwrap();
        assert_eq!(&caps[1], "other.net");
    }

    #[test]
    fn accepted_forms() {
        let (names, regexes) = run(&[
            "Example.COM",
            "*.example.com",
            ".example.org",
            "www.example.*",
            "_",
            "",
            "~^(?<sub>.+)\\.Example\\.com$",
        ])
        .unwrap();
        assert_eq!(names[0], "example.com");
        assert_eq!(
            names[6], "~^(?<sub>.+)\\.Example\\.com$",
            "regexes as written"
        );
        assert_eq!(regexes, ["~^(?<sub>.+)\\.Example\\.com$"]);
    }

    #[test]
    fn errors() {
        let cases = [
            (
                "www.*.com",
                "t.conf:1:5: invalid server name or wildcard \"www.*.com\"",
            ),
            (
                "*example.com",
                "t.conf:1:5: invalid server name or wildcard \"*example.com\"",
            ),
            ("*", "t.conf:1:5: invalid server name or wildcard \"*\""),
            ("~", "t.conf:1:5: empty regex in \"server_name\""),
            (
                "~^(a",
                "t.conf:1:5: invalid regex \"~^(a\" in \"server_name\": unclosed group",
            ),
            (
                "~(?=a)b",
                "t.conf:1:5: invalid regex \"~(?=a)b\" in \"server_name\": look-around, including look-ahead and look-behind, is not supported",
            ),
            (
                "~(a)\\1",
                "t.conf:1:5: invalid regex \"~(a)\\1\" in \"server_name\": backreferences are not supported",
            ),
        ];
        for (name, want) in cases {
            assert_eq!(run(&[name]).unwrap_err(), want, "{name}");
        }
    }
}
