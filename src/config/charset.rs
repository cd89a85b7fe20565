//! nginx's charset directives: `charset`, `source_charset`, `override_charset` and
//! `charset_types`, each inherited on its own as nginx merges them (the
//! `charset_map` tables are in [`super::charset_map`], the filter in
//! `handler::charset`). A name may be a variable (`charset $arg_cs;`), read per
//! request. Once the whole configuration is read, [`link`] gives every name its
//! first spelling and refuses a location whose fixed `source_charset` and `charset`
//! differ with no `charset_map` between them, as nginx does at startup.

use super::charset_map::CharsetMaps;
use super::parser::Directive;
use super::values::{self, Arg};
use super::{ConfigError, Pos, Server};
use crate::vars::Template;

/// A charset as written: a name, or a variable whose value names one.
#[derive(Debug, Clone)]
pub enum Name {
    Fixed(String, Pos),
    /// A template made of exactly one variable.
    Var(Template),
}

impl Name {
    /// The name as written (`$arg_cs` for a variable).
    pub fn source(&self) -> &str {
        match self {
            Name::Fixed(n, _) => n,
            Name::Var(t) => t.source(),
        }
    }
}

/// A location's charset settings.
#[derive(Debug, Clone)]
pub struct Charset {
    /// `charset NAME|off`: the charset responses are sent in. Default off.
    pub charset: Option<Name>,
    /// `source_charset NAME`: the charset of the files (and other responses
    /// that name none). Unset: none, so nothing is recoded.
    pub source: Option<Name>,
    /// `override_charset on`: a response that names its own charset (CGI output)
    /// is recoded from it into `charset` too. Default off.
    pub override_charset: bool,
    /// `charset_types MIME...` (lower-case; `*` = any type). `text/html` is always
    /// one. Default: nginx's list plus `text/javascript`.
    pub types: Vec<String>,
}

impl Default for Charset {
    fn default() -> Charset {
        Draft::default().finish()
    }
}

impl Charset {
    /// The variable templates, for linking.
    pub fn templates_mut(&mut self) -> impl Iterator<Item = &mut Template> {
        [self.charset.as_mut(), self.source.as_mut()]
            .into_iter()
            .flatten()
            .filter_map(|n| match n {
                Name::Var(t) => Some(t),
                Name::Fixed(..) => None,
            })
    }
}

/// One level's explicitly set values.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// `Some(None)` is an explicit `charset off`.
    charset: Option<Option<Name>>,
    source: Option<Name>,
    override_charset: Option<bool>,
    types: Option<Vec<String>>,
}

impl Draft {
    pub fn merge(&self, outer: &Draft) -> Draft {
        Draft {
            charset: self.charset.clone().or_else(|| outer.charset.clone()),
            source: self.source.clone().or_else(|| outer.source.clone()),
            override_charset: self.override_charset.or(outer.override_charset),
            types: self.types.clone().or_else(|| outer.types.clone()),
        }
    }

    pub fn finish(&self) -> Charset {
        Charset {
            charset: self.charset.clone().flatten(),
            source: self.source.clone(),
            override_charset: self.override_charset.unwrap_or(false),
            types: self.types.clone().unwrap_or_else(|| types(&[])),
        }
    }

