//! nginx's `map`: a variable whose value is looked up from another value (a
//! template) in a table of exact keys, hostname wildcards (with `hostnames`) and
//! regexes tried in order, else the `default`. Keys compare case-insensitively, as
//! nginx's hash does; values may hold variables, and a regex key's captures (`$1`,
//! `(?<name>...)`) may be read in its value.

use std::collections::HashMap;

use super::{Env, Pattern, Template};

/// One `map SOURCE $var { ... }`.
#[derive(Debug, Clone)]
pub struct Map {
    /// What is looked up (`$http_upgrade`, `$host$uri`...).
    pub source: Template,
    /// `hostnames`: keys may be `*.example.com`, `.example.com`, `www.example.*`,
    /// and a trailing dot of the looked-up value is ignored.
    pub hostnames: bool,
    /// `volatile`: evaluated at every read, never cached for the request.
    pub volatile: bool,
    /// Exact keys, lower-cased.
    pub exact: HashMap<String, Template>,
    /// `*.suffix` and `.suffix` keys as (suffix, whether the bare suffix matches too).
    pub head: Vec<(String, bool, Template)>,
    /// `prefix.*` keys, by their prefix.
    pub tail: Vec<(String, Template)>,
    /// `~regex` and `~*regex` keys, in the order written.
    pub regexes: Vec<(Pattern, Template)>,
    /// `default VALUE`; without it the value is empty.
    pub default: Option<Template>,
}

/// What a lookup found: a plain entry, or a regex entry whose captures its value
/// may read.
pub enum Found<'m> {
    Entry(&'m Template),
    Regex(&'m Pattern, &'m Template),
    None,
}

impl Map {
    /// A map of `source` with no entries yet.
    pub fn new(source: Template) -> Map {
        Map {
            source,
            hostnames: false,
            volatile: false,
            exact: HashMap::new(),
            head: Vec::new(),
            tail: Vec::new(),
            regexes: Vec::new(),
            default: None,
        }
    }

    /// The entry for `key` (the source's value), in nginx's order: exact, the most
    /// specific leading wildcard, the longest trailing wildcard, then the regexes
    /// (never for an empty key).
    pub fn find(&self, key: &str) -> Found<'_> {
        let mut key = key;
        if self.hostnames {
            key = key.strip_suffix('.').unwrap_or(key);
        }
        let low = key.to_ascii_lowercase();
        if let Some(v) = self.exact.get(&low) {
            return Found::Entry(v);
        }
        let head = self
            .head
            .iter()
            .filter(|(suffix, bare, _)| head_matches(suffix, *bare, &low))
            .max_by_key(|(suffix, _, _)| suffix.len());
        if let Some((_, _, v)) = head {
            return Found::Entry(v);
        }
        let tail = self
            .tail
            .iter()
            .filter(|(prefix, _)| {
                low.len() > prefix.len() + 1
                    && low.starts_with(prefix.as_str())
                    && low.as_bytes()[prefix.len()] == b'.'
            })
            .max_by_key(|(prefix, _)| prefix.len());
        if let Some((_, v)) = tail {
            return Found::Entry(v);
        }
        if key.is_empty() {
            return Found::None;
        }
        match self.regexes.iter().find(|(p, _)| p.is_match(key)) {
            Some((p, v)) => Found::Regex(p, v),
            None => Found::None,
        }
    }

    /// The variable's value for one request.
    pub fn value(&self, env: &Env) -> String {
        let key = self.source.expand(env);
        match self.find(&key) {
            Found::Entry(v) => v.expand(env),
            Found::Regex(p, v) => {
                let mut state = env.state.clone();
                let key = match self.hostnames {
                    true => key.strip_suffix('.').unwrap_or(&key),
                    false => &key,
                };
                p.matches(key, &mut state);
                v.expand(&env.with_state(&state))
            }
            Found::None => self
                .default
                .as_ref()
                .map_or(String::new(), |d| d.expand(env)),
        }
    }

    /// Every template of the map, for linking.
    pub fn templates_mut(&mut self) -> impl Iterator<Item = &mut Template> {
        std::iter::once(&mut self.source)
            .chain(self.exact.values_mut())
            .chain(self.head.iter_mut().map(|(_, _, v)| v))
            .chain(self.tail.iter_mut().map(|(_, v)| v))
            .chain(self.regexes.iter_mut().map(|(_, v)| v))
            .chain(self.default.as_mut())
    }
}

/// `*.suffix` (subdomains only) or `.suffix` (`bare`: the suffix itself too).
fn head_matches(suffix: &str, bare: bool, host: &str) -> bool {
    (bare && host == suffix)
        || (host.len() > suffix.len() + 1
            && host.ends_with(suffix)
            && host.as_bytes()[host.len() - suffix.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;

    fn pos() -> Pos {
        Pos {
            file: "t.conf".into(),
            line: 1,
            col: 1,
        }
    }

    fn found(m: &Map, key: &str) -> Option<String> {
        match m.find(key) {
            Found::Entry(v) | Found::Regex(_, v) => Some(v.source().to_string()),
            Found::None => None,
        }
    }

    #[test]
    fn lookup_order() {
        let mut m = Map::new(Template::plain("x"));
        m.hostnames = true;
        m.exact
            .insert("a.example.com".into(), Template::plain("exact"));
        m.exact.insert(String::new(), Template::plain("empty"));
        m.head
            .push(("example.com".into(), false, Template::plain("star")));
        m.head
            .push(("b.example.com".into(), true, Template::plain("dot")));
        m.tail.push(("www.example".into(), Template::plain("tail")));
        let re = Pattern::compile("^c", true, &pos()).unwrap();
        m.regexes.push((re, Template::plain("re")));
        let cases = [
            ("a.example.com", Some("exact")),
            ("A.Example.COM.", Some("exact")),
            ("z.example.com", Some("star")),
            ("example.com", None),
            ("b.example.com", Some("dot")),
            ("x.b.example.com", Some("dot")),
            ("www.example.org", Some("tail")),
            ("www.example", None),
            ("Cat", Some("re")),
            ("", Some("empty")),
        ];
        for (key, want) in cases {
            assert_eq!(found(&m, key).as_deref(), want, "{key}");
        }
    }

    #[test]
    fn regexes_never_see_an_empty_key() {
        let mut m = Map::new(Template::plain("x"));
        let re = Pattern::compile("^$", false, &pos()).unwrap();
        m.regexes.push((re, Template::plain("re")));
        assert!(matches!(m.find(""), Found::None));
    }
}
