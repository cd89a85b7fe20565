//! Templates: a configuration value with variables in it (`https://$host$request_uri`),
//! split once at load into literal pieces and variable references. A value without
//! variables is one literal, and [`Template::literal`] hands it out with no copying,
//! so a configuration that uses no variables does no formatting per request.

use std::fmt::Write as _;

use super::{Env, Var};
use crate::config::{ConfigError, Pos};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(Var),
}

/// A compiled value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    /// The value as written, for `-T` and `--explain`.
    source: String,
}

/// A template equals the text it was written as.
impl PartialEq<&str> for Template {
    fn eq(&self, other: &&str) -> bool {
        self.source == *other
    }
}

/// How expanded variable values are escaped (`log_format ... escape=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escape {
    /// No escaping: the value as it is.
    #[default]
    None,
    /// nginx's log default: `"`, `\`, and bytes outside 0x20..0x7e as `\xXX`.
    Log,
    /// JSON string contents.
    Json,
}

/// Where [`Template::expand_split`] escapes regex captures. nginx escapes them when
/// the request path had `%` or `+` (so a decoded capture is encoded again): in the
/// arguments of an internal rewrite, everywhere in a redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Captures {
    Raw,
    EscapedInArgs,
    Escaped,
}

impl Template {
    /// Compiles `text` written at `pos`; `$name`, `${name}` and `$1` are variables.
    pub fn compile(text: &str, pos: &Pos) -> Result<Template, ConfigError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            lit.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, used) = var_name(after).ok_or_else(|| {
                ConfigError::at(pos, format!("invalid variable name in \"{text}\""))
            })?;
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Var(Var::named(name, pos)));
            rest = &after[used..];
        }
        lit.push_str(rest);
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template {
            parts,
            source: text.to_string(),
        })
    }

    /// A template that is only `text`.
    pub fn plain(text: &str) -> Template {
        Template {
            parts: vec![Part::Lit(text.to_string())],
            source: text.to_string(),
        }
    }

    /// The value when it has no variables.
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// The variable, when the template is one variable and nothing else.
    pub fn single_var(&self) -> Option<&Var> {
        match self.parts.as_slice() {
            [Part::Var(v)] => Some(v),
            _ => None,
        }
    }

    /// The value as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether any variable is known only after the response (`$status`, ...).
    pub fn has_late_vars(&self) -> bool {
        self.vars().any(Var::is_late)
    }

    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Lit(_) => None,
        })
    }

    pub fn vars_mut(&mut self) -> impl Iterator<Item = &mut Var> {
        self.parts.iter_mut().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Lit(_) => None,
        })
    }

    /// The value for one request.
    pub fn expand(&self, env: &Env) -> String {
        if let Some(s) = self.literal() {
            return s.to_string();
        }
        let mut out = String::new();
        self.expand_into(env, &mut out, Escape::None);
        out
    }

    /// Appends the value to `out`, variable values escaped as `esc` says.
    pub fn expand_into(&self, env: &Env, out: &mut String, esc: Escape) {
        let mut value = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => {
                    value.clear();
                    // nginx writes `-` for a variable that has no value (not for
                    // an empty one), and only in the default escaping.
                    if *v == Var::BinaryRemoteAddr && esc != Escape::None {
                        let bytes: Vec<u8> = env.binary_remote_addr().collect();
                        escape_bytes(&bytes, out, esc);
                        continue;
                    }
                    // The body is bytes: escaped byte by byte in a log.
                    if *v == Var::RequestBody
                        && let Some(raw) = env.request_body()
                    {
                        escape_bytes(raw, out, esc);
                        continue;
                    }
                    // A header that is not UTF-8 still has a value: escaped byte
                    // by byte in a log, else with U+FFFD for what is not text.
                    if let Var::Http(name) = v
                        && let Some(raw) = super::value::header_bytes(env.req, name)
                        && std::str::from_utf8(raw).is_err()
                    {
                        escape_bytes(raw, out, esc);
                        continue;
                    }
                    let found = env.value(v, &mut value);
                    if esc == Escape::Log && !found {
                        out.push('-');
                    } else {
                        escape(&value, out, esc);
                    }
                }
            }
        }
    }

    /// A `rewrite` replacement's value in two: before its first literal `?` (the
    /// path) and after it (the arguments; `None` without a `?`). A `?` that a
    /// variable's value brings stays where it is, as in nginx, so a capture of
    /// `/a%3Fb` does not start arguments. Captures are escaped as nginx's
    /// `NGX_ESCAPE_ARGS` does where `escape` says.
    pub fn expand_split(&self, env: &Env, escape: Captures) -> (String, Option<String>) {
        let mut path = String::new();
        let mut args: Option<String> = None;
        let mut value = String::new();
        for part in &self.parts {
            match (part, &mut args) {
                (Part::Lit(s), Some(a)) => a.push_str(s),
                (Part::Lit(s), None) => match s.split_once('?') {
                    Some((p, a)) => {
                        path.push_str(p);
                        args = Some(a.to_string());
                    }
                    None => path.push_str(s),
                },
                (Part::Var(v), _) => {
                    value.clear();
                    env.value(v, &mut value);
                    let capture = matches!(v, Var::Capture(_));
                    match &mut args {
                        Some(a) if capture && escape != Captures::Raw => escape_arg(&value, a),
                        Some(a) => a.push_str(&value),
                        None if capture && escape == Captures::Escaped => {
                            escape_arg(&value, &mut path)
                        }
                        None => path.push_str(&value),
                    }
                }
            }
        }
        (path, args)
    }
}

