//! Regular expressions of the configuration (`location ~`, `rewrite`): compiled once
//! with the `regex` crate, which runs in time linear in the subject (a hostile URI
//! cannot make a match backtrack for long, unlike PCRE), with captures stored for
//! `$1`..`$9` and named captures (`(?<name>...)`) bound to their variables.

use regex::Regex;

use super::{Names, State};
use crate::config::{ConfigError, Pos};

/// PCRE's quoting, which the `regex` crate lacks, in its syntax: `\Q...\E` (to
/// the end when `\E` is missing) becomes the text between, escaped. Everything
/// else is passed as written (`\\Q` is an escaped backslash and a `Q`).
pub fn from_pcre(src: &str) -> std::borrow::Cow<'_, str> {
    if !src.contains("\\Q") {
        return std::borrow::Cow::Borrowed(src);
    }
    let mut out = String::with_capacity(src.len() + 8);
    let mut rest = src;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.chars().next() {
            Some('Q') => {
                let quoted = &after[1..];
                let (text, next) = quoted.split_once("\\E").unwrap_or((quoted, ""));
                out.push_str(&regex::escape(text));
                rest = next;
            }
            Some(c) => {
                out.push('\\');
                out.push(c);
                rest = &after[c.len_utf8()..];
            }
            None => {
                out.push('\\');
                rest = "";
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// A compiled regex and where its named groups go.
#[derive(Debug, Clone)]
pub struct Pattern {
    re: Regex,
    caseless: bool,
    /// `(group index, name, user slot)` for each named group; the slot is set by
    /// [`Pattern::declare`] once the whole configuration is read.
    named: Vec<(usize, Box<str>, u16)>,
    /// Whether `$0`..`$9` are read anywhere in the configuration: if not, a match
    /// is a plain test (no captures copied per request).
    numbered: bool,
}

impl Pattern {
    /// Compiles `src` (`caseless`: `~*`).
    pub fn compile(src: &str, caseless: bool, pos: &Pos) -> Result<Pattern, ConfigError> {
        let re = regex::RegexBuilder::new(&from_pcre(src))
            .case_insensitive(caseless)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                let why = match e {
                    regex::Error::Syntax(s) => s
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim_start_matches("error: ")
                        .to_string(),
                    other => other.to_string(),
                };
                ConfigError::at(pos, format!("invalid regex \"{src}\": {why}"))
            })?;
        let named = re
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (i, n.into(), 0)))
            .collect();
        Ok(Pattern {
            re,
            caseless,
            named,
            numbered: true,
        })
    }

    /// Declares the named groups as variables (their slots in `names`).
    pub fn declare(&mut self, names: &mut Names) {
        for (_, name, slot) in &mut self.named {
            *slot = names.declare(name);
        }
    }

    /// Says whether any template reads `$0`..`$9` (set once the configuration is
    /// linked).
    pub fn set_numbered(&mut self, used: bool) {
        self.numbered = used;
    }

    pub fn as_str(&self) -> &str {
        self.re.as_str()
    }

    pub fn caseless(&self) -> bool {
        self.caseless
    }

    /// Whether `subject` matches; on a match the captures replace `state`'s.
    pub fn matches(&self, subject: &str, state: &mut State) -> bool {
        if self.named.is_empty() && !self.numbered {
            return self.re.is_match(subject);
        }
        if self.re.captures_len() == 1 && self.named.is_empty() {
            if !self.re.is_match(subject) {
                return false;
            }
            state.captures.clear();
            state.captures.push(subject.to_string());
            return true;
        }
        let Some(caps) = self.re.captures(subject) else {
            return false;
        };
        state.captures.clear();
        state.captures.extend(
            caps.iter()
                .take(10)
                .map(|m| m.map_or(String::new(), |m| m.as_str().to_string())),
        );
        for &(group, _, slot) in &self.named {
            let value = caps.get(group).map(|m| m.as_str().to_string());
            state.set(slot, value.unwrap_or_default());
        }
        true
    }

    /// Whether `subject` matches, without touching any captures.
    pub fn is_match(&self, subject: &str) -> bool {
        self.re.is_match(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pos() -> Pos {
        Pos {
            file: Arc::from("t.conf"),
            line: 3,
            col: 14,
        }
    }

    #[test]
    fn pcre_quoting_becomes_escaped_text() {
        let cases = [
            (r"^/a\Q.b*\E$", r"^/a\.b\*$"),
            (r"\Q.example.com", r"\.example\.com"),
            (
                r"^(?P<name>[a-z]+)\Q.example.com\E$",
                r"^(?P<name>[a-z]+)\.example\.com$",
            ),
            (r"\\Q", r"\\Q"),
            (r"a\d+", r"a\d+"),
            (r"x\", r"x\"),
        ];
        for (src, want) in cases {
            assert_eq!(from_pcre(src), want, "{src}");
        }
        let p = Pattern::compile(r"^/x\Q(1)\E$", false, &pos()).unwrap();
        assert!(p.matches("/x(1)", &mut State::default()));
        assert!(!p.matches("/x1", &mut State::default()));
    }

    #[test]
    fn captures_and_named_groups() {
        let mut names = Names::default();
        names.declare("x");
        let mut p = Pattern::compile(r"^/u/(?<user>\w+)/(\d+)$", false, &pos()).unwrap();
        p.declare(&mut names);
        assert_eq!(names.names, ["x", "user"]);
        let mut st = State::default();
        assert!(p.matches("/u/ann/42", &mut st));
        assert_eq!(st.captures, ["/u/ann/42", "ann", "42"]);
        assert_eq!(st.user(1), Some("ann"));
        assert!(!p.matches("/u/ann/x", &mut st));
        assert_eq!(
            st.captures[1], "ann",
            "a failed match keeps the old captures"
        );
    }

    #[test]
    fn caseless_and_errors() {
        let p = Pattern::compile(r"\.(css|js)$", true, &pos()).unwrap();
        assert!(p.is_match("/A.CSS"));
        let err = Pattern::compile(r"(a", false, &pos()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("t.conf:3:14: invalid regex \"(a\""),
            "{err}"
        );
        // PCRE look-arounds are not supported by the linear-time engine: a clear error.
        assert!(Pattern::compile(r"^(?!admin)", false, &pos()).is_err());
    }
}
