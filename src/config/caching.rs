//! The values of the directives that shape caching headers, as nginx has them:
//! `expires`, `etag`, `if_modified_since` and `server_tokens` (which is not about
//! caching, but is another per-location switch of the response headers). The
//! handler applies them (`handler::headers`); this module only parses.

use super::ConfigError;
use super::values::Arg;

/// `expires off | epoch | max | [modified] TIME` (TIME may be negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expires {
    /// No `Expires` or `Cache-Control` is added (the default).
    #[default]
    Off,
    /// `Expires: Thu, 01 Jan 1970 00:00:01 GMT`, `Cache-Control: no-cache`.
    Epoch,
    /// `Expires: Thu, 31 Dec 2037 23:55:55 GMT`, `Cache-Control: max-age=315360000`.
    Max,
    /// Seconds after the response time.
    Access(i64),
    /// Seconds after the file's modification time (`expires modified TIME`).
    Modified(i64),
}

/// `if_modified_since off | exact | before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IfModifiedSince {
    /// `If-Modified-Since` is ignored.
    Off,
    /// 304 only when the date is the file's modification time exactly (nginx's default).
    Exact,
    /// 304 when the file was modified at or before the date (RFC 9110; webserv's default).
    #[default]
    Before,
}

impl Expires {
    /// The directive as `-T` writes it.
    pub fn to_conf(self) -> String {
        match self {
            Expires::Off => "off".into(),
            Expires::Epoch => "epoch".into(),
            Expires::Max => "max".into(),
            Expires::Access(s) => format!("{s}s"),
            Expires::Modified(s) => format!("modified {s}s"),
        }
    }
}

impl IfModifiedSince {
    pub fn as_str(self) -> &'static str {
        match self {
            IfModifiedSince::Off => "off",
            IfModifiedSince::Exact => "exact",
            IfModifiedSince::Before => "before",
        }
    }
}

impl super::Location {
    /// `-T` lines (without `;`) of the header switches and the `types` map.
    pub fn header_lines(&self) -> Vec<String> {
        let on_off = |b: bool| if b { "on" } else { "off" };
        let mut v = Vec::new();
        if let Some(types) = &self.types {
            let mut entries: Vec<_> = types.iter().collect();
            entries.sort();
            let list: Vec<String> = entries.iter().map(|(e, m)| format!("{m} {e};")).collect();
            v.push(format!("types {{ {} }}", list.join(" ")));
        }
        v.push(format!("server_tokens {}", on_off(self.server_tokens)));
        v.push(format!(
            "absolute_redirect {}",
            on_off(self.redirect.absolute)
        ));
        v.push(format!("port_in_redirect {}", on_off(self.redirect.port)));
        v.push(format!(
            "server_name_in_redirect {}",
            on_off(self.redirect.server_name)
        ));
        v.push(format!("expires {}", self.expires.to_conf()));
        v.push(format!("etag {}", on_off(self.etag)));
        v.push(format!(
            "if_modified_since {}",
            self.if_modified_since.as_str()
        ));
        v
    }
}

/// `expires` with its one or two arguments.
pub fn expires(args: &[Arg]) -> Result<Expires, ConfigError> {
    match args {
        [(m, _), time] if m == "modified" => Ok(Expires::Modified(seconds(time)?)),
        [(m, pos), _] => Err(ConfigError::at(
            pos,
            format!("invalid value \"{m}\" in \"expires\" (modified TIME expected)"),
        )),
        [(v, _)] if v == "off" => Ok(Expires::Off),
        [(v, _)] if v == "epoch" => Ok(Expires::Epoch),
        [(v, _)] if v == "max" => Ok(Expires::Max),
        [(v, pos)] if v.starts_with('@') => Err(ConfigError::at(
            pos,
            format!("\"expires {v}\" (a time of day) is not supported yet"),
        )),
        [time] => Ok(Expires::Access(seconds(time)?)),
        _ => Err(ConfigError::at(
            &args[0].1,
            "invalid number of arguments in \"expires\" directive",
        )),
    }
}