/// Percent-escapes what nginx's `NGX_ESCAPE_ARGS` does: space, `#`, `%`, `&`, `+`,
/// `;`, `?`, control bytes and bytes from 0x7f.
fn escape_arg(value: &str, out: &mut String) {
    for b in value.bytes() {
        if b <= 0x20 || b >= 0x7f || b"#%&+;?".contains(&b) {
            let _ = write!(out, "%{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
}

/// The name after a `$`: `{name}`, a single digit, or a run of `[A-Za-z0-9_]`;
/// returns it and how many bytes it took.
fn var_name(s: &str) -> Option<(&str, usize)> {
    if let Some(inner) = s.strip_prefix('{') {
        let end = inner.find('}')?;
        let name = &inner[..end];
        return (!name.is_empty() && name.bytes().all(is_name_byte)).then_some((name, end + 2));
    }
    let first = *s.as_bytes().first()?;
    if first.is_ascii_digit() {
        return Some((&s[..1], 1));
    }
    let len = s.bytes().take_while(|&b| is_name_byte(b)).count();
    (len > 0).then(|| (&s[..len], len))
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Escapes a variable's value as nginx's log module does (`ngx_http_log_escape`,
/// `ngx_escape_json`).
fn escape(value: &str, out: &mut String, esc: Escape) {
    match esc {
        Escape::None => out.push_str(value),
        Escape::Log => escape_bytes(value.as_bytes(), out, esc),
        Escape::Json => value.chars().for_each(|c| json_char(c, out)),
    }
}

/// [`escape`] for bytes that need not be text (`$binary_remote_addr`); bytes
/// from 0x80 that JSON would keep as they are become U+FFFD.
fn escape_bytes(value: &[u8], out: &mut String, esc: Escape) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    match esc {
        Escape::None => out.push_str(&String::from_utf8_lossy(value)),
        Escape::Log => {
            for &b in value {
                if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
                    out.push_str("\\x");
                    out.push(char::from(HEX[usize::from(b >> 4)]));
                    out.push(char::from(HEX[usize::from(b & 0xf)]));
                } else {
                    out.push(char::from(b));
                }
            }
        }
        Escape::Json => {
            for chunk in value.utf8_chunks() {
                chunk.valid().chars().for_each(|c| json_char(c, out));
                if !chunk.invalid().is_empty() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
            }
        }
    }
}

/// One character of a JSON string, as `ngx_escape_json` writes it.
fn json_char(c: char, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\0'..='\u{1f}' => {
            let b = c as u8;
            out.push_str("\\u00");
            out.push(char::from(b'0' + (b >> 4)));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pos() -> Pos {
        Pos {
            file: Arc::from("t.conf"),
            line: 2,
            col: 5,
        }
    }

    fn parts(t: &Template) -> Vec<String> {
        t.parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => format!("'{s}'"),
                Part::Var(v) => format!("{v:?}"),
            })
            .collect()
    }

    #[test]
    fn compile_table() {
        let cases: &[(&str, &[&str])] = &[
            ("plain", &["'plain'"]),
            ("", &["''"]),
            (
                "https://$host$request_uri",
                &["'https://'", "Host", "RequestUri"],
            ),
            ("${uri}x", &["Uri", "'x'"]),
            ("/img/$1.png", &["'/img/'", "Capture(1)", "'.png'"]),
            ("$12", &["Capture(1)", "'2'"]),
            ("a-$arg_page-b", &["'a-'", "Arg(\"page\")", "'-b'"]),
        ];
        for (src, want) in cases {
            let t = Template::compile(src, &pos()).unwrap();
            assert_eq!(parts(&t), *want, "{src}");
            assert_eq!(t.source(), *src);
        }
        assert_eq!(Template::compile("a", &pos()).unwrap().literal(), Some("a"));
        assert_eq!(Template::compile("$uri", &pos()).unwrap().literal(), None);
    }

    #[test]
    fn compile_errors() {
        for src in ["cost $", "$ x", "${}", "${uri", "${a-b}"] {
            let err = Template::compile(src, &pos()).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("t.conf:2:5: invalid variable name in \"{src}\"")
            );
        }
    }

    #[test]
    fn split_at_the_literal_question_mark() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, "server { listen 127.0.0.1:1; }").unwrap();
        let config = crate::config::load(&file, dir.path()).unwrap();
        let req = crate::handler::error_page::blank_request();
        let origin = crate::handler::Origin::test_loopback();
        let mut state = super::super::State::default();
        state.captures = vec!["a?b c".into(), "a?b c".into()];
        let env = Env {
            req: &req,
            origin: &origin,
            server: &config.servers[0],
            location: None,
            uri: "/u?",
            args: None,
            state: &state,
            done: None,
        };
        use Captures::*;
        // replacement, escaping, path, arguments
        let cases: &[(&str, Captures, &str, Option<&str>)] = &[
            ("/x", Raw, "/x", None),
            ("/x?", Raw, "/x", Some("")),
            ("/x?a=1?b", Raw, "/x", Some("a=1?b")),
            ("/v/$1", Raw, "/v/a?b c", None),
            ("/v/$1?p=$1", Raw, "/v/a?b c", Some("p=a?b c")),
            ("/v/$1?p=$1", EscapedInArgs, "/v/a?b c", Some("p=a%3Fb%20c")),
            ("/v/$1?p=$1", Escaped, "/v/a%3Fb%20c", Some("p=a%3Fb%20c")),
            ("$uri?u=$uri", Escaped, "/u?", Some("u=/u?")),
        ];
        for (src, escape, path, args) in cases {
            let t = Template::compile(src, &pos()).unwrap();
            let (p, a) = t.expand_split(&env, *escape);
            assert_eq!(
                (p.as_str(), a.as_deref()),
                (*path, *args),
                "{src} {escape:?}"
            );
        }
    }

    #[test]
    fn escapes_as_nginx_logs() {
        use Escape::*;
        // value, escaping, written
        let cases: &[(&str, Escape, &str)] = &[
            ("plain /a?b=c", Log, "plain /a?b=c"),
            ("a\"b\\c", Log, "a\\x22b\\x5Cc"),
            ("\u{1}\u{1b}\u{1f} \u{7f}~", Log, "\\x01\\x1B\\x1F \\x7F~"),
            ("é", Log, "\\xC3\\xA9"),
            ("\t\n", Log, "\\x09\\x0A"),
            ("a\"b\\c", Json, "a\\\"b\\\\c"),
            ("\n\r\t\u{8}\u{c}", Json, "\\n\\r\\t\\b\\f"),
            ("\u{1}\u{1b}\u{1f}", Json, "\\u0001\\u001B\\u001F"),
            ("é\u{7f}'", Json, "é\u{7f}'"),
            ("a\"\\\n\u{1}é", None, "a\"\\\n\u{1}é"),
        ];
        for (value, esc, want) in cases {
            let mut out = String::new();
            escape(value, &mut out, *esc);
            assert_eq!(out, *want, "{value:?} {esc:?}");
        }
    }

    #[test]
    fn a_dash_for_a_variable_without_a_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, "server { listen 127.0.0.1:1; }").unwrap();
        let config = crate::config::load(&file, dir.path()).unwrap();
        let req = crate::handler::error_page::blank_request();
        let origin = crate::handler::Origin::test_loopback();
        let state = super::super::State::default();
        let t = Template::compile("[$arg_a|$args|$http_referer|$is_args]", &pos()).unwrap();
        // query string, escaping, line
        let cases: &[(Option<&str>, Escape, &str)] = &[
            (Some("a=1"), Escape::Log, "[1|a=1|-|?]"),
            (Some("a="), Escape::Log, "[|a=|-|?]"),
            (Some(""), Escape::Log, "[-|-|-|]"),
            (Option::None, Escape::Log, "[-|-|-|]"),
            (Option::None, Escape::Json, "[|||]"),
            (Option::None, Escape::None, "[|||]"),
        ];
        for (args, esc, want) in cases {
            let env = Env {
                req: &req,
                origin: &origin,
                server: &config.servers[0],
                location: Option::None,
                uri: "/",
                args: *args,
                state: &state,
                done: Option::None,
            };
            let mut out = String::new();
            t.expand_into(&env, &mut out, *esc);
            assert_eq!(out, *want, "{args:?} {esc:?}");
        }
    }
}