    /// Records one of these directives; `Ok(false)` if `d` is not one.
    pub fn apply(&mut self, d: &Directive) -> Result<bool, ConfigError> {
        let a = &d.args;
        match d.name.as_str() {
            // Only `charset` has an `off`: `source_charset off` names a charset "off".
            "charset" if a[0].0 == "off" => self.charset = Some(None),
            "charset" => self.charset = Some(Some(name(&a[0])?)),
            "source_charset" => self.source = Some(name(&a[0])?),
            "override_charset" => {
                self.override_charset = Some(values::on_off(&a[0], "override_charset")?)
            }
            "charset_types" => self.types = Some(types(a)),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A charset argument: `$name` is the variable's value, anything else the name.
fn name(arg: &Arg) -> Result<Name, ConfigError> {
    let (text, pos) = arg;
    let Some(var) = text.strip_prefix('$') else {
        return Ok(Name::Fixed(text.clone(), pos.clone()));
    };
    // nginx takes everything after the `$` as the variable's name.
    let t = Template::compile(text, pos)
        .ok()
        .filter(|t| t.single_var().is_some());
    t.map(Name::Var)
        .ok_or_else(|| ConfigError::at(pos, format!("unknown \"{var}\" variable")))
}

/// nginx's default `charset_types`, plus `text/javascript` (RFC 9239's name for
/// what nginx's mime.types calls `application/javascript`).
const DEFAULT_TYPES: &[&str] = &[
    "text/xml",
    "text/plain",
    "text/vnd.wap.wml",
    "application/javascript",
    "text/javascript",
    "application/rss+xml",
];

/// `charset_types MIME...` lower-cased, with `text/html` always in (as nginx);
/// no arguments gives the default list.
pub fn types(args: &[Arg]) -> Vec<String> {
    let mut types = vec!["text/html".to_string()];
    let given = args.iter().map(|a| a.0.to_ascii_lowercase());
    if args.is_empty() {
        types.extend(DEFAULT_TYPES.iter().map(|t| t.to_string()));
    } else {
        types.extend(given.filter(|t| t != "text/html"));
    }
    types
}

/// Declares every fixed name of every location (after the `charset_map` names),
/// spells each as first declared, and checks that each location's fixed pair has a
/// map: nginx's "no "charset_map" between the charsets" at startup.
pub fn link(maps: &mut CharsetMaps, servers: &mut [Server]) -> Result<(), ConfigError> {
    let locations = || servers.iter().flat_map(|s| &s.locations);
    for loc in locations() {
        for name in [&loc.charset.charset, &loc.charset.source]
            .into_iter()
            .flatten()
        {
            if let Name::Fixed(n, _) = name {
                maps.declare(n);
            }
        }
    }
    for loc in servers.iter_mut().flat_map(|s| &mut s.locations) {
        for name in [&mut loc.charset.charset, &mut loc.charset.source]
            .into_iter()
            .flatten()
        {
            if let Name::Fixed(n, _) = name
                && let Some(first) = maps.spelling(n)
            {
                *n = first.to_string();
            }
        }
        let (Some(Name::Fixed(dst, _)), Some(Name::Fixed(src, pos))) =
            (&loc.charset.charset, &loc.charset.source)
        else {
            continue;
        };
        if !src.eq_ignore_ascii_case(dst) && maps.table(src, dst).is_none() {
            let msg = format!("no \"charset_map\" between the charsets \"{src}\" and \"{dst}\"");
            return Err(ConfigError::at(pos, msg));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parser::parse_str;
    use std::sync::Arc;

    fn draft(src: &str) -> Result<Draft, String> {
        let dirs = parse_str(src, &Arc::from("t.conf")).map_err(|e| e.to_string())?;
        let mut d = Draft::default();
        for dir in &dirs {
            assert!(d.apply(dir).map_err(|e| e.to_string())?, "{}", dir.name);
        }
        Ok(d)
    }

    #[test]
    fn each_directive_inherits_on_its_own() {
        let outer = draft("charset koi8-r; source_charset utf-8; charset_types text/css;").unwrap();
        let inner = draft("override_charset on;").unwrap();
        let c = inner.merge(&outer).finish();
        assert_eq!(c.charset.as_ref().map(Name::source), Some("koi8-r"));
        assert_eq!(c.source.as_ref().map(Name::source), Some("utf-8"));
        assert!(c.override_charset);
        assert_eq!(c.types, ["text/html", "text/css"]);
        let off = draft("charset off;").unwrap().merge(&outer).finish();
        assert!(off.charset.is_none());
        assert_eq!(off.source.as_ref().map(Name::source), Some("utf-8"));
        let d = Charset::default();
        assert!(d.charset.is_none() && d.source.is_none() && !d.override_charset);
        assert_eq!(d.types.len(), 7);
    }

    fn load(text: &str) -> Result<crate::config::Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.conf");
        std::fs::write(&file, text).unwrap();
        crate::config::load(&file, dir.path()).map_err(|e| {
            let e = e.to_string();
            e.rsplit_once("t.conf:")
                .map_or(e.clone(), |(_, at)| at.to_string())
        })
    }

    #[test]
    fn startup_checks_the_fixed_pairs() {
        let map = "http { charset_map koi8-r utf-8 { C1 D0B0; }\n";
        let ok = [
            "server { listen 127.0.0.1:1; charset UTF-8; source_charset KOI8-R; } }",
            "server { listen 127.0.0.1:1; source_charset utf-8; location / { charset koi8-r; } } }",
            "server { listen 127.0.0.1:1; charset a; source_charset A; } }",
            "server { listen 127.0.0.1:1; charset $arg_c; source_charset b; } }",
        ];
        for tail in ok {
            assert!(load(&format!("{map}{tail}")).is_ok(), "{tail}");
        }
        let c = load(&format!("{map}{}", ok[0])).unwrap();
        let cs = &c.servers[0].locations[0].charset;
        assert_eq!(
            cs.charset.as_ref().map(Name::source),
            Some("utf-8"),
            "first spelling"
        );
        assert_eq!(cs.source.as_ref().map(Name::source), Some("koi8-r"));
        let errs = [
            (
                "server { listen 127.0.0.1:1; charset utf-8; source_charset b; } }",
                "2:60: no \"charset_map\" between the charsets \"b\" and \"utf-8\"",
            ),
            (
                "server { listen 127.0.0.1:1; charset utf-8; source_charset off; } }",
                "2:60: no \"charset_map\" between the charsets \"off\" and \"utf-8\"",
            ),
            (
                "server { listen 127.0.0.1:1; charset $nope; } }",
                "2:38: unknown \"nope\" variable",
            ),
            (
                "server { listen 127.0.0.1:1; charset_map a b { } } }",
                "2:30: \"charset_map\" is not allowed in server context",
            ),
            (
                "server { listen 127.0.0.1:1; charset a; charset b; } }",
                "2:41: \"charset\" is duplicate",
            ),
        ];
        for (tail, want) in errs {
            assert_eq!(load(&format!("{map}{tail}")).unwrap_err(), want, "{tail}");
        }
    }

    #[test]
    fn names_and_variables() {
        let c = draft("charset $arg_c; source_charset off;")
            .unwrap()
            .finish();
        assert!(matches!(&c.charset, Some(Name::Var(t)) if t.source() == "$arg_c"));
        assert!(matches!(&c.source, Some(Name::Fixed(n, _)) if n == "off"));
        let errs = [
            ("charset $a-b;", "t.conf:1:9: unknown \"a-b\" variable"),
            ("charset $;", "t.conf:1:9: unknown \"\" variable"),
            (
                "override_charset yes;",
                "t.conf:1:18: \"override_charset\" takes on|off, got \"yes\"",
            ),
        ];
        for (src, want) in errs {
            assert_eq!(draft(src).unwrap_err(), want, "{src}");
        }
    }
}
