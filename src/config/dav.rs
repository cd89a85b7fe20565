//! nginx's WebDAV directives: `dav_methods`, `create_full_put_path`,
//! `min_delete_depth` and `dav_access`. Each is inherited on its own, as nginx
//! merges them; the handlers are in `handler::dav`.

use super::ConfigError;
use super::parser::Directive;
use super::values::{self, Arg};
use crate::http::Method;

/// The methods `dav_methods` may name, as bits of [`Dav::methods`].
pub const PUT: u8 = 1;
pub const DELETE: u8 = 2;
pub const MKCOL: u8 = 4;
pub const COPY: u8 = 8;
pub const MOVE: u8 = 16;

const NAMES: [(&str, u8); 5] = [
    ("PUT", PUT),
    ("DELETE", DELETE),
    ("MKCOL", MKCOL),
    ("COPY", COPY),
    ("MOVE", MOVE),
];

/// A location's WebDAV settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dav {
    /// `dav_methods`: the bits above; 0 = off (the default).
    pub methods: u8,
    /// `create_full_put_path on`: PUT creates missing parent directories.
    pub create_full_put_path: bool,
    /// `min_delete_depth N`: DELETE needs at least N path segments before the last.
    pub min_delete_depth: u32,
    /// `dav_access`: the mode of created files (directories add `x` where `r` is).
    /// Default 0600, as nginx.
    pub access: u32,
}

impl Dav {
    /// Whether `dav_methods` lists `method`.
    pub fn handles(&self, method: Method) -> bool {
        self.methods != 0 && self.methods & bit(method) != 0
    }

    /// The mode of a directory created with `access` (nginx's `ngx_dir_access`).
    pub fn dir_access(&self) -> u32 {
        self.access | ((self.access & 0o444) >> 2)
    }
}

/// The `dav_methods` bit of `method` (0 for a method it cannot name).
pub fn bit(method: Method) -> u8 {
    match method {
        Method::Put => PUT,
        Method::Delete => DELETE,
        Method::Mkcol => MKCOL,
        Method::Copy => COPY,
        Method::Move => MOVE,
        _ => 0,
    }
}

/// One level's explicitly set values.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    methods: Option<u8>,
    create_full_put_path: Option<bool>,
    min_delete_depth: Option<u32>,
    access: Option<u32>,
}

impl Draft {
    pub fn merge(&self, outer: &Draft) -> Draft {
        Draft {
            methods: self.methods.or(outer.methods),
            create_full_put_path: self.create_full_put_path.or(outer.create_full_put_path),
            min_delete_depth: self.min_delete_depth.or(outer.min_delete_depth),
            access: self.access.or(outer.access),
        }
    }

    pub fn finish(&self) -> Dav {
        Dav {
            methods: self.methods.unwrap_or(0),
            create_full_put_path: self.create_full_put_path.unwrap_or(false),
            min_delete_depth: self.min_delete_depth.unwrap_or(0),
            access: self.access.unwrap_or(0o600),
        }
    }

