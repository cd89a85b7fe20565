//! The values of the directives that shape caching headers, as nginx has them:
//! `expires`, `etag`, `if_modified_since` and `server_tokens` (which is not about
//! caching, but is another per-location switch of the response headers). The
//! handler applies them (`handler::headers`); this module only parses.

use super::ConfigError;
use super::values::Arg;
use crate::vars::Template;

/// `expires off | epoch | max | @TIME | [modified] TIME` (TIME may be negative).
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
    /// The next time this many seconds after (local) midnight (`expires @15h30m`).
    Daily(i64),
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
            Expires::Daily(s) => format!("@{s}s"),
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
        if let Some(n) = self.max_ranges {
            v.push(format!("max_ranges {n}"));
        }
        v.push(format!(
            "if_modified_since {}",
            self.if_modified_since.as_str()
        ));
        v
    }
}

/// `expires` with its one or two arguments, and its template when the time
/// has variables (then read per response with [`expires_value`]; the mode
/// returned says whether `modified` was given).
pub fn expires(args: &[Arg]) -> Result<(Expires, Option<Template>), ConfigError> {
    let (modified, time) = match args {
        [(m, _), time] if m == "modified" => (true, time),
        [(m, pos), _] => {
            return Err(ConfigError::at(
                pos,
                format!("invalid value \"{m}\" in \"expires\" (modified TIME expected)"),
            ));
        }
        [time] => (false, time),
        _ => {
            return Err(ConfigError::at(
                &args[0].1,
                "invalid number of arguments in \"expires\" directive",
            ));
        }
    };
    if time.0.contains('$') {
        let template = Template::compile(&time.0, &time.1)?;
        let mode = if modified {
            Expires::Modified(0)
        } else {
            Expires::Access(0)
        };
        return Ok((mode, Some(template)));
    }
    match expires_value(&time.0, modified) {
        Ok(e) => Ok((e, None)),
        Err(why) => Err(ConfigError::at(
            &time.1,
            format!("{why} \"{}\" in \"expires\"", time.0),
        )),
    }
}

/// One `expires` value as nginx reads it: `epoch`, `max`, `off` (not after
/// `modified`), `@TIME` (a time of day, under 24 hours, not after `modified`),
/// or `[+|-]TIME`. `Err` names what is wrong.
pub fn expires_value(text: &str, modified: bool) -> Result<Expires, &'static str> {
    if !modified {
        match text {
            "epoch" => return Ok(Expires::Epoch),
            "max" => return Ok(Expires::Max),
            "off" => return Ok(Expires::Off),
            _ => {}
        }
    }
    if let Some(daily) = text.strip_prefix('@') {
        if modified {
            return Err("daily time cannot be used with \"modified\" parameter:");
        }
        let t = seconds(daily).ok_or("invalid value")?;
        if t > 86_400 {
            return Err("daily time value must be less than 24 hours:");
        }
        return Ok(Expires::Daily(t));
    }
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    let t = seconds(rest).ok_or("invalid value")?;
    let t = if negative { -t } else { t };
    Ok(if modified {
        Expires::Modified(t)
    } else {
        Expires::Access(t)
    })
}

/// An nginx time in seconds: one or more `NUMBER[UNIT]` with units `y` (365 d),
/// `M` (30 d), `w`, `d`, `h`, `m`, `s`, largest first, as in `1h30m`; a bare
/// number is seconds.
fn seconds(text: &str) -> Option<i64> {
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
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (scale, unit_len, rank) = match rest.chars().next() {
            None => (1, 0, UNITS.len()),
            Some(c) => {
                let i = UNITS.iter().position(|(u, _)| *u == c)?;
                (UNITS[i].1, 1, i + 1)
            }
        };
        // Units must come largest first, each once (nginx: "1h30m", not "30m1h").
        if rank <= last_unit {
            return None;
        }
        last_unit = rank;
        rest = &rest[unit_len..];
        total = n.checked_mul(scale).and_then(|v| total.checked_add(v))?;
    }
    Some(total)
}

/// `max_ranges N` (0 allowed: no ranges).
pub fn max_ranges(arg: &Arg) -> Result<u32, ConfigError> {
    match arg.0.parse::<u32>() {
        Ok(n) if arg.0.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ConfigError::at(
            &arg.1,
            format!("invalid number \"{}\" in \"max_ranges\"", arg.0),
        )),
    }
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
            ("+1h", Expires::Access(3_600)),
            ("@15h30m33s", Expires::Daily(55_833)),
            ("@0", Expires::Daily(0)),
            ("modified +1s", Expires::Modified(1)),
        ];
        for (text, want) in cases {
            assert_eq!(expires(&args(text)).map(|e| e.0), Ok(want), "{text}");
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
                "@25h",
                "t.conf:2:9: daily time value must be less than 24 hours: \"@25h\" in \"expires\"",
            ),
            (
                "modified @1h",
                "t.conf:2:19: daily time cannot be used with \"modified\" parameter: \"@1h\" in \"expires\"",
            ),
            ("+-1", "t.conf:2:9: invalid value \"+-1\" in \"expires\""),
            (
                "modified max",
                "t.conf:2:19: invalid value \"max\" in \"expires\"",
            ),
        ];
        for (text, want) in cases {
            let got = expires(&args(text)).map_err(|e| e.to_string());
            assert_eq!(got, Err(want.to_string()), "{text}");
        }
    }

    #[test]
    fn expires_with_variables_and_max_ranges() {
        let (mode, t) = expires(&args("$arg_e")).unwrap();
        assert_eq!((mode, t.is_some()), (Expires::Access(0), true));
        let (mode, t) = expires(&args("modified $arg_e")).unwrap();
        assert_eq!((mode, t.is_some()), (Expires::Modified(0), true));
        assert_eq!(expires_value("epoch", true), Err("invalid value"));
        assert_eq!(expires_value("off", false), Ok(Expires::Off));
        assert_eq!(max_ranges(&args("0")[0]), Ok(0));
        assert_eq!(max_ranges(&args("7")[0]), Ok(7));
        let err = max_ranges(&args("-1")[0]).unwrap_err().to_string();
        assert_eq!(err, "t.conf:2:9: invalid number \"-1\" in \"max_ranges\"");
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