/// An nginx time in seconds: `[-]` then one or more `NUMBER[UNIT]` with units
/// `y` (365 d), `M` (30 d), `w`, `d`, `h`, `m`, `s`, largest first, as in
/// `1h30m`; a bare number is seconds.
fn seconds(arg: &Arg) -> Result<i64, ConfigError> {
    let bad = || {
        ConfigError::at(
            &arg.1,
            format!("invalid value \"{}\" in \"expires\"", arg.0),
        )
    };
    let (negative, text) = match arg.0.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, arg.0.as_str()),
    };
    const UNITS: [(char, i64); 7] = [
        ('y', 365 * 86_400),
        ('M', 30 * 86_400),
        ('w', 7 * 86_400),
        ('d', 86_400),
        ('h', 3_600),
        ('m', 60),
        ('s', 1),
    ];
    let mut total: i64 = 0;
    let mut rest = text;
    let mut last_unit = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (scale, unit_len, rank) = match rest.chars().next() {
            None => (1, 0, UNITS.len()),
            Some(c) => match UNITS.iter().position(|(u, _)| *u == c) {
                Some(i) => (UNITS[i].1, 1, i + 1),
                None => return Err(bad()),
            },
        };
        // Units must come largest first, each once (nginx: "1h30m", not "30m1h").
        if rank <= last_unit {
            return Err(bad());
        }
        last_unit = rank;
        rest = &rest[unit_len..];
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(if negative { -total } else { total })
}

/// `if_modified_since off|exact|before`.
pub fn if_modified_since(arg: &Arg) -> Result<IfModifiedSince, ConfigError> {
    match arg.0.as_str() {
        "off" => Ok(IfModifiedSince::Off),
        "exact" => Ok(IfModifiedSince::Exact),
        "before" => Ok(IfModifiedSince::Before),
        _ => Err(ConfigError::at(
            &arg.1,
            format!(
                "\"if_modified_since\" takes off|exact|before, got \"{}\"",
                arg.0
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pos;
    use std::sync::Arc;

    fn args(text: &str) -> Vec<Arg> {
        text.split(' ')
            .enumerate()
            .map(|(i, a)| {
                let pos = Pos {
                    file: Arc::from("t.conf"),
                    line: 2,
                    col: 9 + i as u32 * 10,
                };
                (a.to_string(), pos)
            })
            .collect()
    }

    #[test]
    fn expires_values() {
        let cases = [
            ("off", Expires::Off),
            ("epoch", Expires::Epoch),
            ("max", Expires::Max),
            ("0", Expires::Access(0)),
            ("30", Expires::Access(30)),
            ("30s", Expires::Access(30)),
            ("30d", Expires::Access(30 * 86_400)),
            ("1h30m", Expires::Access(5_400)),
            ("1y", Expires::Access(365 * 86_400)),
            ("2M", Expires::Access(60 * 86_400)),
            ("1w2d", Expires::Access(9 * 86_400)),
            ("-1", Expires::Access(-1)),
            ("-1h", Expires::Access(-3_600)),
            ("modified 1h", Expires::Modified(3_600)),
            ("modified -10m", Expires::Modified(-600)),
        ];
        for (text, want) in cases {
            assert_eq!(expires(&args(text)), Ok(want), "{text}");
        }
    }

    #[test]
    fn expires_errors() {
        let cases = [
            ("1x", "t.conf:2:9: invalid value \"1x\" in \"expires\""),
            ("", "t.conf:2:9: invalid value \"\" in \"expires\""),
            ("-", "t.conf:2:9: invalid value \"-\" in \"expires\""),
            ("h", "t.conf:2:9: invalid value \"h\" in \"expires\""),
            (
                "30m1h",
                "t.conf:2:9: invalid value \"30m1h\" in \"expires\"",
            ),
            ("1h1h", "t.conf:2:9: invalid value \"1h1h\" in \"expires\""),
            (
                "500ms",
                "t.conf:2:9: invalid value \"500ms\" in \"expires\"",
            ),
            (
                "99999999999999999999",
                "t.conf:2:9: invalid value \"99999999999999999999\" in \"expires\"",
            ),
            (
                "later 1h",
                "t.conf:2:9: invalid value \"later\" in \"expires\" (modified TIME expected)",
            ),
            (
                "modified x",
                "t.conf:2:19: invalid value \"x\" in \"expires\"",
            ),
            (
                "@15h",
                "t.conf:2:9: \"expires @15h\" (a time of day) is not supported yet",
            ),
        ];
        for (text, want) in cases {
            let got = expires(&args(text)).map_err(|e| e.to_string());
            assert_eq!(got, Err(want.to_string()), "{text}");
        }
    }

    #[test]
    fn if_modified_since_values() {
        assert_eq!(if_modified_since(&args("off")[0]), Ok(IfModifiedSince::Off));
        assert_eq!(
            if_modified_since(&args("exact")[0]),
            Ok(IfModifiedSince::Exact)
        );
        assert_eq!(
            if_modified_since(&args("before")[0]),
            Ok(IfModifiedSince::Before)
        );
        let err = if_modified_since(&args("after")[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.conf:2:9: \"if_modified_since\" takes off|exact|before, got \"after\""
        );
    }
}