    /// Records one of this module's directives; `Ok(false)` if `d` is not one.
    pub fn apply(&mut self, d: &Directive) -> Result<bool, ConfigError> {
        let name = d.name.as_str();
        let a = &d.args;
        match name {
            "dav_methods" => self.methods = Some(methods(a)?),
            "create_full_put_path" => {
                self.create_full_put_path = Some(values::on_off(&a[0], name)?)
            }
            "min_delete_depth" => self.min_delete_depth = Some(depth(&a[0])?),
            "dav_access" => self.access = Some(access(a)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// `min_delete_depth N` (0 or more).
fn depth(arg: &Arg) -> Result<u32, ConfigError> {
    match arg.0.parse::<u32>() {
        Ok(n) if arg.0.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ConfigError::at(
            &arg.1,
            format!("invalid number \"{}\" in \"min_delete_depth\"", arg.0),
        )),
    }
}

/// `dav_methods off | METHOD...` (case-insensitive, as nginx's bitmask values).
fn methods(args: &[Arg]) -> Result<u8, ConfigError> {
    let mut bits = 0;
    for (i, (word, pos)) in args.iter().enumerate() {
        if word.eq_ignore_ascii_case("off") {
            if args.len() > 1 || i > 0 {
                return Err(ConfigError::at(
                    pos,
                    "\"off\" must be alone in \"dav_methods\"",
                ));
            }
            return Ok(0);
        }
        let Some((_, b)) = NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(word)) else {
            return Err(ConfigError::at(
                pos,
                format!(
                    "invalid value \"{word}\" in \"dav_methods\" (PUT, DELETE, MKCOL, COPY, MOVE or off)"
                ),
            ));
        };
        if bits & b != 0 {
            return Err(ConfigError::at(
                pos,
                format!("value \"{word}\" is duplicate"),
            ));
        }
        bits |= b;
    }
    Ok(bits)
}

/// `dav_access [user:PERM] [group:PERM] [all:PERM]` (PERM `r` or `rw`), nginx's
/// `ngx_conf_set_access_slot`; a lone `PERM` is the user's.
fn access(args: &[Arg]) -> Result<u32, ConfigError> {
    let mut mode = 0o600;
    let mut user = 0o600;
    for (word, pos) in args {
        let (who, perm) = match word.split_once(':') {
            Some(("user", p)) => (6, p),
            Some(("group", p)) => (3, p),
            Some(("all", p)) => (0, p),
            None if args.len() == 1 => (6, word.as_str()),
            _ => return Err(ConfigError::at(pos, format!("invalid value \"{word}\""))),
        };
        let bits = match perm {
            "rw" => 6,
            "r" => 4,
            _ => return Err(ConfigError::at(pos, format!("invalid value \"{word}\""))),
        };
        if who == 6 {
            user = bits << 6;
        } else {
            mode |= bits << who;
        }
    }
    Ok((mode & !0o700) | user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;

    fn args(line: &str) -> Vec<Arg> {
        let pos = Pos {
            file: std::sync::Arc::from("t.conf"),
            line: 2,
            col: 5,
        };
        line.split_whitespace()
            .map(|w| (w.to_string(), pos.clone()))
            .collect()
    }

    #[test]
    fn methods_table() {
        let cases: &[(&str, Result<u8, &str>)] = &[
            ("off", Ok(0)),
            ("PUT", Ok(PUT)),
            ("put delete", Ok(PUT | DELETE)),
            ("PUT DELETE MKCOL COPY MOVE", Ok(31)),
            ("PUT PUT", Err("t.conf:2:5: value \"PUT\" is duplicate")),
            (
                "PUT off",
                Err("t.conf:2:5: \"off\" must be alone in \"dav_methods\""),
            ),
            ("PROPFIND", Err("t.conf:2:5: invalid value \"PROPFIND\"")),
        ];
        for (line, want) in cases {
            let got = methods(&args(line)).map_err(|e| e.to_string());
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, *w, "{line}"),
                (Err(g), Err(w)) => assert!(g.starts_with(w), "{line}: {g}"),
                (g, w) => panic!("{line}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn min_delete_depth_table() {
        let cases = [
            ("0", Some(0)),
            ("3", Some(3)),
            ("-1", None),
            ("x", None),
            ("+2", None),
        ];
        for (word, want) in cases {
            assert_eq!(depth(&args(word)[0]).ok(), want, "{word}");
        }
    }

    #[test]
    fn access_table() {
        let cases: &[(&str, Option<u32>)] = &[
            ("user:rw", Some(0o600)),
            ("user:rw group:r all:r", Some(0o644)),
            ("user:r", Some(0o400)),
            ("group:rw all:rw", Some(0o666)),
            ("rw", Some(0o600)),
            ("user:rwx", None),
            ("other:r", None),
            ("r w", None),
        ];
        for (line, want) in cases {
            assert_eq!(access(&args(line)).ok(), *want, "{line}");
        }
    }

    #[test]
    fn dir_access_adds_search_where_read() {
        let d = |access| Dav {
            methods: PUT,
            create_full_put_path: false,
            min_delete_depth: 0,
            access,
        };
        assert_eq!(d(0o600).dir_access(), 0o700);
        assert_eq!(d(0o644).dir_access(), 0o755);
        assert_eq!(d(0o640).dir_access(), 0o750);
        assert!(d(0o600).handles(Method::Put));
        assert!(!d(0o600).handles(Method::Delete));
        assert!(!d(0o600).handles(Method::Get));
    }
}
