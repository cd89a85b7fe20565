//! `server_name` arguments: exact names, wildcards (`*.example.com`,
//! `.example.com`, `www.example.*`) and regular expressions (`~^(?<sub>.+)\.example\.com$`),
//! checked and compiled when the configuration is read. Regexes use the `regex`
//! crate: matching takes time linear in the host name whatever the pattern (no
//! catastrophic backtracking), at the price of PCRE's look-around and
//! backreferences, which are a configuration error. As in nginx they ignore case.

use regex::{Regex, RegexBuilder};

use super::ConfigError;
use super::values::Arg;

/// A compiled `server_name ~REGEX`.
#[derive(Debug, Clone)]
pub struct NameRegex {
    /// The argument as written, with its `~`.
    pub source: String,
    pub regex: Regex,
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
